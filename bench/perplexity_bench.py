"""Raw KenLM perplexity throughput on real extracted web documents, one process (one core).

    python bench/perplexity_bench.py [--warc pipelines/data/sample.warc.gz] [--model PATH] [--repeat 5]
                                     [--engine trafilatura|resiliparse] [--out bench/out/perplexity.json]

The pages of the WARC are extracted once (not timed); then every document with text is scored
``--repeat`` times and the best pass is kept (the machines are shared: the best pass is the least
disturbed one). Three timings separate where the time goes:

* normalize: ``perplexity.normalize`` alone (CCNet normalization, pure Python);
* kenlm: ``model.score`` + word count on the already normalized lines (the C++ side);
* doc_perplexity: the full call a pipeline stage makes (normalize + score + formula).

This is the floor the Beam stage is measured against: stage docs/s ÷ doc_perplexity docs/s is the
stage's overhead. It also prints the perplexity quantiles of the English documents, so cutoffs on this
model can be compared with CCNet's (which belong to CCNet's SentencePiece model, not this one).
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

from filters.langid import identify  # noqa: E402
from filters.langid import load_model as load_langid  # noqa: E402
from filters.perplexity import (  # noqa: E402
    DEFAULT_MODEL,
    ccnet_cutoffs,
    doc_perplexity,
    line_log10,
    load_model,
    normalize,
    sample_quantiles,
)
from pipelines import readers  # noqa: E402
from pipelines.extract import extract_html  # noqa: E402
from pipelines.extract import ExtractConfig  # noqa: E402


def extracted_documents(warc: Path, engine: str) -> list[dict]:
    cfg = ExtractConfig(engine=engine, timeout_s=0)
    docs = []
    for kind, doc in readers.read_warc(str(warc), lambda: open(warc, "rb"), max_record_bytes=10**7):
        if kind != "doc" or doc.get("decision") or not doc.get("html"):
            continue
        text = extract_html(doc["html"], doc["charset"], doc["url"], cfg).text
        if text.strip():
            docs.append({"url": doc["url"], "text": text})
    return docs


def best_pass(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warc", type=Path, default=ROOT / "pipelines" / "data" / "sample.warc.gz")
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--engine", default="trafilatura", choices=("trafilatura", "resiliparse"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "perplexity.json")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    docs = extracted_documents(args.warc, args.engine)
    extract_s = time.perf_counter() - started
    lid = load_langid()
    for doc in docs:
        doc["language"] = identify(lid, doc["text"])[0]

    started = time.perf_counter()
    model = load_model(args.model)
    load_s = time.perf_counter() - started
    normalize("warm-up")  # builds the translate table once (~0.2 s), as a worker's first document would

    texts = [d["text"] for d in docs]
    normalized = [normalize(t).split("\n") for t in texts]
    chars = sum(len(t) for t in texts)
    words = sum(len(line.split()) for lines in normalized for line in lines)

    t_normalize = best_pass(lambda: [normalize(t) for t in texts], args.repeat)
    t_kenlm = best_pass(lambda: [line_log10(model, line) for lines in normalized for line in lines if line],
                        args.repeat)
    t_doc = best_pass(lambda: [doc_perplexity(model, t) for t in texts], args.repeat)

    for doc in docs:
        doc["perplexity"] = doc_perplexity(model, doc["text"])
    english = [d["perplexity"] for d in docs if d["language"] == "en"]
    quantile_of = sample_quantiles(english)
    result = {
        "warc": str(args.warc.relative_to(ROOT) if args.warc.is_relative_to(ROOT) else args.warc),
        "model": Path(args.model).name,
        "model_bytes": Path(args.model).stat().st_size if "://" not in args.model else None,
        "engine": args.engine,
        "documents": len(docs),
        "english_documents": len(english),
        "mean_chars": round(chars / len(docs)),
        "mean_words": round(words / len(docs)),
        "extract_s": round(extract_s, 1),
        "model_load_s": round(load_s, 3),
        "repeat": args.repeat,
        "docs_per_s": {
            "normalize": round(len(docs) / t_normalize),
            "kenlm_score": round(len(docs) / t_kenlm),
            "doc_perplexity": round(len(docs) / t_doc),
        },
        "mb_per_s_doc_perplexity": round(chars / 1e6 / t_doc, 2),
        "words_per_s_doc_perplexity": round(words / t_doc),
        "english_perplexity": {
            "median": round(statistics.median(english), 1),
            "ccnet_cutoffs_30_60": [round(c, 1) for c in ccnet_cutoffs(quantile_of)],
            "p10_p90": [round(quantile_of(0.1), 1), round(quantile_of(0.9), 1)],
        },
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
