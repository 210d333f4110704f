"""CCNet perplexity on real extracted web documents: throughput (one core) and how the score ranks.

    python bench/perplexity_bench.py [--warc pipelines/data/sample.warc.gz ...] [--model PATH] [--repeat 5]
        [--vocab_text 'W/*.gz' ...] [--heldout W/wiki_19.gz] [--compare OTHER.arpa.bin] [--out bench/out/perplexity.json]

The pages of the WARCs are extracted once (cached in bench/out/cache/, not timed); then every document
with text is scored ``--repeat`` times and the best pass is kept (the machines are shared: the best pass
is the least disturbed one). Timings separate where the time goes: ``normalize`` (cc_net's normalizer),
``pieces`` (SentencePiece), ``kenlm`` (``model.score`` on the pieces) and ``doc_perplexity`` (the call
the pipeline stage makes: all of them and the formula).

How it ranks (English documents only, lid.176):

* ``spearman_oov``: rank correlation between a document's perplexity and its out-of-vocabulary rate, the
  share of its words (cc_net-normalized, line by line, whitespace-split) never seen in ``--vocab_text``
  (the reference text the model was trained on). A word model that has not seen a word scores it as
  <unk>, so its perplexity tracks this rate (issue 16: ≈ 0.7); pieces spell unseen words, and CCNet's
  own scores correlate ≈ 0.15 with it.
* ``spearman_compare``: rank agreement with another model (``--compare``), e.g. an unpruned one.
* ``heldout``: median perplexity of Wikipedia articles never trained on (``--heldout``).

The script uses only ``load_model``, ``doc_perplexity`` and ``normalize``, so the same file also measures
an older checkout of the project (copy it there and run it with that checkout's model).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filters import perplexity as P  # noqa: E402
from filters.langid import identify  # noqa: E402
from filters.langid import load_model as load_langid  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from pages import cached_pages  # noqa: E402


def best_pass(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def words_of(text: str) -> list[str]:
    """Normalized words, line by line (so lines are never glued): the unit of an OOV rate."""
    return [w for line in text.split("\n") for w in P.normalize(line).split()]


def vocabulary(patterns: list[str]) -> set[str]:
    from filters.train_kenlm import expand, read_texts

    vocab: set[str] = set()
    for path in expand(patterns):
        for text in read_texts(path):
            vocab.update(words_of(text))
    return vocab


def spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    return round(float(spearmanr(a, b).statistic), 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warc", type=Path, nargs="+", default=[ROOT / "pipelines" / "data" / "sample.warc.gz"])
    parser.add_argument("--model", default=str(P.DEFAULT_MODEL))
    parser.add_argument("--engine", default="trafilatura", choices=("trafilatura", "resiliparse"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--vocab_text", nargs="+", help="the model's training text (globs), for the OOV rate")
    parser.add_argument("--heldout", nargs="+", help="reference text never trained on (globs)")
    parser.add_argument("--compare", help="another model of the same API: rank agreement with it")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "perplexity.json")
    args = parser.parse_args(argv)

    docs, extract_s, _ = cached_pages(args.warc, args.engine, "perplexity")
    lid = load_langid()
    for doc in docs:
        doc["language"] = identify(lid, doc["text"])[0]

    started = time.perf_counter()
    model = P.load_model(args.model)
    load_s = time.perf_counter() - started
    P.normalize("warm-up")  # builds the translate table once (~0.2 s), as a worker's first document would

    texts = [d["text"] for d in docs]
    chars = sum(len(t) for t in texts)
    timings = {
        "normalize": best_pass(lambda: [P.normalize(t) for t in texts], args.repeat),
        "doc_perplexity": best_pass(lambda: [P.doc_perplexity(model, t) for t in texts], args.repeat),
    }
    if hasattr(P, "pieces"):  # this checkout's CCNet pair
        normalized = [P.normalize(t) for t in texts]
        tokenized = [P.pieces(model, t) for t in normalized]
        timings["pieces"] = best_pass(lambda: [P.pieces(model, t) for t in normalized], args.repeat)
        timings["kenlm"] = best_pass(lambda: [P.log10_and_length(model, t) for t in tokenized if t], args.repeat)

    for doc in docs:
        doc["perplexity"] = P.doc_perplexity(model, doc["text"])
    english = [d for d in docs if d["language"] == "en" and d["perplexity"] == d["perplexity"]]
    ppl = [d["perplexity"] for d in english]
    quantile_of = P.sample_quantiles(ppl)
    result = {
        "warcs": [str(w.relative_to(ROOT) if w.is_relative_to(ROOT) else w) for w in args.warc],
        "model": Path(args.model).name,
        "model_bytes": Path(args.model).stat().st_size if "://" not in args.model else None,
        "engine": args.engine,
        "documents": len(docs),
        "english_documents": len(english),
        "mean_chars": round(chars / len(docs)),
        "extract_s": round(extract_s, 1),
        "model_load_s": round(load_s, 3),
        "repeat": args.repeat,
        "docs_per_s": {step: round(len(docs) / seconds) for step, seconds in timings.items()},
        "mb_per_s_doc_perplexity": round(chars / 1e6 / timings["doc_perplexity"], 2),
        "english_perplexity": {
            "median": round(statistics.median(ppl), 1),
            "ccnet_cutoffs_30_60": [round(c, 1) for c in P.ccnet_cutoffs(quantile_of)],
            "p10_p90": [round(quantile_of(0.1), 1), round(quantile_of(0.9), 1)],
        },
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    words = [words_of(d["text"]) for d in english]
    result["spearman_words"] = spearman(ppl, [len(w) for w in words])
    if args.vocab_text:
        vocab = vocabulary(args.vocab_text)
        oov = [sum(w not in vocab for w in ws) / max(len(ws), 1) for ws in words]
        result["vocabulary_words"] = len(vocab)
        result["mean_oov_rate"] = round(statistics.mean(oov), 4)
        result["spearman_oov"] = spearman(ppl, oov)
    if args.compare:
        other = P.load_model(args.compare)
        result["compare"] = Path(args.compare).name
        result["spearman_compare"] = spearman(ppl, [P.doc_perplexity(other, d["text"]) for d in english])
    if args.heldout:
        from filters.train_kenlm import expand, read_texts

        held = [P.doc_perplexity(model, t) for path in expand(args.heldout) for t in read_texts(path)
                if len(t) > 500]
        result["heldout"] = {"documents": len(held), "median": round(statistics.median(held), 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
