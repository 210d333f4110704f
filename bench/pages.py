"""The extracted pages of a set of WARC files, as the pipeline extracts them: what the stage benchmarks
(PII, decontamination) run their text functions on, so each sees the same pages."""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def extract_pages(warcs: list[Path], engine: str) -> list[dict]:
    """url + text of every HTML page of the WARCs that extracts to text: the recipe's extraction settings
    without the metadata pass, pages the pipeline drops unparsed (too large) left out."""
    from pipelines import readers
    from pipelines.extract import ExtractConfig, extract_html

    config = ExtractConfig(engine=engine, timeout_s=0, metadata="none")
    pages = []
    for path in warcs:
        for kind, doc in readers.read_warc(str(path), lambda path=path: open(path, "rb"), max_record_bytes=10**7):
            if kind == "doc" and doc.get("html") is not None and not doc.get("decision"):
                if len(doc["html"]) > config.max_html_bytes:
                    continue
                text = extract_html(doc["html"], doc.get("charset"), doc["url"], config).text
                if text.strip():
                    pages.append({"url": doc["url"], "text": text})
    return pages


def cached_pages(warcs: list[Path], engine: str, label: str) -> tuple[list[dict], float, bool]:
    """(pages, seconds, from cache) of the WARCs, extracted once and cached in bench/out/cache/."""
    key = hashlib.sha1(json.dumps([engine] + [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in warcs])
                       .encode()).hexdigest()[:16]
    cache = ROOT / "bench/out/cache" / f"extracted-{label}-{engine}-{key}.jsonl.gz"
    started = time.perf_counter()
    if cache.exists():
        with gzip.open(cache, "rt", encoding="utf-8") as handle:
            return [json.loads(line) for line in handle], time.perf_counter() - started, True
    pages = extract_pages(warcs, engine)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(cache, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(page, ensure_ascii=False) + "\n" for page in pages)
    return pages, time.perf_counter() - started, False
