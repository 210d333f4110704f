"""Readers: one input file in, a stream of documents, drops, errors and skipped records out.

Pure Python over a binary file object, no Beam: ``transforms.ReadRecords`` opens files through Beam's
FileSystems (local, gs://, s3://) and hands them here. Each reader yields ``Item``s in file order:

* ``("doc", doc)``: a candidate document (HTML still to extract, or text). A doc whose ``decision`` is
  already set was dropped at read time (non-HTML, revisit, HTTP status) and is only counted;
* ``("error", row)``: what could not be read, with the file, the position and the reason;
* ``("skipped", record_type)``: WARC records that are not documents (warcinfo, request, metadata).

WARC is read with FastWARC (fast, tolerant of gzip-per-record, whole-file gzip, LZ4 and malformed
chunking, decodes HTTP Content-/Transfer-Encoding). What FastWARC cannot read at all (ARC files, some
legacy dialects) falls back to warcio, which converts ARC to WARC on the fly.
"""

from __future__ import annotations

import gzip
import json
import posixpath
from dataclasses import dataclass
from typing import IO, Callable, Iterator, Literal

import xxhash

from schemas import empty_document

Item = tuple[Literal["doc", "error", "skipped"], object]
Opener = Callable[[], IO[bytes]]

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xml+xhtml"})


@dataclass(frozen=True)
class TextColumns:
    """Column / key names of text inputs (JSONL, Parquet), configurable per run."""

    text: str = "text"
    id: str = "id"
    url: str = "url"


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


def _new_doc(source: str, source_format: str, record_id: str | None, url: str | None, position: int | str) -> dict:
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


def error_row(source: str, position: object, reason: str, message: str, record_id: str = "", url: str = "") -> dict:
    return {
        "source": source,
        "position": str(position),
        "record_id": record_id or "",
        "url": url or "",
        "reason": reason,
        "message": message[:2000],
    }


# ----------------------------------------------------------------------------------------- WARC / WET


def read_warc(source: str, open_file: Opener, *, max_record_bytes: int) -> Iterator[Item]:
    """WARC, WET and ARC records of one file; FastWARC first, warcio for what FastWARC cannot read."""
    emitted = 0
    try:
        with open_file() as stream:
            for item in _read_fastwarc(source, stream, max_record_bytes):
                emitted += 1
                yield item
    except Exception as err:  # noqa: BLE001 — a broken file must become an error row, never a crash
        yield from _fallback_warcio(source, open_file, max_record_bytes, skip=emitted, first_error=err)
        return
    if emitted == 0:
        # FastWARC reads ARC (and some pre-1.0 dialects) as an empty stream without complaint.
        yield from _fallback_warcio(source, open_file, max_record_bytes, skip=0, first_error=None)


def _read_fastwarc(source: str, stream: IO[bytes], max_record_bytes: int) -> Iterator[Item]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    for record in ArchiveIterator(stream, parse_http=True, auto_decode="all", quirks_mode=True):
        rtype = record.record_type
        headers = record.headers
        record_id = headers.get("WARC-Record-ID") or ""
        url = (headers.get("WARC-Target-URI") or "").strip("<>")
        if rtype == WarcRecordType.conversion:
            doc = _new_doc(source, "wet", record_id, url, record.stream_pos)
            doc["crawl_date"] = headers.get("WARC-Date") or ""
            body = record.reader.read(max_record_bytes + 1)
            if len(body) > max_record_bytes:
                doc["decision"] = "read:too_large"
            else:
                doc["content_type"] = "text/plain"
                doc["charset"] = "utf-8"
                doc["text"] = body.decode("utf-8", errors="replace")
            yield "doc", doc
            continue
        if rtype not in (WarcRecordType.response, WarcRecordType.resource, WarcRecordType.revisit):
            yield "skipped", str(rtype).rsplit(".", 1)[-1]
            continue
        doc = _new_doc(source, "warc", record_id, url, record.stream_pos)
        doc["crawl_date"] = headers.get("WARC-Date") or ""
        if rtype == WarcRecordType.revisit:
            doc["decision"] = "read:revisit"
            yield "doc", doc
            continue
        status = 200
        content_type = headers.get("Content-Type") or ""
        charset = None
        if record.is_http:
            status = record.http_headers.status_code
            content_type = record.http_content_type or ""
            charset = record.http_charset
        yield "doc", _payload_doc(doc, status, content_type, charset, record.reader.read, max_record_bytes)


def _payload_doc(
    doc: dict, status: int | None, content_type: str, charset: str | None, read: Callable[[int], bytes], cap: int
) -> dict:
    media_type = content_type.split(";")[0].strip().lower()
    doc["content_type"] = media_type
    doc["charset"] = (charset or "").lower()
    if status != 200:
        doc["decision"] = "read:http_status"
    elif media_type not in HTML_TYPES:
        doc["decision"] = "read:non_html"
    else:
        body = read(cap + 1)
        if len(body) > cap:
            doc["decision"] = "read:too_large"
        else:
            doc["html"] = body
    return doc


def _fallback_warcio(
    source: str, open_file: Opener, max_record_bytes: int, *, skip: int, first_error: Exception | None
) -> Iterator[Item]:
    """Re-read the file with warcio, skipping the ``skip`` items FastWARC already produced."""
    from warcio.archiveiterator import ArchiveIterator

    seen = 0
    produced = 0
    offset = 0
    try:
        with open_file() as stream:
            iterator = ArchiveIterator(stream, arc2warc=True)
            for record in iterator:
                offset = iterator.offset
                items = list(_warcio_record(source, record, offset, max_record_bytes))
                for item in items:
                    seen += 1
                    if seen > skip:
                        produced += 1
                        yield item
    except Exception as err:  # noqa: BLE001
        reason = "read:truncated" if isinstance(err, EOFError) else "read:parse_error"
        cause = first_error or err
        yield "error", error_row(
            source,
            f"byte {offset}",
            reason,
            f"{type(cause).__name__}: {cause}; warcio: {type(err).__name__}: {err}. "
            "Records before this point were processed; check the file's integrity (e.g. gzip -t) and re-fetch it.",
        )
        return
    if first_error is not None and produced == 0 and seen <= skip:
        # warcio read no further than FastWARC did: the rest of the file is unreadable by both.
        yield "error", error_row(
            source,
            f"after record {skip}",
            "read:parse_error",
            f"{type(first_error).__name__}: {first_error}. Records before this point were processed.",
        )


def _warcio_record(source: str, record, offset: int, max_record_bytes: int) -> Iterator[Item]:
    rtype = record.rec_type
    headers = record.rec_headers
    record_id = headers.get_header("WARC-Record-ID") or ""
    url = (headers.get_header("WARC-Target-URI") or "").strip("<>")
    if rtype == "conversion":
        doc = _new_doc(source, "wet", record_id, url, offset)
        doc["crawl_date"] = headers.get_header("WARC-Date") or ""
        doc["content_type"], doc["charset"] = "text/plain", "utf-8"
        body = record.content_stream().read(max_record_bytes + 1)
        if len(body) > max_record_bytes:
            doc["decision"] = "read:too_large"
        else:
            doc["text"] = body.decode("utf-8", errors="replace")
        yield "doc", doc
        return
    if rtype not in ("response", "resource", "revisit"):
        yield "skipped", rtype
        return
    # ARC records carry no WARC-Record-ID; the file position identifies them.
    doc = _new_doc(source, "warc", record_id or None, url, offset)
    doc["crawl_date"] = headers.get_header("WARC-Date") or ""
    if rtype == "revisit":
        doc["decision"] = "read:revisit"
        yield "doc", doc
        return
    status, content_type, charset = 200, headers.get_header("Content-Type") or "", None
    if record.http_headers is not None:
        try:
            status = int(record.http_headers.get_statuscode() or 0)
        except ValueError:
            status = 0
        content_type = record.http_headers.get_header("Content-Type") or ""
    if "charset=" in content_type.lower():
        charset = content_type.lower().split("charset=", 1)[1].split(";")[0].strip(" \"'")
    yield "doc", _payload_doc(doc, status, content_type, charset, record.content_stream().read, max_record_bytes)


# ----------------------------------------------------------------------------------------- JSONL / Parquet


def _text_doc(source: str, fmt: str, row: dict, cols: TextColumns, position: int) -> dict:
    record_id = row.get(cols.id)
    url = row.get(cols.url)
    doc = _new_doc(source, fmt, str(record_id) if record_id is not None else None, str(url or ""), position)
    text = row.get(cols.text)
    if not isinstance(text, str) or not text.strip():
        doc["decision"] = "read:no_text"
    else:
        doc["text"] = text
        doc["content_type"] = "text/plain"
    return doc


def read_jsonl(source: str, open_file: Opener, cols: TextColumns) -> Iterator[Item]:
    """JSON Lines; ``open_file`` already undoes .gz/.zst (Beam's compression detection)."""
    line_no = 0
    try:
        with open_file() as raw:
            # readline() rather than TextIOWrapper: Beam's CompressedFile is not a full io object.
            for line_no, raw_line in enumerate(iter(raw.readline, b""), start=1):
                line = raw_line.decode("utf-8", errors="replace")
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    yield "error", error_row(source, f"line {line_no}", "read:bad_json", f"{err}; fix or drop that line")
                    continue
                if not isinstance(row, dict):
                    yield "error", error_row(source, f"line {line_no}", "read:bad_json", "line is not a JSON object")
                    continue
                yield "doc", _text_doc(source, "jsonl", row, cols, line_no)
    except (OSError, EOFError, gzip.BadGzipFile, ValueError) as err:
        yield "error", error_row(
            source, f"line {line_no + 1}", "read:parse_error",
            f"{type(err).__name__}: {err}; lines before it were processed; re-fetch or re-compress the file",
        )


def read_parquet(source: str, open_file: Opener, cols: TextColumns, batch_rows: int = 1024) -> Iterator[Item]:
    """Parquet with a text column; only the three named columns are read."""
    import pyarrow.parquet as pq

    row_no = 0
    try:
        with open_file() as raw:
            parquet = pq.ParquetFile(raw)
            names = set(parquet.schema_arrow.names)
            if cols.text not in names:
                yield "error", error_row(
                    source, "schema", "read:no_text_column",
                    f"no column {cols.text!r} (columns: {', '.join(sorted(names))}); pass --text_column",
                )
                return
            wanted = [c for c in (cols.text, cols.id, cols.url) if c in names]
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=wanted):
                for row in batch.to_pylist():
                    yield "doc", _text_doc(source, "parquet", row, cols, row_no)
                    row_no += 1
    except Exception as err:  # noqa: BLE001 — corrupt Parquet must be an error row, not a crash
        yield "error", error_row(
            source, f"row {row_no}", "read:parse_error",
            f"{type(err).__name__}: {err}; rows before it were processed",
        )
