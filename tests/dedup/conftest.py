"""Fixtures of the dedup tests: long real texts to copy and edit into near-duplicates."""

from __future__ import annotations

import gzip
import json

import pytest


@pytest.fixture(scope="module")
def texts(data_dir) -> list[str]:
    rows = []
    for line in gzip.open(data_dir / "mini.jsonl.gz", "rt"):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # the fixture's deliberately malformed line
            continue
    return [r["text"] for r in rows if isinstance(r.get("text"), str) and len(r["text"].split()) > 300][:6]
