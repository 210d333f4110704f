"""Build a near-duplicate corpus from real text for the LSHBloom benchmark (bench/lshbloom_bench.py).

Every sentence in it was written by a person: paragraphs come from ../shared/data (Wikipedia 2015,
NLTK's ABC / State of the Union / inaugural / web text, FineWeb documents, modern-web-2026 and
CleanEval gold texts, TurkuNLP clean lines in six languages). Only the arrangement is made here:

- *base* documents: real paragraphs, drawn without replacement from the pool (the pool is reshuffled
  when it runs out, so a paragraph recurs in a few documents, as boilerplate-free reuse does on the
  web), until a length drawn from a log-normal around 3 kB;
- *near-duplicates* of earlier base documents, made by what crawls actually show (one to three of):
  ``boilerplate`` (header/footer lines swapped in from TurkuNLP's human-labelled web noise lines),
  ``truncate`` (keep 70-97% of the text), ``shuffle`` (swap paragraphs), ``edit`` (1-6% of words
  replaced, deleted or duplicated), ``exact`` (an identical copy).

Each near-duplicate records its source and the exact Jaccard similarity of the two documents' 5-gram
shingle sets, so recall can be read by operation and by similarity. The corpus is written as JSONL to
``--out`` (default /tmp/lshbloom-bench/near_dups.jsonl; never inside the repository: the source texts
may be read from ../shared/data but not copied into the project), in a shuffled order that is the
processing order of the benchmark.

    python bench/make_near_dups.py --docs 100000 --dup-fraction 0.25 --seed 0
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))

from dedup.normalize import shingle_hashes  # noqa: E402

MIN_WORDS = 8
OPS = ("boilerplate", "truncate", "shuffle", "edit")


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n|\n", text) if len(p.split()) >= MIN_WORDS]


def read_sources(shared: Path) -> tuple[list[str], list[str], dict[str, int]]:
    """(paragraph pool, boilerplate lines, paragraphs per source)."""
    pool: dict[str, None] = {}
    counts: dict[str, int] = {}

    def add(name: str, paragraphs: list[str]) -> None:
        before = len(pool)
        pool.update(dict.fromkeys(paragraphs))
        counts[name] = counts.get(name, 0) + len(pool) - before

    for path in sorted((shared / "quality/wikipedia-en-2015").glob("wiki_*.gz")):
        for article in gzip.open(path, "rt", encoding="utf-8").read().split("</doc>"):
            add("wikipedia-en-2015", _paragraphs(re.sub(r"<doc[^>]*>", "", article)))
    for sub in ("abc", "state_union", "inaugural"):
        for path in sorted((shared / "quality/nltk-corpora" / sub).glob("*.txt.gz")):
            add(f"nltk-{sub}", _paragraphs(gzip.open(path, "rt", encoding="latin-1").read()))
    for path in sorted((shared / "quality/nltk-corpora/webtext").glob("*.txt.gz")):
        lines = [ln.strip() for ln in gzip.open(path, "rt", encoding="latin-1") if ln.strip()]
        add("nltk-webtext", [" ".join(lines[i : i + 4]) for i in range(0, len(lines), 4) if len(" ".join(lines[i : i + 4]).split()) >= MIN_WORDS])
    path = shared / "quality/fineweb-edu-llama3-labels/llama3_annotations_1000.jsonl.gz"
    if path.exists():
        for line in gzip.open(path, "rt", encoding="utf-8"):
            add("fineweb", _paragraphs(json.loads(line)["text"]))
    for path in sorted((shared / "extraction/modern-web-2026/ground-truth").glob("*.json.gz")):
        add("modern-web-2026", _paragraphs(json.load(gzip.open(path, "rt", encoding="utf-8"))["ground_truth"]["main_content"] or ""))
    for path in sorted((shared / "extraction/cleaneval").glob("*/GoldStandard/*.txt.gz")):
        text = gzip.open(path, "rt", encoding="utf-8", errors="replace").read()
        text = re.sub(r"^URL:.*\n", "", text)
        add("cleaneval", _paragraphs(re.sub(r"<[phl]>", "\n", text)))
    boiler: dict[str, None] = {}
    for path in sorted((shared / "quality/turkunlp-line-noise").glob("*/*.json.gz")):
        for doc in json.load(gzip.open(path, "rt", encoding="utf-8")):
            clean = [t for t, label in zip(doc["text"], doc["labels"]) if label == "1"]
            add("turkunlp-clean", _paragraphs("\n".join(clean)))
            boiler.update(dict.fromkeys(t.strip() for t, label in zip(doc["text"], doc["labels"]) if label == "0" and t.strip()))
    return list(pool), list(boiler), counts


class Builder:
    def __init__(self, pool: list[str], boiler: list[str], rng: random.Random):
        self.pool, self.boiler, self.rng = pool, boiler, rng
        self.order: list[int] = []

    def _next_paragraph(self) -> str:
        if not self.order:
            self.order = list(range(len(self.pool)))
            self.rng.shuffle(self.order)
        return self.pool[self.order.pop()]

    def base(self) -> str:
        target = min(20000, max(400, int(self.rng.lognormvariate(math.log(3000), 0.5))))
        paragraphs, size = [], 0
        while size < target:
            paragraphs.append(self._next_paragraph())
            size += len(paragraphs[-1]) + 1
        return "\n".join(paragraphs)

    def near_dup(self, text: str) -> tuple[str, list[str]]:
        rng = self.rng
        if rng.random() < 0.05:
            return text, ["exact"]
        ops = rng.sample(OPS, rng.choice((1, 1, 2, 2, 3)))
        paragraphs = text.split("\n")
        for op in OPS:  # a fixed order of application
            if op not in ops:
                continue
            if op == "boilerplate":
                head = rng.sample(self.boiler, rng.randint(1, 6))
                tail = rng.sample(self.boiler, rng.randint(1, 6))
                paragraphs = head + paragraphs + tail
            elif op == "truncate":
                words = "\n".join(paragraphs).split(" ")
                keep = max(1, int(len(words) * rng.uniform(0.70, 0.97)))
                paragraphs = " ".join(words[:keep]).split("\n")
            elif op == "shuffle" and len(paragraphs) > 1:
                for _ in range(rng.randint(1, 3)):
                    i, j = rng.randrange(len(paragraphs)), rng.randrange(len(paragraphs))
                    paragraphs[i], paragraphs[j] = paragraphs[j], paragraphs[i]
            elif op == "edit":
                lines = [p.split(" ") for p in paragraphs]
                flat = [(i, j) for i, line in enumerate(lines) for j in range(len(line))]
                for i, j in rng.sample(flat, max(1, int(len(flat) * rng.uniform(0.01, 0.06)))):
                    kind = rng.random()
                    if kind < 0.5:
                        lines[i][j] = lines[i][j][::-1] if len(lines[i][j]) > 3 else lines[i][j] + "s"
                    elif kind < 0.8:
                        lines[i][j] = ""
                    else:
                        lines[i][j] = lines[i][j] + " " + lines[i][j]
                paragraphs = [" ".join(w for w in line if w) for line in lines]
        return "\n".join(paragraphs), ops


def _jaccard(a: str, b: str) -> float:
    hashes, offsets = shingle_hashes([a, b])
    x, y = set(hashes[offsets[0] : offsets[1]].tolist()), set(hashes[offsets[1] : offsets[2]].tolist())
    return len(x & y) / max(1, len(x | y))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--dup-fraction", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--out", type=Path, default=Path("/tmp/lshbloom-bench/near_dups.jsonl"))
    args = ap.parse_args(argv)

    start = time.perf_counter()
    rng = random.Random(args.seed)
    pool, boiler, counts = read_sources(args.shared)
    print(f"pool: {len(pool):,} real paragraphs ({sum(map(len, pool)) / 2**20:.1f} MiB) from {counts}; {len(boiler):,} boilerplate lines")
    builder = Builder(pool, boiler, rng)
    n_dup = int(args.docs * args.dup_fraction)
    docs = [{"id": f"b{i:07d}", "text": builder.base(), "kind": "base"} for i in range(args.docs - n_dup)]
    for i in range(n_dup):
        source = docs[rng.randrange(args.docs - n_dup)]
        text, ops = builder.near_dup(source["text"])
        docs.append({"id": f"d{i:07d}", "text": text, "kind": "near_dup", "source": source["id"], "ops": ops,
                     "jaccard": round(_jaccard(source["text"], text), 4)})
    rng.shuffle(docs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for doc in docs:
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")
    size = sum(len(d["text"]) for d in docs)
    print(f"wrote {len(docs):,} documents ({n_dup:,} near-duplicates, mean {size / len(docs):,.0f} chars) to {args.out} "
          f"in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
