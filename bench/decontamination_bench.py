"""Benchmark decontamination (``filters.decontamination``): index cost, false positives, planted recall, speed.

    python bench/decontamination_bench.py [--benchmarks ../shared/data/benchmarks] [--input /tmp/corpus/1x]
                                          [--sample pipelines/data/sample.warc.gz] [--ngram 13]
                                          [--engine trafilatura] [--out bench/out/decontamination.json]

Eval sets: GSM8K (test), HumanEval, HellaSwag (val, text form, one item per line) and ARC-Challenge (test)
from the shared benchmarks folder, every string field indexed. Pages: the bundled sample crawl and the 1x
bench corpus (bench/build_corpus.py; ``--input`` defaults to bench/out/corpus/1x, else /tmp/corpus/1x),
extracted as the pipeline does (the recipe's extraction settings, text only, no metadata pass), before any
filtering. The extracted texts are cached under bench/out/cache/ (keyed by the WARC files' names, sizes
and mtimes and the engine), so a rerun skips the extraction. Reported:

* index: per set, items, indexed items (>= n words), distinct n-grams, load time; the index's memory;
* matches on the sample and on the corpus: for each page that shares an n-gram with a set, its URL, the
  set, the number of distinct n-grams and the matched words (normalized), for a human to judge whether it
  is contamination or a false positive;
* planted recall: every item of every set with >= n words, inserted in the middle of a random real page
  (one that matches nothing on its own): the share caught (must be 1.0) and the share caught with the
  right set named;
* throughput on one core: ms per page and MB of text per second, matching one page per call (the worst
  case) and in batches of 64 (how a Beam DoFn can call it), best of ``--repeat`` passes.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from dedup.normalize import normalize  # noqa: E402
from filters.decontamination import NGRAM, Index, load_eval_set, read_items  # noqa: E402
from pages import cached_pages  # noqa: E402

SETS = {
    "gsm8k": "gsm8k/test.jsonl.gz",
    "humaneval": "humaneval/HumanEval.jsonl.gz",
    "hellaswag": "hellaswag/hellaswag_val_full.txt.gz",
    "arc_challenge": "arc-challenge/arc_challenge.jsonl.gz",
}
BATCH = 64


def _default_input() -> Path:
    for folder in (ROOT / "bench/out/corpus/1x", Path("/tmp/corpus/1x")):
        if folder.is_dir():
            return folder
    return ROOT / "bench/out/corpus/1x"


def matches(index: Index, pages: list[dict]) -> list[dict]:
    """The pages that share an n-gram with a set, with what they share."""
    found = []
    for page, (count, best) in zip(pages, index.match([p["text"] for p in pages])):
        if count:
            spans = index.spans(page["text"])
            found.append({"url": page["url"], "set": index.sets[best].name, "ngrams": count,
                          "matched": [{"set": index.sets[k].name, "words": words} for k, words in spans]})
    return found


def plant(page: str, item: str) -> str:
    middle = len(page) // 2
    cut = page.find(" ", middle)
    cut = middle if cut < 0 else cut
    return f"{page[:cut]}\n{item}\n{page[cut:]}"


def planted_recall(index: Index, items: list[tuple[int, str]], clean_pages: list[str], seed: int) -> dict:
    rng = random.Random(seed)
    caught = right = 0
    missed: list[dict] = []
    for start in range(0, len(items), BATCH):
        chunk = items[start: start + BATCH]
        texts = [plant(rng.choice(clean_pages), item) for _, item in chunk]
        for (k, item), (count, best) in zip(chunk, index.match(texts)):
            caught += count > 0
            right += best == k
            if not count and len(missed) < 20:
                missed.append({"set": index.sets[k].name, "item": item[:300]})
    return {"items": len(items), "caught": caught, "caught_share": caught / len(items),
            "right_set_share": right / len(items), "missed": missed}


def throughput(index: Index, texts: list[str], repeat: int) -> dict:
    megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    out = {"pages": len(texts), "megabytes": round(megabytes, 2),
           "mean_page_kb": round(megabytes * 1e3 / len(texts), 2)}
    for label, batch in (("one_per_call", 1), (f"batch_{BATCH}", BATCH)):
        best_wall = best_cpu = float("inf")
        for _ in range(repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(texts), batch):
                index.match(texts[start: start + batch])
            best_wall = min(best_wall, time.perf_counter() - wall)
            best_cpu = min(best_cpu, time.process_time() - cpu)
        out[label] = {"ms_per_page": round(best_cpu * 1e3 / len(texts), 4),
                      "mb_per_s": round(megabytes / best_cpu, 1),
                      "wall_ms_per_page": round(best_wall * 1e3 / len(texts), 4)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmarks", type=Path, default=ROOT.parent / "shared" / "data" / "benchmarks")
    parser.add_argument("--input", type=Path, default=_default_input(), help="folder of the bench corpus WARCs")
    parser.add_argument("--sample", type=Path, default=ROOT / "pipelines" / "data" / "sample.warc.gz")
    parser.add_argument("--ngram", type=int, default=NGRAM)
    parser.add_argument("--engine", default="trafilatura", choices=["trafilatura", "resiliparse"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/out/decontamination.json")
    args = parser.parse_args(argv)

    # 1. The index. One-off costs per process, timed apart: importing Beam's FileSystems (which reads
    # the files) and dedup.normalize's character table.
    started = time.perf_counter()
    from apache_beam.io.filesystems import FileSystems  # noqa: F401
    beam_import_s = time.perf_counter() - started
    started = time.perf_counter()
    normalize("warm up")
    table_s = time.perf_counter() - started
    sets, per_set = [], {}
    for name, relative in SETS.items():
        started = time.perf_counter()
        eval_set = load_eval_set(str(args.benchmarks / relative), args.ngram, name=name)
        seconds = time.perf_counter() - started
        sets.append(eval_set)
        per_set[name] = {"path": relative, "items": eval_set.items, "indexed_items": eval_set.indexed_items,
                         "ngrams": int(eval_set.hashes.size), "numeric_ngrams_left_out": eval_set.numeric_ngrams,
                         "mb": round(eval_set.hashes.nbytes / 1e6, 2),
                         "load_s": round(seconds, 3)}
    started = time.perf_counter()
    index = Index(sets, args.ngram)
    build_s = time.perf_counter() - started
    report: dict = {
        "ngram": args.ngram,
        "index": {"sets": per_set, "ngrams": int(sum(s.hashes.size for s in sets)),
                  "memory_mb": round(index.nbytes / 1e6, 2), "beam_import_s": round(beam_import_s, 3),
                  "normalize_table_s": round(table_s, 3),
                  "load_s": round(sum(v["load_s"] for v in per_set.values()), 3), "index_build_s": round(build_s, 3)},
    }
    print(json.dumps(report["index"], indent=2), flush=True)

    # 2. Real pages: the bundled sample and the bench corpus.
    sample, sample_s, sample_cached = cached_pages([args.sample], args.engine, "sample")
    corpus_warcs = sorted(args.input.glob("*.warc.gz"))
    if not corpus_warcs:
        parser.error(f"no *.warc.gz under {args.input} (build it with bench/build_corpus.py)")
    corpus, corpus_s, corpus_cached = cached_pages(corpus_warcs, args.engine, "corpus-" + args.input.name)
    print(f"pages: sample {len(sample)} ({sample_s:.0f} s{', cached' if sample_cached else ''}), "
          f"corpus {len(corpus)} ({corpus_s:.0f} s{', cached' if corpus_cached else ''})", flush=True)
    sample_matches, corpus_matches = matches(index, sample), matches(index, corpus)
    report["sample"] = {"warc": str(args.sample), "pages": len(sample), "matching_pages": len(sample_matches),
                        "matches": sample_matches}
    report["corpus"] = {"input": str(args.input), "pages": len(corpus), "matching_pages": len(corpus_matches),
                        "matches": corpus_matches}

    # 3. Planted recall: every indexed item, into real pages that match nothing on their own.
    matched_urls = {m["url"] for m in sample_matches + corpus_matches}
    clean_pages = [p["text"] for p in sample + corpus if p["url"] not in matched_urls]
    items = []
    for k, relative in enumerate(SETS.values()):
        texts = read_items(str(args.benchmarks / relative))
        # the items with >= n words: those with an n-gram (what indexed_items counts)
        items += [(k, text) for text in texts if len(normalize(text).split(" ")) >= args.ngram]
    assert len(items) == sum(s.indexed_items for s in sets), "items with >= n words != indexed_items"
    started = time.perf_counter()
    report["planted"] = planted_recall(index, items, clean_pages, args.seed)
    report["planted"]["seconds"] = round(time.perf_counter() - started, 1)

    # 4. Throughput on one core (this process), on the corpus pages.
    report["throughput"] = throughput(index, [p["text"] for p in corpus], args.repeat)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    summary = {
        "index_memory_mb": report["index"]["memory_mb"], "index_ngrams": report["index"]["ngrams"],
        "load_s": report["index"]["load_s"],
        "sample": f"{len(sample_matches)} of {len(sample)} pages match",
        "corpus": f"{len(corpus_matches)} of {len(corpus)} pages match",
        "planted_caught_share": report["planted"]["caught_share"],
        "planted_right_set_share": report["planted"]["right_set_share"],
        "throughput": report["throughput"],
    }
    print(json.dumps(summary, indent=2))
    for label, found in (("sample", sample_matches), ("corpus", corpus_matches)):
        for match in found:
            print(f"[{label}] {match['url']}  {match['set']}  {match['ngrams']} n-grams")
            for span in match["matched"][:3]:
                print(f"      {span['set']}: {span['words'][:200]}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
