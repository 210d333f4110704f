"""Beam wrappers of the readers, the extractor and the token counter (the stages ``read``, ``extract`` and
``tokenize``). The logic lives in ``readers/``, ``extract.py`` and ``tokenize.py``."""

from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.io.filesystem import CompressedFile, CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.utils.shared import Shared

from pipelines import readers
from pipelines.progress import CountingReader, ProgressPlan
from pipelines.extract import ExtractConfig, Extractor, ExtractorUnavailable, ExtractTimeout, looks_binary
from pipelines.readers import ReadConfig
from pipelines.tokenize import TokenizeConfig, load_config
from schemas.outcomes import DOCS, DROPPED, ERRORS, SKIPPED, error_row, is_kept, to_score
from schemas.packed import pack, unpack
from schemas.routing import outputs, route

log = logging.getLogger(__name__)


class Read(beam.PTransform):
    """File paths → documents, read-time drops, error rows and (``skipped``) non-document records.

    ``spread``: reshuffle the records over the workers before extraction, packed (raw HTML compresses
    ~4.6×), so one big crawl file does not pin one worker (``pipelines.pipeline.spread_records``)."""

    def __init__(self, input_format: str | None, columns: readers.TextColumns, config: ReadConfig,
                 annotate_only: bool, spread: bool, progress: ProgressPlan | None = None):
        super().__init__()
        self.input_format, self.columns, self.config = input_format, columns, config
        self.annotate_only, self.spread, self.progress = annotate_only, spread, progress

    def expand(self, paths):
        read = paths | "Records" >> beam.ParDo(
            ReadRecords(self.input_format, self.columns, self.config, self.annotate_only, self.progress)
        ).with_outputs(DROPPED, ERRORS, SKIPPED, main=DOCS)
        docs = read[DOCS]
        if self.spread:
            docs = docs | "Pack" >> beam.Map(pack) | "SpreadRecords" >> beam.Reshuffle() | "Unpack" >> beam.Map(unpack)
        return {**outputs(docs, read[DROPPED], read[ERRORS]), SKIPPED: read[SKIPPED]}


class ExtractText(beam.PTransform):
    """HTML → main text; text inputs (WET, JSONL, Parquet) pass through untouched."""

    def __init__(self, config: ExtractConfig, annotate_only: bool, progress: ProgressPlan | None = None):
        super().__init__()
        self.config, self.annotate_only, self.progress = config, annotate_only, progress

    def expand(self, docs):
        extracted = docs | "Extract" >> beam.ParDo(Extract(self.config, self.annotate_only, self.progress)).with_outputs(
            DROPPED, ERRORS, main=DOCS)
        return outputs(extracted[DOCS], extracted[DROPPED], extracted[ERRORS])


class ReadRecords(beam.DoFn):
    """One input file (any FileSystems path) → documents, read-time drops, errors, skipped records."""

    _REPORT_EVERY = 64  # documents between two updates of the progress tally and the bytes counter

    def __init__(self, input_format: str | None, columns: readers.TextColumns, config: ReadConfig,
                 annotate_only: bool, progress: ProgressPlan | None = None):
        self.input_format = input_format
        self.columns = columns
        self.config = config
        self.annotate_only = annotate_only
        self.plan = progress or ProgressPlan("-", None)
        self.read = Metrics.counter("read", "records")
        self.errors = Metrics.counter("read", "errors")
        self.bytes = Metrics.counter("read", "bytes")

    def process(self, path: str):
        try:
            fmt = self.input_format or readers.detect_format(path)
        except ValueError as err:
            self.errors.inc()
            yield beam.pvalue.TaggedOutput(ERRORS, error_row(path, "file", "read:unknown_format", str(err)))
            return
        progress = self.plan.tracker()
        opened: list[CountingReader] = []  # the stored bytes read so far, whatever decompresses them

        def open_raw():
            opened.append(CountingReader(FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)))
            return opened[-1]

        if fmt in ("warc", "wet"):
            # The reader undoes gzip / LZ4 / zstd itself: it needs the raw bytes to read gzip member by member,
            # see a truncated or corrupt member and cap decompression.
            items = readers.read_warc(path, open_raw, max_record_bytes=self.config.max_record_bytes,
                                      max_decompressed_bytes=self.config.max_decompressed_bytes)
        elif fmt == "jsonl":
            compression = CompressionTypes.detect_compression_type(path)  # .gz, .zst, .bz2, ... as FileSystems does
            items = readers.read_jsonl(path, lambda: open_raw() if compression == CompressionTypes.UNCOMPRESSED
                                       else CompressedFile(open_raw(), compression_type=compression), self.columns)
        else:
            items = readers.read_parquet(path, open_raw, self.columns)
        log.info("reading %s (%s)", path, fmt)
        progress.opened(path, _size_of(path))
        counts = {"doc": 0, "error": 0, "skipped": 0}
        reported = position = 0
        for kind, payload in items:
            counts[kind] += 1
            if kind == "doc":
                self.read.inc()
                if counts["doc"] - reported >= self._REPORT_EVERY:
                    position = self._report(progress, path, counts["doc"] - reported, opened, position)
                    reported = counts["doc"]
                yield route(payload, self.annotate_only)
            elif kind == "error":
                self.errors.inc()
                yield beam.pvalue.TaggedOutput(ERRORS, payload)
            else:
                yield beam.pvalue.TaggedOutput(SKIPPED, (path, payload))
        self._report(progress, path, counts["doc"] - reported, opened, position)
        progress.finished(path)
        log.info("read %s: %d documents, %d errors, %d non-document records",
                 path, counts["doc"], counts["error"], counts["skipped"])

    def _report(self, progress, path: str, records: int, opened: list[CountingReader], before: int) -> int:
        """``records`` more documents read: to the progress tally, and the bytes read since ``before`` to the
        ``read/bytes`` counter; returns the position now."""
        position = max(opened[-1].count if opened else 0, before)
        self.bytes.inc(position - before)
        progress.read(path, records, position)
        return position


def _size_of(path: str) -> int | None:
    try:
        return FileSystems.match([path])[0].metadata_list[0].size_in_bytes
    except (OSError, IndexError, ValueError):  # the reader reports an unreadable file itself
        return None


class Extract(beam.DoFn):
    """HTML → main text. Text inputs (WET, JSONL, Parquet) pass through untouched."""

    def __init__(self, config: ExtractConfig, annotate_only: bool, progress: ProgressPlan | None = None):
        self.config = config
        self.annotate_only = annotate_only
        self.plan = progress or ProgressPlan("-", None)
        self.extractor = None
        self.progress = None
        self.pages = Metrics.counter("extract", "pages")

    def setup(self):
        self.progress = self.plan.tracker()
        self.extractor = Extractor(self.config).__enter__()

    def teardown(self):
        if self.extractor is not None:
            self.extractor.__exit__(None, None, None)

    def process(self, doc: dict):
        self.pages.inc()
        self.progress.extracted(doc["source"])
        # Annotate-only: a page the URL filter (before extraction) decided is still extracted, like any row.
        if "html" not in doc or not to_score(doc, self.annotate_only):
            yield doc
            return
        doc = dict(doc)
        body = doc.pop("html")
        if len(body) > self.config.max_html_bytes:
            yield self._drop(doc, "extract:too_large")
            return
        if looks_binary(body):  # an image or archive labelled text/html: nothing to extract
            yield self._drop(doc, "extract:binary")
            return
        try:
            result = self.extractor(body, doc.get("charset"), doc.get("url"))
        except ExtractTimeout:
            yield self._drop(doc, "extract:timeout")
            return
        except ExtractorUnavailable:  # a broken install, not a bad page: every page would fail
            raise
        except Exception as err:  # noqa: BLE001 — one bad page must not kill the job
            Metrics.counter("extract", "errors").inc()
            yield beam.pvalue.TaggedOutput(ERRORS, error_row(
                doc["source"], doc["record_id"] or doc["id"], "extract:failed",
                f"{type(err).__name__}: {err}", record_id=doc["record_id"], url=doc["url"]))
            return
        doc.update(text=result.text, title=result.title, date=result.date, charset=result.charset)
        if not result.text.strip():
            yield self._drop(doc, "extract:empty")
            return
        yield doc  # kept, or (annotate-only) decided and counted before extraction

    def _drop(self, doc: dict, reason: str):
        """``doc`` decided ``reason`` unless an earlier stage decided it already (annotate-only)."""
        if is_kept(doc):
            doc["decision"] = reason
            return route(doc, self.annotate_only)
        return doc


class Tokenize(beam.PTransform):
    """Kept documents get ``token_count`` under the recipe's tokenizer; the others pass through (their
    count stays null), except in an annotate-only run, where every document with text is counted, so that
    ``pipelines.redecide`` never has to tokenize and a user can see the token yield of any threshold.
    Batched, the tokenizer loaded once per worker process (``Shared``)."""

    def __init__(self, config: TokenizeConfig, annotate_only: bool = False):
        super().__init__()
        self.config = config
        self.annotate_only = annotate_only

    def expand(self, docs):
        counted = (
            docs
            | "Batch" >> beam.BatchElements(min_batch_size=16, max_batch_size=256)
            | "Count" >> beam.ParDo(_CountTokens(self.config, self.annotate_only))
        )
        return outputs(counted, docs.pipeline | "NoDrops" >> beam.Create([]))


class LoadedTokenizer:
    """The loaded tokenizer of one worker process (``Shared`` needs an object it can weakly reference)."""

    def __init__(self, config: TokenizeConfig):
        self.tokenizer = load_config(config)


class _CountTokens(beam.DoFn):
    def __init__(self, config: TokenizeConfig, every: bool = False):
        self.config = config
        self.every = every
        self.shared = Shared()
        self.loaded: LoadedTokenizer | None = None
        self.tokens = Metrics.counter("tokenize", "tokens")

    def setup(self):
        self.loaded = self.shared.acquire(lambda: LoadedTokenizer(self.config))

    def process(self, batch: list[dict]):
        kept = [i for i, doc in enumerate(batch) if (self.every or is_kept(doc)) and doc.get("text")]
        counts = self.loaded.tokenizer.count([batch[i]["text"] for i in kept])
        found = dict(zip(kept, counts))
        self.tokens.inc(sum(counts))
        for i, doc in enumerate(batch):
            yield dict(doc, token_count=found[i]) if i in found else doc
