"""The stage contract's routing: one helper, the same for every stage, and one counter per drop reason."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.outcomes import DOCS, DROP_COUNTERS, DROPPED, ERRORS, is_kept, light
from schemas.routing import outputs, route, split_kept

DOCS_IN = [
    {"id": "a", "source": "f", "url": "u/a", "decision": None, "text": "kept, not yet decided"},
    {"id": "b", "source": "f", "url": "u/b", "decision": "keep", "text": "kept"},
    {"id": "c", "source": "f", "url": "u/c", "decision": "c4:curly_bracket", "text": "dropped"},
    {"id": "d", "source": "f", "url": "u/d", "decision": "dedup:exact", "duplicate_of": "b", "text": "a copy"},
]


class _Route(beam.PTransform):
    def __init__(self, annotate_only: bool):
        super().__init__()
        self.annotate_only = annotate_only

    def expand(self, docs):
        routed = docs | beam.Map(route, self.annotate_only).with_outputs(DROPPED, main=DOCS)
        return outputs(routed[DOCS], routed[DROPPED])


def _drop_counters(result) -> dict[str, int]:
    counters = result.metrics().query(MetricsFilter().with_namespace(DROP_COUNTERS))["counters"]
    return {c.key.metric.name: c.committed for c in counters}


def test_filter_mode_sends_light_records_and_counts_each_reason():
    p = BeamTestPipeline(runner="DirectRunner")
    out = p | beam.Create(DOCS_IN) | _Route(annotate_only=False)
    assert_that(out[DOCS] | "Kept" >> beam.Map(lambda d: d["id"]), equal_to(["a", "b"]), label="kept")
    assert_that(out[DROPPED], equal_to([light(d) for d in DOCS_IN[2:]]), label="light")
    assert_that(out[ERRORS], equal_to([]), label="errors")
    result = p.run()
    result.wait_until_finish()
    assert _drop_counters(result) == {"c4:curly_bracket": 1, "dedup:exact": 1}


def test_annotate_only_keeps_every_document_whole_and_still_counts():
    p = BeamTestPipeline(runner="DirectRunner")
    out = p | beam.Create(DOCS_IN) | _Route(annotate_only=True)
    assert_that(out[DOCS], equal_to(DOCS_IN), label="all whole")
    assert_that(out[DROPPED], equal_to([]), label="none dropped")
    result = p.run()
    result.wait_until_finish()
    assert _drop_counters(result) == {"c4:curly_bracket": 1, "dedup:exact": 1}


def test_split_kept_separates_on_the_decision():
    assert [is_kept(d) for d in DOCS_IN] == [True, True, False, False]
    with BeamTestPipeline(runner="DirectRunner") as p:
        kept, decided = split_kept(p | beam.Create(DOCS_IN))
        assert_that(kept | "K" >> beam.Map(lambda d: d["id"]), equal_to(["a", "b"]), label="kept")
        assert_that(decided | "D" >> beam.Map(lambda d: d["id"]), equal_to(["c", "d"]), label="decided")
