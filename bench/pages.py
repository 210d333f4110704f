"""The extracted pages of a set of WARC files, as the pipeline extracts them: what the stage benchmarks
(PII, decontamination) run their text functions on, so each sees the same pages."""

from __future__ import annotations

from pathlib import Path


def extract_pages(warcs: list[Path], engine: str) -> list[dict]:
    """url + text of every HTML page of the WARCs that extracts to text: the recipe's extraction settings
    without the metadata pass, pages the pipeline drops unparsed (too large) left out."""
    from pipelines import readers
    from pipelines.extract import ExtractConfig, extract_html

    config = ExtractConfig(engine=engine, timeout_s=0, metadata=False)
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
