"""The synthetic schema and the provenance that synth.maga writes must not drift apart."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from schemas import PROVENANCE_FIELDS, SYNTHETIC_COLUMNS, document_schema, synthetic_schema, to_synthetic_row
from schemas.synthetic import SAMPLING_TYPE, SYNTH_SCORE_FIELDS, SYNTH_STEPS, normalize_provenance
from synth import maga
from synth.backends import Generation, SamplingParams

FIELDS = {"language": ("score",), "quality": ("score",)}
DOCUMENT_SCHEMA = document_schema(FIELDS)
SYNTHETIC_SCHEMA = synthetic_schema(FIELDS)


def _provenance(judge: bool = False, reask: bool = False) -> dict:
    """A real provenance record, as synth.maga writes it for a rewrite."""
    config = maga.MagaConfig(judge=judge)
    scores = maga.rewrite_scores(
        "Wheat needs sunlight and water to grow in the field.",
        Generation(text="Dear pupils, wheat grows with sunlight and water.", finish_reason="stop"),
        config.prompt("rewrite_v1"),
    )
    return maga.provenance(
        source_id="doc-1",
        pair=maga.Pair("A letter to a class. Short.", "Pupils aged 12. Curious."),
        pair_index=0,
        prompts={
            "pairs": config.prompt("pairs_v1"),
            "reask": config.prompt("pairs_reask_v1") if reask else None,
            "rewrite": config.prompt("rewrite_v1"),
            "judge": config.prompt("judge_v1") if judge else None,
        },
        backend="transformers",
        model="SmolLM2-135M-Instruct.Q4_1.gguf",
        sampling={
            "pairs": config.pairs_params,
            "reask": config.pairs_params if reask else None,
            "rewrite": config.rewrite_params,
            "judge": config.judge_params if judge else None,
        },
        scores={**scores, "judge": 4.0 if judge else math.nan},
        pairs_repair="reask" if reask else "none",
        source_chars=52,
        source_truncated=False,
    )


def test_schema_names_match_what_maga_writes():
    assert SYNTH_SCORE_FIELDS == maga.SYNTH_SCORES
    prov = _provenance()
    assert list(prov) == list(PROVENANCE_FIELDS)
    assert tuple(prov["prompt_names"]) == tuple(prov["sampling"]) == SYNTH_STEPS
    assert [f.name for f in SAMPLING_TYPE] == list(SamplingParams().as_dict())


def test_the_document_columns_come_first_with_their_types():
    assert SYNTHETIC_SCHEMA.names == DOCUMENT_SCHEMA.names + ["provenance"]
    for field in DOCUMENT_SCHEMA:
        assert SYNTHETIC_SCHEMA.field(field.name).type == field.type
    assert all(description for _, description in SYNTHETIC_COLUMNS.values())
    assert all(description for _, description in PROVENANCE_FIELDS.values())
    assert SYNTHETIC_SCHEMA.metadata[b"synthetic_schema_version"]


@pytest.mark.parametrize("judge, reask", [(False, False), (True, True)])
def test_rows_round_trip_with_the_same_struct_whatever_steps_ran(judge, reask):
    row = to_synthetic_row(
        {
            "id": "x" * 32,
            "text": "Dear pupils ...",
            "decision": "keep",
            "url": "https://a.example/",
            "provenance": _provenance(judge, reask),
            "html": b"not a column",
        }
    )
    assert set(row) == set(SYNTHETIC_COLUMNS)
    [back] = pa.Table.from_pylist([row], schema=SYNTHETIC_SCHEMA).to_pylist()
    prov = back["provenance"]
    assert prov["sampling"]["rewrite"]["max_tokens"] == maga.MagaConfig().rewrite_params.max_tokens
    assert (prov["sampling"]["judge"] is None) is not judge and (prov["prompt_sha256"]["reask"] is None) is not reask
    assert prov["scores"]["judge"] == (4.0 if judge else None) and prov["scores"]["words"] == 8.0
    assert prov["pairs_repair"] == ("reask" if reask else "none") and back["scores"] is None


def test_unknown_members_are_errors_not_silently_dropped_columns():
    with pytest.raises(ValueError, match="lacks: temperature_schedule"):
        normalize_provenance({**_provenance(), "temperature_schedule": "cosine"})
    with pytest.raises(ValueError, match="provenance.scores .* lacks: toxicity"):
        normalize_provenance({**_provenance(), "scores": {"words": 3.0, "toxicity": 0.1}})
    partial = normalize_provenance({"method": "maga", "scores": {"words": 3, "judge": math.nan}})
    assert partial["scores"]["words"] == 3.0 and partial["scores"]["judge"] is None and partial["model"] is None
