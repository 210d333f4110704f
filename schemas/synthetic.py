"""The Arrow schema of a synthetic (MAGA-reformulated) document: the document schema plus ``provenance``.

Synthetic documents are written as their own dataset config (``synthetic``), so trainers choose the mix.
They keep every column of the document schema (one reader, one loader for both configs), with meanings
adapted where a rewrite differs from a crawled page (``SYNTHETIC_COLUMNS``), and add one ``provenance``
struct: where the text came from and exactly how it was made (``synth.maga.provenance``).

The struct has fixed types, so every row has the same struct whatever steps ran (a step that did not
run, such as the re-ask or the judge, is a null member, never a missing one). The score and step names
are repeated here rather than imported so that this module, like ``schemas.document``, needs nothing
but pyarrow; ``tests/schemas/test_synthetic.py`` checks them against ``synth.maga``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import pyarrow as pa

from schemas.document import COLUMNS, SCHEMA_VERSION, typed_columns

SYNTHETIC_SCHEMA_VERSION = "1.1.0"

#: Scores of the limited-consistency checks (``synth.maga.SYNTH_SCORES``).
SYNTH_SCORE_FIELDS: tuple[str, ...] = (
    "preamble",
    "looped",
    "words",
    "truncated",
    "refusal",
    "echo",
    "length_ratio",
    "keyword_coverage",
    "source_copy",
    "judge",
)

#: LM steps, each with its prompt and sampling parameters (null when the step did not run).
SYNTH_STEPS: tuple[str, ...] = ("pairs", "reask", "rewrite", "judge")

SAMPLING_TYPE = pa.struct(
    [
        pa.field("max_tokens", pa.int64()),
        pa.field("temperature", pa.float64()),
        pa.field("top_p", pa.float64()),
        pa.field("seed", pa.int64()),
        pa.field("stop", pa.list_(pa.string())),
    ]
)


def _per_step(dtype: pa.DataType) -> pa.StructType:
    return pa.struct([pa.field(step, dtype) for step in SYNTH_STEPS])


#: Provenance member -> (type, description). Same keys as ``synth.maga.provenance()``.
PROVENANCE_FIELDS: dict[str, tuple[pa.DataType, str]] = {
    "method": (pa.string(), "Synthesis method: 'maga' (genre–audience reformulation, arXiv 2502.04235)."),
    "source_id": (pa.string(), "id of the curated document that was rewritten (a row of the default config)."),
    "pair_index": (pa.int64(), "Position of the (genre, audience) pair among the source's usable pairs."),
    "genre": (pa.string(), "The genre the model was asked to write in."),
    "audience": (pa.string(), "The audience the model was asked to write for."),
    "pair_origin": (pa.string(), "Who chose the pair: 'model' (proposed in stage a) or 'catalogue' (the curated "
                    "genre × audience catalogue filled a place the model's proposals left)."),
    "catalogue_sha256": (pa.string(), "SHA-256 of the catalogue file a catalogue pair came from (null for 'model')."),
    "prompt_names": (_per_step(pa.string()), "Versioned prompt file per step (pairs, reask, rewrite, judge)."),
    "prompt_sha256": (_per_step(pa.string()), "SHA-256 of each prompt file: exactly what the model was asked."),
    "backend": (pa.string(), "Backend kind: 'transformers' or 'llamacpp' (in-process), or 'openai' (an OpenAI-compatible server)."),
    "model": (pa.string(), "Model that wrote the text (file or folder name, or the served model name)."),
    "sampling": (_per_step(SAMPLING_TYPE), "Sampling parameters per step: max_tokens, temperature, top_p, seed, stop."),
    "pairs_repair": (pa.string(), "How the pair list was read: none, local (JSON repaired), reask."),
    "source_chars": (pa.int64(), "Characters of the source shown to the model (long documents are cut)."),
    "source_truncated": (pa.bool_(), "Whether the source was cut to fit the prompt."),
    "scores": (
        pa.struct([pa.field(name, pa.float64()) for name in SYNTH_SCORE_FIELDS]),
        "Check scores of the rewrite (preamble, looped and truncated record corrections; words, refusal, echo, "
        "length_ratio, keyword_coverage, source_copy, judge; null where a check abstained).",
    ),
}

PROVENANCE_TYPE = pa.struct([pa.field(name, dtype) for name, (dtype, _) in PROVENANCE_FIELDS.items()])

#: Descriptions that change for synthetic rows; the other columns mean what they mean in COLUMNS.
_SYNTHETIC_MEANING: dict[str, str] = {
    "id": "Stable id of the rewrite: xxh3-128 of source id, pair, rewrite prompt hash and model.",
    "record_id": "The source document's record id (WARC-Record-ID or input id).",
    "url": "URL of the source document the rewrite was made from.",
    "source": "Input file of the source document.",
    "source_format": "Format of the source document's input file.",
    "crawl_date": "Capture date of the source document.",
    "title": "Null: a rewrite has no page title.",
    "date": "Null: a rewrite has no publication date.",
    "content_type": "Null: not a fetched payload.",
    "charset": "Null: not a fetched payload.",
    "text": "The rewrite (a leading line of talk about the task is removed).",
    "language": "Language of the rewrite by the language stage (the source's label where that stage is off).",
    "language_score": "Language ID score of the rewrite (null where the language stage is off).",
    "scores": "Scores of the corpus stages that check rewrites too (language, heuristics, PII); the others are "
              "null. Synthesis's own checks are in provenance.scores.",
    "ccnet_bucket": "Null: perplexity buckets are over the curated corpus.",
    "decision": "'keep'; in annotate-only runs also the reason of a rewrite that was rejected: 'synth:<check>' "
                "or a corpus stage's (language, heuristics, 'dedup:exact' / 'dedup:near', PII).",
    "duplicate_of": "The curated document or earlier rewrite (by id) that this rewrite copies (dedup drops only).",
}

#: Column name -> (type, description) for the dataset card's ``synthetic`` config.
SYNTHETIC_COLUMNS: dict[str, tuple[pa.DataType | None, str]] = {
    **{name: (dtype, _SYNTHETIC_MEANING.get(name, description)) for name, (dtype, description) in COLUMNS.items()},
    "provenance": (PROVENANCE_TYPE, "Where the rewrite came from and how it was made (members below)."),
}



def synthetic_schema(score_fields: Mapping[str, Sequence[str]]) -> pa.Schema:
    """The synthetic config's schema: the document schema's columns (``scores`` typed by the stages, as
    ``document_schema``), then ``provenance``."""
    return pa.schema(
        typed_columns(SYNTHETIC_COLUMNS, score_fields),
        metadata={"schema_version": SCHEMA_VERSION, "synthetic_schema_version": SYNTHETIC_SCHEMA_VERSION},
    )


def _clean_score(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def normalize_provenance(provenance: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``provenance`` against the struct and fill absent optional members with None.

    Arrow silently ignores unknown struct members, so a key added in ``synth.maga`` without a schema
    change would vanish from the dataset; here it is an error instead. Scores become floats (NaN: None).
    """
    unknown = set(provenance) - set(PROVENANCE_FIELDS)
    if unknown:
        raise ValueError(f"provenance has members the synthetic schema lacks: {', '.join(sorted(unknown))}")
    scores = provenance.get("scores") or {}
    unknown_scores = set(scores) - set(SYNTH_SCORE_FIELDS)
    if unknown_scores:
        raise ValueError(
            f"provenance.scores has scores the synthetic schema lacks: {', '.join(sorted(unknown_scores))}"
        )
    row = {name: provenance.get(name) for name in PROVENANCE_FIELDS}
    row["scores"] = {name: _clean_score(scores.get(name)) for name in SYNTH_SCORE_FIELDS}
    return row


def to_synthetic_row(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Project a synthetic document onto the synthetic schema's columns (working fields dropped,
    provenance checked and completed)."""
    row = {name: doc.get(name) for name in SYNTHETIC_COLUMNS}
    if row["provenance"] is not None:
        row["provenance"] = normalize_provenance(row["provenance"])
    return row
