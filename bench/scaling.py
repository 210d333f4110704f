"""Scaling of our pipeline on this machine: worker count, and corpus size against peak memory.

    python bench/scaling.py workers [--input bench/out/corpus/1x]            # 1 vs 2 workers, default recipe
    python bench/scaling.py size [--sizes 1x 2x 10x] [--spread 1x 10x] [--max-memory-gb 12] [--set ...]

``workers``: the default recipe on the 1x corpus with ``--direct_running_mode=in_memory
--direct_num_workers=1`` and with ``--direct_num_workers=2`` run as a local run runs two workers by default
(threads: pipelines/local_runner.py; ``--processes``: ``multi_processing``), alternately, ``--repeats`` times
each; throughput ratio of the best runs (target ≥ 1.6× on 2 cores).

``size``: the same command (2 workers, as above) on the 1x, 2x and 10x corpora; peak memory of
the whole process tree (summed PSS) of each against the 1x run (target for 10x: ≤ 1.25×). The 10x
corpus (24k pages) takes ~25 min with trafilatura on 2 cores, over this benchmark's 10-minute budget, so
by default the size runs use ``--set extract.engine=resiliparse``: what grows with the corpus is the
data the runner holds (raw HTML between reading and extraction, documents at each GroupByKey), not the
extractor's working set, which is per page. A run whose tree passes ``--max-memory-gb`` is killed (the
machine is shared) and reported as such. ``--spread`` also runs the sizes it names with
``--spread_records=always`` (the raw-HTML Reshuffle a distributed runner does), to show what it costs
the local runner.

Results go to bench/out/scaling.json (one key per mode, so the two modes can run separately) and the
chart to docs/img/scaling.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from measure import run_measured  # noqa: E402

ONE = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
TWO = ["--direct_num_workers=2"]  # the local default's running mode for two workers
PROCESSES = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def run(label: str, folder: Path, beam: list[str], sets: list[str], work: Path, *,
        max_pss_mb: float | None = None) -> dict:
    out = work / label.replace(" ", "_")
    shutil.rmtree(out, ignore_errors=True)
    inputs = sorted(str(p) for p in folder.glob("*.warc.gz"))
    cmd = [sys.executable, "-m", "pipelines.run", "-q", "--input", *inputs, "--output", str(out), *beam,
           *[f"--set={s}" for s in sets]]
    print(f"{label}: {' '.join(cmd)}", flush=True)
    log = work / f"{label.replace(' ', '_')}.log"
    result = run_measured(cmd, cwd=str(ROOT), log_path=str(log), max_pss_mb=max_pss_mb).as_dict()
    result["command"] = " ".join(cmd)
    if result["killed_over_mb"]:
        print(f"  killed: memory passed {max_pss_mb:.0f} MiB after {result['wall_s']:.0f} s", flush=True)
        return result
    if result["returncode"] != 0:
        raise SystemExit(f"{label} failed; see {log}")
    funnel = json.loads((out / "stats.json").read_text())
    result.update(documents=funnel["read"], kept=funnel["kept"],
                  docs_per_s=round(funnel["read"] / result["wall_s"], 3))
    print(f"  {result}", flush=True)
    return result


def two(args) -> list[str]:
    return PROCESSES if args.processes else TWO


def workers(args, work: Path) -> dict:
    runs: dict[str, list[dict]] = {"1 worker": [], "2 workers": []}
    for _ in range(args.repeats):
        runs["1 worker"].append(run("1 worker", args.input, ONE, args.set, work))
        runs["2 workers"].append(run("2 workers", args.input, two(args), args.set, work))
    best = {k: max(v, key=lambda r: r["docs_per_s"]) for k, v in runs.items()}
    return {"all": runs, "runs": best,
            "speedup": round(best["2 workers"]["docs_per_s"] / best["1 worker"]["docs_per_s"], 3)}


def size(args, work: Path) -> dict:
    sets = args.set or ["extract.engine=resiliparse"]
    limit = args.max_memory_gb * 1024
    runs = {}
    plan = [(name, False) for name in args.sizes] + [(name, True) for name in args.spread]
    for name, spread in plan:
        label = name + (" spread_records=always" if spread else "")
        beam = two(args) + (["--spread_records=always"] if spread else [])
        runs[label] = run(label, args.corpus / name, beam, sets, work, max_pss_mb=limit)
    for label, r in runs.items():
        base = runs.get(label.replace(label.split(" ")[0], "1x", 1))
        if base:
            r["memory_vs_1x"] = round(r["peak_pss_mb"] / base["peak_pss_mb"], 3)
    return {"runs": runs, "overrides": sets, "max_memory_gb": args.max_memory_gb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["workers", "size"])
    parser.add_argument("--input", type=Path, default=ROOT / "bench/out/corpus/1x")
    parser.add_argument("--corpus", type=Path, default=ROOT / "bench/out/corpus", help="folder of the <k>x corpora")
    parser.add_argument("--sizes", nargs="+", default=["1x", "2x", "10x"])
    parser.add_argument("--spread", nargs="*", default=[], metavar="SIZE",
                        help="also run these sizes with --spread_records=always")
    parser.add_argument("--max-memory-gb", type=float, default=12.0, help="kill a run whose tree passes this")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--processes", action="store_true", help="two worker processes (multi_processing)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--work", type=Path, default=ROOT / "bench/out/scaling")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/out/scaling.json")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results[args.mode] = workers(args, args.work) if args.mode == "workers" else size(args, args.work)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results[args.mode], indent=2))
    from plots import plot_scaling

    print(f"wrote {args.out} and {plot_scaling(results)}")


if __name__ == "__main__":
    main()
