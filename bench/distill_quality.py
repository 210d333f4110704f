"""Distil the neural quality head into fastText, UltraClean's way, and measure it on FineWeb-Edu's labels.

    python bench/distill_quality.py [--shared ../shared/data] [--rounds 2] [--ship]

1. The pool: the English pages (≥ 50 words) of the bench corpus (``bench/build_corpus.py``: the real
   pages and WARC records under ../shared/data, extracted as the pipeline does, cached) that may be copied
   into the project (../shared/data/README.md: the three Apache-2.0 extraction sets and the Apache-2.0
   WARC folders), because the student's dictionary keeps n-grams of its training text: CleanEval, the
   other WARC folders and TurkuNLP's documents are embedded (the cache covers them) but left out. None of
   them is a FineWeb-Edu labelled document. Pages the project already ships in its sample
   (``pipelines/data/sample.warc.gz``) count as copyable whatever their source.
2. Teachers: the neural head (``filters.train_neural_quality``'s features and fit) on SmolLM2-135M's
   states. For the measurement, one teacher per fold of a stratified 5-fold split of the 1,000 labelled
   documents, fit on the other four folds.
3. Students: each teacher ranks the pool; its top ``--teacher_positive`` share are the positive seeds,
   its bottom ``--teacher_negative`` share the negatives, and ``--rounds`` UltraClean rounds draw more
   from the rest (``filters.train_quality.teacher_seeds`` / ``train_rounds``, fastText with UltraClean's
   hyper-parameters, quantized as shipped). Student k scores fold k: a fold is never trained on, nor
   distilled from a teacher that saw it.
4. ``--ship``: the student of the teacher fit on all 1,000 documents replaces
   ``filters/models/quality_en.ftz`` when the students' pooled ROC-AUC is at least ``--target`` (0.78,
   issue 16) and above the shipped model's (0.63).

Embeddings are cached in bench/out/cache (the pool's take ~0.8 CPU-seconds per page here).
Writes bench/out/distill_quality.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from filters import quality, train_quality as tq  # noqa: E402
from filters.neural_perplexity import default_model_path  # noqa: E402
from filters.train_neural_quality import cached_features, embedder, fit, read_scored  # noqa: E402

LABELS = "quality/fineweb-edu-llama3-labels/llama3_annotations_1000.jsonl.gz"
CACHE = ROOT / "bench" / "out" / "cache"


#: Sources of ../shared/data whose files may be copied into the project (its README's "may copy" column).
COPYABLE_SETS = ("readability", "modern-web-2026", "trafilatura-eval")
COPYABLE_WARCS = ("warc/resiliparse/", "warc/cc-whirlwind/", "warc/dolma/")


def copyable_urls(shared: Path) -> set[str]:
    """URLs of the bench corpus's pages that come only from sources the project may copy from."""
    from build_corpus import extraction_pages, warc_pages

    ok, other = set(), set()
    for page in extraction_pages(shared) + warc_pages(shared):
        copyable = page.source in COPYABLE_SETS or page.source.startswith(COPYABLE_WARCS)
        (ok if copyable else other).add(page.url)
    return ok - other


def pool_texts(shared: Path) -> tuple[list[str], list[bool]]:
    """English pages of the bench corpus (extracted, cached) and TurkuNLP's English web documents, and
    whether each may train a shipped model."""
    from filters.langid import identify
    from filters.langid import load_model as load_lid
    from pages import cached_pages

    warcs = sorted((ROOT / "bench" / "out" / "corpus" / "1x").glob("*.warc.gz"))
    if not warcs:
        raise SystemExit("no bench corpus: run python bench/build_corpus.py first")
    pages, _, _ = cached_pages(warcs, "trafilatura", "perplexity")
    urls = copyable_urls(shared)
    docs = [(p["text"], p["url"] in urls) for p in pages]
    for split in ("train", "dev", "test"):
        path = shared / "quality" / "turkunlp-line-noise" / "en" / f"{split}.json.gz"
        docs += [("\n".join(doc["text"]), False) for doc in json.loads(gzip.decompress(path.read_bytes()))]
    lid = load_lid()
    docs = [(t, ok) for t, ok in docs if len(t.split()) >= 50 and identify(lid, t)[0] == "en"]
    return [t for t, _ in docs], [ok for _, ok in docs]


def sample_texts() -> set[str]:
    """The extracted pages of the project's bundled sample WARC."""
    from pages import cached_pages

    pages, _, _ = cached_pages([ROOT / "pipelines" / "data" / "sample.warc.gz"], "trafilatura", "sample")
    return {p["text"] for p in pages}


def student(teacher_scores: np.ndarray, pool: list[str], args) -> object:
    positives, negatives, rest = tq.teacher_seeds(pool, teacher_scores, args.teacher_positive, args.teacher_negative)
    split = tq.balance_and_split(positives, negatives, seed=0, valid_fraction=0.0)
    result = tq.train_rounds(split, rest, rounds=args.rounds, seed=0, log=lambda *_: None)
    with tempfile.TemporaryDirectory() as workdir:
        tq.quantize_model(result.model, result.examples, workdir=workdir, cutoff=10_000)
    return result


def main(argv: list[str] | None = None) -> int:
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--teacher_positive", type=float, default=0.2)
    parser.add_argument("--teacher_negative", type=float, default=0.4)
    parser.add_argument("--target", type=float, default=0.78)
    parser.add_argument("--ship", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "distill_quality.json")
    args = parser.parse_args(argv)

    encoder = default_model_path()
    embed_fn = embedder(encoder)
    texts, scores = read_scored(str(args.shared / LABELS), "scores.score")
    labels = np.array([int(s >= 3) for s in scores])
    features = cached_features(texts, encoder, CACHE / "fineweb_edu_smollm2_features.npz", embed_fn)
    candidates, copyable = pool_texts(args.shared)
    started = time.monotonic()
    pool_features = cached_features(candidates, encoder, CACHE / "quality_pool_smollm2_features.npz", embed_fn)
    pool_embed_s = time.monotonic() - started
    shipped_pages = sample_texts()
    copyable = [ok or t in shipped_pages for t, ok in zip(candidates, copyable)]
    pool = [t for t, ok in zip(candidates, copyable) if ok]
    pool_features = pool_features[np.array(copyable)]

    folds = []
    pooled_student, pooled_teacher = np.zeros(len(texts)), np.zeros(len(texts))
    for k, (train, test) in enumerate(StratifiedKFold(5, shuffle=True, random_state=0).split(features, labels)):
        teacher = fit(features[train], labels[train])
        result = student(teacher.predict(pool_features), pool, args)
        pooled_student[test] = quality.predict_batch(result.model, [texts[i] for i in test])
        pooled_teacher[test] = teacher.predict(features[test])
        folds.append({"fold": k, "student_roc_auc": round(float(roc_auc_score(labels[test], pooled_student[test])), 4),
                      "teacher_roc_auc": round(float(roc_auc_score(labels[test], pooled_teacher[test])), 4),
                      "training_examples": len(result.examples)})
        print(json.dumps(folds[-1]), flush=True)
    shipped = quality.predict_batch(quality.load_model(), texts)
    aucs = [f["student_roc_auc"] for f in folds]
    report = {
        "pool_documents": len(pool), "pool_left_out": len(candidates) - len(pool),
        "pool_embed_seconds": round(pool_embed_s, 1),
        "teacher_positive": args.teacher_positive, "teacher_negative": args.teacher_negative, "rounds": args.rounds,
        "folds": folds,
        "student_roc_auc_mean": round(float(np.mean(aucs)), 4), "student_roc_auc_std": round(float(np.std(aucs)), 4),
        "student_roc_auc_pooled": round(float(roc_auc_score(labels, pooled_student)), 4),
        "teacher_roc_auc_pooled": round(float(roc_auc_score(labels, pooled_teacher)), 4),
        "shipped_roc_auc": round(float(roc_auc_score(labels, shipped)), 4),
    }
    if args.ship:
        beats = report["student_roc_auc_pooled"] >= args.target and report["student_roc_auc_pooled"] > report["shipped_roc_auc"]
        report["shipped"] = beats
        if beats:
            result = student(fit(features, labels).predict(pool_features), pool, args)
            tq.save_model(result.model, str(quality.DEFAULT_MODEL))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
