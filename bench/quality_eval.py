"""fastText quality classifier: accuracy on FineWeb-Edu's educational labels, and raw predict speed.

    python bench/quality_eval.py [--shared ../shared/data] [--folds 5] [--out bench/out/quality_eval.json]

Data: ``quality/fineweb-edu-llama3-labels`` (1,000 English FineWeb documents with the Llama-3-70B
0-5 educational score that FineWeb-Edu's classifier was trained on; not copyable, so read from
``../shared`` at run time). Target: score >= 3, FineWeb-Edu's own threshold (80 positives of 1,000).

Accuracy, three ways:

1. *trained here*: stratified k-fold cross-validation (seeded). Each fold trains with
   ``filters.train_quality`` on the other folds (classes balanced by downsampling, UltraClean
   hyper-parameters) and scores its held-out documents; P/R/F1 at 0.5 and ROC-AUC are computed over
   the pooled held-out scores (every document is scored once, by a model that never saw it), and
   the per-fold AUC spread is reported. Whole documents (the paper), 50-word pieces (the CLI default),
   and 50-word pieces with 10x the epochs (how much of the gap is too few SGD steps).
2. *shipped model*: ``filters/models/quality_en.ftz`` (Wikipedia + addresses vs. web, never trained on
   FineWeb) scored zero-shot on all 1,000 documents: how far "reference-like" goes as "educational".
3. *baseline*: document length in words as the score, to show what the models add over it.

Speed: raw ``model.predict(lines, k=2)`` (fastText's batched multi-line call, already-preprocessed
lines, the process pinned to one core) in documents/s, and ``filters.quality.predict_batch`` (adds
``preprocess``) on the same documents, for the shipped .ftz and a full-precision .bin. A pipeline
stage's overhead is later measured against these.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filters import quality, train_quality as tq  # noqa: E402

LABELS = "quality/fineweb-edu-llama3-labels/llama3_annotations_1000.jsonl.gz"
MIN_EDU = 3


def load(shared: Path) -> tuple[list[str], list[int], list[int]]:
    texts, scores = [], []
    with gzip.open(shared / LABELS, "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            texts.append(row["text"])
            scores.append(int(row["scores"]["score"]))
    return texts, [int(s >= MIN_EDU) for s in scores], scores


def stratified_folds(labels: list[int], k: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    for cls in (1, 0):
        idx = [i for i, y in enumerate(labels) if y == cls]
        rng.shuffle(idx)
        for j, i in enumerate(idx):
            folds[j % k].append(i)
    return [sorted(f) for f in folds]


def cross_validate(texts, labels, *, folds: int, seed: int, chunk_words: int, params: dict | None = None,
                   keep_bin: str | None = None) -> dict:
    """Pooled out-of-fold scores from ``folds`` models; optionally keep the first fold's model as .bin."""
    scores = [0.0] * len(texts)
    fold_auc, seconds = [], []
    lines = [quality.preprocess(t) for t in texts]
    for f, held in enumerate(stratified_folds(labels, folds, seed)):
        held_set = set(held)
        train_docs = [(labels[i], lines[i]) for i in range(len(texts)) if i not in held_set and lines[i]]
        examples = tq.training_examples(train_docs, chunk_words=chunk_words, seed=seed + f)
        with tempfile.TemporaryDirectory() as workdir:
            started = time.perf_counter()
            model = tq.train_model(examples, seed=seed, workdir=workdir, params=params)
            seconds.append(time.perf_counter() - started)
        held_scores = quality.predict_batch(model, [texts[i] for i in held])
        for i, s in zip(held, held_scores):
            scores[i] = s
        fold_auc.append(tq.roc_auc([labels[i] for i in held], held_scores))
        if keep_bin and f == 0:
            model.save_model(keep_bin)
    pooled = tq.binary_metrics(labels, scores)
    pooled.update(fold_auc_mean=statistics.mean(fold_auc), fold_auc_sd=statistics.stdev(fold_auc),
                  train_seconds_per_fold=statistics.mean(seconds), examples_per_fold=len(examples))
    return pooled


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def throughput(model, texts: list[str], repeats: int = 3) -> dict:
    """Best of ``repeats`` runs: raw batched fastText predict, and predict_batch (preprocess + predict)."""
    lines = [quality.preprocess(t) for t in texts]
    lines = [line for line in lines if line]
    raw, full = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        model.predict(lines, k=2)
        raw.append(time.perf_counter() - started)
        started = time.perf_counter()
        quality.predict_batch(model, texts)
        full.append(time.perf_counter() - started)
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    return {"docs": len(texts), "mb": mb, "raw_docs_per_s": len(lines) / min(raw),
            "predict_batch_docs_per_s": len(texts) / min(full), "raw_mb_per_s": mb / min(raw)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "quality_eval.json")
    args = parser.parse_args(argv)
    if not (args.shared / LABELS).exists():
        raise SystemExit(f"{args.shared / LABELS} is missing: this benchmark needs ../shared/data")

    texts, labels, edu = load(args.shared)
    print(f"{len(texts)} documents, {sum(labels)} with educational score >= {MIN_EDU}; "
          f"{args.folds}-fold CV, seed {args.seed}")
    results: dict = {"documents": len(texts), "positives": sum(labels), "folds": args.folds, "seed": args.seed}
    rows = []
    with tempfile.TemporaryDirectory() as keep:
        bin_path = os.path.join(keep, "fold0.bin")
        pieces = tq.DEFAULT_CHUNK_WORDS
        variants = (
            ("trained here: whole documents, UltraClean params (paper)", 0, {}),
            (f"trained here: {pieces}-word pieces, UltraClean params (CLI default)", pieces, {}),
            (f"trained here: {pieces}-word pieces, epoch 30", pieces, {"epoch": 30}),
        )
        for name, chunk_words, params in variants:
            m = cross_validate(texts, labels, folds=args.folds, seed=args.seed, chunk_words=chunk_words, params=params,
                               keep_bin=bin_path if chunk_words and not params else None)
            results[name] = m
            rows.append((name, m))
        shipped = quality.load_model()
        shipped_scores = quality.predict_batch(shipped, texts)
        results["shipped model, zero-shot"] = tq.binary_metrics(labels, shipped_scores)
        rows.append(("shipped quality_en.ftz, zero-shot", results["shipped model, zero-shot"]))
        words = [len(t.split()) for t in texts]
        results["baseline: length in words"] = {"auc": tq.roc_auc(labels, words)}

        print("\n| model | P | R | F1 | ROC-AUC (pooled) | per-fold AUC |")
        print("|---|---|---|---|---|---|")
        for name, m in rows:
            spread = f"{m['fold_auc_mean']:.3f} ± {m['fold_auc_sd']:.3f}" if "fold_auc_mean" in m else "—"
            print(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['auc']:.3f} | {spread} |")
        print(f"| baseline: length in words | — | — | — | {results['baseline: length in words']['auc']:.3f} | — |")

        pinned = pin_to_one_core()
        import fasttext

        speed = {"shipped .ftz (quantized)": throughput(shipped, texts),
                 "full-precision .bin (fold 0 model)": throughput(fasttext.load_model(bin_path), texts)}
        results["throughput"] = dict(speed, pinned=pinned)
    print(f"\nthroughput, one core ({pinned}), {speed['shipped .ftz (quantized)']['docs']} documents, "
          f"{speed['shipped .ftz (quantized)']['mb']:.1f} MB:")
    print("| model | raw fastText predict (docs/s) | MB/s | predict_batch incl. preprocess (docs/s) |")
    print("|---|---|---|---|")
    for name, s in speed.items():
        print(f"| {name} | {s['raw_docs_per_s']:,.0f} | {s['raw_mb_per_s']:.1f} "
              f"| {s['predict_batch_docs_per_s']:,.0f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
