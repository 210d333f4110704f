"""Our default recipe against datatrove's nearest equivalent: same input, same cores, one invocation.

    python bench/e2e.py --datatrove-python /tmp/dtvenv/bin/python [--input bench/out/corpus/1x]
                        [--workers 2] [--systems ours,datatrove,ours-matched,...] [--out bench/out/e2e.json]

Systems (each a fresh process tree, run one after another, measured by bench/measure.py):

* ``ours``: ``python -m pipelines.run`` with the default recipe (trafilatura + light title/date, language,
  heuristics, quality and perplexity scores, exact + near dedup, Parquet), DirectRunner with
  ``--direct_num_workers=W`` and the running mode a local run picks for W workers (pipelines/local_runner.py:
  threads in one process up to 4 workers, worker processes above);
* ``ours-matched``: the same with the work datatrove does not do switched off
  (``extract.metadata=none``, ``quality.enabled=false``, ``perplexity.enabled=false``), so that both
  run the same extractor call and the same kinds of stages;
* ``ours-resiliparse``: the default recipe with ``extract.engine=resiliparse``, the fast preset;
* ``datatrove``: bench/datatrove_run.py in datatrove's own venv (``--datatrove-python``), W workers,
  given our extraction settings; ``datatrove-fineweb``: the same with datatrove's Trafilatura defaults,
  as FineWeb ran it (favour_precision, deduplicate, 1 s timeout).

Reported per system: documents read, wall and CPU seconds, docs/s per core (documents / wall / W),
documents per CPU second, peak memory of the process tree, the machine's load before and after.
Agreement (each of ours against datatrove, keyed by WARC-Record-ID): kept by both, by one only, and why
the other dropped it. datatrove's reasons come from its filters' exclusion files (a document in none of
them and not kept was dropped by the reader, which skips pages it cannot decode, or by the extractor,
which drops empty results). Ours are recomputed for those documents only with the same pure functions
and recipe (bench/profile_stages.py), which is what the pipeline runs; a document that passes every
stage was a duplicate. For documents both keep: share of identical texts and mean bag-of-words F1
between the two texts.
"""

from __future__ import annotations

import argparse
import glob
import json
import shutil
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]  # the checkout, not only the installed copy

from measure import run_measured  # noqa: E402

MATCHED = ["extract.metadata=none", "quality.enabled=false", "perplexity.enabled=false"]
SYSTEMS = {"ours": [], "ours-matched": MATCHED, "ours-resiliparse": ["extract.engine=resiliparse"]}


def beam_args(workers: int) -> list[str]:
    """W workers, run the way a local run runs them by default (pipelines/local_runner.py)."""
    return [f"--direct_num_workers={workers}"]


def run_system(name: str, inputs: list[str], work: Path, workers: int, dt_python: str | None) -> dict:
    out = work / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    if name.startswith("datatrove"):
        cmd = [dt_python, str(ROOT / "bench/datatrove_run.py"), "--input", str(Path(inputs[0]).parent),
               "--work", str(out), "--workers", str(workers), "--lid-model", str(ROOT / "filters/models/lid.176.ftz"),
               "--extractor", "fineweb" if name == "datatrove-fineweb" else "ours"]
    else:
        cmd = [sys.executable, "-m", "pipelines.run", "-q", "--input", *inputs, "--output", str(out / "output"),
               *beam_args(workers), *[f"--set={s}" for s in SYSTEMS[name]]]
    print(f"running {name}: {' '.join(cmd)}", flush=True)
    result = run_measured(cmd, cwd=str(ROOT), log_path=str(work / f"{name}.log")).as_dict()
    result["command"] = " ".join(cmd)
    if result["returncode"] != 0:
        raise SystemExit(f"{name} failed (exit {result['returncode']}); see {work / f'{name}.log'}")
    return result


def ours_kept(out: Path) -> dict[str, str]:
    import pyarrow.parquet as pq

    table = pq.read_table(str(out / "output" / "data"), columns=["record_id", "text"])
    return dict(zip(table.column("record_id").to_pylist(), table.column("text").to_pylist()))


def datatrove_kept(out: Path) -> dict[str, str]:
    import pyarrow.parquet as pq

    files = sorted(glob.glob(str(out / "output" / "*.parquet")))
    tables = [pq.read_table(f, columns=["id", "text"]) for f in files]
    return {i: t for table in tables for i, t in zip(table.column("id").to_pylist(), table.column("text").to_pylist())}


def datatrove_reasons(out: Path) -> dict[str, str]:
    reasons = {}
    for path in sorted(glob.glob(str(out / "excluded" / "*" / "*.jsonl"))):
        step = Path(path).parent.name
        for line in Path(path).read_text().splitlines():
            row = json.loads(line)
            reasons[row["id"]] = f"{step}:{row['reason']}" if row["reason"] else step
    return reasons


def our_reasons(inputs: list[str], record_ids: set[str], sets: list[str], kept_texts: list[str]) -> dict[str, str]:
    """Why our recipe drops these records: the pure stages on just them; passing all = a duplicate."""
    from dedup.exact import text_key
    from pipelines.recipe import load_recipe
    from profile_stages import Clock, _overrides, build_stages, curate, extract_all, read_docs

    recipe = load_recipe(None, _overrides(sets))
    clock = Clock()
    docs = [d for d in read_docs(inputs, clock, recipe.read.max_record_bytes) if d["record_id"] in record_ids]
    reasons = extract_all(docs, clock, recipe.extract, 0)
    survivors = curate(docs, build_stages(recipe, clock), clock, reasons)
    kept_keys = {text_key(t) for t in kept_texts}
    for doc in survivors:
        reasons[doc["id"]] = "dedup:exact" if text_key(doc["text"]) in kept_keys else "dedup:near"
    return {d["record_id"]: reasons[d["id"]] for d in docs}


def record_ids(inputs: list[str]) -> list[str]:
    """WARC-Record-IDs of the corpus's documents, in file order (every record is an HTML response)."""
    from pipelines import readers

    return [d["record_id"] for path in inputs
            for kind, d in readers.read_warc(path, lambda p=path: open(p, "rb"), max_record_bytes=10**8) if kind == "doc"]


def agreement(inputs: list[str], every: list[str], ours_name: str, work: Path) -> dict:
    from extraction import bow_prf

    ours = ours_kept(work / ours_name)
    theirs = datatrove_kept(work / "datatrove")
    both = [r for r in every if r in ours and r in theirs]
    ours_only = [r for r in every if r in ours and r not in theirs]
    theirs_only = [r for r in every if r in theirs and r not in ours]
    dt_reasons = datatrove_reasons(work / "datatrove")
    why_theirs = Counter(dt_reasons.get(r, "reader/extractor: undecodable or empty") for r in ours_only)
    mine = our_reasons(inputs, set(theirs_only), SYSTEMS[ours_name], list(ours.values()))
    why_ours = Counter(mine[r] for r in theirs_only)
    f1 = [bow_prf(ours[r], theirs[r])[2] for r in both]
    return {
        "documents": len(every), "kept_ours": len(ours), "kept_datatrove": len(theirs),
        "kept_both": len(both), "kept_ours_only": len(ours_only), "kept_datatrove_only": len(theirs_only),
        "dropped_both": len(every) - len(both) - len(ours_only) - len(theirs_only),
        "jaccard_of_kept_sets": round(len(both) / max(1, len(both) + len(ours_only) + len(theirs_only)), 4),
        "ours_only_datatrove_reason": dict(why_theirs.most_common()),
        "datatrove_only_our_reason": dict(why_ours.most_common()),
        "both_identical_text": round(sum(ours[r] == theirs[r] for r in both) / max(1, len(both)), 4),
        "both_mean_bow_f1": round(sum(f1) / max(1, len(f1)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=ROOT / "bench/out/corpus/1x", help="folder of .warc.gz")
    parser.add_argument("--datatrove-python", required=True, help="python of a venv with datatrove installed")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--systems", default="ours,datatrove,ours-matched,datatrove-fineweb,ours-resiliparse")
    parser.add_argument("--work", type=Path, default=ROOT / "bench/out/e2e")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/out/e2e.json")
    args = parser.parse_args()
    inputs = sorted(str(p) for p in args.input.glob("*.warc.gz"))
    if not inputs:
        raise SystemExit(f"no .warc.gz in {args.input}; run bench/build_corpus.py first")
    systems = args.systems.split(",")
    args.work.mkdir(parents=True, exist_ok=True)
    runs = {name: run_system(name, inputs, args.work, args.workers, args.datatrove_python) for name in systems}
    every = record_ids(inputs)
    result = {"input": str(args.input), "files": len(inputs), "documents": len(every), "workers": args.workers,
              "runs": runs}
    for name, run in runs.items():
        run["documents"] = len(every)
        if name.startswith("datatrove"):
            run["kept"] = len(datatrove_kept(args.work / name))
            continue
        funnel = json.loads((args.work / name / "output" / "stats.json").read_text())
        assert funnel["read"] == len(every), (funnel["read"], len(every))
        run["kept"] = funnel["kept"]
        run["funnel_dropped"] = funnel["dropped"]
    for run in runs.values():
        run["docs_per_s_per_core"] = round(run["documents"] / run["wall_s"] / args.workers, 3)
        run["docs_per_cpu_s"] = round(run["documents"] / run["cpu_s"], 3)
    for base_name in ("datatrove", "datatrove-fineweb"):
        if base_name not in runs:
            continue
        base = runs[base_name]
        key = "speedup_vs_" + base_name.replace("-", "_")
        result[key] = {
            name: {"docs_per_s_per_core": round(run["docs_per_s_per_core"] / base["docs_per_s_per_core"], 3),
                   "docs_per_cpu_s": round(run["docs_per_cpu_s"] / base["docs_per_cpu_s"], 3),
                   "peak_pss": round(run["peak_pss_mb"] / base["peak_pss_mb"], 3)}
            for name, run in runs.items() if not name.startswith("datatrove")}
    if "datatrove" in runs:
        result["agreement"] = {name: agreement(inputs, every, name, args.work) for name in runs
                               if not name.startswith("datatrove")}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    from plots import plot_e2e

    print(f"wrote {args.out} and {plot_e2e(result)}")


if __name__ == "__main__":
    main()
