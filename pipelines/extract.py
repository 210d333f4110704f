"""HTML → main text, with a per-document timeout that really stops the work.

``extract_html`` is the pure function (bytes in, text + metadata out). ``Extractor`` runs it under a
time limit: in a separate worker process, because a pathological page can keep lxml busy
for minutes inside C code that no thread-based timeout can interrupt, and ``signal.alarm`` only works
on the main thread, which Beam workers do not run DoFns on. The worker process is killed and replaced
on timeout, and the document is dropped as ``extract:timeout``.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing.connection import Connection
from typing import Literal

from pydantic import Field, field_validator

from schemas.config import StrictConfig

log = logging.getLogger(__name__)


class ExtractConfig(StrictConfig):
    """The recipe's ``extract`` section: engine, limits and what trafilatura keeps."""

    engine: Literal["trafilatura", "resiliparse"] = "trafilatura"
    timeout_s: float = Field(30.0, ge=0, description="0 disables the timeout (runs in-process, faster)")
    max_html_bytes: int = Field(5_000_000, gt=0)
    include_comments: bool = False
    include_tables: bool = True
    favor_precision: bool = False
    fast: bool = Field(False, description="trafilatura without its fallback extractors (readability, justext)")
    metadata: Literal["full", "light", "none"] = Field(
        "light", description="title and date: full = trafilatura's metadata pass (htmldate's extensive search); "
        "light = the <title>/og:title of the parsed tree and htmldate without extensive search; none = neither")

    @field_validator("metadata", mode="before")
    @classmethod
    def _booleans(cls, value):  # recipes before 'light' said true / false
        return {True: "full", False: "none"}.get(value, value) if isinstance(value, bool) else value

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


class ExtractTimeout(Exception):
    """The extractor ran past ``extract.timeout_s`` on one document."""


@dataclass(frozen=True)
class Extracted:
    text: str
    title: str
    date: str
    charset: str


def decode_html(body: bytes, declared: str | None) -> tuple[str, str]:
    """Decode HTML bytes: valid UTF-8 first, else the HTTP charset if it is a real codec, else
    ``<meta charset>``, else detection; UTF-8 mixed with windows-1252 is decoded piece by piece.

    Valid non-ASCII UTF-8 wins over a declared charset because servers and pages mislabel UTF-8 as
    Latin-1 or windows-1252 far more often than real Latin-1 text happens to form valid multi-byte UTF-8
    (which almost never happens); trusting the label turns every accented letter into mojibake. A
    UTF-16/32 byte order mark is the exception: it is what the bytes are. A page that is UTF-8 except
    for some windows-1252 bytes (a UTF-8 template around Latin-1 database text) is decoded as UTF-8 with
    those bytes read as windows-1252, rather than as windows-1252 throughout.
    Returns the text and the charset actually used, so the output says how each page was read.
    """
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    utf8_like = not body.isascii() and not body.startswith(_UTF16_32_BOMS)
    if utf8_like:
        try:
            return body.decode("utf-8-sig"), "utf-8"
        except UnicodeDecodeError:
            pass
    codec = _known_codec(declared) or _known_codec(_meta_charset(body)) or _known_codec(detect_encoding(body))
    codec = codec or "utf-8"
    if utf8_like and codec in _UTF8_OR_LATIN and _UTF8_SEQUENCE.search(body):
        return body.decode("utf-8", errors=_CP1252_FALLBACK), "utf-8"
    return bytes_to_str(body, codec), codec


_UTF8_OR_LATIN = frozenset({"utf-8", "latin-1", "iso8859-1", "cp1252", "iso8859-15", "ascii"})
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_CP1252_FALLBACK = "webcurate.cp1252"


def _cp1252_bytes(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeDecodeError):
        raise err
    bad = err.object[err.start:err.end]
    return "".join(bytes([b]).decode("cp1252", errors="replace") for b in bad), err.end


codecs.register_error(_CP1252_FALLBACK, _cp1252_bytes)


_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
_CONTROL_BYTES = bytes(c for c in range(32) if c not in b"\t\n\r\x0c\x1b")  # ESC: ISO-2022 text uses it


def looks_binary(body: bytes, sample: int = 8192) -> bool:
    """True when the payload is not text (an image, an archive, random bytes) whatever its label says.

    More than 5% of C0 control bytes in the first ``sample`` bytes (random bytes have ~10%, text none),
    unless the NULs are those of UTF-16/32 text (a BOM, or NULs in every other byte).
    """
    head = body[:sample]
    if not head or head.startswith(_UTF16_32_BOMS):
        return False
    nuls = head.count(0)
    if nuls * 3 > len(head) and max(head[0::2].count(0), head[1::2].count(0)) * 10 >= nuls * 9:
        return False  # UTF-16 without a BOM: the NULs sit on one parity
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return controls * 20 > len(head)


def _meta_charset(body: bytes) -> str | None:
    match = _META_CHARSET.search(body, 0, 4096)
    return match.group(1).decode("ascii", "ignore") if match else None


@lru_cache(maxsize=256)
def _known_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().lower()).name
    except LookupError:
        return None


@lru_cache(maxsize=4)
@lru_cache(maxsize=1)
def _trafilatura_config():
    """Built once per process: use_config() parses trafilatura's settings file (~0.5 ms, ~1% of a page)."""
    from trafilatura.settings import use_config

    config = use_config()
    # trafilatura's own timeout uses signal.alarm, which fails off the main thread; ours is the process.
    config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")
    return config


def extract_html(body: bytes, declared_charset: str | None, url: str | None, cfg: ExtractConfig) -> Extracted:
    """Main text, title and date of one HTML page with the configured engine."""
    html, charset = decode_html(body, declared_charset)
    if cfg.engine == "resiliparse":
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        tree = HTMLTree.parse(html)
        text = extract_plain_text(
            tree, main_content=True, preserve_formatting=True, list_bullets=True, alt_texts=False,
            comments=cfg.include_comments,
        )
        title = tree.title or ""
        return Extracted(text=_tidy(text), title=title.strip(), date="", charset=charset)

    import trafilatura

    title = date = ""
    document = html
    if cfg.metadata == "light":
        # Parse once: title and date read the tree before trafilatura (which works on its own copy) cleans it.
        from trafilatura.utils import load_html

        document = load_html(html)
        if document is None:
            return Extracted(text="", title="", date="", charset=charset)
        title, date = _light_metadata(document, url)
    result = trafilatura.bare_extraction(
        document,
        url=url or None,
        fast=cfg.fast,
        with_metadata=cfg.metadata == "full",
        include_comments=cfg.include_comments,
        include_tables=cfg.include_tables,
        favor_precision=cfg.favor_precision,
        deduplicate=False,
        config=_trafilatura_config(),
    )
    if result is None:
        return Extracted(text="", title="", date="", charset=charset)
    if cfg.metadata == "full":
        title, date = (result.title or "").strip(), result.date or ""
    return Extracted(text=_tidy(result.text or ""), title=title, date=date, charset=charset)


def _light_metadata(tree, url: str | None) -> tuple[str, str]:
    """The title as trafilatura's metadata pass mostly finds it (the page's og:title, else trafilatura's
    ``extract_title``: a lone <h1>, title XPaths, <title>), and the publication date from htmldate's quick
    pass (meta tags, JSON-LD, time elements, the URL) without its extensive search of the whole text, the
    bulk of the metadata pass's cost; author, site name, categories and licence are not looked for."""
    from htmldate import find_date
    from trafilatura.metadata import extract_opengraph, extract_title

    title = (extract_opengraph(tree)["title"] or extract_title(tree) or "").strip()
    try:
        date = find_date(tree, extensive_search=False, original_date=True, url=url or None) or ""
    except ValueError:  # htmldate refuses some malformed inputs
        date = ""
    return title, date


_BLANK_RUNS = re.compile(r"\n{3,}")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _tidy(text: str) -> str:
    # Control characters (NUL, BEL, ESC...) are never text; resiliparse passes them through.
    # RefinedWeb keeps at most two consecutive newlines; trailing spaces carry no information.
    lines = (line.rstrip() for line in _CONTROLS.sub("", text).strip().split("\n"))
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines))


def serve(requests_fd: int, replies_fd: int) -> None:
    """Worker process loop: the config, then pages; send back each result or the exception. Says it is ready
    once the engine is imported (a broken install fails the run there, not page by page). Returns when the
    caller closes its end (or dies); Ctrl-C is the caller's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests = Connection(requests_fd, writable=False)
    replies = Connection(replies_fd, readable=False)
    try:
        cfg = requests.recv()
    except EOFError:
        return
    try:
        if cfg.engine == "resiliparse":
            import resiliparse.extract.html2text  # noqa: F401
        else:
            import htmldate  # noqa: F401
            import trafilatura  # noqa: F401
    except ImportError as err:
        replies.send((False, f"{type(err).__name__}: {err}"))
        return
    replies.send((True, None))
    while True:
        try:
            request = requests.recv()
        except EOFError:
            return
        try:
            replies.send((True, extract_html(*request, cfg)))
        except Exception as err:  # noqa: BLE001 — reported to the caller as that document's error
            replies.send((False, f"{type(err).__name__}: {err}"))


# The worker imports this very package: its folder is appended to the path (after the standard library and
# site-packages, so an installed copy wins and a run from an uninstalled checkout still works), and the
# caller's working directory is not on it (-P, Python ≥ 3.11).
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_WORKER = [sys.executable, "-P", "-c",
           "import sys; sys.path.append(sys.argv[1]); from pipelines.extract import serve; serve(*map(int, sys.argv[2:]))",
           _ROOT]
# How long a new worker may take to import its engine before the run stops (a cold disk, many starting).
_START_TIMEOUT_S = 120.0


class ExtractorUnavailable(RuntimeError):
    """The extraction worker could not start (its engine does not import, the interpreter fails): every page
    would fail the same way, so the run stops instead of turning each into an error row."""


class ExtractFailed(Exception):
    """The extractor raised on one document (the message says what it raised)."""


class Extractor:
    """Runs ``extract_html`` with a per-document timeout in a replaceable worker process.

    One worker process per Extractor (i.e. per Beam DoFn instance): the DoFn thread waits while the
    worker computes, so the pair costs one core. A plain Pipe rather than a process-pool library:
    measured here, pebble's scheduler added ~6 ms per task (30% of a trafilatura call), a Pipe adds
    well under 1 ms. Timeout 0 runs in-process (no isolation, no IPC).
    """

    def __init__(self, cfg: ExtractConfig):
        self.cfg = cfg
        self._process: subprocess.Popen | None = None
        self._send: Connection | None = None
        self._recv: Connection | None = None

    def __enter__(self) -> "Extractor":
        return self

    def __exit__(self, *exc) -> None:
        self._stop()

    def _start(self) -> None:
        # A fresh interpreter that imports only this module, not fork (Beam workers run gRPC threads, and
        # forking a threaded process can deadlock) and not multiprocessing's spawn, which would import the
        # caller's __main__ first: in a Beam worker process that is the SDK harness, 1.6 s of imports.
        requests_read, requests_write = os.pipe()
        replies_read, replies_write = os.pipe()
        try:
            self._process = subprocess.Popen([*_WORKER, str(requests_read), str(replies_write)],
                                             pass_fds=(requests_read, replies_write), stdin=subprocess.DEVNULL)
        except BaseException:
            for fd in (requests_write, replies_read):
                os.close(fd)
            raise
        finally:
            os.close(requests_read)
            os.close(replies_write)
        self._send = Connection(requests_write, readable=False)
        self._recv = Connection(replies_read, writable=False)
        try:
            self._send.send(self.cfg)
            if not self._recv.poll(_START_TIMEOUT_S):
                raise ExtractorUnavailable(f"the extraction worker did not start within {_START_TIMEOUT_S:g} s")
            ok, problem = self._recv.recv()
        except (EOFError, OSError) as err:
            self._stop()
            raise ExtractorUnavailable(f"the extraction worker exited at start-up ({err or 'no reply'}); "
                                       "its error is above") from None
        except BaseException:
            self._stop()
            raise
        if not ok:
            self._stop()
            raise ExtractorUnavailable(f"the extraction worker cannot import its engine: {problem}")

    def _stop(self) -> None:
        if self._process is not None:
            self._send.close()
            self._recv.close()
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = self._send = self._recv = None

    def __call__(self, body: bytes, declared_charset: str | None, url: str | None) -> Extracted:
        if self.cfg.timeout_s <= 0:
            return extract_html(body, declared_charset, url, self.cfg)
        if self._process is None or self._process.poll() is not None:
            self._stop()
            self._start()
        try:
            self._send.send((body, declared_charset, url))
            answered = self._recv.poll(self.cfg.timeout_s)
            if answered:
                ok, payload = self._recv.recv()
        except (EOFError, OSError):  # the worker died: before the page, or part-way through its reply
            self._stop()
            raise ExtractFailed("the extraction worker process died (crash or out of memory)") from None
        except BaseException:  # e.g. KeyboardInterrupt: an unread reply must not answer the next page
            self._stop()
            raise
        if not answered:
            self._stop()  # the only way to stop C code stuck in lxml: kill the process
            raise ExtractTimeout(f"extraction took longer than {self.cfg.timeout_s:g} s")
        if not ok:
            raise ExtractFailed(payload)
        return payload
