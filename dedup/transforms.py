"""Beam wrappers for deduplication."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from dedup.exact import pick_first, text_key

DROPPED = "dropped"


class ExactDedup(beam.PTransform):
    """Group documents by normalized-text hash; keep the first of each group by a stated order.

    Output: main = kept documents (plus, in annotate-only mode, duplicates marked ``dedup:exact``);
    tagged ``dropped`` = duplicates (filter mode). Documents already dropped by an earlier stage
    (annotate-only mode) pass through untouched and take no part in the grouping.
    """

    def __init__(self, order: list[str], annotate_only: bool):
        super().__init__()
        self.order = tuple(order)
        self.annotate_only = annotate_only

    def expand(self, docs):
        decided = docs | "SplitDecided" >> beam.Partition(lambda d, _: 0 if d.get("decision") in (None, "keep") else 1, 2)
        grouped = (
            decided[0]
            | "KeyByText" >> beam.Map(lambda d: (text_key(d["text"] or ""), d))
            | "GroupByText" >> beam.GroupByKey()
            | "KeepFirst" >> beam.ParDo(_KeepFirst(self.order, self.annotate_only)).with_outputs(DROPPED, main="kept")
        )
        kept = (grouped.kept, decided[1]) | "MergeUndecided" >> beam.Flatten()
        return {"kept": kept, DROPPED: grouped[DROPPED]}


class _KeepFirst(beam.DoFn):
    def __init__(self, order: tuple[str, ...], annotate_only: bool):
        self.order = order
        self.annotate_only = annotate_only
        self.dropped = Metrics.counter("dedup", "dedup:exact")

    def process(self, element):
        _, group = element
        first, duplicates = pick_first(list(group), self.order)
        yield first
        for dup in duplicates:
            dup = dict(dup, decision="dedup:exact", duplicate_of=first["id"])
            self.dropped.inc()
            if self.annotate_only:
                yield dup
            else:
                yield beam.pvalue.TaggedOutput(DROPPED, dup)
