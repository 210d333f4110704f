"""WARC (any version), WET and ARC records of one file, framed here over a decompressing input.

FastWARC parses each response's HTTP headers and undoes its Content- and Transfer-Encoding; the records
themselves are framed here rather than by FastWARC's ArchiveIterator, which reads a record whose
Content-Length lies into (or short of) its neighbour without a word. Here every record ends as exactly
one item, and a record cut short, a lying length, garbage between records, a corrupt gzip member and a
decompression bomb are error rows that name the file, the offset and the record.
"""

from __future__ import annotations

import re
from typing import Callable, Iterator

from pipelines.readers.compressed import MAX_LINE, DecompressingInput
from pipelines.readers.records import DEFAULT_MAX_DECOMPRESSED_BYTES, HTML_TYPES, Item, Opener, doc_id, new_doc
from schemas.outcomes import error_row

_MAX_HEADER = 256 << 10  # a WARC header block longer than this is not a header block
_NON_DOC_TYPES = frozenset({"warcinfo", "request", "metadata", "continuation"})
_WARC_VERSION = re.compile(rb"WARC/[01]\.\d+\r?\n")


def read_warc(
    source: str, open_file: Opener, *, max_record_bytes: int,
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
) -> Iterator[Item]:
    """WARC (any version), WET and ARC records of one file, plain or gzip / zstd / LZ4 compressed.

    Every record ends as exactly one item. Damage never ends the file silently: a record cut short, a
    Content-Length that does not end where the next record starts, garbage between records, a corrupt
    or truncated compressed member and a record past ``max_decompressed_bytes`` are each an error row
    with the file, the offset, the record id where known and the reason; reading goes on at the next
    record wherever one can be found (the next gzip member, the next ``WARC/`` line).
    """
    stream = None
    try:
        with open_file() as raw:
            stream = DecompressingInput(raw, max_decompressed_bytes)
            yield from _archive_records(source, stream, max_record_bytes)
    except Exception as err:  # noqa: BLE001 — an I/O error (or a bug) is this file's error row, never a crash
        where = stream.where(stream.pos) if stream is not None else "file"
        yield "error", error_row(source, where, "read:io_error" if isinstance(err, OSError) else "read:parse_error",
                                 f"{type(err).__name__}: {err}. Records before this point were processed.")


def _archive_records(source: str, s: DecompressingInput, cap: int) -> Iterator[Item]:
    while True:  # the first non-blank line says which format this is
        line = s.readline()
        if not line:
            row, resumable = _stream_damage(source, s, s.pos)
            if row:
                yield "error", row
            if resumable:
                continue
            return
        if line.strip():
            break
    s.unread(line)
    if line.startswith(b"WARC/"):
        yield from _warc_records(source, s, cap)
    elif _arc_fields(line, 1) is not None:
        yield from _arc_records(source, s, cap)
    else:
        yield "error", error_row(
            source, s.where(s.pos), "read:unknown_format",
            f"not a WARC or ARC file: it starts with {line[:80]!r}; check --input_format and the file",
        )


def _stream_damage(source: str, s: DecompressingInput, at: int) -> tuple[dict | None, bool]:
    """Where the decompressed stream ended: the error row of the damage that ended it (None for a clean
    end of file), and whether reading can resume after it (at the next gzip member)."""
    damage = s.take_damage()
    if damage is None:
        return None, False
    row = error_row(source, s.where(at), damage.reason, damage.message + ". Records before it were processed.")
    return row, damage.resumable


def _damage_row(source: str, s: DecompressingInput, at: int, default: str, what: str, record_id: str = "", url: str = "") -> tuple:
    """The error row of a record that ends early, and whether reading can go on after it."""
    damage = s.take_damage()
    reason = damage.reason if damage else default
    detail = damage.message if damage else "the file ends there: it is truncated"
    row = error_row(source, s.where(at), reason, f"{what}; {detail}. Records before it were processed.",
                    record_id=record_id, url=url)
    return row, bool(damage and damage.resumable)


def _warc_records(source: str, s: DecompressingInput, cap: int) -> Iterator[Item]:
    resyncing = False  # skipping to the next record after an error row that already said so
    at_line_start = True
    seen: set[str] = set()
    while True:
        start = s.pos
        line = s.readline()
        if not line:
            row, resumable = _stream_damage(source, s, start)
            if row:
                yield "error", row
            if resumable:
                resyncing, at_line_start = True, True
                continue
            return
        line_start, at_line_start = at_line_start, line.endswith(b"\n")
        if not line.strip():
            continue
        if not line.endswith(b"\n") and s.at_end():  # the data ends inside this line
            damaged = s.pending
            row, go_on = _damage_row(source, s, start, "read:truncated", f"the data ends inside a line ({line[:40]!r})")
            if damaged or not resyncing:
                yield "error", row
            if go_on:
                resyncing, at_line_start = True, True
                continue
            return
        if not (line_start and line.startswith(b"WARC/")):
            if not resyncing:
                yield "error", error_row(
                    source, s.where(start), "read:bad_record",
                    f"expected a WARC record header, found {line[:60]!r}; skipped to the next 'WARC/' line",
                )
                resyncing = True
            version = _WARC_VERSION.search(line, 1)
            if version:  # garbage glued to the next record's first line
                s.unread(line[version.start():])
                at_line_start = True
            continue
        resyncing = False
        s.mark(start)
        headers, problem = _header_block(s)
        if problem == "long":
            yield "error", error_row(source, s.where(start), "read:bad_header", (
                f"the WARC header block is longer than {_MAX_HEADER:,} bytes or has a line over {MAX_LINE:,}; "
                "skipped to the next record"))
            resyncing = True
            continue
        if problem == "cut":
            row, go_on = _damage_row(source, s, start, "read:truncated", "the WARC header block is cut short",
                                     headers.get("warc-record-id", ""),
                                     headers.get("warc-target-uri", "").strip().strip("<>"))
            yield "error", row
            if not go_on:
                return
            resyncing, at_line_start = True, True
            continue
        record_id = headers.get("warc-record-id", "")
        url = headers.get("warc-target-uri", "").strip().strip("<>")
        rtype = headers.get("warc-type", "").strip().lower()
        length = _content_length(headers.get("content-length"))
        if length is None:
            yield "error", error_row(
                source, s.where(start), "read:bad_header",
                f"{rtype or 'untyped'} record without a valid Content-Length "
                f"({headers.get('content-length')!r}); skipped to the next record", record_id=record_id, url=url)
            resyncing = True
            continue
        want = min(length, cap + 1)
        block = s.read(want)
        got = len(block) + (s.skip(length - want) if len(block) == want else 0)
        if got < length:
            row, go_on = _damage_row(source, s, start, "read:truncated",
                                     f"{rtype} record declares {length:,} bytes but only {got:,} follow",
                                     record_id, url)
            yield "error", row
            if not go_on:
                return
            resyncing = True
            continue
        follows = _record_follows(s, lambda ln: ln.startswith(b"WARC/"))
        if follows == b"":
            row, go_on = _damage_row(source, s, start, "read:corrupt", f"{rtype} record's compressed data is damaged "
                                     "at its end", record_id, url)
            yield "error", row
            if not go_on:
                return
            resyncing, at_line_start = True, True
            continue
        if follows is not None:
            yield "error", error_row(
                source, s.where(start), "read:bad_length",
                f"{rtype} record declares Content-Length {length:,}, but what follows its block is not the "
                f"next record ({follows[:40]!r}): the length is wrong, so its content cannot be trusted; "
                "skipped to the next record", record_id=record_id, url=url)
            if len(block) == length:  # declared too long: the next record may start inside this block
                at = block.find(b"\nWARC/")
                if at >= 0:
                    s.unread(block[at + 1:])
            resyncing, at_line_start = True, True
            continue
        kind, payload = _warc_item(source, headers, rtype, record_id, url, block, length, cap, start, s.where(start))
        if kind == "doc":
            if payload["id"] in seen:  # a repeated WARC-Record-ID (wget 1.14 writes some): the position tells apart
                payload["id"] = doc_id(f"{record_id} at byte {start}", source, start)
            seen.add(payload["id"])
        yield kind, payload


def _header_block(s: DecompressingInput) -> tuple[dict[str, str], str | None]:
    """WARC header lines up to the blank line, names lower-cased; problem "cut" (the data ended) or "long"."""
    headers: dict[str, str] = {}
    total = 0
    last = None
    while True:
        line = s.readline()
        total += len(line)
        if total > _MAX_HEADER or len(line) >= MAX_LINE and not line.endswith(b"\n"):
            return headers, "long"
        if not line.endswith(b"\n"):
            return headers, "cut"
        text = line.rstrip(b"\r\n")
        if not text.strip():
            return headers, None
        if text[:1] in (b" ", b"\t") and last:  # folded continuation line
            headers[last] += " " + text.strip().decode("utf-8", "replace")
            continue
        name, sep, value = text.partition(b":")
        if sep:
            last = name.strip().decode("latin-1").lower()
            headers.setdefault(last, value.strip().decode("utf-8", "replace"))


def _content_length(value: str | None) -> int | None:
    try:
        length = int((value or "").strip())
    except ValueError:
        return None
    return length if length >= 0 else None


def _record_follows(s: DecompressingInput, is_next: Callable[[bytes], bool]) -> bytes | None:
    """After a record's block: skip the blank separator lines. None if the next record (or the clean end of
    the data) follows; b"" if the data breaks there (the compressed member that holds the record is
    damaged, so its content cannot be trusted); else the line found instead (everything read is put
    back, for the resync)."""
    consumed = []
    for _ in range(64):
        line = s.readline()
        if not line:
            return b"" if s.damaged else None
        consumed.append(line)
        if line.strip():
            s.unread(b"".join(consumed))
            return None if is_next(line) else line
    s.unread(b"".join(consumed))
    return b"(more than 64 blank lines)"


def _warc_item(
    source: str, headers: dict, rtype: str, record_id: str, url: str, block: bytes, length: int, cap: int, start: int,
    where: str,
) -> Item:
    if rtype == "conversion":
        doc = new_doc(source, "wet", record_id, url, start)
        doc["crawl_date"] = headers.get("warc-date", "")
        if length > cap:
            doc["decision"] = "read:too_large"
        else:
            doc["content_type"], doc["charset"] = "text/plain", "utf-8"
            doc["text"] = block.decode("utf-8", errors="replace")
        return "doc", doc
    if rtype not in ("response", "resource", "revisit"):
        return "skipped", rtype if rtype in _NON_DOC_TYPES else "unknown"
    doc = new_doc(source, "warc", record_id, url, start)
    doc["crawl_date"] = headers.get("warc-date", "")
    if rtype == "revisit":
        doc["decision"] = "read:revisit"
        return "doc", doc
    content_type = headers.get("content-type", "")
    if rtype == "response" and content_type.lower().startswith("application/http"):
        return _http_item(source, doc, block, length > cap, cap, where)
    return "doc", _payload_doc(doc, 200, content_type, None, block if length <= cap else None, cap)


def _payload_doc(doc: dict, status: int | None, content_type: str, charset: str | None, body: bytes | None,
                 cap: int) -> dict:
    """Decide a response by status, media type and size; ``body`` None means it is over ``cap``."""
    media_type = content_type.split(";")[0].strip().lower()
    if not charset and "charset=" in content_type.lower():
        charset = content_type.lower().split("charset=", 1)[1].split(";")[0].strip(" \"'")
    doc["content_type"] = media_type
    doc["charset"] = (charset or "").lower()
    if status != 200:
        doc["decision"] = "read:http_status"
    elif media_type not in HTML_TYPES:
        doc["decision"] = "read:non_html"
    elif body is None or len(body) > cap:
        doc["decision"] = "read:too_large"
    else:
        doc["html"] = body
    return doc


_HTTP_WRAPPER = (b"WARC/1.1\r\nWARC-Type: response\r\nContent-Type: application/http; msgtype=response\r\n"
                 b"Content-Length: %d\r\n\r\n")
_COMPRESSED_BODY = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"BZh")


def _http_item(source: str, doc: dict, block: bytes, over_cap: bool, cap: int, where: str) -> Item:
    """An HTTP response block: status, type and the body with Transfer- and Content-Encoding undone.

    Decoding falls back step by step (both encodings, then each alone, then none) because crawlers kept
    headers of encodings they had already undone (Common Crawl's 2008 ARC files say chunked + gzip over
    plain HTML). A body that still looks compressed after a failed decode is an error row.
    """
    from fastwarc.warc import WarcRecord

    failures = []
    for mode in ("all", "transfer", "content", "none"):
        try:
            record = WarcRecord.from_bytes(_HTTP_WRAPPER % len(block) + block)
            record.parse_http(auto_decode=mode, quirks_mode=True)
            status = record.http_headers.status_code
            if status is None:
                return "error", error_row(
                    source, where, "read:bad_http",
                    f"the response block has no HTTP status line (it starts with {block[:60]!r})",
                    record_id=doc["record_id"], url=doc["url"])
            content_type = record.http_headers.get("Content-Type") or record.http_content_type or ""
            media_type = content_type.split(";")[0].strip().lower()
            body = None
            if status == 200 and media_type in HTML_TYPES and not over_cap:
                body = record.reader.read(cap + 1)
                encoding = (record.http_headers.get("Content-Encoding") or "identity").strip().lower()
                if mode in ("transfer", "none") and encoding != "identity" and body.startswith(_COMPRESSED_BODY):
                    raise ValueError(f"Content-Encoding {encoding} does not decode")
            return "doc", _payload_doc(doc, status, content_type, record.http_charset, body, cap)
        except Exception as err:  # noqa: BLE001 — try the next decoding; all failing is an error row
            failures.append(f"{mode}: {type(err).__name__}: {err}")
    return "error", error_row(source, where, "read:bad_encoding",
                              "the HTTP body does not decode: " + "; ".join(failures)[:1500],
                              record_id=doc["record_id"], url=doc["url"])


# -- ARC (v1 and v2, incl. the 2008/2009 Common Crawl dialect whose file header length swallows its separator)


def _arc_fields(line: bytes, version: int) -> tuple[str, str, str, int | None] | None:
    """(url, date, mime, length) of an ARC record header line, or None if the line is not one.

    Fields are taken from the right, because URLs in real ARC files contain spaces. A header line
    whose length field is not a number still is one (length None): that record is an error row.
    """
    fields = line.rstrip(b"\r\n").split(b" ")
    width = 10 if version == 2 else 5
    if len(fields) < width or not fields[2 - width].isdigit():
        return None
    url = b" ".join(fields[: 1 - width]).decode("utf-8", "replace")
    if "://" not in url and not url.startswith(("dns:", "filedesc:")):
        return None
    length = int(fields[-1]) if fields[-1].isdigit() else None
    return url, fields[2 - width].decode("ascii"), fields[3 - width].decode("latin-1"), length


def _arc_date(value: str) -> str:
    digits = (value + "00000000000000")[:14]
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}T{digits[8:10]}:{digits[10:12]}:{digits[12:14]}Z"


def _arc_records(source: str, s: DecompressingInput, cap: int) -> Iterator[Item]:
    version = 1
    resyncing = False
    while True:
        start = s.pos
        line = s.readline()
        if not line:
            row, resumable = _stream_damage(source, s, start)
            if row:
                yield "error", row
            if resumable:
                resyncing = True
                continue
            return
        if not line.strip():
            continue
        fields = _arc_fields(line, version)
        if fields is None and not line.endswith(b"\n") and s.at_end():  # the data ends inside this line
            damaged = s.pending
            row, go_on = _damage_row(source, s, start, "read:truncated", f"the data ends inside a line ({line[:40]!r})")
            if damaged or not resyncing:
                yield "error", row
            if go_on:
                resyncing = True
                continue
            return
        if fields is None:
            if not resyncing:
                yield "error", error_row(
                    source, s.where(start), "read:bad_record",
                    f"expected an ARC record header 'URL IP date type length', found {line[:80]!r}; "
                    "skipped to the next record header")
                resyncing = True
            continue
        resyncing = False
        s.mark(start)
        url, date, mime, length = fields
        if length is None:
            yield "error", error_row(source, s.where(start), "read:bad_header",
                                     f"ARC record header without a valid length: {line[:120]!r}", url=url)
            resyncing = True
            continue
        want = min(length, cap + 1)
        block = s.read(want)
        got = len(block) + (s.skip(length - want) if len(block) == want else 0)
        if got < length:
            row, go_on = _damage_row(source, s, start, "read:truncated",
                                     f"ARC record declares {length:,} bytes but only {got:,} follow", url=url)
            yield "error", row
            if not go_on:
                return
            resyncing = True
            continue
        if url.startswith("filedesc:"):
            version = 2 if block.split(b"\n", 1)[0].strip().startswith(b"2") else 1
        follows = _record_follows(s, lambda ln: _arc_fields(ln, version) is not None)
        if follows == b"":
            row, go_on = _damage_row(source, s, start, "read:corrupt", "ARC record's compressed data is damaged at its "
                                     "end", url=url)
            yield "error", row
            if not go_on:
                return
            resyncing = True
            continue
        if follows is not None:
            yield "error", error_row(
                source, s.where(start), "read:bad_length",
                f"ARC record declares length {length:,}, but what follows it is not the next record header "
                f"({follows[:40]!r}); skipped to the next record", url=url)
            resyncing = True
            continue
        if url.startswith("filedesc:"):
            yield "skipped", "warcinfo"
            continue
        doc = new_doc(source, "warc", None, url, start)  # ARC records carry no id: the position names them
        doc["crawl_date"] = _arc_date(date)
        if url.startswith(("http:", "https:")):
            yield _http_item(source, doc, block, length > cap, cap, s.where(start))
        else:
            yield "doc", _payload_doc(doc, 200, mime, None, block if length <= cap else None, cap)
