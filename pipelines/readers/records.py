"""What every reader makes: items, stable document ids, the input format of a file name.

A reader turns one input file into a stream of ``Item``s in file order:

* ``("doc", doc)``: a candidate document (HTML still to extract, or text). A doc whose ``decision`` is
  already set was dropped at read time (non-HTML, revisit, HTTP status, too large) and is only counted;
* ``("error", row)``: what could not be read, with the file, the position and the reason;
* ``("skipped", record_type)``: WARC records that are not documents (warcinfo, request, metadata).
"""

from __future__ import annotations

import posixpath
from typing import IO, Callable, Literal

import xxhash
from pydantic import Field

from schemas import empty_document
from schemas.config import StrictConfig

Item = tuple[Literal["doc", "error", "skipped"], object]
Opener = Callable[[], IO[bytes]]

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xml+xhtml"})

#: ``read.max_decompressed_bytes`` when the caller does not say (the recipe's default).
DEFAULT_MAX_DECOMPRESSED_BYTES = 1 << 30


class ReadConfig(StrictConfig):
    """The recipe's ``read`` section: size limits that keep one record from taking a worker down."""

    max_record_bytes: int = Field(10_000_000, gt=0, description="larger payloads are dropped as read:too_large")
    max_decompressed_bytes: int = Field(
        DEFAULT_MAX_DECOMPRESSED_BYTES, gt=0,
        description="most bytes one record of a compressed input may inflate to (bomb guard); past it: "
        "read:decompression_limit, and reading resumes at the next gzip member",
    )


def detect_format(path: str) -> str:
    """Input format from the file name; ``--input_format`` overrides it for odd names."""
    name = posixpath.basename(path).lower()
    for suffix in (".gz", ".zst", ".zstd", ".lz4"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    if name.endswith((".warc.wet", ".wet")):
        return "wet"
    if name.endswith((".warc", ".arc")):
        return "warc"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    raise ValueError(
        f"{path}: cannot tell the input format from the file name; "
        "pass --input_format warc|wet|jsonl|parquet"
    )


def doc_id(record_id: str | None, source: str, position: int | str) -> str:
    """A stable id: the same record gets the same id in every run, on every runner and path prefix.

    The record's own id is globally unique for WARC (a UUID) and meant to be unique for text datasets;
    without one, the file's base name and the record's position stand in (base name, so that moving a
    crawl from local disk to gs:// does not change ids).
    """
    key = record_id if record_id else f"{posixpath.basename(source)}:{position}"
    return xxhash.xxh3_128_hexdigest(key.encode("utf-8", "surrogatepass"))


def new_doc(source: str, source_format: str, record_id: str | None, url: str | None, position: int | str) -> dict:
    doc = empty_document()
    doc.update(
        id=doc_id(record_id, source, position),
        record_id=record_id or "",
        url=url or "",
        source=source,
        source_format=source_format,
        crawl_date="",
    )
    return doc
