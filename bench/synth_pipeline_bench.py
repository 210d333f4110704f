"""MAGA through the Beam pipeline against the same backend called directly (issue 5, item 7).

    python bench/synth_pipeline_bench.py                       # runs the annotate-only pipeline first (~1 min)
    python bench/synth_pipeline_bench.py --annotated /tmp/x    # reuse `python -m pipelines.run --output /tmp/x --annotate_only -q`
    python bench/synth_pipeline_bench.py --json bench/out/synth_pipeline.json

Documents: every row of an annotate-only run of the bundled sample (``pipelines/data/sample.warc.gz``,
default recipe) goes into the pipeline; ``Synthesize`` itself keeps the kept ones, selects with the recipe
rule (default ``quality.score >= 0.5``) and caps them at ``--max-documents`` (smallest salted id hash).

Two paths, interleaved ``--reps`` times (P D P D ...), on the same generate calls:

* **P, pipeline**: a DirectRunner pipeline (in-memory, one worker, in this process)
  ``beam.Create(rows) | Synthesize(SynthConfig(...))`` with the in-process model (default: the embedded
  SmolLM2-135M GGUF). Wall time from pipeline construction to ``wait_until_finish``, minus the model load
  (timed around ``MagaModelHandler.load_model``, which every pipeline run calls once: RunInference loads
  the model per run; its own ``load_model_latency_milli_secs`` metric is reported beside it).
* **D, direct**: one ``TransformersBackend`` (same model, device, batch size, threads), loaded once and
  warmed up, called with exactly the ``(prompts, params)`` of every ``generate`` call the first pipeline
  run made (stage a, the re-asks, stage b), in the same order.

Generated tokens are ``Generation.completion_tokens`` summed over every LM call (pairs, re-asks,
rewrites): the tokens up to end of sequence, so padding steps of a batch whose other rows run on are not
counted on either side. To see them on the pipeline side, the bench wraps the backend that the pipeline's
``MagaModelHandler.load_model`` returns in a recorder (patched on the class for the run: a real backend,
forwarding every call, that notes prompts, params, token counts and seconds). The in-process backend seeds
each batch, so the two paths generate the same tokens; the bench checks this call by call.

overhead = (pipeline seconds − load) / direct seconds − 1 per P/D pair; the median pair is reported (target
≤ 10%). With identical tokens this is also direct tokens/s ÷ pipeline tokens/s − 1. Each pipeline run also
reports its time outside ``generate`` (Beam, selection, batching, token counts, routing, stats).

The stats dict of the first pipeline run gives the expansion factor and the rewrite outcomes (first
failing check in rule order); the annotate-only synthetic rows carry every rewrite's scores, so each
check's own failure share is reported as well, and the recorded stage (a) answers give why proposed pairs
were set aside. ``--sample-documents N`` adds one more pipeline run over N kept documents (no selection
rule) for these figures. SmolLM2 writes one-word "pairs" that the default ``min_pair_words`` 4 rejects, so
stage (b) only runs with ``--min-pair-words 1`` (results: docs/BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_avg() -> float:
    return round(os.getloadavg()[0], 2)


# ------------------------------------------------------------------------------------------ documents


def annotated_rows(directory: Path | None, keep_dir: Path) -> tuple[list[dict], str]:
    """Every row of an annotate-only run of the bundled sample (run it now when no folder is given)."""
    import pyarrow.parquet as pq

    if directory is None:
        directory = keep_dir / "annotated"
        cmd = [sys.executable, "-m", "pipelines.run", "--output", str(directory), "--annotate_only", "-q"]
        t = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        print(f"annotate-only run of the sample: {time.perf_counter() - t:.0f} s", flush=True)
    rows: list[dict] = []
    for path in sorted((directory / "data").glob("*.parquet")):
        rows.extend(pq.read_table(path).to_pylist())
    return rows, str(directory)


# --------------------------------------------------------------------------------- recording backend


class Recorder:
    """Forwards to a real backend and notes each generate call: prompts, params, per-prompt completion
    tokens / finish reasons / errors, seconds, torch threads in the calling thread."""

    def __init__(self, backend, calls: list):
        self.inner = backend
        self.name = backend.name
        self.model = backend.model
        self.calls = calls

    def __getattr__(self, item):  # tokenizer, load, ... of the real backend
        return getattr(self.inner, item)

    def generate(self, prompts, params):
        import torch

        t = time.perf_counter()
        out = self.inner.generate(prompts, params)
        seconds = time.perf_counter() - t
        self.calls.append(
            {
                "prompts": list(prompts),
                "params": params,
                "tokens": [g.completion_tokens or 0 for g in out],
                "texts": [g.text for g in out],
                "finish": [g.finish_reason for g in out],
                "errors": [g.error for g in out if g.error],
                "seconds": seconds,
                "threads": torch.get_num_threads(),
                "thread": threading.current_thread().name,
            }
        )
        return out


class PatchedHandler:
    """Patch ``MagaModelHandler.load_model`` for one pipeline run: time it, wrap its backend in a Recorder.

    The DirectRunner in in-memory mode runs the pipeline in this process, so the patched class is the one
    the unpickled handler uses, and the recorder's list is this process's."""

    def __init__(self):
        self.calls: list[dict] = []
        self.loads: list[float] = []

    def __enter__(self):
        from synth.transforms import MagaModelHandler

        self.original = original = MagaModelHandler.load_model
        calls, loads = self.calls, self.loads

        def load_model(handler):
            t = time.perf_counter()
            loaded = original(handler)
            loads.append(time.perf_counter() - t)
            loaded.backend = Recorder(loaded.backend, calls)
            return loaded

        MagaModelHandler.load_model = load_model
        return self

    def __exit__(self, *exc):
        from synth.transforms import MagaModelHandler

        MagaModelHandler.load_model = self.original


# ------------------------------------------------------------------------------------------- the paths


def _append_jsonl(element, path: str):
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(element, default=str, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_pipeline(rows: list[dict], config, out_dir: Path) -> dict:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from synth.transforms import Synthesize

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {k: out_dir / f"{k}.jsonl" for k in ("synthetic", "errors", "stats")}
    for p in paths.values():
        p.unlink(missing_ok=True)
    options = PipelineOptions(["--runner=DirectRunner", "--direct_num_workers=1", "--direct_running_mode=in_memory"])
    load0 = load_avg()
    with PatchedHandler() as rec:
        t = time.perf_counter()
        p = beam.Pipeline(options=options)
        outs = p | beam.Create(rows, reshuffle=False) | Synthesize(config, annotate_only=True)
        for key, path in paths.items():
            _ = outs[key] | f"Write{key}" >> beam.Map(_append_jsonl, str(path))
        result = p.run()
        result.wait_until_finish()
        wall = time.perf_counter() - t
    metric_load_ms = None
    try:
        for d in result.metrics().query()["distributions"]:
            if d.key.metric.name.endswith("load_model_latency_milli_secs"):
                metric_load_ms = d.committed.sum if d.committed else d.attempted.sum
    except Exception as exc:  # noqa: BLE001 - the metric is a cross-check only
        print(f"RunInference load metric unavailable: {type(exc).__name__}: {exc}", file=sys.stderr)
    stats = _read_jsonl(paths["stats"])
    return {
        "wall_s": wall,
        "load_s": sum(rec.loads),
        "loads": len(rec.loads),
        "runinference_load_metric_s": metric_load_ms / 1000 if metric_load_ms is not None else None,
        "calls": rec.calls,
        "generate_s": sum(c["seconds"] for c in rec.calls),
        "tokens": sum(sum(c["tokens"]) for c in rec.calls),
        "stats": stats[0] if stats else None,
        "synthetic": _read_jsonl(paths["synthetic"]),
        "errors": _read_jsonl(paths["errors"]),
        "load_avg_1m": [load0, load_avg()],
    }


def run_direct(backend, calls: list[dict]) -> dict:
    import torch

    load0 = load_avg()
    tokens_per_call, seconds_per_call = [], []
    t = time.perf_counter()
    for call in calls:
        c0 = time.perf_counter()
        out = backend.generate(call["prompts"], call["params"])
        seconds_per_call.append(time.perf_counter() - c0)
        tokens_per_call.append([g.completion_tokens or 0 for g in out])
    wall = time.perf_counter() - t
    return {
        "wall_s": wall,
        "tokens": sum(sum(x) for x in tokens_per_call),
        "tokens_per_call": tokens_per_call,
        "seconds_per_call": seconds_per_call,
        "threads": torch.get_num_threads(),
        "load_avg_1m": [load0, load_avg()],
    }


# ------------------------------------------------------------------------------------------ the sample


def call_kind(call: dict) -> str:
    """The kind of LM call ("rewrite", "reask" or "pairs"), from its prompt text."""
    prompt = call["prompts"][0]
    if prompt.startswith("Rewrite the document below") or "Rewrite the text above" in prompt:  # v1, v2
        return "rewrite"
    if "Your previous answer could not be read as JSON" in prompt:
        return "reask"
    return "pairs"


def pair_problems(calls: list[dict], config) -> dict:
    """Why proposed pairs were set aside (maga.select_pairs counts), from the final stage (a) answer of
    each document (the re-ask's when there was one): the stats dict only has proposed and kept."""
    from synth import maga

    final: dict[str, str] = {}
    for call in calls:
        kind = call_kind(call)
        for prompt, text in zip(call["prompts"], call["texts"]):
            if kind == "pairs":
                final[prompt] = text or ""
            elif kind == "reask":
                base = next((b for b in final if prompt.startswith(b)), None)
                if base is not None:
                    final[base] = text or ""
    maga_config = config.to_maga_config()
    totals: Counter = Counter()
    for text in final.values():
        parsed = maga.parse_pairs(text)
        if parsed is None:
            totals["unparsed_answers"] += 1
            continue
        _, counts = maga.select_pairs(parsed[0], maga_config.n_pairs, maga_config.dedup_threshold, maga_config.min_pair_words)
        totals.update({k: int(v) for k, v in counts.items()})
    return dict(totals)


def sample_report(run: dict, config) -> dict:
    """Expansion, outcomes and each check's own failure share, from the first pipeline run."""
    from synth.transforms import BACKEND_ERROR

    stats = run["stats"] or {}
    rewrites = stats.get("rewrites", 0)
    outcomes = stats.get("rewrite_outcomes", {})
    rules = config.maga_rules()
    scored = [r for r in run["synthetic"] if r.get("provenance")]
    own: Counter = Counter()
    for row in scored:
        scores = {k: (math.nan if v is None else v) for k, v in row["provenance"]["scores"].items()}
        for check in {rule.name for rule in rules if not rule.keeps(scores)}:
            own[check] += 1
    by_kind: dict[str, dict] = {}
    for call in run["calls"]:
        kind = call_kind(call)
        k = by_kind.setdefault(kind, {"calls": 0, "prompts": 0, "tokens": 0, "hit_max_tokens": 0, "seconds": 0.0})
        k["calls"] += 1
        k["prompts"] += len(call["prompts"])
        k["tokens"] += sum(call["tokens"])
        k["hit_max_tokens"] += sum(1 for f in call["finish"] if f == "length")
        k["seconds"] = round(k["seconds"] + call["seconds"], 1)
    return {
        "pair_problems": pair_problems(run["calls"], config),
        "documents_in": stats.get("documents_in"),
        "documents_selected": stats.get("documents_selected"),
        "documents_over_cap": stats.get("documents_over_cap"),
        "documents_not_selected": stats.get("documents_not_selected"),
        "sources": stats.get("sources"),
        "pairs_repair": stats.get("pairs_repair"),
        "pairs_proposed": stats.get("pairs_proposed"),
        "pairs_kept": stats.get("pairs_kept"),
        "rewrites": rewrites,
        "rewrite_outcomes": outcomes,
        "rewrite_outcome_shares": {k: round(v / rewrites, 3) for k, v in outcomes.items()} if rewrites else {},
        "check_failure_shares_independent": {
            rule: round(own[rule] / len(scored), 3) for rule in dict.fromkeys(r.name for r in rules)
        }
        if scored
        else {},
        "backend_errors": outcomes.get(BACKEND_ERROR, 0),
        "synthetic_documents": stats.get("synthetic_documents"),
        "words_in": stats.get("words_in"),
        "words_out": stats.get("words_out"),
        "tokens_in": stats.get("tokens_in"),
        "tokens_out_kept": stats.get("tokens_out"),
        "expansion": stats.get("expansion"),
        "lm_calls": by_kind,
        "generated_tokens_all_calls": run["tokens"],
        "examples": [
            {
                "decision": r["decision"],
                "genre": (r["provenance"]["genre"] or "")[:100],
                "text": (r["text"] or "")[:240],
            }
            for r in scored[:4]
        ],
    }


# ------------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--annotated", type=Path, help="output folder of an annotate-only run of the sample (default: run it)")
    ap.add_argument("--model", help="model folder or .gguf (default: the embedded SmolLM2-135M GGUF)")
    ap.add_argument("--select", default="quality.score >= 0.5", help="synth.select ('' = every kept document)")
    ap.add_argument("--max-documents", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1, help="torch threads, both paths")
    ap.add_argument("--pairs", type=int, default=2, help="synth.n_pairs")
    ap.add_argument("--pairs-tokens", type=int, default=256)
    ap.add_argument("--rewrite-tokens", type=int, default=192)
    ap.add_argument("--min-pair-words", type=int, default=4, help="synth.min_pair_words")
    ap.add_argument("--source-chars", type=int, default=600, help="synth.max_source_chars")
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--reps", type=int, default=3, help="P/D pairs, interleaved")
    ap.add_argument(
        "--sample-documents",
        type=int,
        default=0,
        help="after the timed runs, one more pipeline run over this many kept documents (no selection rule, "
        "same settings) for the expansion and check figures; 0 = report them from the first timed run only",
    )
    ap.add_argument("--json", type=Path, help="write the results here too")
    args = ap.parse_args(argv)

    import torch
    import transformers

    from synth.backends import TransformersBackend
    from synth.config import SynthConfig

    config = SynthConfig(
        enabled=True,
        select=args.select or None,
        max_documents=args.max_documents,
        model=args.model,
        device="cpu",
        num_threads=args.threads,
        batch_size=args.batch_size,
        n_pairs=args.pairs,
        min_pair_words=args.min_pair_words,
        pairs_max_tokens=args.pairs_tokens,
        rewrite_max_tokens=args.rewrite_tokens,
        temperature=args.temperature,
        max_source_chars=args.source_chars,
    )
    report: dict = {
        "machine": {
            "nproc": os.cpu_count(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "load_avg_1m_start": load_avg(),
        },
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "synth_config": config.model_dump(),
    }
    with tempfile.TemporaryDirectory(prefix="synth-pipeline-bench-") as tmp:
        rows, source = annotated_rows(args.annotated, Path(tmp))
        report["documents"] = {
            "annotated_output": source,
            "rows": len(rows),
            "kept": sum(1 for r in rows if r.get("decision") == "keep"),
        }
        print(json.dumps({"documents": report["documents"], "load": load_avg()}), flush=True)

        direct = TransformersBackend(
            args.model, device="cpu", batch_size=args.batch_size, num_threads=args.threads, model_name=config.model_name
        )
        t = time.perf_counter()
        direct.load()
        report["direct_load_s"] = round(time.perf_counter() - t, 2)

        pipeline_runs, direct_runs, pairs = [], [], []
        calls = None
        for rep in range(args.reps):
            p = run_pipeline(rows, config, Path(tmp) / f"p{rep}")
            if calls is None:
                calls = p["calls"]
                report["sample"] = sample_report(p, config)
                direct.generate(calls[0]["prompts"][:1], type(calls[0]["params"])(max_tokens=4))  # warm-up
            p_tokens_per_call = [c["tokens"] for c in p["calls"]]
            net = p["wall_s"] - p["load_s"]
            prow = {
                "wall_s": round(p["wall_s"], 2),
                "load_s": round(p["load_s"], 2),
                "loads": p["loads"],
                "runinference_load_metric_s": p["runinference_load_metric_s"],
                "net_s": round(net, 2),
                "generate_s": round(p["generate_s"], 2),
                "outside_generate_s": round(net - p["generate_s"], 2),
                "lm_calls": len(p["calls"]),
                "tokens": p["tokens"],
                "tokens_per_s": round(p["tokens"] / net, 2),
                "threads_in_generate": sorted({c["threads"] for c in p["calls"]}),
                "generate_thread": sorted({c["thread"] for c in p["calls"]}),
                "seconds_per_call": [round(c["seconds"], 2) for c in p["calls"]],
                "same_calls_as_first_run": [c["prompts"] for c in p["calls"]] == [c["prompts"] for c in calls],
                "same_tokens_as_first_run": p_tokens_per_call == [c["tokens"] for c in calls],
                "load_avg_1m": p["load_avg_1m"],
            }
            pipeline_runs.append(prow)
            print(json.dumps({"pipeline": prow}), flush=True)

            d = run_direct(direct, calls)
            drow = {
                "wall_s": round(d["wall_s"], 2),
                "lm_calls": len(calls),
                "tokens": d["tokens"],
                "tokens_per_s": round(d["tokens"] / d["wall_s"], 2),
                "threads": d["threads"],
                "generate_thread": threading.current_thread().name,
                "seconds_per_call": [round(x, 2) for x in d["seconds_per_call"]],
                "same_tokens_as_pipeline": d["tokens_per_call"] == [c["tokens"] for c in calls],
                "load_avg_1m": d["load_avg_1m"],
            }
            direct_runs.append(drow)
            print(json.dumps({"direct": drow}), flush=True)
            # tokens/s ratio (equal to the time ratio when both generated the same tokens)
            pairs.append((d["tokens"] / d["wall_s"]) / (p["tokens"] / net))

        if args.sample_documents:
            sample_config = SynthConfig(
                **{**config.model_dump(), "select": None, "max_documents": args.sample_documents}
            )
            t = time.perf_counter()
            s = run_pipeline(rows, sample_config, Path(tmp) / "sample")
            report["sample_run"] = {
                "documents": args.sample_documents,
                "select": None,
                "wall_s": round(time.perf_counter() - t, 1),
                "load_s": round(s["load_s"], 1),
                "tokens_per_s": round(s["tokens"] / (s["wall_s"] - s["load_s"]), 2),
                "load_avg_1m": s["load_avg_1m"],
                **sample_report(s, sample_config),
            }
            print(json.dumps({"sample_run": report["sample_run"]}, ensure_ascii=False, indent=1), flush=True)

    report["pipeline"] = pipeline_runs
    report["direct"] = direct_runs
    report["overhead"] = {
        "per_pair": [round(r - 1, 4) for r in pairs],
        "median": round(statistics.median(pairs) - 1, 4),
        "target": 0.10,
        "met": statistics.median(pairs) - 1 <= 0.10,
    }
    report["machine"]["load_avg_1m_end"] = load_avg()
    print(json.dumps({"overhead": report["overhead"]}), flush=True)
    print(json.dumps({"sample": report["sample"]}, ensure_ascii=False, indent=1), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    return report


if __name__ == "__main__":
    main()
