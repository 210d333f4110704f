"""Beam wrappers of the report: one combine over every decided document, one count of duplicate clusters.

Both run beside the writes, on the documents the funnel counts (kept rows and dropped documents' light
records), so the report costs one more pass over records already in memory, no extra read.
"""

from __future__ import annotations

import apache_beam as beam

from pipelines.report.summary import Summary


class SummarizeFn(beam.CombineFn):
    """Every decided document → one ``Summary`` (as its plain dict)."""

    def __init__(self, rules: tuple = ()):
        self.rules = rules

    def create_accumulator(self) -> Summary:
        return Summary(rules=self.rules)

    def add_input(self, summary: Summary, doc) -> Summary:
        summary.add(doc)
        return summary

    def merge_accumulators(self, summaries) -> Summary:
        summaries = iter(summaries)
        merged = next(summaries)  # Beam lets a combiner mutate its first accumulator
        for other in summaries:
            merged.merge(other)
        return merged

    def extract_output(self, summary: Summary) -> dict:
        return summary.to_dict()


_DEDUP_KINDS = {"dedup:exact": "exact", "dedup:near": "near"}


def _copy_of(doc):
    kind = _DEDUP_KINDS.get(doc.get("decision"))
    if kind and doc.get("duplicate_of"):
        yield kind, doc["duplicate_of"]


class Report(beam.PTransform):
    """Decided documents → ``summary`` (one dict) and ``clusters`` ((kind, size, clusters) triples: how many
    exact and near duplicate clusters have each size, the kept copy included)."""

    def __init__(self, rules: tuple = ()):
        super().__init__()
        self.rules = rules

    def expand(self, decided):
        summary = decided | "Summarize" >> beam.CombineGlobally(SummarizeFn(self.rules))
        clusters = (
            decided
            | "CopyOf" >> beam.FlatMap(_copy_of)
            | "CopiesPerCluster" >> beam.combiners.Count.PerElement()
            | "ClusterSize" >> beam.Map(lambda kv: (kv[0][0], kv[1] + 1))
            | "ClustersPerSize" >> beam.combiners.Count.PerElement()
            | "Triples" >> beam.Map(lambda kv: (kv[0][0], kv[0][1], kv[1]))
        )
        return {"summary": summary, "clusters": clusters}
