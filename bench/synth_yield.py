"""Which rewrite prompt and temperature give the embedded SmolLM2-135M the most rewrites that pass every
check (issue 18): the three Wikipedia articles of the out-of-the-box case (``../shared/data``), 5 catalogue
pairs each, 2,000-character excerpts, budgets of 1.5 x the source's tokens, then synthesis's checks and
the corpus's per-document stages (language, heuristics) as in a pipeline run.

    python bench/synth_yield.py rewrite_v1:0.7 rewrite_v2:0.7 rewrite_v2:0.4 \
        bench/prompts/rewrite_fewshot.txt:0.7          # ~4 minutes per variant on two cores
    python bench/synth_yield.py rewrite_v2:0.7 --backend llamacpp   # the same through llama.cpp

A variant is ``<prompt name in synth/prompts or a .txt path>:<temperature>``. Prints per variant the
generation time, how many of the 3 articles got at least one rewrite that passes everything, and the
outcome of each rewrite (first failing check).
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filters.stages import bind, run_stages  # noqa: E402
from pipelines.recipe import load_recipe  # noqa: E402
from pipelines.registry import synthetic_checks  # noqa: E402
from synth import maga  # noqa: E402
from synth.backends import SamplingParams, make_backend  # noqa: E402

ARTICLES = ("Albedo", "Arithmetic mean", "International Atomic Time")
_DOC = re.compile(r'<doc id="(\d+)" url="([^"]+)" title="([^"]+)">\n(.*?)</doc>', re.S)


def articles(shared: Path) -> list[dict]:
    text = gzip.decompress((shared / "quality/wikipedia-en-2015/wiki_00.gz").read_bytes()).decode("utf-8")
    found = {title: (i, body.strip()) for i, _, title, body in _DOC.findall(text)}
    return [{"id": f"enwiki-{found[t][0]}", "text": found[t][1]} for t in ARTICLES]


def template(name: str) -> maga.PromptTemplate:
    if name.endswith(".txt"):
        path = Path(name)
        return maga.load_prompt(path.stem, str(path.resolve().parent))
    return maga.load_prompt(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="+", help="<prompt>:<temperature>")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--chars", type=int, default=2000)
    parser.add_argument("--backend", choices=("transformers", "llamacpp"), default="transformers")
    args = parser.parse_args()
    recipe = load_recipe(overrides={"synth.enabled": True})
    rules = recipe.synth.to_maga_config().rules
    stages = [bind(spec, cfg) for spec, cfg in synthetic_checks(recipe)[0]]
    catalogue = maga.load_catalogue("catalogue_v1")
    backend = make_backend(engine=args.backend, batch_size=8).load()
    docs = articles(args.shared)
    for variant in args.variants:
        name, temperature = variant.rsplit(":", 1)
        tmpl = template(name)
        jobs = [(d["id"], maga.prepare_source(d["text"], args.chars)[0], pair)
                for d in docs for pair in catalogue.pairs_for(d["id"], 5)]
        prompts = [tmpl.render(genre=p.genre, audience=p.audience, document=s) for _, s, p in jobs]
        budgets = [maga.rewrite_budget(backend.count_tokens(s), 1.5, 2048) for _, s, _ in jobs]
        start = time.perf_counter()
        generations = backend.generate(
            prompts, SamplingParams(max_tokens=2048, temperature=float(temperature), top_p=0.9, seed=0), budgets)
        seconds = time.perf_counter() - start
        outcomes, yielded = Counter(), set()
        for (doc_id, source, pair), generation in zip(jobs, generations):
            reason = maga.decide(maga.rewrite_scores(source, generation, tmpl, 20, pair), rules)
            if reason is None:
                [reason] = run_stages([{"id": doc_id, "text": maga.final_text(generation)[0], "scores": None}],
                                      stages, False)
            outcomes[reason or "keep"] += 1
            if reason is None:
                yielded.add(doc_id)
        tokens = sum(g.completion_tokens or 0 for g in generations)
        print(f"{variant}: {seconds:.0f} s, {tokens} tokens, articles with a kept rewrite {len(yielded)}/3, "
              f"{dict(outcomes.most_common())}", flush=True)


if __name__ == "__main__":
    main()
