"""How fast ``pipelines.redecide`` applies another recipe to stored scores, per core.

    python bench/redecide_bench.py [--copies 20]

1. An annotate-only run of the 1x bench corpus (``bench/build_corpus.py``; cached in bench/out/redecide/).
2. Its rows ``--copies`` times over as distinct documents (new ids; the text keys and band keys salted
   per copy, so a copy is no duplicate of its original): a folder of the same shape, N × 2,396 rows.
3. ``python -m pipelines.redecide`` on it, pinned to one core (``taskset -c 0``), for three recipes: the
   annotated one, a stricter one (quality ≥ 0.3, language ≥ 0.8), a looser one (German kept, C4's rules
   off); then the same without the report (``output.report=false``). Documents/s = rows / wall.

Target: ≥ 50,000 documents/s per core. Writes bench/out/redecide.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "out" / "redecide"
CORPUS = ROOT / "bench" / "out" / "corpus" / "1x"
RECIPES = {
    "same": [],
    "stricter": ['quality.rules={"low": "score >= 0.3"}', "language.min_score=0.8"],
    "looser": ["language.keep=[en, de]", "heuristics.c4.rules={}"],
}


def annotated() -> Path:
    out = WORK / "annotated"
    if not (out / "stats.json").exists():
        subprocess.run([sys.executable, "-m", "pipelines.run", "--input", str(CORPUS / "*.warc.gz"), "--output",
                        str(out), "--annotate_only", "-q"], check=True, cwd=ROOT)
    return out


def _salted(ids: list[str], copy: int) -> list[str]:
    return [xxhash.xxh3_128_hexdigest(f"{i}:{copy}".encode()) for i in ids] if copy else ids


def multiply(source: Path, copies: int) -> Path:
    """``source``'s rows and keys ``copies`` times over, as distinct documents, in one folder."""
    out = WORK / f"x{copies}"
    if (out / "stats.json").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    stats = json.loads((source / "stats.json").read_text())
    rows = pq.read_table(source / "data")
    keys = pq.read_table(source / "dedup_keys")
    tables, key_tables = [], []
    for copy in range(copies):
        ids = _salted(rows.column("id").to_pylist(), copy)
        tables.append(rows.set_column(rows.schema.get_field_index("id"), "id", pa.array(ids, pa.string())))
        key_ids = _salted(keys.column("id").to_pylist(), copy)
        text_keys = _salted(keys.column("text_key").to_pylist(), copy)
        salt = np.uint64(xxhash.xxh3_64_intdigest(str(copy).encode())) if copy else np.uint64(0)
        bands = [None if b is None else (np.array(b, dtype=np.uint64) ^ salt).tolist()
                 for b in keys.column("band_keys").to_pylist()]
        band_keys = pa.array(bands, pa.list_(pa.uint64()))
        key_tables.append(pa.table({"id": key_ids, "text_key": text_keys, "band_keys": band_keys}, schema=keys.schema))
    (out / "data").mkdir(parents=True)
    (out / "dedup_keys").mkdir()
    table = pa.concat_tables(tables)
    pq.write_table(table, out / "data" / "train-00000-of-00001.parquet", compression="zstd")
    pq.write_table(pa.concat_tables(key_tables), out / "dedup_keys" / "keys-00000-of-00001.parquet", compression="zstd")
    shutil.copytree(source / "errors", out / "errors")
    shutil.copy(source / "recipe.yaml", out / "recipe.yaml")
    stats["output"]["shards"] = [{"file": "data/train-00000-of-00001.parquet", "rows": table.num_rows}]
    stats["dedup_keys"] = {"rows": sum(t.num_rows for t in key_tables), "files": ["dedup_keys/keys-00000-of-00001.parquet"]}
    for entry in stats["files"].values():
        entry["skipped_records"] = {k: v * copies for k, v in entry["skipped_records"].items()}
    (out / "stats.json").write_text(json.dumps(stats))
    assert pc.count_distinct(table.column("id")).as_py() == table.num_rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=20)
    args = parser.parse_args()
    source = multiply(annotated(), args.copies)
    rows = pq.ParquetFile(source / "data" / "train-00000-of-00001.parquet").metadata.num_rows
    results = {"rows": rows, "copies": args.copies, "runs": []}
    for report in ("true", "false"):
        for name, changes in RECIPES.items():
            out = WORK / f"out-{name}"
            cmd = ["taskset", "-c", "0", sys.executable, "-m", "pipelines.redecide", str(source), "--output", str(out),
                   "--set", f"output.report={report}"] + [a for c in changes for a in ("--set", c)]
            start = time.perf_counter()
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            wall = time.perf_counter() - start
            if done.returncode:
                raise SystemExit(done.stderr)
            line = next(x for x in done.stdout.splitlines() if x.startswith("recipe "))
            kept = json.loads((out / "stats.json").read_text())["kept"]
            result = {"recipe": name, "report": report == "true", "wall_s": round(wall, 2), "kept": kept,
                      "docs_per_s_core": round(rows / wall), "inside": line}
            results["runs"].append(result)
            print(json.dumps(result), flush=True)
    (ROOT / "bench" / "out" / "redecide.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
