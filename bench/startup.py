"""The fixed cost of a run: what ``python -m pipelines.run`` spends whatever its input (issue 15).

Each part is timed in a fresh interpreter, as a run pays it: the interpreter itself, the imports, the recipe
and its checks (the tokenizer load among them), the graph construction, every model a worker loads (one
per enabled per-document stage, the tokenizer, the extraction worker process), the card and stats of the
sample's output; then whole runs: a one-record input (all fixed cost), and the bundled sample, in memory
(one worker), as the local default runs it (a worker per core: threads up to 4 cores) and with a worker
process per core, interleaved.

    python bench/startup.py                    # ~3 min here → bench/out/startup.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ONE_RECORD = ROOT / "tests" / "data" / "mini.warc.gz"

PARTS = r"""
import json, time, sys
t = time.perf_counter(); out = {}
def lap(name):
    global t
    now = time.perf_counter(); out[name] = now - t; t = now
import apache_beam as beam
lap("import apache_beam")
import pipelines.pipeline, pipelines.run, filters.transforms, dedup.transforms
lap("import the project")
from pipelines.recipe import load_recipe
from pipelines import run
recipe = load_recipe(None, {})
run._check_stage_files(recipe)
lap("recipe and file checks")
tokenizer = run._tokenizer(recipe)
lap("tokenizer (preflight)")
from pipelines.pipeline import Job, build
from pipelines.readers import TextColumns
job = Job(inputs=[sys.argv[1]], output=sys.argv[2], recipe=recipe, annotate_only=False, input_format=None,
          columns=TextColumns("text", "id", "url"), near_index=None, spread_records=False, tokenizer=tokenizer)
build(beam.Pipeline(), job)
lap("graph construction")
print(json.dumps(out))
"""

MODELS = r"""
import json, time, sys
from pipelines.recipe import load_recipe
from pipelines.registry import enabled_stages, STAGES
from filters.stages import bind
recipe = load_recipe(None, {})
out = {}
for spec, cfg in enabled_stages(recipe, STAGES):
    if not spec.per_document:
        continue
    t = time.perf_counter(); bind(spec, cfg); out[f"model: {spec.name}"] = time.perf_counter() - t
from pipelines.transforms import LoadedTokenizer
t = time.perf_counter(); LoadedTokenizer(recipe.tokenize); out["model: tokenizer"] = time.perf_counter() - t
from pipelines.extract import Extractor
t = time.perf_counter()
with Extractor(recipe.extract) as extractor:
    extractor(b"<html><body><p>warm-up page</p></body></html>", None, None)
    out["extraction worker start (first page)"] = time.perf_counter() - t
print(json.dumps(out))
"""

CARD = r"""
import json, time, sys
from pipelines.recipe import load_recipe
from pipelines import card
stats = json.load(open(sys.argv[1]))
recipe = load_recipe(None, {})
t = time.perf_counter(); card.render_card(recipe, stats, False); out = {"card": time.perf_counter() - t}
print(json.dumps(out))
"""


def python_snippet(code: str, *args: str) -> tuple[dict, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1]), time.perf_counter() - started


def timed_run(*args: str) -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pipelines.run", "-q", "--output", out, *args], cwd=ROOT,
                       check=True, capture_output=True)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "startup.json"))
    args = parser.parse_args()

    interpreter = statistics.median(python_snippet("print('{}')")[1] for _ in range(args.repeat))
    parts: dict[str, list[float]] = {"interpreter": [interpreter]}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for snippet, extra in ((PARTS, (str(ONE_RECORD), tmp)), (MODELS, ())):
                for name, seconds in python_snippet(snippet, *extra)[0].items():
                    parts.setdefault(name, []).append(seconds)
        sample_out = Path(tmp) / "sample"
        subprocess.run([sys.executable, "-m", "pipelines.run", "-q", "--output", str(sample_out)], cwd=ROOT,
                       check=True, capture_output=True)
        for _ in range(args.repeat):
            parts.setdefault("card", []).append(python_snippet(CARD, str(sample_out / "stats.json"))[0]["card"])

    cores = os.cpu_count() or 1
    modes = {
        "one record, in memory (1 worker)": ["--input", str(ONE_RECORD), "--direct_running_mode=in_memory",
                                             "--direct_num_workers=1"],
        f"one record, default ({cores} workers)": ["--input", str(ONE_RECORD)],
        "sample, in memory (1 worker)": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
        f"sample, default ({cores} workers)": [],
        f"sample, {cores} worker processes": ["--direct_running_mode=multi_processing", f"--direct_num_workers={cores}"],
    }
    runs: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(args.repeat):  # interleaved: the machine's load moves
        for name, extra in modes.items():
            runs[name].append(timed_run(*extra))

    result = {
        "cores": cores,
        "parts_s": {name: round(statistics.median(v), 3) for name, v in parts.items()},
        "runs_s": {name: [round(x, 2) for x in v] for name, v in runs.items()},
        "runs_median_s": {name: round(statistics.median(v), 2) for name, v in runs.items()},
        "load_average": os.getloadavg(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    width = max(map(len, [*result["parts_s"], *result["runs_median_s"]]))
    for name, seconds in result["parts_s"].items():
        print(f"{name:<{width}}  {seconds:6.3f} s")
    for name, seconds in result["runs_median_s"].items():
        print(f"{name:<{width}}  {seconds:6.2f} s  {runs[name]}")


if __name__ == "__main__":
    main()
