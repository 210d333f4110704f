"""Damaged WARC input, built from real records: the building blocks of the corruption tests and of the fuzzer
(``bench/fuzz_inputs.py``), and the comparison of what the reader makes of a damaged file with what it
makes of the intact one."""

from __future__ import annotations

import gzip
import io
import re
import uuid
import zlib

CAP = 10_000_000  # the recipe's default read.max_record_bytes


# ----------------------------------------------------------------------------------------- building blocks


def split_members(data: bytes) -> list[bytes]:
    """The raw gzip members of a gzip-per-record file, in order (their concatenation is ``data``)."""
    members, pos = [], 0
    while pos < len(data):
        inflater = zlib.decompressobj(31)
        inflater.decompress(data[pos:])
        end = len(data) - len(inflater.unused_data)
        members.append(data[pos:end])
        pos = end
    return members


def inflate(member: bytes) -> bytes:
    return zlib.decompress(member, 31)


def gzip_bytes(data: bytes) -> bytes:
    """One gzip member, byte-identical on every run (mtime 0)."""
    return gzip.compress(data, compresslevel=6, mtime=0)


def set_content_length(record: bytes, delta: int) -> bytes:
    """The record with its WARC Content-Length changed by ``delta`` (the block itself unchanged)."""
    match = re.search(rb"(?im)^Content-Length:[ \t]*(\d+)", record)
    return record[: match.start(1)] + str(int(match.group(1)) + delta).encode() + record[match.end(1):]


def record_id_of(record: bytes) -> str:
    match = re.search(rb"(?im)^WARC-Record-ID:[ \t]*(\S+)", record)
    return match.group(1).decode() if match else ""


def response_record(url: str, body: bytes, *, content_type: str = "text/html; charset=utf-8",
                    status: str = "200 OK", date: str = "2024-05-01T00:00:00Z", extra_http: str = "",
                    record_id: str | None = None) -> bytes:
    """A WARC/1.1 response record (with its trailing blank lines) wrapping an HTTP response."""
    header = f"HTTP/1.1 {status}\r\n" + (f"Content-Type: {content_type}\r\n" if content_type else "") + extra_http
    http = (header + f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body
    rid = record_id or record_id_for(url)
    warc = (f"WARC/1.1\r\nWARC-Type: response\r\nWARC-Record-ID: {rid}\r\nWARC-Date: {date}\r\n"
            f"WARC-Target-URI: {url}\r\nContent-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {len(http)}\r\n\r\n").encode("latin-1")
    return warc + http + b"\r\n\r\n"


def record_id_for(url: str) -> str:
    """The WARC-Record-ID the builders here give a record of ``url`` (stable across runs)."""
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}>"


def gzip_zeros(inflated_bytes: int, prefix: bytes = b"", suffix: bytes = b"") -> bytes:
    """A valid gzip member of ``prefix`` + ``inflated_bytes`` zero bytes + ``suffix``, ~1 kB per MiB.

    Built in a fraction of a second however large: the deflate stream of a MiB of zeros after a full
    flush is the same bytes every time, so it is computed once and repeated.
    """
    mib = 1 << 20
    blocks, tail = divmod(inflated_bytes, mib)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(mib)
    head = deflate.compress(prefix) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = bytes(tail) + suffix
    crc = zlib.crc32(prefix)
    for _ in range(blocks):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(end, crc)
    size = len(prefix) + blocks * mib + len(end)
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + head + block * blocks + deflate.compress(end)
            + deflate.flush() + crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little"))


def bomb_member(inflated_bytes: int, *, declared: int | None = None, url: str = "http://bomb.example/") -> bytes:
    """A gzip member holding a text/html response whose body is ``inflated_bytes`` zero bytes.

    ``declared`` sets the WARC Content-Length to a lie (e.g. 100: the member then inflates far past the
    record it claims to hold).
    """
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
    length = len(http) + inflated_bytes if declared is None else declared
    head = (f"WARC/1.1\r\nWARC-Type: response\r\nWARC-Record-ID: {record_id_for(url)}\r\n"
            f"WARC-Target-URI: {url}\r\nContent-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {length}\r\n\r\n").encode() + http
    return gzip_zeros(inflated_bytes, head, b"\r\n\r\n" if declared is None else b"")


def nested_divs(depth: int, text: str = "Deep text at the bottom of the page. ") -> bytes:
    return (b"<html><head><title>nested</title></head><body>" + b"<div>" * depth + text.encode() * 40
            + b"</div>" * depth + b"</body></html>")


def big_page(html: bytes, size: int) -> bytes:
    """``html`` with its body repeated until the page is ``size`` bytes (a real page, just very long)."""
    start, end = html.lower().find(b"<body"), html.lower().rfind(b"</body>")
    body = html[start:end] if 0 <= start < end else html
    repeats = max(1, (size - len(html)) // max(len(body), 1) + 1)
    return (html[:end] + body * repeats + html[end:])[: max(size, len(html))]


# ----------------------------------------------------------------------------------------- reading and checking


def read_items(name: str, data: bytes, **caps) -> list:
    """``read_warc`` over bytes in memory (as a file object, like the pipeline's)."""
    from pipelines import readers

    caps.setdefault("max_record_bytes", CAP)
    return list(readers.read_warc(name, lambda: io.BytesIO(data), **caps))


def doc_key(doc: dict) -> tuple:
    return (doc["id"], doc.get("decision"), doc.get("html"), doc.get("text"), doc["url"], doc.get("content_type"),
            doc.get("charset"))


def compare(original: list, corrupted: list) -> dict:
    """How a corrupted file's items relate to the intact file's: lost, altered and added documents, errors."""
    intact = {d["id"]: doc_key(d) for k, d in original if k == "doc"}
    docs = [d for k, d in corrupted if k == "doc"]
    errors = [e for k, e in corrupted if k == "error"]
    altered = [d["id"] for d in docs if d["id"] in intact and intact[d["id"]] != doc_key(d)]
    added = [d for d in docs if d["id"] not in intact]
    lost = len(set(intact) - {d["id"] for d in docs})
    return {"identical": corrupted == original, "docs": len(docs), "lost": lost, "altered": altered,
            "added": added, "errors": errors, "reasons": sorted({e["reason"] for e in errors})}


