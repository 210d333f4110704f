"""Build the reference-prose quality model (the shipped default until issue 16) from ``../shared/data``.

    python bench/build_quality_model.py             # ~1-2 minutes on 2 cores; prints held-out metrics

The shipped ``filters/models/quality_en.ftz`` is now distilled from the neural educational-value head
(``bench/distill_quality.py``); this recipe stays for whoever wants "reads like Wikipedia" instead.

Seeds, following UltraClean (verified clean text vs. random raw web), limited to text we may ship a
model of (the model's dictionary holds the training words):

* positives: English Wikipedia articles (2015 dump, CC BY-SA; ``wiki_19`` is held out because the
  tests quote it) and the public-domain US State of the Union and inaugural addresses (NLTK corpora);
* negatives: real web pages from the Apache-2.0 extraction benchmarks (the bundled
  ``pipelines/data/sample.warc.gz`` plus the rest of readability-test-pages, modern-web-2026 and
  trafilatura-eval in ``../shared/data/extraction``), extracted exactly as the pipeline does
  (trafilatura, same settings) and kept when lid.176 says English with p >= 0.65, the recipe default.
  Pages that are test fixtures (``tests/data``) are excluded, so the tests score unseen text.

Left out on purpose: NLTK ``abc`` and ``webtext`` (no licence stated), TurkuNLP and CleanEval (no
licence stated), FineWeb-Edu labels (not copyable; used only by ``bench/quality_eval.py``).

Both classes keep documents of at least 50 words, Gopher's minimum, because the classifier runs after
the heuristic stages and should learn from what it will see. Everything is deterministic: sorted file
order, ordered parallel extraction, seeded sampling, one-thread fastText.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script: this checkout's packages, and tests/ for the corpus readers

from filters import train_quality  # noqa: E402
from tests.filters.corpora import speeches, wikipedia_articles  # noqa: E402
DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data"
SAMPLE_WARC = REPO_ROOT / "pipelines" / "data" / "sample.warc.gz"
TEST_FIXTURES = (REPO_ROOT / "tests" / "data" / "mini.warc.gz", REPO_ROOT / "tests" / "data" / "mini.jsonl.gz")

MIN_WORDS = 50  # Gopher quality's minimum (pipelines/recipes/default.yaml)
MIN_ENGLISH = 0.65  # the recipe's language.min_score
SEED = 0
CUTOFF = 10_000  # words + n-gram buckets kept by quantization: ~1.7 MB at dim 256, dsub 2

_HTML_LANG_RE = re.compile(rb"<html[^>]*?\blang\s*=\s*[\"']?\s*([A-Za-z]{2,3})(?![A-Za-z])", re.I)


# -------------------------------------------------------------------------------------------- negatives


def _declared_lang(body: bytes) -> str:
    match = _HTML_LANG_RE.search(body, 0, 16_384)
    return match.group(1).decode("ascii").lower() if match else "und"


def fixture_urls() -> set[str]:
    """URLs of the pages and texts in tests/data, kept out of training."""
    from pipelines import readers

    urls: set[str] = set()
    warc, jsonl = TEST_FIXTURES
    if warc.exists():
        for kind, item in readers.read_warc(str(warc), lambda: open(warc, "rb"), max_record_bytes=10**8):
            if kind == "doc":
                urls.add(item["url"])
    if jsonl.exists():
        for line in gzip.decompress(jsonl.read_bytes()).decode("utf-8").splitlines():
            try:
                urls.add(json.loads(line).get("url") or "")
            except json.JSONDecodeError:
                continue
    urls.discard("")
    return urls


def web_pages(shared: Path) -> list[tuple[str, bytes, str | None]]:
    """(url, html, declared charset) of every real page: the bundled sample first, then the benchmark pages.

    URLs follow ``bench/build_sample.py`` (the benchmark's real URL, or ``https://<source>.example/...``),
    so a page already in the sample is not read twice, and test fixtures can be excluded by URL. Pages
    declaring a language other than English in ``<html lang>`` are skipped before extraction (lid.176
    makes the final call on the text; this only saves extraction time).
    """
    from pipelines import readers

    pages: list[tuple[str, bytes, str | None]] = []
    for kind, item in readers.read_warc(str(SAMPLE_WARC), lambda: open(SAMPLE_WARC, "rb"), max_record_bytes=10**8):
        if kind == "doc" and item.get("html") is not None and not item.get("decision"):
            pages.append((item["url"], item["html"], item.get("charset")))

    extraction = shared / "extraction"
    candidates: list[tuple[str, Path]] = []
    base = extraction / "readability-test-pages"
    synthetic = set((base / "synthetic_small_cases.txt").read_text().split())
    for d in sorted((base / "pages").iterdir()):
        if d.name not in synthetic:
            candidates.append((f"https://readability-test-pages.example/{quote(d.name)}/", d / "source.html.gz"))
    base = extraction / "modern-web-2026"
    for path in sorted((base / "html").glob("*.html.gz")):
        fid = path.name.removesuffix(".html.gz")
        truth = json.loads(gzip.decompress((base / "ground-truth" / f"{fid}.json.gz").read_bytes()))
        candidates.append(((truth.get("url") or "").strip() or f"https://modern-web-2026.example/{fid}/", path))
    base = extraction / "trafilatura-eval"
    evaldata = json.loads((base / "evaldata.json").read_text(encoding="utf-8"))
    for key in sorted(evaldata):
        fname = evaldata[key]["file"]
        url = key if key.startswith("http") else f"https://trafilatura-eval.example/{quote(fname)}"
        candidates.append((url, base / "html" / f"{fname}.gz"))

    seen = {url for url, _, _ in pages}
    for url, path in candidates:
        if url in seen:
            continue
        seen.add(url)
        body = gzip.decompress(path.read_bytes())
        if _declared_lang(body) in ("en", "und"):
            pages.append((url, body, None))
    excluded = fixture_urls()
    return [page for page in pages if page[0] not in excluded]


def _extract(page: tuple[str, bytes, str | None]) -> str:
    from pipelines.extract import extract_html
    from pipelines.extract import ExtractConfig

    url, body, charset = page
    # The pipeline's default extraction; the metadata pass changes title/date only, never the text.
    return extract_html(body, charset, url, ExtractConfig(timeout_s=0, metadata="none")).text


def extract_english(pages: list[tuple[str, bytes, str | None]], workers: int) -> list[str]:
    """Main text of each page (ordered parallel map: deterministic), English by lid.176 only."""
    from filters.langid import identify, load_model

    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            texts = list(pool.map(_extract, pages, chunksize=8))
    else:
        texts = [_extract(page) for page in pages]
    lid = load_model()
    out = []
    for text in texts:
        label, score = identify(lid, text)
        if label == "en" and score >= MIN_ENGLISH:
            out.append(text)
    return out


def long_enough(texts: list[str]) -> list[str]:
    return [text for text in texts if len(text.split()) >= MIN_WORDS]


# ------------------------------------------------------------------------------------------------- build


def build(shared: Path, out: Path, *, workers: int, log=print) -> dict:
    started = time.perf_counter()
    quality = shared / "quality"
    positives = long_enough([*wikipedia_articles(quality / "wikipedia-en-2015"), *speeches(quality / "nltk-corpora")])
    pages = web_pages(shared)
    negatives = long_enough(extract_english(pages, workers))
    log(f"positives: {len(positives)} documents (Wikipedia + addresses); negatives: {len(negatives)} English web "
        f"documents from {len(pages)} pages ({time.perf_counter() - started:.0f} s)")
    split = train_quality.balance_and_split(positives, negatives, seed=SEED, valid_fraction=0.1)
    log(f"held out {len(split.valid) // 2} documents per class; {len(split.train)} for training; "
        f"dropped {split.dropped}")
    result = train_quality.train_rounds(split, seed=SEED, chunk_words=train_quality.DEFAULT_CHUNK_WORDS, log=log)
    final = train_quality.finish(result, str(out), quantize=True, cutoff=CUTOFF, log=log)
    log(f"{out}: {out.stat().st_size:,} bytes; total {time.perf_counter() - started:.0f} s")
    return {"positives": len(positives), "negatives": len(negatives), "train_documents": len(split.train),
            "valid_per_class": len(split.valid) // 2, "unquantized": result.rounds[-1], "quantized": final}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/build_quality_model.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "out" / "quality_reference_prose.ftz")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="extraction processes")
    args = parser.parse_args(argv)
    if not (args.shared / "quality" / "wikipedia-en-2015").is_dir():
        raise SystemExit(f"{args.shared}: not the shared data folder (no quality/wikipedia-en-2015)")
    build(args.shared, args.out, workers=args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
