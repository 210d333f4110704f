"""Beam wrappers of the readers and the extractor. The logic lives in ``io.py`` and ``extract.py``."""

from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from filters.transforms import DROPPED, light
from pipelines import io
from pipelines.extract import Extractor, ExtractTimeout, looks_binary
from pipelines.recipe import ReadConfig

ERRORS = "errors"
SKIPPED = "skipped"
log = logging.getLogger(__name__)


def _route(doc: dict, annotate_only: bool):
    """Documents already decided go to the drop counter (or on, in annotate-only mode)."""
    if not doc.get("decision"):
        return doc
    Metrics.counter("drop", doc["decision"]).inc()
    return doc if annotate_only else beam.pvalue.TaggedOutput(DROPPED, light(doc))


class ReadRecords(beam.DoFn):
    """One input file (any FileSystems path) → documents, read-time drops, errors, skipped records."""

    def __init__(self, input_format: str | None, columns: io.TextColumns, read: ReadConfig, annotate_only: bool):
        self.input_format = input_format
        self.columns = columns
        self.read_cfg = read
        self.annotate_only = annotate_only
        self.read = Metrics.counter("read", "records")
        self.errors = Metrics.counter("read", "errors")

    def process(self, path: str):
        try:
            fmt = self.input_format or io.detect_format(path)
        except ValueError as err:
            self.errors.inc()
            yield beam.pvalue.TaggedOutput(ERRORS, io.error_row(path, "file", "read:unknown_format", str(err)))
            return
        if fmt in ("warc", "wet"):
            # The reader undoes gzip / LZ4 / zstd itself: it needs the raw bytes to read gzip member by member,
            # see a truncated or corrupt member and cap decompression.
            items = io.read_warc(path, lambda: FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED),
                                 max_record_bytes=self.read_cfg.max_record_bytes,
                                 max_decompressed_bytes=self.read_cfg.max_decompressed_bytes)
        elif fmt == "jsonl":
            items = io.read_jsonl(path, lambda: FileSystems.open(path), self.columns)  # AUTO: .gz, .zst, .bz2
        else:
            items = io.read_parquet(path, lambda: FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED),
                                    self.columns)
        log.info("reading %s (%s)", path, fmt)
        counts = {"doc": 0, "error": 0, "skipped": 0}
        for kind, payload in items:
            counts[kind] += 1
            if kind == "doc":
                self.read.inc()
                yield _route(payload, self.annotate_only)
            elif kind == "error":
                self.errors.inc()
                yield beam.pvalue.TaggedOutput(ERRORS, payload)
            else:
                yield beam.pvalue.TaggedOutput(SKIPPED, (path, payload))
        log.info("read %s: %d documents, %d errors, %d non-document records",
                 path, counts["doc"], counts["error"], counts["skipped"])


class Extract(beam.DoFn):
    """HTML → main text. Text inputs (WET, JSONL, Parquet) pass through untouched."""

    def __init__(self, cfg, annotate_only: bool):
        self.cfg = cfg
        self.annotate_only = annotate_only
        self.extractor = None
        self.seen = 0

    def setup(self):
        self.extractor = Extractor(self.cfg).__enter__()

    def teardown(self):
        if self.extractor is not None:
            self.extractor.__exit__(None, None, None)

    def process(self, doc: dict):
        if doc.get("decision") or "html" not in doc:
            yield doc
            return
        doc = dict(doc)
        body = doc.pop("html")
        if len(body) > self.cfg.max_html_bytes:
            doc["decision"] = "extract:too_large"
            yield _route(doc, self.annotate_only)
            return
        if looks_binary(body):  # an image or archive labelled text/html: nothing to extract
            doc["decision"] = "extract:binary"
            yield _route(doc, self.annotate_only)
            return
        try:
            result = self.extractor(body, doc.get("charset"), doc.get("url"))
        except ExtractTimeout:
            doc["decision"] = "extract:timeout"
            yield _route(doc, self.annotate_only)
            return
        except Exception as err:  # noqa: BLE001 — one bad page must not kill the job
            Metrics.counter("extract", "errors").inc()
            yield beam.pvalue.TaggedOutput(ERRORS, io.error_row(
                doc["source"], doc["record_id"] or doc["id"], "extract:failed",
                f"{type(err).__name__}: {err}", record_id=doc["record_id"], url=doc["url"]))
            return
        self.seen += 1
        if self.seen % 100 == 0:
            log.info("extract: %d pages extracted by this worker", self.seen)
        doc.update(text=result.text, title=result.title, date=result.date, charset=result.charset)
        if not result.text.strip():
            doc["decision"] = "extract:empty"
        yield _route(doc, self.annotate_only)
