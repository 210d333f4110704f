"""Beam wrappers of the readers, the extractor and the token counter (the stages ``read``, ``extract`` and
``tokenize``). The logic lives in ``readers/``, ``extract.py`` and ``tokenize.py``."""

from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.utils.shared import Shared

from pipelines import readers
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
                 annotate_only: bool, spread: bool):
        super().__init__()
        self.input_format, self.columns, self.config = input_format, columns, config
        self.annotate_only, self.spread = annotate_only, spread

    def expand(self, paths):
        read = paths | "Records" >> beam.ParDo(
            ReadRecords(self.input_format, self.columns, self.config, self.annotate_only)
        ).with_outputs(DROPPED, ERRORS, SKIPPED, main=DOCS)
        docs = read[DOCS]
        if self.spread:
            docs = docs | "Pack" >> beam.Map(pack) | "SpreadRecords" >> beam.Reshuffle() | "Unpack" >> beam.Map(unpack)
        return {**outputs(docs, read[DROPPED], read[ERRORS]), SKIPPED: read[SKIPPED]}


class ExtractText(beam.PTransform):
    """HTML → main text; text inputs (WET, JSONL, Parquet) pass through untouched."""

    def __init__(self, config: ExtractConfig, annotate_only: bool):
        super().__init__()
        self.config, self.annotate_only = config, annotate_only

    def expand(self, docs):
        extracted = docs | "Extract" >> beam.ParDo(Extract(self.config, self.annotate_only)).with_outputs(
            DROPPED, ERRORS, main=DOCS)
        return outputs(extracted[DOCS], extracted[DROPPED], extracted[ERRORS])


class ReadRecords(beam.DoFn):
    """One input file (any FileSystems path) → documents, read-time drops, errors, skipped records."""

    def __init__(self, input_format: str | None, columns: readers.TextColumns, config: ReadConfig,
                 annotate_only: bool):
        self.input_format = input_format
        self.columns = columns
        self.config = config
        self.annotate_only = annotate_only
        self.read = Metrics.counter("read", "records")
        self.errors = Metrics.counter("read", "errors")

    def process(self, path: str):
        try:
            fmt = self.input_format or readers.detect_format(path)
        except ValueError as err:
            self.errors.inc()
            yield beam.pvalue.TaggedOutput(ERRORS, error_row(path, "file", "read:unknown_format", str(err)))
            return
        if fmt in ("warc", "wet"):
            # The reader undoes gzip / LZ4 / zstd itself: it needs the raw bytes to read gzip member by member,
            # see a truncated or corrupt member and cap decompression.
            items = readers.read_warc(path, lambda: FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED),
                                 max_record_bytes=self.config.max_record_bytes,
                                 max_decompressed_bytes=self.config.max_decompressed_bytes)
        elif fmt == "jsonl":
            items = readers.read_jsonl(path, lambda: FileSystems.open(path), self.columns)  # AUTO: .gz, .zst, .bz2
        else:
            items = readers.read_parquet(path, lambda: FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED),
                                    self.columns)
        log.info("reading %s (%s)", path, fmt)
        counts = {"doc": 0, "error": 0, "skipped": 0}
        for kind, payload in items:
            counts[kind] += 1
            if kind == "doc":
                self.read.inc()
                yield route(payload, self.annotate_only)
            elif kind == "error":
                self.errors.inc()
                yield beam.pvalue.TaggedOutput(ERRORS, payload)
            else:
                yield beam.pvalue.TaggedOutput(SKIPPED, (path, payload))
        log.info("read %s: %d documents, %d errors, %d non-document records",
                 path, counts["doc"], counts["error"], counts["skipped"])


class Extract(beam.DoFn):
    """HTML → main text. Text inputs (WET, JSONL, Parquet) pass through untouched."""

    def __init__(self, config: ExtractConfig, annotate_only: bool):
        self.config = config
        self.annotate_only = annotate_only
        self.extractor = None
        self.seen = 0

    def setup(self):
        self.extractor = Extractor(self.config).__enter__()

    def teardown(self):
        if self.extractor is not None:
            self.extractor.__exit__(None, None, None)

    def process(self, doc: dict):
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
        self.seen += 1
        if self.seen % 100 == 0:
            log.info("extract: %d pages extracted by this worker", self.seen)
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
    count stays null). Batched, the tokenizer loaded once per worker process (``Shared``)."""

    def __init__(self, config: TokenizeConfig):
        super().__init__()
        self.config = config

    def expand(self, docs):
        counted = (
            docs
            | "Batch" >> beam.BatchElements(min_batch_size=16, max_batch_size=256)
            | "Count" >> beam.ParDo(_CountTokens(self.config))
        )
        return outputs(counted, docs.pipeline | "NoDrops" >> beam.Create([]))


class LoadedTokenizer:
    """The loaded tokenizer of one worker process (``Shared`` needs an object it can weakly reference)."""

    def __init__(self, config: TokenizeConfig):
        self.tokenizer = load_config(config)


class _CountTokens(beam.DoFn):
    def __init__(self, config: TokenizeConfig):
        self.config = config
        self.shared = Shared()
        self.loaded: LoadedTokenizer | None = None
        self.tokens = Metrics.counter("tokenize", "tokens")

    def setup(self):
        self.loaded = self.shared.acquire(lambda: LoadedTokenizer(self.config))

    def process(self, batch: list[dict]):
        kept = [i for i, doc in enumerate(batch) if is_kept(doc) and doc.get("text")]
        counts = self.loaded.tokenizer.count([batch[i]["text"] for i in kept])
        found = dict(zip(kept, counts))
        self.tokens.inc(sum(counts))
        for i, doc in enumerate(batch):
            yield dict(doc, token_count=found[i]) if i in found else doc
