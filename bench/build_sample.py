"""Rebuild the bundled demo WARC and the small test fixtures from real, copyable pages.

Usage::

    python bench/build_sample.py [--shared ../shared/data] \
        [--out pipelines/data/sample.warc.gz] [--tests-out tests/data]

Why this script exists
----------------------
The project ships a demo crawl (``pipelines/data/sample.warc.gz``) and tiny fixtures under
``tests/data``. Hand-made HTML would test the pipeline against the project's own assumptions, so
every page here is a real third-party page taken from the *may copy* (Apache-2.0) folders of
``../shared/data`` (see its README): mozilla/readability test pages, the modern-web-2026
extraction benchmark sample, trafilatura's evaluation set, and real WARC records/files from
resiliparse, warcio, jwarc and Common Crawl's whirlwind-python repositories. Nothing from the
non-copyable folders (cleaneval, ukwa, pywb, copycat, cmoncrawl, ...) is read.

The build is deterministic (same bytes on every run with the same Python/zlib/pyarrow), so a test
can prove the committed files are exactly this script's output:

* inputs are listed in sorted order and every random choice uses ``random.Random`` seeded with a
  fixed string per purpose;
* WARC-Date values are a fixed base time plus a fixed step per record position;
* WARC-Record-IDs are ``uuid5`` of the source file name (plus the record's role);
* every WARC record is its own gzip member written with ``mtime=0``;
* Parquet/JSONL/zstd writers get fixed inputs and no timestamps.

What the sample contains
------------------------
Each page's original HTML bytes are wrapped, unchanged, as an ``HTTP/1.1 200`` ``response`` record
(no ``request`` records). The HTTP headers are minimal but realistic: ``Date`` (= WARC-Date),
``Content-Type: text/html`` with a ``charset`` parameter only when it can be determined (the page's
meta charset agreeing with its bytes, or a clean UTF-8 decode), ``Content-Length`` matching the body,
and ``Connection: close``. They are *not* the origin servers' headers, which the sources do not keep.

URLs: the real URL is used where the source gives one (modern-web-2026 ground truth ``url``;
trafilatura-eval keys). Where it does not (readability test pages; trafilatura ``hard::`` ids) or the
given URL is unusable (relative, contains spaces, typo'd scheme), the page gets a clearly synthetic
URL under the reserved ``.example`` TLD, e.g. ``https://readability-test-pages.example/<name>/``.
A page whose URL repeats an earlier page's is dropped (one capture per URL before the noise is added).

Selection: all real readability pages (the synthetic unit-test cases in synthetic_small_cases.txt are
skipped), a seeded random N_MODERN_WEB modern-web-2026 pages, and from trafilatura-eval N_TRAFILATURA_EN
pages declaring ``<html lang="en...">`` plus N_TRAFILATURA_OTHER others (German-heavy, as found), so
English stays the majority for the English-only default recipe. Randomly selected pages over
MAX_PAGE_BYTES are passed over to keep the file under ~15 MB (this biases the selection slightly
towards lighter pages; the readability set keeps its 1 MB+ pages).

Crawl noise, so that the pipeline's drop reasons are exercised:

* exact re-captures: identical payload bytes under the same URL plus a tracking query string, later
  date, new record id (exact-dedup);
* non-HTML responses: a real 1x1 PNG (warcio test data), a real httpbin.org JSON response (warcio
  test data, HTTP block kept verbatim with its original 2014 date) and a real stylesheet (the inline
  ``<style>`` text of a readability test page served as ``text/css``);
* one 404 and one 301 response on the synthetic ``.example`` host (tiny synthetic bodies, the only
  made-up payloads in the file);
* one ``revisit`` record (identical-payload-digest profile) pointing at an earlier capture.

Finally three real Common Crawl style files are appended byte-for-byte (concatenated gzip members are a
valid ``.warc.gz``): ``cc-whirlwind/whirlwind.warc.gz`` (CC-MAIN-2024-22), ``resiliparse/warcfile.warc.gz``
and ``jwarc/cc.warc.gz``.
"""

from __future__ import annotations

import argparse
import base64
import codecs
import gzip
import hashlib
import json
import random
import re
import shutil
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "pipelines" / "data" / "sample.warc.gz"
DEFAULT_TESTS_OUT = REPO_ROOT / "tests" / "data"

SEED = "webcurate-sample-v1"
# Fixed clock: record i is dated BASE_DATE + i * DATE_STEP, so dates are stable and increase.
BASE_DATE = datetime(2026, 1, 15, 0, 0, 0, tzinfo=timezone.utc)
DATE_STEP = timedelta(seconds=37)
GZIP_LEVEL = 6  # level 9 is ~3x slower for ~2% smaller output; speed matters for the test
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://webcurate.example/pipelines/build_sample")
SAMPLE_NAME = "sample.warc.gz"
MINI_NAME = "mini.warc.gz"

# Selection sizes, tuned so the sample stays under MAX_SAMPLE_BYTES (~15 MB).
N_MODERN_WEB = 125
N_TRAFILATURA_EN = 70
N_TRAFILATURA_OTHER = 80
MAX_PAGE_BYTES = 1_000_000  # skip giant pages from the random selections (size budget)
MAX_SAMPLE_BYTES = 15_000_000
N_RECAPTURES = 5

# Mini fixture: small pages only (mini.warc is stored uncompressed too; tests/data < 1.5 MB).
MINI_MIN_BYTES, MINI_MAX_BYTES = 5_000, 40_000
MINI_QUOTAS: dict[tuple[str, bool], int] = {  # (source, is_english) -> pages
    ("readability-test-pages", True): 5,
    ("modern-web-2026", True): 12,
    ("trafilatura-eval", True): 6,
    ("trafilatura-eval", False): 7,
}
N_TEXT_DOCS = 20
TEXT_MIN_CHARS, TEXT_MAX_CHARS = 1_500, 5_000

READABILITY = "readability-test-pages"
MODERN_WEB = "modern-web-2026"
TRAFILATURA = "trafilatura-eval"

# Attribution, copied from the SOURCE.txt files of ../shared/data (origin repo, commit, licence).
SOURCES: dict[str, tuple[str, str, str]] = {
    READABILITY: ("https://github.com/mozilla/readability (test/test-pages/)",
                  "ab4027a8b37669745016869a37a504727992b2ba", "Apache-2.0"),
    MODERN_WEB: ("https://github.com/tiptopjaw/web-content-extraction-benchmark (release/html, "
                 "benchmark/ground-truth; canonical name Murrough-Foley/web-content-extraction-benchmark)",
                 "977613a3a90de65c9ed5e1db251eeede7b9d9714", "Apache-2.0"),
    TRAFILATURA: ("https://github.com/adbar/trafilatura (tests/evaldata.json, tests/cache, tests/eval)",
                  "e90b0ef51ab026fdb905fb6c5b3c84dd3d784fd5", "Apache-2.0"),
    "warc/warcio": ("https://github.com/webrecorder/warcio (test/data/)",
                    "2a797aa8c6d67e70966ce9d1a690208ab250fbe7", "Apache-2.0"),
    "warc/resiliparse": ("https://github.com/chatnoir-eu/chatnoir-resiliparse (tests/data/)",
                         "70459f0399718955d7dff1dec30781e07af1bbb7", "Apache-2.0"),
    "warc/jwarc": ("https://github.com/iipc/jwarc (test-resources/org/netpreserve/jwarc/)",
                   "9b5df862d35ff72ba965190941923b86b27ea6b5", "Apache-2.0"),
    "warc/cc-whirlwind": ("https://github.com/commoncrawl/whirlwind-python (repo root; genuine Common "
                          "Crawl CC-MAIN-2024-22 records)",
                          "08dcfbe4d579a7b1ee27e7ce39a019de6292c1c7", "Apache-2.0"),
}
APPENDED_CC_FILES = ("warc/cc-whirlwind/whirlwind.warc.gz", "warc/resiliparse/warcfile.warc.gz",
                     "warc/jwarc/cc.warc.gz")
MINI_APPENDED = ("warc/cc-whirlwind/whirlwind.warc.gz",)
WET_FIXTURE = "warc/cc-whirlwind/whirlwind.warc.wet.gz"

HTML_LANG_RE = re.compile(rb"<html[^>]*?\blang\s*=\s*[\"']?\s*([A-Za-z]{2,3})(?![A-Za-z])", re.I)
META_CHARSET_RE = re.compile(rb"<meta[^>]+?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
STYLE_RE = re.compile(rb"<style[^>]*>(.*?)</style>", re.I | re.S)
HEAD_BYTES = 16_384  # how far into a page we look for <html lang> / <meta charset>


# --------------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Page:
    """One real HTML page and where it came from."""

    source: str
    name: str  # file or directory name inside the source folder: identity for uuid5
    url: str
    body: bytes
    lang: str  # declared language (metadata or <html lang>), "und" when unknown

    @property
    def is_english(self) -> bool:
        return self.lang == "en"


@dataclass
class Spec:
    """A record to write; rendered to bytes only once its position (hence date) is known."""

    kind: str  # html | recapture | non_html | not_found | redirect | revisit
    key: str  # stable identity -> WARC-Record-ID
    url: str
    page: Page | None = None
    status: tuple[int, str] = (200, "OK")
    content_type: str | None = None
    body: bytes = b""
    extra_http: list[tuple[str, str]] = field(default_factory=list)
    raw_http: bytes | None = None  # verbatim HTTP message borrowed from a real WARC record
    fixed_date: str | None = None  # keep a borrowed record's original WARC-Date
    refers_to: Spec | None = None


@dataclass(frozen=True)
class Rendered:
    """A rendered record: its uncompressed bytes, its gzip member and facts for later records."""

    spec: Spec
    record_id: str
    date: str
    payload_digest: str
    data: bytes
    member: bytes


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

def gz(data: bytes) -> bytes:
    """Gzip with mtime=0 so the member bytes do not depend on the build time."""
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


def sha1_b32(data: bytes) -> str:
    """WARC digest form (``sha1:`` + base32), as Common Crawl writes it."""
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def record_id(key: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(ID_NAMESPACE, key)}>"


def warc_date(index: int) -> datetime:
    return BASE_DATE + index * DATE_STEP


def fmt_warc_date(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def rng_for(purpose: str) -> random.Random:
    """One independent seeded RNG per purpose, so changing one selection does not ripple."""
    return random.Random(f"{SEED}:{purpose}")


def read_head(path: Path, limit: int = HEAD_BYTES) -> bytes:
    """First bytes of a gzipped page: enough to find <html lang> without inflating the whole file."""
    with gzip.open(path, "rb") as fh:
        return fh.read(limit)


def html_lang(head: bytes) -> str:
    m = HTML_LANG_RE.search(head)
    return m.group(1).decode("ascii").lower() if m else "und"


def base_lang(tag: str | None) -> str:
    return tag.split("-")[0].split("_")[0].lower() if tag else "und"


def clean_url(raw: str) -> str | None:
    """Return an absolute http(s) URL without fragment, or None when the source URL is unusable."""
    url = raw.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
        return None
    return urlunsplit(parts._replace(fragment=""))


def http_charset(body: bytes) -> str | None:
    """The charset we can honestly claim for a page, or None.

    A meta charset is trusted unless the bytes contradict it (declared legacy charset but the page is
    clean non-ASCII UTF-8, or declared UTF-8 but the page is not valid UTF-8). Without a meta charset a
    clean UTF-8 decode is enough. Pipelines must still sniff: real servers are often wrong.
    """
    try:
        body.decode("utf-8")
        is_utf8 = True
    except UnicodeDecodeError:
        is_utf8 = False
    m = META_CHARSET_RE.search(body[:HEAD_BYTES])
    declared = m.group(1).decode("ascii").lower() if m else None
    if declared is not None:
        try:
            codec = codecs.lookup(declared).name
        except LookupError:
            declared = None
    if declared is None:
        return "utf-8" if is_utf8 else None
    if codec == "utf-8":
        return "utf-8" if is_utf8 else None
    if is_utf8 and not body.isascii():
        return "utf-8"
    return declared


def http_message(status: tuple[int, str], headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = f"HTTP/1.1 {status[0]} {status[1]}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode("utf-8") + b"\r\n" + body


def warc_record(headers: list[tuple[str, str]], block: bytes) -> bytes:
    lines = ["WARC/1.1", *(f"{k}: {v}" for k, v in headers), f"Content-Length: {len(block)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + block + b"\r\n\r\n"


# --------------------------------------------------------------------------------------------
# Loading the real pages
# --------------------------------------------------------------------------------------------

def load_readability(root: Path, skipped: list[str]) -> list[Page]:
    """All real readability test pages; the tiny synthetic unit-test cases are skipped."""
    base = root / "extraction" / READABILITY
    synthetic = set((base / "synthetic_small_cases.txt").read_text().split())
    pages = []
    for d in sorted((base / "pages").iterdir()):
        if d.name in synthetic:
            continue
        meta = json.loads((d / "expected-metadata.json").read_text(encoding="utf-8"))
        body = gzip.decompress((d / "source.html.gz").read_bytes())
        lang = base_lang(meta.get("lang")) if meta.get("lang") else html_lang(body[:HEAD_BYTES])
        url = f"https://{READABILITY}.example/{quote(d.name)}/"
        pages.append(Page(READABILITY, d.name, url, body, lang))
    skipped.append(f"{READABILITY}: {len(synthetic)} synthetic unit-test cases "
                   "(synthetic_small_cases.txt)")
    return pages


def load_modern_web(root: Path, skipped: list[str]) -> list[Page]:
    """A seeded random selection of modern-web-2026 pages with their ground-truth URL."""
    base = root / "extraction" / MODERN_WEB
    ids = sorted(p.name.removesuffix(".html.gz") for p in (base / "html").glob("*.html.gz"))
    rng_for(MODERN_WEB).shuffle(ids)
    pages: list[Page] = []
    for fid in ids:
        if len(pages) == N_MODERN_WEB:
            break
        gt = json.loads(gzip.decompress((base / "ground-truth" / f"{fid}.json.gz").read_bytes()))
        body = gzip.decompress((base / "html" / f"{fid}.html.gz").read_bytes())
        if len(body) > MAX_PAGE_BYTES:
            skipped.append(f"{MODERN_WEB}/{fid}: {len(body):,} bytes > {MAX_PAGE_BYTES:,} (size budget)")
            continue
        url = clean_url(gt.get("url", ""))
        if url is None:
            skipped.append(f"{MODERN_WEB}/{fid}: unusable URL {gt.get('url')!r} -> synthetic URL")
            url = f"https://{MODERN_WEB}.example/{fid}/"
        pages.append(Page(MODERN_WEB, f"{fid}.html.gz", url, body, html_lang(body[:HEAD_BYTES])))
    return pages


def load_trafilatura(root: Path, skipped: list[str]) -> list[Page]:
    """Seeded selection from trafilatura-eval: some English pages plus the other languages as found."""
    base = root / "extraction" / TRAFILATURA
    evaldata = json.loads((base / "evaldata.json").read_text(encoding="utf-8"))
    english: list[tuple[str, str]] = []
    other: list[tuple[str, str]] = []
    for key in sorted(evaldata):
        fname = evaldata[key]["file"] + ".gz"
        (english if html_lang(read_head(base / "html" / fname)) == "en" else other).append((key, fname))
    chosen = _pick_sized(base, english, N_TRAFILATURA_EN, "trafilatura-en", skipped)
    chosen += _pick_sized(base, other, N_TRAFILATURA_OTHER, "trafilatura-other", skipped)
    pages = []
    for key, fname, body in sorted(chosen):
        url = None if key.startswith("hard::") else clean_url(key)
        if url is None:
            if not key.startswith("hard::"):
                skipped.append(f"{TRAFILATURA}/{fname}: unusable URL key {key!r} -> synthetic URL")
            url = f"https://{TRAFILATURA}.example/{quote(fname.removesuffix('.gz'))}"
        pages.append(Page(TRAFILATURA, fname, url, body, html_lang(body[:HEAD_BYTES])))
    return pages


def _pick_sized(base: Path, items: list[tuple[str, str]], n: int, purpose: str,
                skipped: list[str]) -> list[tuple[str, str, bytes]]:
    """Take n items in seeded random order, skipping pages over MAX_PAGE_BYTES."""
    order = list(items)
    rng_for(purpose).shuffle(order)
    out = []
    for key, fname in order:
        if len(out) == n:
            break
        body = gzip.decompress((base / "html" / fname).read_bytes())
        if len(body) <= MAX_PAGE_BYTES:
            out.append((key, fname, body))
        else:
            skipped.append(f"{TRAFILATURA}/{fname}: {len(body):,} bytes > {MAX_PAGE_BYTES:,} (size budget)")
    return out


def dedupe_urls(pages: list[Page], skipped: list[str]) -> list[Page]:
    """Drop later pages whose URL repeats an earlier one: one real capture per URL."""
    seen: set[str] = set()
    out = []
    for page in pages:
        if page.url in seen:
            skipped.append(f"{page.source}/{page.name}: duplicate URL {page.url}")
            continue
        seen.add(page.url)
        out.append(page)
    return out


# --------------------------------------------------------------------------------------------
# Noise records
# --------------------------------------------------------------------------------------------

def html_spec(page: Page, kind: str = "html", url: str | None = None, key_suffix: str = "") -> Spec:
    charset = http_charset(page.body)
    ctype = "text/html" + (f"; charset={charset}" if charset else "")
    return Spec(kind, f"{page.source}/{page.name}{key_suffix}", url or page.url, page=page,
                content_type=ctype, body=page.body)


def with_query(url: str, query: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))


RECAPTURE_QUERIES = ("utm_source=newsletter&utm_medium=email", "ref=homepage", "amp=1",
                     "fbclid=IwAR0sample", "page=1")


def recapture_specs(targets: list[Page]) -> list[Spec]:
    """Same payload bytes under a tracking-parameter URL: what exact dedup must catch."""
    return [html_spec(p, "recapture", with_query(p.url, RECAPTURE_QUERIES[i % len(RECAPTURE_QUERIES)]),
                      f"#recapture-{i}") for i, p in enumerate(targets)]


def first_record_block(path: Path, url_suffix: str) -> tuple[dict[str, str], bytes]:
    """WARC headers and raw block of the first response/resource record whose URI ends as asked."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh, parse_http=False,
                                   record_types=WarcRecordType.response | WarcRecordType.resource):
            headers = dict(rec.headers.items())
            if headers.get("WARC-Target-URI", "").endswith(url_suffix):
                return headers, rec.reader.read()
    raise ValueError(f"no record ending in {url_suffix!r} in {path}")


def non_html_specs(root: Path, readability: list[Page]) -> list[Spec]:
    """Real non-HTML payloads, so the content-type filter has something to drop."""
    _, png = first_record_block(root / "warc/warcio/example-space-in-target-uri.warc.gz", ".png")
    png_spec = Spec("non_html", "warc/warcio/example-space-in-target-uri.warc.gz#png",
                    "https://warcio-test-data.example/example%20with%20spaces.png",
                    content_type="image/png", body=png)
    headers, http = first_record_block(root / "warc/warcio/post-test.warc.gz", "?foo=bar")
    json_spec = Spec("non_html", "warc/warcio/post-test.warc.gz#foo=bar", headers["WARC-Target-URI"],
                     raw_http=http, fixed_date=headers["WARC-Date"])
    css_page, css = next((p, c) for p in readability for c in [_largest_style(p.body)]
                         if 2_000 <= len(c) <= 16_000)
    css_spec = Spec("non_html", f"{READABILITY}/{css_page.name}#style.css", css_page.url + "style.css",
                    content_type="text/css; charset=utf-8" if _is_utf8(css) else "text/css", body=css)
    return [png_spec, json_spec, css_spec]


def _largest_style(body: bytes) -> bytes:
    return max(STYLE_RE.findall(body), key=len, default=b"").strip() + b"\n"


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


NOT_FOUND_BODY = (b"<!DOCTYPE html>\n<html lang=\"en\"><head><title>404 Not Found</title></head>\n"
                  b"<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p>"
                  b"</body></html>\n")


def error_specs(redirect_target: Page) -> list[Spec]:
    """A 404 and a trailing-slash 301 on the synthetic host: the status filter must drop both."""
    not_found = Spec("not_found", f"{READABILITY}#404", f"https://{READABILITY}.example/no-such-page/",
                     status=(404, "Not Found"), content_type="text/html; charset=utf-8",
                     body=NOT_FOUND_BODY)
    location = redirect_target.url
    body = (b"<!DOCTYPE html>\n<html><head><title>301 Moved Permanently</title></head>\n<body><h1>Moved "
            b"Permanently</h1><p>The document has moved <a href=\"" + location.encode() +
            b"\">here</a>.</p></body></html>\n")
    redirect = Spec("redirect", f"{redirect_target.source}/{redirect_target.name}#301",
                    location.rstrip("/"), status=(301, "Moved Permanently"),
                    content_type="text/html; charset=utf-8", body=body,
                    extra_http=[("Location", location)])
    return [not_found, redirect]


def revisit_spec(original: Spec) -> Spec:
    return Spec("revisit", original.key + "#revisit", original.url, page=original.page,
                content_type=original.content_type, body=original.body, refers_to=original)


# --------------------------------------------------------------------------------------------
# Ordering and rendering
# --------------------------------------------------------------------------------------------

def order_records(html: list[Spec], noise: list[Spec]) -> list[Spec]:
    """Shuffle pages so sources interleave (a --limit run sees a mix), then insert each noise record
    at a seeded position after the capture it depends on (re-captures and revisits come later)."""
    records = list(html)
    rng = rng_for("order")
    rng.shuffle(records)
    for spec in noise:
        anchor = spec.refers_to if spec.kind == "revisit" else None
        if spec.kind == "recapture":
            anchor = next(s for s in records if s.kind == "html" and s.page is spec.page)
        lo = records.index(anchor) + 1 if anchor is not None else 0
        records.insert(rng.randint(lo, len(records)), spec)
    return records


def render(spec: Spec, index: int, done: dict[str, Rendered]) -> Rendered:
    """Turn a Spec into WARC bytes; ``done`` gives revisits their original's id/date/digest."""
    dt = warc_date(index)
    date = spec.fixed_date or fmt_warc_date(dt)
    rid = record_id(spec.key)
    headers = [("WARC-Type", "revisit" if spec.kind == "revisit" else "response"),
               ("WARC-Record-ID", rid), ("WARC-Date", date), ("WARC-Target-URI", spec.url)]
    if spec.raw_http is not None:
        block = spec.raw_http
        payload = block.split(b"\r\n\r\n", 1)[1]
    else:
        http_headers = [("Date", format_datetime(dt, usegmt=True))]
        if spec.content_type:
            http_headers.append(("Content-Type", spec.content_type))
        http_headers += [("Content-Length", str(len(spec.body))), *spec.extra_http,
                         ("Connection", "close")]
        payload = spec.body
        block = http_message(spec.status, http_headers, b"" if spec.kind == "revisit" else payload)
    digest = sha1_b32(payload)
    if spec.kind == "revisit":
        original = done[spec.refers_to.key]
        headers += [("WARC-Profile", "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"),
                    ("WARC-Refers-To", original.record_id),
                    ("WARC-Refers-To-Target-URI", original.spec.url),
                    ("WARC-Refers-To-Date", original.date)]
    headers += [("WARC-Payload-Digest", digest), ("WARC-Block-Digest", sha1_b32(block)),
                ("Content-Type", "application/http; msgtype=response")]
    data = warc_record(headers, block)
    return Rendered(spec, rid, date, digest, data, gz(data))


def render_all(specs: list[Spec]) -> list[Rendered]:
    done: dict[str, Rendered] = {}
    out = []
    for i, spec in enumerate(specs, start=1):  # index 0 is the warcinfo record
        rendered = render(spec, i, done)
        done[spec.key] = rendered
        out.append(rendered)
    return out


def warcinfo(filename: str, description: str, counts: Counter[str], extra: list[str]) -> bytes:
    """The first record: what the file is, how it was built, and the licences of its parts."""
    fields = [
        # The name the committed sample was first built under: part of its bytes, kept so they stay the same.
        ("software", "webcurate pipelines/build_sample.py (python -m pipelines.build_sample)"),
        ("format", "WARC File Format 1.1"),
        ("conformsTo", "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"),
        ("isPartOf", "webcurate-bundled-sample"),
        ("description", description),
        ("record-counts", ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))),
        ("http-headers", "HTTP headers of built records are minimal and made by the builder (Date, "
                         "Content-Type with charset only when determinable, Content-Length, Connection); "
                         "payloads are the sources' original bytes"),
        ("url-policy", "real URL where the source gives one (modern-web-2026 ground truth, trafilatura-eval "
                       "keys); otherwise synthetic https://<source>.example/<name>/ (readability pages, "
                       "trafilatura hard:: ids, unusable source URLs)"),
        ("synthetic-parts", "only the 404 and 301 bodies, the re-capture query strings, the HTTP headers"),
        *(("appended", e) for e in extra),
        *(("source", f"{name}: {repo} @ {commit}, licence {lic}")
          for name, (repo, commit, lic) in SOURCES.items()),
        ("license", "Apache-2.0 (all sources); payloads are third-party web pages captured by the "
                    "source projects"),
    ]
    block = "".join(f"{k}: {v}\r\n" for k, v in fields).encode("utf-8")
    headers = [("WARC-Type", "warcinfo"), ("WARC-Record-ID", record_id(f"warcinfo:{filename}")),
               ("WARC-Date", fmt_warc_date(BASE_DATE)), ("WARC-Filename", filename),
               ("WARC-Block-Digest", sha1_b32(block)), ("Content-Type", "application/warc-fields")]
    return warc_record(headers, block)


# --------------------------------------------------------------------------------------------
# Selection of the mini fixture
# --------------------------------------------------------------------------------------------

def pick_mini_pages(pages: list[Page]) -> list[Page]:
    """~30 small pages, mostly English, per-source quotas; shortfalls filled from other small pages."""
    candidates = [p for p in pages if MINI_MIN_BYTES <= len(p.body) <= MINI_MAX_BYTES]
    rng = rng_for("mini")
    chosen: list[Page] = []
    for (source, english), n in MINI_QUOTAS.items():
        group = [p for p in candidates if p.source == source and p.is_english == english]
        chosen += rng.sample(group, min(n, len(group)))
    rest = [p for p in candidates if p not in chosen]
    rest.sort(key=lambda p: (not p.is_english, len(p.body), p.source, p.name))
    chosen += rest[: sum(MINI_QUOTAS.values()) - len(chosen)]
    return chosen


# --------------------------------------------------------------------------------------------
# Text fixtures (JSONL / Parquet)
# --------------------------------------------------------------------------------------------

def text_docs(root: Path) -> list[dict[str, str]]:
    """Gold main text of modern-web-2026 pages: real text for the JSONL/Parquet input paths."""
    base = root / "extraction" / MODERN_WEB / "ground-truth"
    docs = []
    for path in sorted(base.glob("*.json.gz")):
        gt = json.loads(gzip.decompress(path.read_bytes()))
        text = (gt.get("ground_truth") or {}).get("main_content") or ""
        url = clean_url(gt.get("url", ""))
        if url and TEXT_MIN_CHARS <= len(text) <= TEXT_MAX_CHARS:
            docs.append({"id": f"mw-{gt['file_id']}", "url": url, "text": text})
    picked = rng_for("text-docs").sample(docs, N_TEXT_DOCS + 1)
    return sorted(picked[:-1], key=lambda d: d["id"]) + [picked[-1]]  # last: loses its text


def jsonl_bytes(docs: list[dict[str, str]]) -> bytes:
    """20 good lines, one record without ``text`` and one truncated (malformed) JSON line."""
    good, victim = docs[:-1], docs[-1]
    lines = [json.dumps(d, ensure_ascii=False) for d in good]
    lines.insert(7, json.dumps({"id": victim["id"], "url": victim["url"]}, ensure_ascii=False))
    broken = json.dumps(good[0], ensure_ascii=False)
    lines.insert(13, broken[: len(broken) // 3].replace(good[0]["id"], "mw-malformed"))
    return ("\n".join(lines) + "\n").encode("utf-8")


def write_parquet(path: Path, columns: dict[str, list[str | None]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({k: pa.array(v, type=pa.string()) for k, v in columns.items()})
    pq.write_table(table, path, compression="zstd")


def write_text_fixtures(root: Path, out: Path) -> list[dict[str, str]]:
    import zstandard

    docs = text_docs(root)
    data = jsonl_bytes(docs)
    (out / "mini.jsonl.gz").write_bytes(gz(data))
    (out / "mini.jsonl.zst").write_bytes(zstandard.ZstdCompressor(level=10).compress(data))
    good, victim = docs[:-1], docs[-1]
    write_parquet(out / "mini.parquet", {
        "id": [d["id"] for d in good] + [victim["id"]],
        "url": [d["url"] for d in good] + [victim["url"]],
        "text": [d["text"] for d in good] + [None],
    })
    write_parquet(out / "mini_custom_cols.parquet", {
        "doc_id": [d["id"] for d in good], "content": [d["text"] for d in good],
        "link": [d["url"] for d in good]})
    return docs


# --------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------

@dataclass
class BuildResult:
    """What was written, for the printed summary and the READMEs."""

    sample: Path
    records: list[Rendered]
    mini_records: list[Rendered]
    skipped: list[str]
    pages: list[Page]


def build(shared: Path = DEFAULT_SHARED, out: Path = DEFAULT_OUT,
          tests_out: Path = DEFAULT_TESTS_OUT) -> BuildResult:
    """Build sample.warc.gz, its README and the tests/data fixtures. Returns what it wrote."""
    shared = Path(shared)
    skipped: list[str] = []
    readability = load_readability(shared, skipped)
    pages = dedupe_urls(readability + load_modern_web(shared, skipped) + load_trafilatura(shared, skipped),
                        skipped)

    mini_pages = pick_mini_pages(pages)
    english_rest = [p for p in pages if p.is_english and p not in mini_pages]
    recap_targets = mini_pages[:2] + rng_for("recapture").sample(english_rest, N_RECAPTURES - 2)
    redirect_target = next(p for p in mini_pages if p.source == READABILITY)

    html = [html_spec(p) for p in pages]
    by_page = {id(s.page): s for s in html}
    revisit = revisit_spec(by_page[id(next(p for p in mini_pages[2:] if p.source != READABILITY))])
    noise = (recapture_specs(recap_targets) + non_html_specs(shared, readability) +
             error_specs(redirect_target) + [revisit])
    rendered = render_all(order_records(html, noise))

    counts = Counter(r.spec.kind for r in rendered)
    appended = [f"{p} ({(shared / p).stat().st_size} bytes, byte-for-byte)" for p in APPENDED_CC_FILES]
    info = warcinfo(SAMPLE_NAME, "webcurate bundled demo crawl: real HTML pages from Apache-2.0 extraction "
                    "benchmarks wrapped as HTTP 200 responses, plus crawl noise and real Common Crawl files",
                    counts, appended)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as fh:
        fh.write(gz(info))
        for r in rendered:
            fh.write(r.member)
        for p in APPENDED_CC_FILES:
            fh.write((shared / p).read_bytes())
    if out.stat().st_size > MAX_SAMPLE_BYTES:
        raise SystemExit(f"{out} is {out.stat().st_size} bytes > {MAX_SAMPLE_BYTES}: lower N_* constants")

    mini = [r for r in rendered if in_mini(r, mini_pages, recap_targets[:2])]
    tests_out = Path(tests_out)
    tests_out.mkdir(parents=True, exist_ok=True)
    write_mini(shared, tests_out, mini)
    docs = write_text_fixtures(shared, tests_out)
    result = BuildResult(out, rendered, mini, skipped, pages)
    (out.parent / "README.md").write_text(sample_readme(result, shared), encoding="utf-8")
    (tests_out / "README.md").write_text(tests_readme(result, docs), encoding="utf-8")
    return result


def in_mini(r: Rendered, mini_pages: list[Page], mini_recaptured: list[Page]) -> bool:
    """Mini keeps its small pages, two of their re-captures, the PNG and JSON, the 404/301/revisit."""
    kind, page = r.spec.kind, r.spec.page
    if kind == "html":
        return any(page is p for p in mini_pages)
    if kind == "recapture":
        return any(page is p for p in mini_recaptured)
    if kind == "non_html":
        return r.spec.raw_http is not None or r.spec.url.endswith(".png")
    return kind in ("not_found", "redirect", "revisit")


def write_mini(shared: Path, tests_out: Path, mini: list[Rendered]) -> None:
    """mini.warc.gz (members byte-identical to the sample's), mini.warc and the real WET file."""
    counts = Counter(r.spec.kind for r in mini)
    info = warcinfo(MINI_NAME, "webcurate test fixture: records taken byte-for-byte from the bundled "
                    "sample.warc.gz plus Common Crawl's whirlwind.warc.gz", counts,
                    [f"{p} (byte-for-byte)" for p in MINI_APPENDED])
    members = [gz(info), *(r.member for r in mini), *((shared / p).read_bytes() for p in MINI_APPENDED)]
    blob = b"".join(members)
    (tests_out / MINI_NAME).write_bytes(blob)
    (tests_out / "mini.warc").write_bytes(gzip.decompress(blob))
    shutil.copyfile(shared / WET_FIXTURE, tests_out / Path(WET_FIXTURE).name)


# --------------------------------------------------------------------------------------------
# READMEs and summary
# --------------------------------------------------------------------------------------------

def read_back(path: Path) -> tuple[Counter[str], int]:
    """Record types and HTML-200 responses as fastwarc sees them (the pipeline's reader)."""
    from fastwarc.warc import ArchiveIterator

    types: Counter[str] = Counter()
    html_ok = 0
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh, parse_http=True):
            wtype = rec.headers.get("WARC-Type")
            types[wtype] += 1
            http = rec.http_headers
            if wtype == "response" and http is not None and http.status_code == 200 and \
                    (http.get("Content-Type") or "").lower().startswith("text/html"):
                html_ok += 1
    return types, html_ok


def _lang_mix(pages: list[Page]) -> str:
    mix = Counter(p.lang for p in pages)
    return ", ".join(f"{k} {v}" for k, v in mix.most_common())


def _attribution() -> str:
    return "\n".join(f"- `{name}`: {repo}, commit `{commit}`, {lic}"
                     for name, (repo, commit, lic) in SOURCES.items())


def sample_readme(result: BuildResult, shared: Path) -> str:
    types, html_ok = read_back(result.sample)
    by_source = Counter(p.source for p in result.pages)
    kinds = Counter(r.spec.kind for r in result.records)
    return f"""# Bundled sample crawl (`sample.warc.gz`)

Generated by `python bench/build_sample.py` (do not edit by hand; edit the script and rebuild).
The build is deterministic and `tests/pipelines/test_build_sample.py` checks that the committed file
equals a fresh build.

A gzip-per-record WARC/1.1 file, {result.sample.stat().st_size:,} bytes:
{sum(types.values())} records ({', '.join(f'{k} {v}' for k, v in sorted(types.items()))});
{html_ok} HTTP 200 `text/html` responses.

- {len(result.pages)} real HTML pages wrapped as HTTP 200 responses (no request records):
  {', '.join(f'{k} {v}' for k, v in sorted(by_source.items()))}.
  Declared page languages (`<html lang>` / readability metadata): {_lang_mix(result.pages)}.
- Crawl noise: {kinds['recapture']} exact re-captures (same payload, URL + tracking query),
  {kinds['non_html']} non-HTML responses (PNG and httpbin JSON from warcio's test data, a readability
  page's inline CSS), one 404 and one 301 (synthetic bodies on a `.example` host), one revisit record.
- Appended byte-for-byte: {', '.join(f'`{p}`' for p in APPENDED_CC_FILES)} (Common Crawl records).

URLs are the pages' real URLs where the source gives one; readability pages (and sources with an
unusable URL) get `https://<source>.example/<name>/`. HTTP headers are made by the builder; payloads
are the sources' original bytes. The first (warcinfo) record repeats this.

Origin and licence (all Apache-2.0; the pages themselves are third-party web content captured by these
projects), taken from the `SOURCE.txt` files of the shared data folder:

{_attribution()}

Rebuild: `python bench/build_sample.py --shared ../shared/data` (needs the shared data folder).
"""


def tests_readme(result: BuildResult, docs: list[dict[str, str]]) -> str:
    kinds = Counter(r.spec.kind for r in result.mini_records)
    pages = [r.spec.page for r in result.mini_records if r.spec.kind == "html"]
    return f"""# Test fixtures

Generated by `python bench/build_sample.py` (do not edit by hand). All content is real and comes
from Apache-2.0 sources (see attribution below).

| file | what | origin |
|---|---|---|
| `mini.warc.gz` | gzip-per-record WARC: 1 warcinfo, {kinds['html']} HTML 200 responses, {kinds['recapture']} exact re-captures, {kinds['non_html']} non-HTML (PNG, JSON), one 404, one 301, one revisit, then the 4 Common Crawl records of `whirlwind.warc.gz` | records copied byte-for-byte from `pipelines/data/sample.warc.gz` (pages from readability-test-pages, modern-web-2026, trafilatura-eval; PNG/JSON from warcio test data) + cc-whirlwind |
| `mini.warc` | the same records, uncompressed | as above |
| `whirlwind.warc.wet.gz` | a real Common Crawl WET file (CC-MAIN-2024-22, 2 records) | cc-whirlwind, byte-for-byte |
| `mini.jsonl.gz`, `mini.jsonl.zst` | JSONL, columns `id`, `url`, `text`: {len(docs) - 1} documents, plus one record without `text` (line 8) and one truncated, malformed JSON line (line 14) | gold main text (`ground_truth.main_content`) and URL of modern-web-2026 pages |
| `mini.parquet` | the {len(docs) - 1} documents plus the one with null `text` | as above |
| `mini_custom_cols.parquet` | the same {len(docs) - 1} documents with columns `doc_id`, `content`, `link` | as above |

HTML pages in `mini.warc.gz` by declared language: {_lang_mix(pages)}.
The 404/301 bodies, the re-capture query strings and the `.example` URLs are the only synthetic parts; HTTP headers of the
wrapped pages are made by the builder (the sources do not keep the servers' headers).

Origin and licence (Apache-2.0; the pages/texts are third-party web content captured by these projects):

{_attribution()}
"""


def summarize(result: BuildResult, tests_out: Path) -> str:
    types, html_ok = read_back(result.sample)
    lines = [f"{result.sample}: {result.sample.stat().st_size:,} bytes",
             "  records by WARC-Type: " + ", ".join(f"{k}={v}" for k, v in sorted(types.items())),
             f"  HTML 200 responses: {html_ok}",
             "  built records by kind: " + ", ".join(
                 f"{k}={v}" for k, v in sorted(Counter(r.spec.kind for r in result.records).items())),
             "  page languages: " + _lang_mix(result.pages)]
    mini_types, mini_html = read_back(Path(tests_out) / MINI_NAME)
    lines.append(f"{tests_out}/{MINI_NAME}: " + ", ".join(f"{k}={v}" for k, v in sorted(mini_types.items()))
                 + f"; HTML 200 responses: {mini_html}")
    sizes = {p.name: p.stat().st_size for p in sorted(Path(tests_out).iterdir()) if p.is_file()}
    lines.append(f"{tests_out}: {sum(sizes.values()):,} bytes: " +
                 ", ".join(f"{k}={v:,}" for k, v in sizes.items()))
    lines += [f"  skipped/changed: {s}" for s in result.skipped]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="sample WARC to write")
    parser.add_argument("--tests-out", type=Path, default=DEFAULT_TESTS_OUT, help="fixture folder")
    args = parser.parse_args(argv)
    result = build(args.shared, args.out, args.tests_out)
    print(summarize(result, args.tests_out))


if __name__ == "__main__":
    main()
