"""Benchmark corpus for the end-to-end runs: every real HTML page of ../shared/data as WARC responses.

    python bench/build_corpus.py [--shared ../shared/data] [--out bench/out/corpus] [--shards 4] [--repeat 2 10]

Writes ``<out>/1x/part-0000N.warc.gz`` (each page once) and ``<out>/<k>x/...`` for each ``--repeat k``
(default 2 and 10): the same records k times, repetition r > 0 under new WARC-Record-IDs and later
dates, repetition 0 being the 1x corpus byte for byte; plus ``<out>/manifest.json`` (pages by source,
records and bytes per corpus).

Why this shape:

* Real pages only. The four extraction gold sets (readability's real pages, modern-web-2026,
  trafilatura-eval, CleanEval) give ~2,100 pages; every HTTP 200 HTML response of the real WARC/ARC
  files under warc/ (Common Crawl, ClueWeb, gov.uk, iana, Wayback captures, ...) adds ~300. CleanEval
  and some WARC folders may not be copied into the project; this corpus lives under bench/out/, which is
  git-ignored, and is rebuilt from ../shared/data.
* Payloads are the sources' bytes, with HTTP transfer and content encodings undone (so FastWARC, which
  our pipeline reads with, and warcio, which datatrove reads with, see the same page), wrapped as
  ``HTTP/1.1 200`` responses. Pages from WARC files keep their own HTTP headers (minus the encodings);
  gold-set pages get ``Content-Type: text/html`` with the charset of ``bench/build_sample.py``'s
  rule. Every record carries ``WARC-Identified-Payload-Type: text/html`` as Common Crawl's do (datatrove
  sniffs with libmagic otherwise).
* Several files, records dealt round-robin after a seeded shuffle: datatrove parallelizes by file, so a
  single file would give it one core while Beam reshuffles records over all of them.
* Deterministic: sorted inputs, a seeded shuffle, uuid5 record ids, dates from a fixed clock and gzip
  members with mtime 0 (warcio's writer), so a rebuild gives the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import random
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from build_sample import clean_url, http_charset  # bench/, beside this script

ROOT = Path(__file__).resolve().parents[1]
SEED = "webcurate-bench-corpus-v1"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://webcurate.example/bench/build_corpus")
BASE_DATE = datetime(2026, 2, 1, tzinfo=timezone.utc)
HTML = ("text/html", "application/xhtml+xml")
# Headers that describe the bytes on the wire, which we store decoded.
WIRE_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}


@dataclass(frozen=True)
class Page:
    """One real HTML response: where it came from, its URL, HTTP headers and decoded body."""

    source: str
    key: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


def _gold_headers(body: bytes) -> tuple[tuple[str, str], ...]:
    charset = http_charset(body)
    return (("Content-Type", "text/html" + (f"; charset={charset}" if charset else "")),)


def extraction_pages(shared: Path) -> list[Page]:
    """The pages of the four extraction gold sets (readability: real pages only)."""
    base = shared / "extraction"
    pages = []
    readability = base / "readability-test-pages"
    synthetic = set((readability / "synthetic_small_cases.txt").read_text().split())
    for d in sorted((readability / "pages").iterdir()):
        if d.name not in synthetic:
            body = gzip.decompress((d / "source.html.gz").read_bytes())
            pages.append(Page("readability", d.name, f"https://readability.example/{quote(d.name)}/",
                              _gold_headers(body), body))
    modern = base / "modern-web-2026"
    for path in sorted((modern / "html").glob("*.html.gz")):
        name = path.name.removesuffix(".html.gz")
        truth = json.loads(gzip.decompress((modern / "ground-truth" / f"{name}.json.gz").read_bytes()))
        url = clean_url(truth.get("url", "")) or f"https://modern-web-2026.example/{name}/"
        body = gzip.decompress(path.read_bytes())
        pages.append(Page("modern-web-2026", name, url, _gold_headers(body), body))
    traf = base / "trafilatura-eval"
    evaldata = json.loads((traf / "evaldata.json").read_text(encoding="utf-8"))
    for key in sorted(evaldata):
        path = traf / "html" / f"{evaldata[key]['file']}.gz"
        if path.exists():
            url = None if key.startswith("hard::") else clean_url(key)
            body = gzip.decompress(path.read_bytes())
            pages.append(Page("trafilatura-eval", key, url or f"https://trafilatura-eval.example/{quote(path.name)}",
                              _gold_headers(body), body))
    for split in ("dev", "final"):
        for path in sorted((base / "cleaneval" / split / "input").glob("*.html.gz")):
            body = re.sub(rb"^\s*<text[^>]*>", b"", gzip.decompress(path.read_bytes()), count=1)  # CleanEval wrapper
            name = f"{split}/{path.name.removesuffix('.html.gz')}"
            pages.append(Page("cleaneval", name, f"https://cleaneval.example/{name}", _gold_headers(body), body))
    return pages


def _warcio_pages(path: Path, rel: str) -> list[Page]:
    from warcio.archiveiterator import ArchiveIterator

    pages = []
    try:
        with open(path, "rb") as fh:
            for i, rec in enumerate(ArchiveIterator(fh, arc2warc=True)):
                if rec.rec_type != "response":
                    continue
                if rec.http_headers is None or not (rec.content_type or "").startswith("application/http"):
                    continue  # warcio would parse a bare HTML payload's first line as a status line
                media = (rec.http_headers.get_header("Content-Type") or "").split(";")[0].strip().lower()
                if rec.http_headers.get_statuscode() != "200" or media not in HTML:
                    continue
                url = (rec.rec_headers.get_header("WARC-Target-URI") or "").strip("<>")
                headers = tuple((k, v) for k, v in rec.http_headers.headers if k.lower() not in WIRE_HEADERS)
                body = rec.content_stream().read()
                if body:
                    pages.append(Page(rel, f"{i}", url, headers, body))
    except Exception:  # noqa: BLE001 — a reader that gives up part-way: keep what it read, try FastWARC too
        pass
    return pages


def _fastwarc_pages(path: Path, rel: str) -> list[Page]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    pages = []
    try:
        with open(path, "rb") as fh:
            for i, rec in enumerate(ArchiveIterator(fh, parse_http=True, auto_decode="all", quirks_mode=True)):
                if rec.record_type != WarcRecordType.response:
                    continue
                url = (rec.headers.get("WARC-Target-URI") or "").strip("<>")
                if rec.is_http:
                    media = (rec.http_content_type or "").split(";")[0].strip().lower()
                    if rec.http_headers.status_code != 200 or media not in HTML:
                        continue
                    headers = tuple((k, v) for k, v in rec.http_headers.astuples() if k.lower() not in WIRE_HEADERS)
                else:  # Wayback captures (copycat): the page's headers are in the WARC header block
                    ctype = rec.headers.get("Content-Type") or ""
                    if ctype.split(";")[0].strip().lower() not in HTML:
                        continue
                    url = rec.headers.get("trec_target_uri") or url
                    headers = (("Content-Type", ctype),)
                body = rec.reader.read()
                if body:
                    pages.append(Page(rel, f"{i}", url, headers, body))
    except Exception:  # noqa: BLE001
        pass
    return pages


def warc_pages(shared: Path) -> list[Page]:
    """HTTP 200 HTML responses of the real WARC/ARC files, by whichever reader gets more of a file."""
    pages = []
    for path in sorted((shared / "warc").glob("*/*")):
        if path.name in ("SOURCE.txt", "LICENSE") or ".paths" in path.name:
            continue
        rel = f"warc/{path.relative_to(shared / 'warc')}"
        pages += max(_warcio_pages(path, rel), _fastwarc_pages(path, rel), key=len)
    return pages


def unique(pages: list[Page]) -> list[Page]:
    """One copy per (URL, payload): the LZ4 and gzip copies of a test file are the same capture."""
    seen, out = set(), []
    for page in pages:
        key = (page.url, hashlib.sha1(page.body).digest())
        if key not in seen:
            seen.add(key)
            out.append(page)
    return out


def record_bytes(page: Page, rep: int, index: int) -> bytes:
    """One gzip member: the page as an HTTP/1.1 200 response record of repetition ``rep``."""
    record_key = f"{page.source}/{page.key}" + (f"#rep{rep}" if rep else "")
    date = BASE_DATE + timedelta(days=rep, seconds=7 * index)
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True, warc_version="1.1")
    http = StatusAndHeaders("200 OK", [*page.headers, ("Content-Length", str(len(page.body)))], protocol="HTTP/1.1")
    record = writer.create_warc_record(
        page.url or f"https://{page.source}.example/{page.key}", "response", payload=io.BytesIO(page.body),
        length=len(page.body), http_headers=http,
        warc_headers_dict={
            "WARC-Record-ID": f"<urn:uuid:{uuid.uuid5(NAMESPACE, record_key)}>",
            "WARC-Date": date.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "WARC-Identified-Payload-Type": "text/html",
        },
    )
    writer.write_record(record)
    return buffer.getvalue()


def write_corpus(pages: list[Page], folder: Path, shards: int, repeat: int) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("part-*.warc.gz"):
        stale.unlink()
    handles = [open(folder / f"part-{i:05d}.warc.gz", "wb") for i in range(shards)]
    try:
        for rep in range(repeat):
            for i, page in enumerate(pages):
                handles[i % shards].write(record_bytes(page, rep, i))
    finally:
        for handle in handles:
            handle.close()
    files = sorted(folder.glob("part-*.warc.gz"))
    return {"records": len(pages) * repeat, "files": [f.name for f in files],
            "bytes": sum(f.stat().st_size for f in files),
            "payload_bytes": sum(len(p.body) for p in pages) * repeat}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "corpus")
    parser.add_argument("--shards", type=int, default=4, help="files per corpus (datatrove's unit of parallelism)")
    parser.add_argument("--repeat", type=int, nargs="+", default=[2, 10], help="repetitions of the scaling corpora")
    parser.add_argument("--limit", type=int, default=None, help="first N pages after the shuffle (smoke tests)")
    args = parser.parse_args()
    pages = unique(extraction_pages(args.shared) + warc_pages(args.shared))
    random.Random(SEED).shuffle(pages)
    pages = pages[: args.limit]
    manifest = {
        "pages": len(pages),
        "by_source": dict(sorted(Counter("/".join(p.source.split("/")[:2]) for p in pages).items())),
        **{f"{k}x": write_corpus(pages, args.out / f"{k}x", args.shards, k) for k in sorted({1, *args.repeat})},
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps({k: v for k, v in manifest.items()}, indent=2))


if __name__ == "__main__":
    main()
