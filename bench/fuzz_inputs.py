"""Random corruptions of real WARC files through the reader (and the pipeline): no crash, nothing lost or
altered without an error row, memory bounded.

    python bench/fuzz_inputs.py [--n 200] [--seed 0] [--pipeline] [--engine resiliparse] [--out PATH]

Each case takes one real file built from ``tests/data`` (``mini.warc.gz``: one gzip member per record;
``mini.warc``: the same records uncompressed; ``whole``: the same records as one whole-file gzip stream;
``whirlwind.warc.wet.gz``: a real Common Crawl WET file) and applies one random corruption:

* ``truncate``: cut at a random byte;
* ``flip``: XOR a random byte inside a gzip member with a random mask (gzip inputs only: in a plain file
  a flipped payload byte is undetectable without digests);
* ``lie``: a response record's Content-Length made shorter or longer than its block;
* ``garbage``: random bytes between two records;
* ``bomb``: a gzip member whose record inflates to ``--bomb-bytes`` (past the reader's
  ``max_decompressed_bytes``), inserted between two records, its Content-Length honest or a lie.

The reader's items for the corrupted file are compared with those of the intact file:

* no exception escapes ``read_warc``;
* every document read is one of the intact file's documents, with the same decision and payload
  (``altered`` otherwise: a silent corruption);
* a case whose items differ from the intact file's has an error row with a reason and a position
  (``silent_loss`` otherwise);
* the tracemalloc peak of reading stays under ``--max-peak-mb``.

It prints, per corruption kind, how the cases ended (``identical``, or the error reasons seen) and every
violation, and exits 1 if there is one. With ``--pipeline``, every corrupted file then goes through one
DirectRunner run of the default recipe (annotate mode, the given extraction engine): the run must
finish, ``stats.json`` must balance per file, and each file's ``read`` must equal the reader's documents
plus error rows.

The building blocks (``split_members``, ``set_content_length``, ``response_record``, ``bomb_member``...)
live in ``tests/pipelines/corruption.py``, shared with the corruption tests.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
if str(ROOT) not in sys.path:  # run as a script from anywhere: import this checkout's packages
    sys.path.insert(0, str(ROOT))

from tests.pipelines.corruption import (  # noqa: E402  (the corruption tests' building blocks)
    bomb_member,
    compare,
    gzip_bytes,
    inflate,
    read_items,
    set_content_length,
    split_members,
)


def base_files() -> dict[str, bytes]:
    """The intact inputs the fuzzer corrupts, by name (the name's suffix tells the reader the format)."""
    plain = (DATA / "mini.warc").read_bytes()
    return {
        "mini.warc.gz": (DATA / "mini.warc.gz").read_bytes(),
        "mini.warc": plain,
        "whole.warc.gz": gzip_bytes(plain),
        "whirlwind.warc.wet.gz": (DATA / "whirlwind.warc.wet.gz").read_bytes(),
    }


def violations(kind: str, name: str, result: dict) -> list[str]:
    """What must never happen. One known limit is not counted: a flipped byte in a whole-file gzip stream
    that still inflates is caught only by the CRC at the stream's end, after the records before it were
    read (the file then has a read:corrupt row)."""
    problems = []
    crc_limit = kind == "flip" and name == "whole.warc.gz" and "read:corrupt" in result["reasons"]
    if result["altered"] and not crc_limit:
        problems.append(f"altered: {len(result['altered'])} document(s) differ from the intact file's")
    extra = [d for d in result["added"] if not (kind == "bomb" and d["decision"] == "read:too_large")]
    if extra and not crc_limit:
        problems.append(f"added: {len(extra)} document(s) that the intact file does not hold")
    if not result["identical"] and not result["errors"] and not (kind == "bomb" and result["added"]):
        problems.append(f"silent_loss: {result['lost']} document(s) lost without an error row")
    for error in result["errors"]:
        if not (error["reason"].startswith("read:") and error["position"] and error["source"] and error["message"]):
            problems.append(f"bad error row: {error}")
    return problems


# ----------------------------------------------------------------------------------------- corruptions


def corrupt(rng: random.Random, name: str, data: bytes, kind: str, bomb_bytes: int) -> bytes:
    gz_per_record = name == "mini.warc.gz" or name.endswith(".wet.gz")
    if kind == "truncate":
        return data[: rng.randrange(1, len(data))]
    if kind == "flip":
        at = rng.randrange(10, len(data))  # past the first member's fixed gzip header fields
        return data[:at] + bytes([data[at] ^ rng.randrange(1, 256)]) + data[at + 1:]
    records = _records(name, data)
    if kind == "lie":
        candidates = [i for i, r in enumerate(records[:-1]) if b"WARC-Type: response" in r[:400]]
        i = rng.choice(candidates)
        delta = rng.choice([rng.randint(-400, -40), rng.randint(40, 400), rng.randint(5_000, 100_000)])
        records[i] = set_content_length(records[i], delta)
        return _pack(name, records)
    i = rng.randrange(1, len(records))
    if kind == "garbage":
        junk = rng.randbytes(rng.randint(1, 5000))
        if gz_per_record:
            return b"".join(gzip_bytes(r) for r in records[:i]) + junk + b"".join(gzip_bytes(r) for r in records[i:])
        return _pack(name, records[:i] + [junk] + records[i:])
    if kind == "bomb":  # gzip per record only: a bomb is a compressed member
        declared = rng.choice([None, 100])
        bomb = bomb_member(bomb_bytes + rng.randrange(1 << 20), declared=declared)
        return b"".join(gzip_bytes(r) for r in records[:i]) + bomb + b"".join(gzip_bytes(r) for r in records[i:])
    raise ValueError(kind)


def _records(name: str, data: bytes) -> list[bytes]:
    if name == "whole.warc.gz":
        plain = inflate(data)
    elif name.endswith(".gz"):
        return [inflate(m) for m in split_members(data)]
    else:
        plain = data
    starts = [m.start() for m in re.finditer(rb"(?m)^WARC/1\.[01]\r\n", plain)]
    return [plain[a:b] for a, b in zip(starts, starts[1:] + [len(plain)])]


def _pack(name: str, records: list[bytes]) -> bytes:
    if name == "whole.warc.gz":
        return gzip_bytes(b"".join(records))
    if name.endswith(".gz"):
        return b"".join(gzip_bytes(r) for r in records)
    return b"".join(records)


# ----------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="number of corrupted files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bomb-bytes", type=int, default=(1 << 30) + (64 << 20),
                        help="inflated size of a bomb member (default: past the default 1 GiB cap)")
    parser.add_argument("--max-peak-mb", type=float, default=64.0, help="tracemalloc peak allowed per read")
    parser.add_argument("--pipeline", action="store_true", help="also run every case through the pipeline")
    parser.add_argument("--engine", default="resiliparse", choices=["resiliparse", "trafilatura"])
    parser.add_argument("--out", type=Path, help="write the summary as JSON here")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    bases = base_files()
    originals = {name: read_items(name, data) for name, data in bases.items()}
    kinds = ["truncate", "flip", "lie", "garbage", "bomb"]
    outcomes: dict[str, Counter] = defaultdict(Counter)
    problems: list[str] = []
    cases: list[tuple[str, bytes, list]] = []
    peak_mb = 0.0
    started = time.time()
    for n in range(args.n):
        kind = kinds[n % len(kinds)]
        name = rng.choice([b for b in bases if kind != "flip" or b.endswith(".gz")])
        if kind == "bomb" or kind in ("lie", "garbage") and name.endswith(".wet.gz"):
            name = "mini.warc.gz"
        data = corrupt(rng, name, bases[name], kind, args.bomb_bytes)
        label = f"case {n:04d} {kind} {name}"
        tracemalloc.start()
        try:
            items = read_items(name, data)
        except Exception as err:  # noqa: BLE001 — the reader must never raise: that is the finding
            problems.append(f"{label}: CRASH {type(err).__name__}: {err}")
            tracemalloc.stop()
            continue
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        peak_mb = max(peak_mb, peak)
        if peak > args.max_peak_mb:
            problems.append(f"{label}: tracemalloc peak {peak:.0f} MB > {args.max_peak_mb:.0f} MB")
        result = compare(originals[name], items)
        outcome = "identical" if result["identical"] else "+".join(result["reasons"]) or "no error row"
        if result["altered"]:
            outcome += " (altered before the CRC)"
        if result["added"]:
            outcome += f" (+{len(result['added'])} {result['added'][0]['decision']})"
        outcomes[kind][outcome] += 1
        problems += [f"{label}: {p}" for p in violations(kind, name, result)]
        cases.append((f"{n:04d}-{kind}-{name}", data, items))
    reader_s = time.time() - started

    summary = {"n": args.n, "seed": args.seed, "reader_seconds": round(reader_s, 1),
               "max_tracemalloc_peak_mb": round(peak_mb, 1),
               "outcomes": {k: dict(sorted(v.items())) for k, v in outcomes.items()}, "violations": problems}
    if args.pipeline:
        summary["pipeline"] = run_pipeline(cases, args.engine, problems)
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if problems else 0


def run_pipeline(cases: list, engine: str, problems: list[str]) -> dict:
    """Every corrupted file through one pipeline run; per-file books must balance and match the reader."""
    from pipelines.run import main as run

    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for label, data, items in cases:
            path = Path(tmp) / "in" / label
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(data)
            paths[str(path)] = sum(kind in ("doc", "error") for kind, _ in items)
        out = Path(tmp) / "out"
        started = time.time()
        code = run(["--input", *paths, "--output", str(out), "--input_format", "warc", "--annotate_only", "-q",
                    "--set", "max_error_rate=1", "--set", f"extract.engine={engine}"])
        seconds = time.time() - started
        stats = json.loads((out / "stats.json").read_text())
    if code != 0:
        problems.append(f"pipeline exited {code}")
    problems += [f"pipeline identity: {p}" for p in stats["identity_problems"]]
    for path, expected in paths.items():
        got = stats["files"].get(path, {}).get("read", 0)
        if got != expected:
            problems.append(f"pipeline {Path(path).name}: read {got}, the reader gave {expected} documents + errors")
    return {"exit": code, "seconds": round(seconds, 1), "read": stats["read"], "kept": stats["kept"],
            "errors": stats["errors"]}


if __name__ == "__main__":
    sys.exit(main())
