"""The decompressed bytes of one input file, read forward, with damage reported instead of passed over.

gzip is inflated here member by member with zlib (zstd and LZ4 through FastWARC's stream readers), so
that a stream cut short, a member that does not inflate or fails its CRC, and a record that inflates
past a cap (a decompression bomb) each stop the data with a ``Damage`` the record reader turns into an
error row, and reading resumes at the next gzip member where there is one. FastWARC's own iterator ends
a truncated gzip stream silently and has no decompression cap: see ``pipelines/readers/archives.py``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import IO

_RAW_CHUNK = 1 << 16  # compressed bytes read per call
_OUT_CHUNK = 1 << 18  # most decompressed bytes one inflate call may produce (bounds memory on bombs)
MAX_LINE = 64 << 10  # a WARC/ARC header line longer than this is not a header line
_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"
_LZ4 = b"\x04\x22\x4d\x18"


@dataclass(frozen=True)
class Damage:
    """Why the decompressed stream stopped early, and whether it goes on at a later compressed member."""

    reason: str  # read:truncated | read:corrupt | read:decompression_limit
    message: str
    resumable: bool
    between_members: bool = False  # at a gzip member boundary: the data before it is whole


class DecompressingInput:
    """The decompressed bytes of one file, read forward, with offsets, a decompression cap and damage reports.

    gzip (one member per record, or the whole file in one member) is inflated here with zlib, member by
    member, so that what FastWARC's reader passes over in silence is seen: a stream that ends inside a
    member (truncation), a member that does not inflate or fails its CRC (flipped bytes), and a record
    that inflates past ``max_decompressed_bytes`` (a decompression bomb). Each stops the data at that
    point with a ``Damage``; where another gzip member follows, reading resumes there once the reader
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
        self._damage: Damage | None = None
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
        self._damage = Damage(reason, message, resumable, between)
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

    def take_damage(self) -> Damage | None:
        damage, self._damage, self._blocked = self._damage, None, False
        self._mark = self.pos + len(self.buf)  # a resumed stream starts afresh under the cap
        return damage

    def readline(self, limit: int = MAX_LINE) -> bytes:
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
