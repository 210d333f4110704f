"""Readers: one input file in, a stream of documents, drops, errors and skipped records out.

Pure Python over a binary file object, no Beam: ``transforms.ReadRecords`` opens files through Beam's
FileSystems (local, gs://, s3://) and hands them here. Each reader yields ``Item``s in file order:

* ``("doc", doc)``: a candidate document (HTML still to extract, or text). A doc whose ``decision`` is
  already set was dropped at read time (non-HTML, revisit, HTTP status, too large) and is only counted;
* ``("error", row)``: what could not be read, with the file, the position and the reason;
* ``("skipped", record_type)``: WARC records that are not documents (warcinfo, request, metadata).

WARC, WET and ARC are framed here (``_warc_records``, ``_arc_records``) over a decompressing input
(``_Input``: gzip per record or per file with zlib, zstd and LZ4 through FastWARC's stream readers), and
FastWARC parses each response's HTTP headers and undoes its Content- and Transfer-Encoding. Framing here
rather than in FastWARC's ArchiveIterator is what lets damage be reported instead of passed over: the
iterator ends a truncated gzip stream silently, reads a record whose Content-Length lies into (or short
of) its neighbour without a word, and has no cap on decompressed size. Here every record ends as exactly
one item, and a record cut short, a lying length, garbage between records, a corrupt gzip member and a
decompression bomb are error rows that name the file, the offset and the record.
"""

from __future__ import annotations

import gzip
import json
import posixpath
import re
import zlib
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


# ----------------------------------------------------------------------------------------- WARC / WET / ARC

#: ``read.max_decompressed_bytes`` when the caller does not say (the recipe's default).
DEFAULT_MAX_DECOMPRESSED_BYTES = 1 << 30
_RAW_CHUNK = 1 << 16  # compressed bytes read per call
_OUT_CHUNK = 1 << 18  # most decompressed bytes one inflate call may produce (bounds memory on bombs)
_MAX_LINE = 64 << 10  # a WARC/ARC header line longer than this is not a header line
_MAX_HEADER = 256 << 10  # a WARC header block longer than this is not a header block
_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"
_LZ4 = b"\x04\x22\x4d\x18"
_NON_DOC_TYPES = frozenset({"warcinfo", "request", "metadata", "continuation"})
_WARC_VERSION = re.compile(rb"WARC/[01]\.\d+\r?\n")


@dataclass(frozen=True)
class _Damage:
    """Why the decompressed stream stopped early, and whether it goes on at a later compressed member."""

    reason: str  # read:truncated | read:corrupt | read:decompression_limit
    message: str
    resumable: bool
    between_members: bool = False  # at a gzip member boundary: the data before it is whole


class _Input:
    """The decompressed bytes of one file, read forward, with offsets, a decompression cap and damage reports.

    gzip (one member per record, or the whole file in one member) is inflated here with zlib, member by
    member, so that what FastWARC's reader passes over in silence is seen: a stream that ends inside a
    member (truncation), a member that does not inflate or fails its CRC (flipped bytes), and a record
    that inflates past ``max_decompressed_bytes`` (a decompression bomb). Each stops the data at that
    point with a ``_Damage``; where another gzip member follows, reading resumes there once the reader
    has taken the damage (``take_damage``). zstd and LZ4 go through FastWARC's stream readers, which
    raise on a truncated or corrupt frame (reported, not resumed). Memory is bounded by the chunk sizes
    whatever the input: inflation is capped per call, and the reader takes lines and blocks of bounded size.
    """

    def __init__(self, raw: IO[bytes], max_decompressed_bytes: int):
        self._raw = raw
        self._rbuf = b""  # compressed bytes read, not yet inflated
        self._rpos = 0  # compressed offset of _rbuf[0]
        self._raw_eof = False
        self.buf = bytearray()  # decompressed bytes not yet consumed
        self.pos = 0  # decompressed offset of buf[0]
        self.cap = max_decompressed_bytes
        self._mark = 0  # decompressed offset where the current record starts (the cap counts from here)
        self._damage: _Damage | None = None
        self._blocked = False  # damage taken? data flow stops at the damage until the reader takes it
        self._done = False
        self._inflater = None
        self._members: list[tuple[int, int]] = []  # (decompressed offset, compressed offset) of gzip members
        head = self._peek_raw(4)
        if head.startswith(_GZIP):
            self.codec = "gzip"
        elif head in (_ZSTD, _LZ4):
            from fastwarc.stream_io import Lz4Reader, ZstdReader

            self.codec = "zstd" if head == _ZSTD else "lz4"
            self._reader = (ZstdReader if head == _ZSTD else Lz4Reader)(_Prefixed(raw, self._rbuf))
            self._rbuf = b""
        else:
            self.codec = "plain"

    # -- compressed side

    def _peek_raw(self, n: int) -> bytes:
        while len(self._rbuf) < n and not self._raw_eof:
            data = self._raw.read(_RAW_CHUNK)
            if not data:
                self._raw_eof = True
            self._rbuf += data
        return self._rbuf[:n]

    def _stop(self, reason: str, message: str, resume_from: int | None) -> None:
        """Stop the data here; look for the next gzip member at or after compressed offset ``resume_from``."""
        between = self.codec == "gzip" and (
            self._inflater is None or self._members[-1][0] == self.pos + len(self.buf))  # nothing of it out yet
        self._inflater = None
        resumable = resume_from is not None and self._seek_member(resume_from)
        if not resumable:
            self._done = True
        self._damage = _Damage(reason, message, resumable, between)
        self._blocked = True

    def _seek_member(self, start: int) -> bool:
        """Skip compressed bytes up to the next position where a gzip member inflates; False at EOF."""
        while self._rpos < start and self._peek_raw(1):
            step = min(start - self._rpos, len(self._rbuf))
            self._rbuf, self._rpos = self._rbuf[step:], self._rpos + step
        while True:
            self._peek_raw(_RAW_CHUNK)
            at = self._rbuf.find(b"\x1f\x8b\x08")
            if at < 0:
                if self._raw_eof:
                    self._rbuf, self._rpos = b"", self._rpos + len(self._rbuf)
                    return False
                keep = max(len(self._rbuf) - 2, 0)  # the magic may straddle two reads
                self._rbuf, self._rpos = self._rbuf[keep:], self._rpos + keep
                self._peek_raw(len(self._rbuf) + _RAW_CHUNK)
                continue
            self._rbuf, self._rpos = self._rbuf[at:], self._rpos + at
            try:  # a real member header inflates; three bytes that merely look like one rarely do
                zlib.decompressobj(31).decompress(self._peek_raw(_RAW_CHUNK), 64)
                return True
            except zlib.error:
                self._rbuf, self._rpos = self._rbuf[1:], self._rpos + 1

    def _more(self) -> bool:
        """Append decompressed bytes to ``buf``; False at the end of the data or at damage."""
        if self._blocked or self._done:
            return False
        before = len(self.buf)
        produced = self._more_gzip() if self.codec == "gzip" else self._more_plain()
        if produced and self.codec != "plain" and self.pos + len(self.buf) - self._mark > self.cap:
            del self.buf[before:]  # nothing past the cap is delivered
            where = self.where(self._mark)
            self._stop(
                "read:decompression_limit",
                f"the record at {where} inflates past read.max_decompressed_bytes = {self.cap:,} bytes "
                "(a decompression bomb, or a legitimately huge record: raise the cap to read it)",
                self._rpos if self.codec == "gzip" else None,
            )
            return False
        return produced

    def _more_plain(self) -> bool:
        try:
            data = self._raw.read(_RAW_CHUNK) if self.codec == "plain" else self._reader.read(_OUT_CHUNK)
            if self.codec == "plain" and self._rbuf:
                data, self._rbuf = self._rbuf + data, b""
        except OSError as err:
            truncated = "incomplete" in str(err) or "fill whole buffer" in str(err)
            self._stop("read:truncated" if truncated else "read:corrupt",
                       f"the {self.codec} stream is {'truncated' if truncated else 'corrupt'} "
                       f"after byte {self.pos + len(self.buf)} of decompressed data ({err})", None)
            return False
        if not data:
            self._done = True
            return False
        self.buf += data
        return True

    def _more_gzip(self) -> bool:
        while True:
            if self._inflater is None:  # between members
                head = self._peek_raw(2)
                if not head:
                    self._done = True
                    return False
                if head != _GZIP:
                    pad = len(self._rbuf) - len(self._rbuf.lstrip(b"\x00\r\n\t "))
                    if pad:  # NUL or newline padding between members is harmless
                        self._rbuf, self._rpos = self._rbuf[pad:], self._rpos + pad
                        continue
                    self._stop("read:corrupt", f"no gzip member starts at byte {self._rpos} where one should "
                               f"({self._rbuf[:16]!r}): skipped to the next gzip member", self._rpos + 1)
                    return False
                self._inflater = zlib.decompressobj(31)
                self._members.append((self.pos + len(self.buf), self._rpos))
                del self._members[:-64]
            fed = self._rbuf or self._peek_raw(_RAW_CHUNK)
            start = self._members[-1][1]
            try:
                out = self._inflater.decompress(fed, _OUT_CHUNK)
            except zlib.error as err:
                self._stop("read:corrupt", f"the gzip member at byte {start} is corrupt ({err})",
                           max(self._rpos, start + 1))
                return False
            if self._inflater.eof:
                rest = self._inflater.unused_data
                self._inflater = None
            else:
                rest = self._inflater.unconsumed_tail
            self._rpos += len(fed) - len(rest)
            self._rbuf = rest
            if out:
                self.buf += out
                return True
            if not fed and self._inflater is not None:
                self._stop("read:truncated", f"the file ends inside the gzip member at byte {start} "
                           f"(after {self._rpos - start} compressed bytes): it is truncated", None)
                return False

    # -- decompressed side

    def where(self, offset: int) -> str:
        """An offset for an error row: the decompressed byte, and the gzip member holding it."""
        if self.codec == "plain":
            return f"byte {offset}"
        member = next((c for d, c in reversed(self._members) if d <= offset), None)
        inside = f" (gzip member at byte {member})" if member is not None else ""
        return f"byte {offset} of the decompressed stream{inside}"

    def mark(self, offset: int) -> None:
        """A record starts at ``offset``: the decompression cap counts from here."""
        self._mark = offset

    def at_end(self) -> bool:
        """No more data (the end of the file, or damage)."""
        return not self.buf and not self._more()

    @property
    def pending(self) -> bool:
        """Damage is waiting to be reported."""
        return self._damage is not None

    @property
    def damaged(self) -> bool:
        """Damage is pending that cuts into the data delivered so far (not one between two gzip members)."""
        return self._damage is not None and not self._damage.between_members

    def take_damage(self) -> _Damage | None:
        damage, self._damage, self._blocked = self._damage, None, False
        self._mark = self.pos + len(self.buf)  # a resumed stream starts afresh under the cap
        return damage

    def readline(self, limit: int = _MAX_LINE) -> bytes:
        """One line with its newline, at most ``limit`` bytes; b"" at the end of the data or at damage."""
        scanned = 0
        while True:
            at = self.buf.find(b"\n", scanned, limit)
            if at >= 0:
                return self._take(at + 1)
            scanned = len(self.buf)
            if scanned >= limit or not self._more():
                return self._take(min(limit, len(self.buf)))

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only at the end of the data or at damage."""
        while len(self.buf) < n and self._more():
            pass
        return self._take(min(n, len(self.buf)))

    def skip(self, n: int) -> int:
        """Discard up to ``n`` bytes without holding them; returns how many."""
        done = 0
        while done < n:
            if not self.buf and not self._more():
                break
            step = min(n - done, len(self.buf))
            del self.buf[:step]
            self.pos += step
            done += step
        return done

    def unread(self, data: bytes) -> None:
        self.buf[:0] = data
        self.pos -= len(data)

    def _take(self, n: int) -> bytes:
        out = bytes(self.buf[:n])
        del self.buf[:n]
        self.pos += n
        return out


class _Prefixed:
    """A file object with bytes already read from it put back in front (for FastWARC's stream readers)."""

    def __init__(self, raw: IO[bytes], prefix: bytes):
        self._raw, self._prefix, self._pos = raw, prefix, 0

    def read(self, n: int = -1) -> bytes:
        if self._prefix:
            out = self._prefix if n < 0 else self._prefix[:n]
            self._prefix = self._prefix[len(out):]
        else:
            out = self._raw.read(n)
        self._pos += len(out)
        return out

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        raise OSError("not seekable")

    def close(self) -> None:
        pass


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
            stream = _Input(raw, max_decompressed_bytes)
            yield from _archive_records(source, stream, max_record_bytes)
    except Exception as err:  # noqa: BLE001 — an I/O error (or a bug) is this file's error row, never a crash
        where = stream.where(stream.pos) if stream is not None else "file"
        yield "error", error_row(source, where, "read:io_error" if isinstance(err, OSError) else "read:parse_error",
                                 f"{type(err).__name__}: {err}. Records before this point were processed.")


def _archive_records(source: str, s: _Input, cap: int) -> Iterator[Item]:
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


def _stream_damage(source: str, s: _Input, at: int) -> tuple[dict | None, bool]:
    """Where the decompressed stream ended: the error row of the damage that ended it (None for a clean
    end of file), and whether reading can resume after it (at the next gzip member)."""
    damage = s.take_damage()
    if damage is None:
        return None, False
    row = error_row(source, s.where(at), damage.reason, damage.message + ". Records before it were processed.")
    return row, damage.resumable


def _damage_row(source: str, s: _Input, at: int, default: str, what: str, record_id: str = "", url: str = "") -> tuple:
    """The error row of a record that ends early, and whether reading can go on after it."""
    damage = s.take_damage()
    reason = damage.reason if damage else default
    detail = damage.message if damage else "the file ends there: it is truncated"
    row = error_row(source, s.where(at), reason, f"{what}; {detail}. Records before it were processed.",
                    record_id=record_id, url=url)
    return row, bool(damage and damage.resumable)


def _warc_records(source: str, s: _Input, cap: int) -> Iterator[Item]:
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
                f"the WARC header block is longer than {_MAX_HEADER:,} bytes or has a line over {_MAX_LINE:,}; "
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


def _header_block(s: _Input) -> tuple[dict[str, str], str | None]:
    """WARC header lines up to the blank line, names lower-cased; problem "cut" (the data ended) or "long"."""
    headers: dict[str, str] = {}
    total = 0
    last = None
    while True:
        line = s.readline()
        total += len(line)
        if total > _MAX_HEADER or len(line) >= _MAX_LINE and not line.endswith(b"\n"):
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


def _record_follows(s: _Input, is_next: Callable[[bytes], bool]) -> bytes | None:
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
        doc = _new_doc(source, "wet", record_id, url, start)
        doc["crawl_date"] = headers.get("warc-date", "")
        if length > cap:
            doc["decision"] = "read:too_large"
        else:
            doc["content_type"], doc["charset"] = "text/plain", "utf-8"
            doc["text"] = block.decode("utf-8", errors="replace")
        return "doc", doc
    if rtype not in ("response", "resource", "revisit"):
        return "skipped", rtype if rtype in _NON_DOC_TYPES else "unknown"
    doc = _new_doc(source, "warc", record_id, url, start)
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


def _arc_records(source: str, s: _Input, cap: int) -> Iterator[Item]:
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
        doc = _new_doc(source, "warc", None, url, start)  # ARC records carry no id: the position names them
        doc["crawl_date"] = _arc_date(date)
        if url.startswith(("http:", "https:")):
            yield _http_item(source, doc, block, length > cap, cap, s.where(start))
        else:
            yield "doc", _payload_doc(doc, 200, mime, None, block if length <= cap else None, cap)


# ----------------------------------------------------------------------------------------- JSONL / Parquet


def _valid_str(value: str) -> str:
    """``value`` with lone surrogates (JSON allows "\\ud800" escapes) replaced by U+FFFD: no UTF-8 encoder,
    Beam coder or Arrow column accepts them, so one such record would otherwise fail the whole job."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _text_doc(source: str, fmt: str, row: dict, cols: TextColumns, position: int) -> dict:
    record_id = row.get(cols.id)
    url = row.get(cols.url)
    doc = _new_doc(source, fmt, _valid_str(str(record_id)) if record_id is not None else None,
                   _valid_str(str(url or "")), position)
    text = row.get(cols.text)
    if isinstance(text, str):
        text = _valid_str(text)
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
