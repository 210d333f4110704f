"""The Beam side of the stage contract: every stage transform returns ``{DOCS, DROPPED, ERRORS}``, and
routes each document it decides through ``route``.

``route`` is the one place a drop is counted (Beam metrics namespace ``drop``, one counter per reason
``stage:rule``, dedup included) and the one place the filter / annotate-only difference lives: in filter
mode a dropped document leaves on ``DROPPED`` as its light record, in annotate-only mode it stays in the
main output with its decision. Corpus stages decide only on the documents still kept (``split_kept``);
the already decided ones, which exist only in annotate-only runs, keep their decision (PerplexitySelect
still gives the exact copies their bucket, like any other score).
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.outcomes import DOCS, DROP_COUNTERS, DROPPED, ERRORS, is_kept, light


def route(doc: dict, annotate_only: bool):
    """A decided document's way on: kept → main output; dropped → counted, then main output (annotate-only)
    or ``DROPPED`` as its light record (filter mode). For a DoFn to ``yield``."""
    if is_kept(doc):
        return doc
    Metrics.counter(DROP_COUNTERS, doc["decision"]).inc()
    return doc if annotate_only else beam.pvalue.TaggedOutput(DROPPED, light(doc))


def split_kept(docs, label: str = "SplitKept"):
    """(documents still kept, documents already dropped). Corpus-level stages (selection, dedup) work on
    the first; the second only exists in annotate-only mode and passes through untouched."""
    parts = docs | label >> beam.Partition(lambda d, _: 0 if is_kept(d) else 1, 2)
    return parts[0], parts[1]


def outputs(docs, dropped, errors=None) -> dict:
    """A stage's result in the contract's shape; a stage that cannot fail a record gets an empty ``ERRORS``."""
    if errors is None:
        errors = docs.pipeline | "NoErrors" >> beam.Create([])  # nested under the calling stage's label
    return {DOCS: docs, DROPPED: dropped, ERRORS: errors}

