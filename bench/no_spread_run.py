"""What-if for the memory fix proposed in docs/BENCHMARKS.md: ``pipelines.run`` without SpreadRecords.

    python bench/no_spread_run.py <the arguments of python -m pipelines.run>

Not a pipeline option: a measurement aid. ``pipelines.pipeline.build`` calls ``beam.Reshuffle()`` twice,
first for SpreadFiles (file paths) and then for SpreadRecords (every record with its raw HTML). On the
DirectRunner a Reshuffle is a GroupByKey whose whole input the runner holds in memory, so the second
one keeps the corpus's HTML (and, with multi_processing, copies of it on the way to the workers) for the
run. This replaces that second Reshuffle by an identity Map, leaving everything else as it is, so that
bench/scaling.py can measure what the fix (reshuffle record positions, or nothing when there are at
least as many files as workers) would save. It depends on that call order and fails loudly otherwise.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    sys.path.insert(0, str(ROOT))
    import apache_beam as beam

    import pipelines.pipeline as graph

    real = beam.Reshuffle
    labels: list[str] = []

    def reshuffle(*args, **kwargs):
        labels.append("SpreadFiles" if not labels else "SpreadRecords")
        return real(*args, **kwargs) if len(labels) == 1 else beam.Map(lambda record: record)

    proxy = types.ModuleType("apache_beam_without_spread_records")
    proxy.__dict__.update(beam.__dict__)
    proxy.Reshuffle = reshuffle
    graph.beam = proxy
    from pipelines.run import main as run

    code = run(sys.argv[1:])
    if labels != ["SpreadFiles", "SpreadRecords"]:
        raise SystemExit(f"build() no longer calls Reshuffle as expected ({labels}); update this what-if")
    return code


if __name__ == "__main__":  # the extraction worker is spawned and re-imports this module: no side effects
    sys.exit(main())
