"""What the run report (report.html + the card's PNGs) costs: the same run with ``output.report`` on and off.

    python bench/report_cost.py [--repeats 2] [--engines trafilatura,resiliparse]

The 1x bench corpus (``bench/build_corpus.py``), the default recipe, a local run on every core, as
``python -m pipelines.run`` runs it; per engine the runs alternate off / on, ``--repeats`` pairs, so a
busy neighbour hits both alike. Cost = (on − off) / off of wall and of CPU (every process of the tree,
``bench/measure.py``), per pair and as the median. Target: ≤ 5% of the run. Writes
bench/out/report_cost.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import run_measured  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "bench" / "out" / "corpus" / "1x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--engines", default="trafilatura,resiliparse")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "report_cost.json"))
    args = parser.parse_args()
    if not CORPUS.is_dir():
        raise SystemExit(f"no bench corpus at {CORPUS}: run python bench/build_corpus.py first")
    results = {}
    for engine in args.engines.split(","):
        pairs = []
        for repeat in range(args.repeats):
            pair = {}
            for report in ("false", "true"):
                with tempfile.TemporaryDirectory() as out:
                    cmd = [sys.executable, "-m", "pipelines.run", "--input", str(CORPUS / "*.warc.gz"), "--output",
                           out, "-q", "--set", f"extract.engine={engine}", "--set", f"output.report={report}"]
                    measured = run_measured(cmd, cwd=str(ROOT))
                    if measured.returncode != 0:
                        raise SystemExit(f"{' '.join(cmd)} failed ({measured.returncode})")
                    written = (Path(out) / "report.html").exists()
                    assert written == (report == "true"), "output.report did not do what it says"
                pair[report] = {"wall_s": round(measured.wall_s, 2), "cpu_s": round(measured.cpu_s, 2)}
                print(f"{engine} report={report} #{repeat}: {pair[report]}", flush=True)
            pair["wall_cost"] = round(pair["true"]["wall_s"] / pair["false"]["wall_s"] - 1, 4)
            pair["cpu_cost"] = round(pair["true"]["cpu_s"] / pair["false"]["cpu_s"] - 1, 4)
            pairs.append(pair)
        results[engine] = {"pairs": pairs,
                           "median_wall_cost": statistics.median(p["wall_cost"] for p in pairs),
                           "median_cpu_cost": statistics.median(p["cpu_cost"] for p in pairs)}
        print(engine, {k: v for k, v in results[engine].items() if k != "pairs"}, flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
