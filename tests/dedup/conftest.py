"""Fixtures of the dedup tests: long real texts to copy and edit into near-duplicates."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def texts(mini_jsonl_rows) -> list[str]:
    return [r["text"] for r in mini_jsonl_rows if len(r["text"].split()) > 300][:6]
