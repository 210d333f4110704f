"""Extraction quality and speed per engine, on the real pages with gold text in ../shared/data/extraction.

    python bench/extraction.py [--shared ../shared/data] [--limit N] [--out bench/out/extraction.json]

Metrics (per page, then averaged over pages):
* full-text sets (readability-test-pages real pages, modern-web-2026, cleaneval): bag-of-words token
  precision / recall / F1 of the extracted text against the gold main text (lowercased word tokens,
  multiset overlap), the simple metric the data's SOURCE.txt files report for trafilatura;
* trafilatura-eval: snippet precision / recall / F1 (a "with" snippet found = TP, missing = FN; a
  "without" snippet found = FP), trafilatura's own evaluation. That set is trafilatura's regression
  gate, so it flatters trafilatura.
Speed: pages per CPU second of the extraction call alone, one process, same decoded HTML for every engine.

Engines: trafilatura with and without ``fast`` (no fallback extractors) and each way of getting title and
date (``metadata``: full = trafilatura's metadata pass, light = title from the parsed tree + htmldate
without extensive search, none), its precision mode, and resiliparse.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import time
from collections import Counter
from pathlib import Path

from pipelines.extract import decode_html, extract_html
from pipelines.extract import ExtractConfig

ROOT = Path(__file__).resolve().parents[1]
_TOKEN = re.compile(r"\w+", re.UNICODE)
_TAG = re.compile(r"<[^>]+>")

ENGINES: dict[str, ExtractConfig] = {
    "trafilatura+metadata": ExtractConfig(timeout_s=0, metadata="full"),  # the default until issue 15
    "trafilatura+light": ExtractConfig(timeout_s=0, metadata="light"),
    "trafilatura": ExtractConfig(timeout_s=0, metadata="none"),
    "trafilatura+fast+metadata": ExtractConfig(timeout_s=0, fast=True, metadata="full"),
    "trafilatura+fast+light": ExtractConfig(timeout_s=0, fast=True, metadata="light"),
    "trafilatura+fast": ExtractConfig(timeout_s=0, fast=True, metadata="none"),
    "trafilatura+precision": ExtractConfig(timeout_s=0, metadata="none", favor_precision=True),
    "resiliparse": ExtractConfig(engine="resiliparse", timeout_s=0),
}


def tokens(text: str) -> Counter:
    return Counter(t.lower() for t in _TOKEN.findall(text))


def bow_prf(extracted: str, gold: str) -> tuple[float, float, float]:
    got, want = tokens(extracted), tokens(gold)
    overlap = sum((got & want).values())
    p = overlap / sum(got.values()) if got else 0.0
    r = overlap / sum(want.values()) if want else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _html_text(html: str) -> str:
    import html as htmllib

    return htmllib.unescape(_TAG.sub(" ", html))


def readability(shared: Path):
    base = shared / "extraction" / "readability-test-pages"
    synthetic = set((base / "synthetic_small_cases.txt").read_text().split())
    for page in sorted((base / "pages").iterdir()):
        if page.name in synthetic:
            continue
        gold = _html_text(gzip.decompress((page / "expected.html.gz").read_bytes()).decode("utf-8", "replace"))
        yield page.name, gzip.decompress((page / "source.html.gz").read_bytes()), gold


def modern_web(shared: Path):
    base = shared / "extraction" / "modern-web-2026"
    for html in sorted((base / "html").glob("*.html.gz")):
        truth = json.loads(gzip.decompress((base / "ground-truth" / html.name.replace(".html.gz", ".json.gz")).read_bytes()))
        yield html.name, gzip.decompress(html.read_bytes()), truth["ground_truth"]["main_content"]


def cleaneval(shared: Path):
    base = shared / "extraction" / "cleaneval"
    for split in ("dev", "final"):
        for page in sorted((base / split / "input").glob("*.html.gz")):
            gold_path = base / split / "GoldStandard" / page.name.replace(".html.gz", ".txt.gz")
            gold = gzip.decompress(gold_path.read_bytes()).decode("utf-8", "replace")
            gold = re.sub(r"^URL:.*\n", "", gold)
            gold = re.sub(r"<[phl]>", " ", gold)
            raw = gzip.decompress(page.read_bytes())
            raw = re.sub(rb"^\s*<text[^>]*>", b"", raw, count=1)  # CleanEval's wrapper line
            yield f"{split}/{page.name}", raw, gold


def trafilatura_eval(shared: Path):
    base = shared / "extraction" / "trafilatura-eval"
    data = json.loads((base / "evaldata.json").read_text())
    for key in sorted(data):
        item = data[key]
        path = base / "html" / f"{item['file']}.gz"
        if path.exists():
            yield key, gzip.decompress(path.read_bytes()), (item.get("with", []), item.get("without", []))


SETS = {"readability": readability, "modern-web-2026": modern_web, "cleaneval": cleaneval,
        "trafilatura-eval": trafilatura_eval}


def run(shared: Path, limit: int | None) -> dict:
    results: dict = {}
    for set_name, loader in SETS.items():
        pages = list(loader(shared))[:limit]
        decoded = [(name, decode_html(raw, None)[0].encode("utf-8"), gold) for name, raw, gold in pages]
        reference = None  # the full metadata pass's (title, date) per page, for the other ways' agreement
        for engine, cfg in ENGINES.items():
            start = time.process_time()
            extracted = [extract_html(raw, "utf-8", None, cfg) for _, raw, _ in decoded]
            seconds = time.process_time() - start
            outputs = [e.text for e in extracted]
            metadata = [(e.title, e.date) for e in extracted]
            if reference is None:
                reference = metadata
            if set_name == "trafilatura-eval":
                tp = fn = fp = 0
                for text, (_, _, (with_, without)) in zip(outputs, decoded):
                    tp += sum(s in text for s in with_)
                    fn += sum(s not in text for s in with_)
                    fp += sum(s in text for s in without)
                p = tp / (tp + fp) if tp + fp else 0.0
                r = tp / (tp + fn) if tp + fn else 0.0
                scores = (p, r, 2 * p * r / (p + r) if p + r else 0.0)
            else:
                per_page = [bow_prf(text, gold) for text, (_, _, gold) in zip(outputs, decoded)]
                scores = tuple(sum(x[i] for x in per_page) / len(per_page) for i in range(3))
            results.setdefault(set_name, {})[engine] = {
                "pages": len(decoded), "precision": round(scores[0], 3), "recall": round(scores[1], 3),
                "f1": round(scores[2], 3), "pages_per_s": round(len(decoded) / seconds, 1),
                "cpu_s": round(seconds, 2),
            }
            if cfg.engine == "trafilatura" and cfg.metadata != "none":
                n = len(metadata)
                row = results[set_name][engine]
                row["title_as_full"] = round(sum(m[0] == r[0] for m, r in zip(metadata, reference)) / n, 3)
                row["date_as_full"] = round(sum(m[1] == r[1] for m, r in zip(metadata, reference)) / n, 3)
                row["dates_found"] = round(sum(bool(m[1]) for m in metadata) / n, 3)
            print(f"{set_name:<18}{engine:<24}n={len(decoded):<5}P={scores[0]:.3f} R={scores[1]:.3f} "
                  f"F1={scores[2]:.3f}  {len(decoded) / seconds:7.1f} pages/s", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--limit", type=int, default=None, help="pages per set (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "extraction.json")
    args = parser.parse_args()
    results = run(args.shared, args.limit)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
