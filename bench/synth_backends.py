"""The two in-process backends side by side (issue 18, item 3): the same GGUF model (the embedded
SmolLM2-135M), the same MAGA prompts, the same budgets, through ``TransformersBackend`` and
``LlamaCppBackend``: load time, generated tokens/s for stage (b) rewrites and for stage (a) pairs under the
JSON schema (llguidance vs llama.cpp's grammar), and how many replies parse.

    python bench/synth_backends.py                       # 1 thread each, 2 alternating repetitions
    python bench/synth_backends.py --threads 2 --reps 3 --json out.json

Prompts: the three Wikipedia articles of the out-of-the-box case (``../shared/data``), 2,000-character
excerpts as the default recipe shows them, ``--pairs`` catalogue pairs each for the rewrites (budgets of
1.5 x the source's tokens, as the pipeline gives them) and one pairs prompt each. Both backends are greedy,
so they decode (nearly) the same tokens and the ratio of tokens/s compares the engines, not the texts;
repetitions alternate the two and the best of each is reported, to keep a shared machine's noise out of
the ratio. Both backends batch ``--batch`` prompts (transformers: padded rows of one forward; llama.cpp:
one sequence each in one context).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.synth_yield import articles  # noqa: E402
from synth import maga  # noqa: E402
from synth.backends import SamplingParams, TransformersBackend  # noqa: E402
from synth.llamacpp import LlamaCppBackend  # noqa: E402


def prompts(shared: Path, chars: int, pairs: int, n_pairs: int) -> dict:
    docs = articles(shared)
    catalogue = maga.load_catalogue("catalogue_v1")
    rewrite, ask = maga.load_prompt("rewrite_v2"), maga.load_prompt("pairs_v2")
    sources = {d["id"]: maga.prepare_source(d["text"], chars)[0] for d in docs}
    jobs = [(doc_id, pair) for doc_id in sources for pair in catalogue.pairs_for(doc_id, pairs)]
    return {
        "rewrite": [rewrite.render(genre=p.genre, audience=p.audience, document=sources[i]) for i, p in jobs],
        "rewrite_sources": [sources[i] for i, _ in jobs],
        "pairs": [ask.render(n=n_pairs, document=s) for s in sources.values()],
    }


def run(backend, prompts: list[str], params: SamplingParams, budgets: list[int] | None) -> dict:
    start = time.perf_counter()
    generations = backend.generate(prompts, params, budgets)
    seconds = time.perf_counter() - start
    tokens = sum(g.completion_tokens or 0 for g in generations)
    return {"seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds,
            "errors": sum(not g.ok for g in generations), "texts": [g.text for g in generations]}


def parses(text: str | None, n: int) -> bool:
    try:
        value = json.loads(text or "")
    except ValueError:
        return False
    return isinstance(value, list) and len(value) == n and all(set(v) == {"genre", "audience"} for v in value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--chars", type=int, default=2000)
    parser.add_argument("--pairs", type=int, default=2, help="rewrites per article")
    parser.add_argument("--n-pairs", type=int, default=5, help="pairs asked for per article in stage (a)")
    parser.add_argument("--pairs-max-tokens", type=int, default=512)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    work = prompts(args.shared, args.chars, args.pairs, args.n_pairs)
    backends = {"transformers": TransformersBackend(batch_size=args.batch, num_threads=args.threads),
                "llamacpp": LlamaCppBackend(batch_size=args.batch, num_threads=args.threads)}
    result: dict = {"machine": f"{platform.node()} ({os.cpu_count()} cores)", "threads": args.threads,
                    "batch": args.batch, "rewrite_prompts": len(work["rewrite"]), "pairs_prompts": len(work["pairs"])}
    for name, backend in backends.items():
        start = time.perf_counter()
        backend.load()
        result[f"{name}_load_s"] = round(time.perf_counter() - start, 2)
        print(f"{name}: loaded in {result[f'{name}_load_s']} s", flush=True)
    # The same budgets for both: the two tokenizers are the same (tests/synth/test_llamacpp.py checks it).
    budgets = [maga.rewrite_budget(backends["llamacpp"].count_tokens(s), 1.5, 2048) for s in work["rewrite_sources"]]
    greedy = SamplingParams(max_tokens=2048)
    schema = maga.pairs_schema(args.n_pairs, args.pairs_max_tokens)
    structured = SamplingParams(max_tokens=args.pairs_max_tokens, json_schema=schema)
    steps = {"rewrite": (work["rewrite"], greedy, budgets), "pairs": (work["pairs"], structured, None)}
    best: dict = {}
    for rep in range(args.reps):
        for step, (step_prompts, params, step_budgets) in steps.items():
            for name, backend in backends.items():
                measured = run(backend, step_prompts, params, step_budgets)
                print(f"rep {rep} {step:8s} {name:12s} {measured['tokens']:5d} tokens in {measured['seconds']:6.1f} s "
                      f"= {measured['tokens_per_s']:5.1f} tokens/s, errors {measured['errors']}", flush=True)
                if measured["tokens_per_s"] > best.get((step, name), {}).get("tokens_per_s", 0):
                    best[(step, name)] = measured
    for step in steps:
        tf, lc = best[(step, "transformers")], best[(step, "llamacpp")]
        same = sum(a == b for a, b in zip(tf["texts"], lc["texts"]))
        line = {"transformers_tokens_per_s": round(tf["tokens_per_s"], 1), "llamacpp_tokens_per_s":
                round(lc["tokens_per_s"], 1), "speedup": round(lc["tokens_per_s"] / tf["tokens_per_s"], 2),
                "transformers_tokens": tf["tokens"], "llamacpp_tokens": lc["tokens"],
                "transformers_s": round(tf["seconds"], 1), "llamacpp_s": round(lc["seconds"], 1),
                "identical_texts": f"{same}/{len(tf['texts'])}"}
        if step == "pairs":
            line["parsed"] = {n: f"{sum(parses(t, args.n_pairs) for t in best[(step, n)]['texts'])}/"
                                 f"{len(best[(step, n)]['texts'])}" for n in backends}
        result[step] = line
        print(f"{step}: {json.dumps(line)}")
    result["speedup_load"] = round(result["transformers_load_s"] / result["llamacpp_load_s"], 1)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
