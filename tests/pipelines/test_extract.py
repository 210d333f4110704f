"""Extraction on real pages, and the per-document timeout that really stops the work."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipelines import readers
from pipelines.extract import Extractor, ExtractorUnavailable, ExtractTimeout, decode_html, extract_html
from pipelines.extract import ExtractConfig


@pytest.fixture(scope="module")
def pages(data_dir):
    path = data_dir / "mini.warc.gz"
    docs = [p for k, p in readers.read_warc(str(path), lambda: open(path, "rb"), max_record_bytes=10**7)
            if k == "doc" and "html" in p]
    return {d["url"]: d for d in docs}


def test_trafilatura_extracts_main_text_title_and_date(pages):
    page = pages["https://an.wikipedia.org/wiki/Escopete"]
    result = extract_html(page["html"], page["charset"], page["url"], ExtractConfig(timeout_s=0))
    assert "Escopete" in result.title
    assert len(result.text) > 200
    assert "Ir al contenido" not in result.text  # navigation is boilerplate, not main text
    assert result.charset == "utf-8"


_ARTICLE = b"""<html><head><title>Site | Home</title><meta property="og:title" content="Tides of the Wash">
<meta property="article:published_time" content="2023-05-17T08:00:00Z"></head><body><nav>Home About</nav>
<article><h1>Tides of the Wash</h1>""" + b"<p>The tide comes in twice a day over the flats of the Wash, and the " \
    b"birds follow it in great numbers, feeding on what the water leaves behind.</p>" * 12 + b"""</article></body></html>"""
_GUESSABLE = _ARTICLE.replace(b'<meta property="article:published_time" content="2023-05-17T08:00:00Z">', b"") \
    .replace(b"<article>", b"<article><p>Posted on 3 March 2021 by the warden.</p>")


def test_light_metadata_reads_title_and_stated_date_and_keeps_the_text_of_the_full_pass():
    light, full, none = (extract_html(_ARTICLE, "utf-8", None, ExtractConfig(timeout_s=0, metadata=m))
                         for m in ("light", "full", "none"))
    assert light.text == full.text == none.text and "flats of the Wash" in light.text
    assert (light.title, light.date) == ("Tides of the Wash", "2023-05-17") == (full.title, full.date)
    assert (none.title, none.date) == ("", "")
    # a date only written in the body: the full pass's extensive search guesses it, light does not
    guessed = extract_html(_GUESSABLE, "utf-8", None, ExtractConfig(timeout_s=0, metadata="full"))
    stated = extract_html(_GUESSABLE, "utf-8", None, ExtractConfig(timeout_s=0, metadata="light"))
    assert guessed.date == "2021-03-03" and stated.date == "" and stated.text == guessed.text


def test_metadata_defaults_to_light_and_old_recipes_booleans_still_load():
    assert ExtractConfig().metadata == "light" and ExtractConfig().fast is False
    assert ExtractConfig(metadata=True).metadata == "full" and ExtractConfig(metadata=False).metadata == "none"
    with pytest.raises(ValueError):
        ExtractConfig(metadata="some")


@pytest.mark.parametrize("engine", ["trafilatura", "resiliparse"])
def test_engines_find_text_on_most_pages(pages, engine):
    cfg = ExtractConfig(engine=engine, timeout_s=0)
    results = [extract_html(p["html"], p["charset"], p["url"], cfg) for p in pages.values()]
    assert sum(len(r.text) > 200 for r in results) >= 0.8 * len(results)


def test_decode_html_uses_meta_charset_then_detection():
    latin = "<html><head><meta charset='iso-8859-1'></head><body>Gr\u00fc\u00dfe</body></html>".encode("latin-1")
    text, charset = decode_html(latin, None)
    assert "Grüße" in text and charset == "iso8859-1"
    text, charset = decode_html("<p>Grüße aus Köln</p>".encode("utf-8"), "no-such-codec")
    assert "Grüße" in text


def test_timeout_kills_the_worker_and_the_next_page_still_works(pages):
    page = next(iter(pages.values()))
    with Extractor(ExtractConfig(timeout_s=0.0005)) as tight:
        with pytest.raises(ExtractTimeout):
            tight(page["html"], page["charset"], page["url"])
    with Extractor(ExtractConfig(timeout_s=60)) as extractor:
        first = extractor(page["html"], page["charset"], page["url"])
        extractor._process.kill()  # a crashed worker is replaced on the next call
        extractor._process.wait()
        again = extractor(page["html"], page["charset"], page["url"])
    assert first == again and first.text


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads the worker's memory maps (Linux)")
def test_the_extraction_worker_imports_only_extraction(tmp_path):
    """In a Beam worker process ``__main__`` is the SDK harness; the extraction process must not import it
    again (multiprocessing's spawn did: 1.6 s per worker), so it maps none of Beam's compiled modules."""
    script = tmp_path / "beam_like_main.py"
    script.write_text(textwrap.dedent("""
        import apache_beam  # what a Beam worker's __main__ has imported
        from pipelines.extract import ExtractConfig, Extractor

        if __name__ == "__main__":
            with Extractor(ExtractConfig(timeout_s=60)) as extractor:
                assert extractor(b"<html><body><p>" + b"Some words here. " * 40 + b"</p></body></html>", None, None).text
                maps = open(f"/proc/{extractor._process.pid}/maps").read()
            print("beam-in-worker" if "apache_beam" in maps else "clean")
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "clean"


def test_a_worker_that_cannot_start_stops_the_run_not_the_page(pages, monkeypatch):
    """A broken install (the engine does not import, the interpreter fails) would fail every page alike: the
    Extractor raises ExtractorUnavailable, which Extract lets through to fail the job."""
    import pipelines.extract as extract

    page = next(iter(pages.values()))
    monkeypatch.setattr(extract, "_WORKER", [sys.executable, "-c", "import sys; sys.exit(3)", "unused"])
    with Extractor(ExtractConfig(timeout_s=60)) as extractor, pytest.raises(ExtractorUnavailable):
        extractor(page["html"], page["charset"], page["url"])
    monkeypatch.setattr(extract, "_WORKER", [sys.executable, "-c",
                                             "from multiprocessing.connection import Connection; import sys; "
                                             "c = Connection(int(sys.argv[2]), writable=False); r = Connection(int(sys.argv[3]), readable=False); "
                                             "c.recv(); r.send((False, 'ModuleNotFoundError: trafilatura'))", "unused"])
    with Extractor(ExtractConfig(timeout_s=60)) as extractor, pytest.raises(ExtractorUnavailable, match="trafilatura"):
        extractor(page["html"], page["charset"], page["url"])
