"""The document record: a full row round-trips through the schema built from the stages' scores."""

from __future__ import annotations

import pyarrow as pa

from schemas import COLUMNS, document_schema, empty_document, scores_type, to_row

TEXT = "The quick brown fox jumps over the lazy dog.\nIt was the best of times, and it was the worst of times."
FIELDS = {"language": ("score",), "gopher_quality": ("word_count", "mean_word_length"), "c4": ("bad_words",)}


def test_scores_are_a_struct_per_stage_in_the_given_order():
    typ = scores_type(FIELDS)
    assert [f.name for f in typ] == ["language", "gopher_quality", "c4"]
    assert [f.name for f in typ.field("gopher_quality").type] == ["word_count", "mean_word_length"]
    assert all(f.type == pa.float64() for f in typ.field("gopher_quality").type)


def test_a_full_row_round_trips_through_arrow():
    schema = document_schema(FIELDS)
    doc = empty_document()
    doc.update(id="a" * 32, text=TEXT, decision="keep", html=b"<p>not a column</p>")
    doc["scores"] = {"gopher_quality": {"word_count": 21.0, "mean_word_length": 3.5}}  # other stages: absent
    row = pa.Table.from_pylist([to_row(doc)], schema=schema).to_pylist()[0]
    assert set(row) == set(COLUMNS) and schema.names == list(COLUMNS)
    assert row["scores"]["gopher_quality"] == {"word_count": 21.0, "mean_word_length": 3.5}
    assert row["scores"]["c4"] is None and row["scores"]["language"] is None
    assert schema.metadata[b"schema_version"]
