"""The schema and the code that fills it must not drift apart."""

from __future__ import annotations

import pyarrow as pa

from filters import heuristics
from schemas import COLUMNS, DOCUMENT_SCHEMA, SCORE_FIELDS, empty_document, to_row

TEXT = "The quick brown fox jumps over the lazy dog.\nIt was the best of times, and it was the worst of times."


def test_heuristics_return_exactly_the_schema_keys():
    assert set(heuristics.gopher_quality(TEXT)) == set(SCORE_FIELDS["gopher_quality"])
    assert set(heuristics.gopher_repetition(TEXT)) == set(SCORE_FIELDS["gopher_repetition"])
    assert set(heuristics.fineweb(TEXT)) == set(SCORE_FIELDS["fineweb"])
    assert set(heuristics.refinedweb_lines(TEXT)[1]) == set(SCORE_FIELDS["refinedweb"])
    # bad_words is added by the stage from c4_bad_words; the line function returns the rest.
    assert set(heuristics.c4_lines(TEXT)[1]) | {"bad_words"} == set(SCORE_FIELDS["c4"])


def test_a_full_row_round_trips_through_arrow():
    doc = empty_document()
    doc.update(id="a" * 32, text=TEXT, decision="keep", html=b"<p>not a column</p>")
    doc["scores"] = {stage: None for stage in SCORE_FIELDS}
    doc["scores"]["gopher_quality"] = heuristics.gopher_quality(TEXT)
    table = pa.Table.from_pylist([to_row(doc)], schema=DOCUMENT_SCHEMA)
    row = table.to_pylist()[0]
    assert set(row) == set(COLUMNS)
    assert row["scores"]["gopher_quality"]["word_count"] == doc["scores"]["gopher_quality"]["word_count"]
    assert row["scores"]["c4"] is None
    assert DOCUMENT_SCHEMA.metadata[b"schema_version"]
