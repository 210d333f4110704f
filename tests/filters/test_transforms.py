"""The filter stages as Beam transforms (TestPipeline + assert_that), on real text: Curate gives the
decisions of the plain stages and shares its models per process; PerplexitySelect buckets and bands."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.internal import pickler
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from filters.config import PerplexityConfig
from filters.registry import DOCUMENT_STAGES
from filters.stages import bind, run_stages
from filters.transforms import Curate, CurateFn, PerplexitySelect
from pipelines.recipe import load_recipe
from schemas.outcomes import DOCS, DROPPED, ERRORS


def _texts(rows: list[dict]) -> list[dict]:
    return [{"id": r["id"], "source": "mini", "url": r["url"], "text": r["text"], "scores": None, "language": None,
             "language_score": None, "decision": None} for r in rows]


@pytest.fixture(scope="module")
def stages():
    recipe = load_recipe()
    return tuple((spec, recipe.section(spec.section)) for spec in DOCUMENT_STAGES)


def test_curate_gives_the_plain_stages_decisions(mini_jsonl_rows, stages):
    docs = _texts(mini_jsonl_rows)
    expected_docs = [dict(d) for d in docs]
    reasons = run_stages(expected_docs, [bind(spec, cfg) for spec, cfg in stages], annotate_only=False)
    kept = sorted(d["id"] for d, r in zip(docs, reasons) if r is None)
    dropped = sorted((d["id"], r) for d, r in zip(docs, reasons) if r is not None)
    assert kept and dropped  # the fixture has both
    with BeamTestPipeline(runner="DirectRunner") as p:
        out = p | beam.Create(docs) | Curate(stages, annotate_only=False)
        assert_that(out[DOCS] | "Kept" >> beam.Map(lambda d: (d["id"], d["decision"])),
                    equal_to([(i, "keep") for i in kept]), label="kept")
        assert_that(out[DROPPED] | "Dropped" >> beam.Map(lambda d: (d["id"], d["decision"])), equal_to(dropped),
                    label="dropped")
        assert_that(out[ERRORS], equal_to([]), label="errors")


def test_curate_in_annotate_only_mode_keeps_every_document_with_every_score(mini_jsonl_rows, stages):
    docs = _texts(mini_jsonl_rows)
    names = [spec.name for spec, _ in stages]
    with BeamTestPipeline(runner="DirectRunner") as p:
        out = p | beam.Create(docs) | Curate(stages, annotate_only=True)
        assert_that(out[DOCS] | "All" >> beam.Map(lambda d: all(d["scores"][n] is not None for n in names)),
                    equal_to([True] * len(docs)), label="scored")
        assert_that(out[DROPPED], equal_to([]), label="none dropped")


def test_models_are_loaded_once_per_process_whatever_the_number_of_dofn_instances(stages):
    # Dataflow deserializes a DoFn once per harness thread: every copy must get the same models.
    fn = CurateFn(stages, annotate_only=False)
    first, second = pickler.loads(pickler.dumps(fn)), pickler.loads(pickler.dumps(fn))
    first.setup()
    second.setup()
    assert first is not second and first.loaded is second.loaded
    names = [s.name for s in first.loaded.stages]
    assert names == [spec.name for spec, _ in stages] and names[0] == "language" and names[-1] == "perplexity"
    other = CurateFn(stages, annotate_only=False)  # another step of the graph: its own handle
    other.setup()
    assert other.loaded is not first.loaded


def test_a_second_curate_scores_kept_documents_and_keeps_their_earlier_scores(mini_jsonl_rows, stages):
    # After a corpus stage (dedup), documents arrive with decision "keep" and the first Curate's scores.
    first, second = stages[:1], stages[1:3]  # language | gopher_repetition, gopher_quality
    docs = _texts(mini_jsonl_rows)
    run_stages(docs, [bind(spec, cfg) for spec, cfg in first], annotate_only=True)
    for doc in docs:
        doc["decision"] = "keep"
    names = [spec.name for spec, _ in first + second]
    with BeamTestPipeline(runner="DirectRunner") as p:
        out = p | beam.Create(docs) | Curate(second, annotate_only=True)
        assert_that(out[DOCS] | beam.Map(lambda d: all(d["scores"][n] is not None for n in names)),
                    equal_to([True] * len(docs)), label="all scores")


def _scored(i: int, perplexity: float, decision: str = "keep") -> dict:
    return {"id": f"d{i:03d}", "source": "s", "url": "u", "decision": decision, "duplicate_of": None,
            "scores": {"perplexity": {"perplexity": perplexity}}}


def test_perplexity_select_buckets_by_corpus_percentiles_and_keeps_the_band():
    docs = [_scored(i, 10.0 + i) for i in range(100)]  # perplexities 10 .. 109
    config = PerplexityConfig(select="medium", select_rate=0.5)
    with BeamTestPipeline(runner="DirectRunner") as p:
        out = p | beam.Create(docs) | PerplexitySelect(config, annotate_only=False)
        kept = out[DOCS] | "Kept" >> beam.Map(lambda d: (d["id"], d["ccnet_bucket"]))

        def middle_half(pairs):
            ids = sorted(i for i, _ in pairs)
            assert 48 <= len(ids) <= 52 and ids[0] >= "d023" and ids[-1] <= "d076", ids
            assert {b for _, b in pairs} <= {"head", "middle", "tail"}

        assert_that(kept, middle_half, label="band")
        assert_that(out[DROPPED] | "Reasons" >> beam.Map(lambda d: d["decision"]) | beam.Distinct(),
                    equal_to(["perplexity:band"]), label="dropped")
        assert_that(out[ERRORS], equal_to([]), label="errors")


@pytest.mark.parametrize("cutoffs, expected", [
    ("en", {"head": 3, "middle": 2, "tail": 2}),         # CCNet's published English cut-offs: 340 / 520
    ((100.0, 1000.0), {"head": 1, "middle": 5, "tail": 1}),  # absolute cut-offs, whatever the corpus
])
def test_perplexity_select_buckets_by_fixed_cutoffs(cutoffs, expected):
    docs = [_scored(i, p) for i, p in enumerate((12.0, 200.0, 339.9, 340.0, 519.9, 520.0, 5000.0))]
    with BeamTestPipeline(runner="DirectRunner") as p:
        out = p | beam.Create(docs) | PerplexitySelect(PerplexityConfig(bucket_cutoffs=cutoffs), annotate_only=False)
        assert_that(out[DOCS] | beam.Map(lambda d: d["ccnet_bucket"]) | beam.combiners.Count.PerElement(),
                    equal_to(list(expected.items())))


def test_published_cutoffs_need_a_language_ccnet_covered_and_its_percentiles():
    with pytest.raises(ValueError, match="no cut-offs for 'xx'"):
        PerplexityConfig(bucket_cutoffs="xx")
    with pytest.raises(ValueError, match="30th and 60th"):
        PerplexityConfig(bucket_cutoffs="en", bucket_percentiles=(25.0, 50.0))
    assert PerplexityConfig(bucket_cutoffs="de").cutoffs(None) == (370.0, 590.0)


def test_perplexity_select_leaves_decided_documents_alone_in_annotate_mode():
    docs = [_scored(i, 10.0 + i) for i in range(10)] + [_scored(99, 5.0, decision="c4:curly_bracket")]

    def decided_untouched(rows):
        assert len(rows) == 11 and ("d099", "c4:curly_bracket", None) in rows
        assert all(bucket in ("head", "middle", "tail") for i, _, bucket in rows if i != "d099")

    with BeamTestPipeline(runner="DirectRunner") as p:
        out = p | beam.Create(docs) | PerplexitySelect(PerplexityConfig(), annotate_only=True)
        assert_that(out[DOCS] | beam.Map(lambda d: (d["id"], d["decision"], d.get("ccnet_bucket"))),
                    decided_untouched, label="decided untouched")
