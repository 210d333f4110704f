"""Where the time of our default recipe goes: milliseconds per document per stage, and Beam's share.

    python bench/profile_stages.py [--input 'bench/out/corpus/1x/*.warc.gz'] [--beam N]
                                   [--set extract.metadata=false ...] [--out bench/out/profile.json]

One process calls, in pipeline order, the pure functions the DoFns wrap, on the benchmark corpus, in
filter mode with the default recipe (``--set`` overrides it as ``pipelines.run`` does):

  read       pipelines.readers.read_warc (FastWARC; what ReadRecords runs)
  decode     pipelines.extract.decode_html (charset: HTTP → <meta> → uchardet), timed alone
  extract    pipelines.extract.extract_html minus decode: trafilatura (+ its metadata pass) and _tidy
  ipc        a sample of the pages through the Extractor's worker process (Pipe): CPU of the calling
             side, and wall time minus the in-process pass's wall time for the same pages
  <stage>    filters.stages.run_stages with that one stage over the documents still kept, batches of
             256 (BatchElements' maximum), so a model stage predicts a batch per call as in Curate
  exact_key  dedup.exact.text_key of the kept documents
  tokenize   pipelines.tokenize: the recipe's tokenizer counting the kept documents, batches of 256
  minhash    dedup.minhash.signatures + dedup.lshbloom.band_keys, batches of 256
  write      schemas.to_row + pipelines.write.rows_table + write_parquet (zstd) of the kept documents

Times are process CPU seconds (the machine is shared: CPU time moves less than wall time when a
neighbour is busy); wall seconds are recorded too. With ``--beam`` the same input then goes through
``python -m pipelines.run`` with one worker (DirectRunner, in-memory), measured as a process tree
(bench/measure.py), and again on a two-record WET file for the fixed cost of a run (interpreter,
imports, graph construction, models, card). Beam overhead per document = (that run's CPU − the fixed
run's CPU − the sum of the steps above) / documents: what the graph costs per record (Reshuffles,
GroupByKeys, coders between fused stages, the funnel). The extraction worker process is in both.

On a loaded machine a trafilatura run's CPU time varies by ±10% between identical runs (caches shared
with neighbours), as much as the overhead being measured. So the Beam overhead is measured with
``--set extract.engine=resiliparse`` (extraction ~40× cheaper, so the same relative noise is a small
absolute one; the graph does the same work per record) and compared with trafilatura's extraction time
from a default-recipe run; ``--beam N`` keeps the least CPU of N runs.

Target (issue 6): everything but HTML extraction ≤ 20% of extraction time.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]  # the checkout, not only the installed copy
BATCH = 256


class Clock:
    """Accumulates CPU and wall seconds per named step."""

    def __init__(self) -> None:
        self.cpu: Counter[str] = Counter()
        self.wall: Counter[str] = Counter()
        self.docs_in: dict[str, int] = {}

    def timed(self, name: str, fn, *args):
        c, w = time.process_time(), time.perf_counter()
        result = fn(*args)
        self.cpu[name] += time.process_time() - c
        self.wall[name] += time.perf_counter() - w
        return result


def _overrides(pairs: list[str]) -> dict:
    from pipelines.run import _overrides as parse

    return parse(pairs)


def read_docs(paths: list[str], clock: Clock, max_record_bytes: int) -> list[dict]:
    from pipelines import readers

    docs = []
    for path in paths:
        items = clock.timed("read", lambda: list(readers.read_warc(path, lambda: open(path, "rb"), max_record_bytes=max_record_bytes)))
        docs += [payload for kind, payload in items if kind == "doc"]
    return docs


def extract_all(docs: list[dict], clock: Clock, cfg, ipc_sample: int) -> dict[str, str]:
    """Extract in place (text, title, date); returns drop reasons of documents that leave here."""
    from pipelines.extract import Extractor, decode_html, extract_html

    reasons: dict[str, str] = {}
    inline = cfg.model_copy(update={"timeout_s": 0})
    first_wall: dict[str, float] = {}
    for doc in docs:
        if doc.get("decision"):
            reasons[doc["id"]] = doc["decision"]
            continue
        body = doc.pop("html")
        doc["_html"] = body
        if len(body) > cfg.max_html_bytes:
            reasons[doc["id"]] = "extract:too_large"
            continue
        clock.timed("decode", decode_html, body, doc.get("charset"))
        start = time.perf_counter()
        result = clock.timed("extract+decode", extract_html, body, doc.get("charset"), doc.get("url"), inline)
        first_wall[doc["id"]] = time.perf_counter() - start
        doc.update(text=result.text, title=result.title, date=result.date, charset=result.charset)
        if not result.text.strip():
            reasons[doc["id"]] = "extract:empty"
    clock.cpu["extract"] = clock.cpu.pop("extract+decode", 0.0) - clock.cpu["decode"]
    clock.wall["extract"] = clock.wall.pop("extract+decode", 0.0) - clock.wall["decode"]
    sample = [d for d in docs if d["id"] in first_wall][:ipc_sample]
    if sample and cfg.timeout_s > 0:
        # What the DoFn pays on top of the extraction: pickling the page, the Pipe, waking the worker,
        # unpickling the result. The worker sees each page for the first time, like the in-process
        # pass above (trafilatura runs ~35% faster on a page it has seen), so the wall difference is
        # against that pass's time for the same pages.
        pipe = parent_cpu = 0.0
        with Extractor(cfg) as worker:
            worker(b"<html><body><p>warm-up</p></body></html>", None, None)  # start the process
            for d in sample:
                cpu, start = time.process_time(), time.perf_counter()
                worker(d["_html"], d.get("charset"), d.get("url"))
                pipe += time.perf_counter() - start
                parent_cpu += time.process_time() - cpu
        clock.wall["ipc_sample"] = (pipe - sum(first_wall[d["id"]] for d in sample)) / len(sample)
        clock.cpu["ipc_sample"] = parent_cpu / len(sample)
    for doc in docs:
        doc.pop("_html", None)
    return reasons


def build_stages(recipe, clock: Clock):
    """The recipe's per-document stages, bound as Curate binds them (pipelines/registry.py)."""
    from filters.stages import bind
    from pipelines.registry import enabled_stages

    def load():
        return [bind(spec, cfg) for spec, cfg in enabled_stages(recipe) if spec.per_document]

    return clock.timed("model_load", load)


def curate(docs: list[dict], stages, clock: Clock, reasons: dict[str, str]) -> list[dict]:
    """run_stages one stage at a time over the survivors (filter mode: same decisions as all at once)."""
    from filters.stages import run_stages

    kept = [d for d in docs if d["id"] not in reasons]
    for stage in stages:
        survivors = []
        for i in range(0, len(kept), BATCH):
            batch = kept[i : i + BATCH]
            verdicts = clock.timed(stage.name, run_stages, batch, [stage], False)
            for doc, reason in zip(batch, verdicts):
                if reason:
                    reasons[doc["id"]] = reason
                else:
                    survivors.append(doc)
        clock.docs_in[stage.name] = len(kept)
        kept = survivors
    return kept


def dedup_and_write(kept: list[dict], recipe, clock: Clock) -> None:
    from dedup.exact import text_key
    from dedup.lshbloom import band_keys
    from dedup.minhash import signatures
    from dedup.params import LSHParams
    from pipelines import write
    from pipelines.registry import DOCUMENT_SCHEMA
    from schemas import to_row

    clock.timed("exact_key", lambda: [text_key(d["text"]) for d in kept])
    if recipe.tokenize.enabled:
        from pipelines.tokenize import load_tokenizer

        tokenizer = clock.timed("model_load", load_tokenizer, recipe.tokenize.tokenizer)
        for i in range(0, len(kept), BATCH):
            batch = kept[i : i + BATCH]
            for doc, count in zip(batch, clock.timed("tokenize", tokenizer.count, [d["text"] for d in batch])):
                doc["token_count"] = count
    near = recipe.dedup.near
    p = LSHParams.for_threshold(near.threshold, near.num_perm)
    for i in range(0, len(kept), BATCH):
        texts = [d["text"] for d in kept[i : i + BATCH]]
        clock.timed("minhash", lambda: band_keys(signatures(texts, p.num_perm, near.ngram, p.seed), p.bands, p.rows))
    with tempfile.TemporaryDirectory() as tmp:
        rows = [dict(d, recipe_hash=recipe.hash) for d in kept]
        clock.timed("write", lambda: write.write_parquet(
            os.path.join(tmp, "x.parquet"), write.rows_table((to_row(r) for r in rows), DOCUMENT_SCHEMA),
            recipe.output.compression, recipe.output.row_group_rows))


def beam_run(paths: list[str], sets: list[str]) -> dict:
    """``pipelines.run`` on ``paths`` with one worker, measured as a process tree, with its funnel."""
    from measure import run_measured

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pipelines.run", "-q", "--output", tmp, "--input", *paths,
               "--direct_num_workers=1", "--direct_running_mode=in_memory", *[f"--set={s}" for s in sets]]
        run = run_measured(cmd, cwd=str(ROOT), log_path=str(ROOT / "bench/out/profile_beam.log")).as_dict()
        funnel = json.loads(Path(tmp, "stats.json").read_text())
        run["funnel"] = {k: funnel[k] for k in ("read", "kept", "dropped", "errors")}
        run["command"] = " ".join(cmd)
        return run


def profile(paths: list[str], sets: list[str], ipc_sample: int, beam: int) -> dict:
    from pipelines.recipe import load_recipe

    recipe = load_recipe(None, _overrides(sets))
    clock = Clock()
    load_before = os.getloadavg()
    docs = read_docs(paths, clock, recipe.read.max_record_bytes)
    reasons = extract_all(docs, clock, recipe.extract, ipc_sample)
    stages = build_stages(recipe, clock)
    kept = curate(docs, stages, clock, reasons)
    dedup_and_write(kept, recipe, clock)
    ipc_wall, ipc = clock.wall.pop("ipc_sample", 0.0), clock.cpu.pop("ipc_sample", 0.0)
    counts = clock.docs_in
    steps = list(clock.cpu)
    n = len(docs)
    extraction = clock.cpu["extract"]
    result = {
        "inputs": paths, "overrides": sets, "documents": n, "kept_before_dedup": len(kept),
        "load_before": load_before, "load_after": os.getloadavg(),
        "steps": {k: {"cpu_s": round(clock.cpu[k], 3), "wall_s": round(clock.wall[k], 3),
                      "ms_per_doc_read": round(1000 * clock.cpu[k] / n, 3),
                      "docs_in": counts.get(k), "share_of_extraction": round(clock.cpu[k] / extraction, 4)}
                  for k in steps},
        "ipc_ms_per_doc": round(1000 * ipc, 3), "ipc_wall_ms_per_doc": round(1000 * ipc_wall, 3),
        "drop_reasons": dict(Counter(reasons.values()).most_common()),
    }
    other = sum(clock.cpu[k] for k in steps if k not in ("extract", "model_load")) + ipc * n
    result["non_extraction_cpu_s"] = round(other, 3)
    result["non_extraction_share"] = round(other / extraction, 4)
    if beam:
        # Least CPU of ``beam`` runs: CPU time too grows when a neighbour shares the core's caches.
        run = min((beam_run(paths, sets) for _ in range(beam)), key=lambda r: r["cpu_s"])
        # Fixed cost of a run (interpreter, imports, graph, models, card): the same command on a WET
        # file of two text records, which has no HTML to extract and next to nothing to curate.
        fixed = min((beam_run([str(ROOT / "tests/data/whirlwind.warc.wet.gz")], sets) for _ in range(beam)),
                    key=lambda r: r["cpu_s"])
        stage_sum = sum(clock.cpu[k] for k in steps) + ipc * n
        per_doc = run["cpu_s"] - fixed["cpu_s"] - stage_sum
        result["beam"] = run
        result["beam_fixed"] = fixed
        result["beam_overhead_cpu_s"] = round(per_doc, 3)
        result["beam_overhead_ms_per_doc"] = round(1000 * per_doc / n, 3)
        result["total_non_extraction_share"] = round((run["cpu_s"] - extraction) / extraction, 4)
        result["total_non_extraction_share_without_fixed"] = round(
            (run["cpu_s"] - fixed["cpu_s"] - extraction) / extraction, 4)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", default=str(ROOT / "bench/out/corpus/1x/*.warc.gz"), help="glob")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="recipe override")
    parser.add_argument("--ipc-sample", type=int, default=100, help="pages sent through the worker process")
    parser.add_argument("--beam", type=int, default=0, metavar="N",
                        help="also run pipelines.run on the input N times (1 worker) and keep the least CPU")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "profile.json")
    args = parser.parse_args()
    paths = sorted(glob.glob(args.input))
    if not paths:
        raise SystemExit(f"no file matches {args.input}; run bench/build_corpus.py first")
    result = profile(paths, args.set, args.ipc_sample, args.beam)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name, step in result["steps"].items():
        print(f"{name:<20}{step['ms_per_doc_read']:9.2f} ms/doc  {100 * step['share_of_extraction']:6.1f}% of extraction")
    print(f"{'ipc':<20}{result['ipc_ms_per_doc']:9.2f} ms/doc CPU in the DoFn's process, "
          f"{result['ipc_wall_ms_per_doc']:.2f} ms/doc wall")
    print(f"non-extraction (pure) / extraction: {100 * result['non_extraction_share']:.1f}%")
    if args.beam:
        print(f"beam: {result['beam']}\nfixed: {result['beam_fixed']}\noverhead {result['beam_overhead_ms_per_doc']} "
              f"ms/doc; everything but extraction / extraction: {100 * result['total_non_extraction_share']:.1f}% "
              f"({100 * result['total_non_extraction_share_without_fixed']:.1f}% without the fixed start-up cost)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
