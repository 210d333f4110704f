"""The Arrow schema of a curated document.

One schema for every stage and every output: readers fill the identity columns, extraction fills the
page metadata, filters fill ``scores``, the decision step fills ``decision``, dedup fills
``duplicate_of``. Writers, the dataset card and the tests all take it from here, so a column can
never exist in one place and not another. Any change to the columns bumps ``SCHEMA_VERSION``. The
``scores`` struct follows the stages a pipeline registers (``document_schema``), so that adding a stage
adds its scores without editing this file.

Scores are a struct of per-stage structs (``scores.gopher_quality.word_count``) rather than flat
columns: stages stay namespaced, a stage that did not run is a null struct, and DuckDB / pandas /
``datasets`` all address nested fields directly.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pyarrow as pa

#: 1.1: scores.quality, scores.perplexity, ccnet_bucket; 1.2: scores.pii; 1.3: scores.url,
#: scores.decontamination; 1.4: token_count
SCHEMA_VERSION = "1.4.0"

#: Column name -> (type, description). The descriptions feed the dataset card. ``scores`` has no fixed
#: type: its struct has one member per stage that scores (``document_schema``).
COLUMNS: dict[str, tuple[pa.DataType | None, str]] = {
    "id": (pa.string(), "Stable document id: xxh3-128 of the source record's own id (or file name and position)."),
    "record_id": (pa.string(), "The record's own id in its source: WARC-Record-ID, or the JSONL/Parquet id column."),
    "url": (pa.string(), "Page URL (WARC-Target-URI, or the url column of text inputs)."),
    "source": (pa.string(), "Input file the record was read from."),
    "source_format": (pa.string(), "warc, wet, jsonl or parquet."),
    "crawl_date": (pa.string(), "WARC-Date of the capture (ISO 8601), empty for text inputs."),
    "title": (pa.string(), "Page title found by the extractor."),
    "date": (pa.string(), "Publication date the page states in its markup or URL (extract.metadata light); "
                          "full also guesses one from the text."),
    "content_type": (pa.string(), "HTTP Content-Type media type of the payload."),
    "charset": (pa.string(), "Character set the HTML was decoded with (declared, else detected)."),
    "text": (pa.string(), "Main text after extraction and line-level corrections."),
    "language": (pa.string(), "Language label (ISO 639) from fastText lid.176."),
    "language_score": (pa.float64(), "Probability of that label."),
    "scores": (None, "Every quality signal, by stage; null where a stage did not run."),
    "ccnet_bucket": (pa.string(), "CCNet perplexity bucket over this corpus: head, middle or tail."),
    "decision": (pa.string(), "'keep', or the first drop reason as 'stage:rule'."),
    "duplicate_of": (pa.string(), "For dedup drops: id of the copy that was kept."),
    "token_count": (pa.int64(), "Tokens of `text` under the recipe's tokenizer (the card names it), no BOS/EOS; "
                                "null for documents not kept (an annotate-only run counts every document with text)."),
    "recipe_hash": (pa.string(), "sha256 prefix of the resolved recipe that produced this row."),
}



def scores_type(score_fields: Mapping[str, Sequence[str]]) -> pa.StructType:
    """``scores``: one struct per stage (in the given order), one float64 per score."""
    return pa.struct(
        [pa.field(stage, pa.struct([pa.field(key, pa.float64()) for key in keys])) for stage, keys in score_fields.items()]
    )


def typed_columns(columns: Mapping[str, tuple[pa.DataType | None, str]],
                  score_fields: Mapping[str, Sequence[str]]) -> list[pa.Field]:
    """``columns`` as Arrow fields, ``scores`` typed by ``score_fields``."""
    return [pa.field(name, dtype if dtype is not None else scores_type(score_fields))
            for name, (dtype, _) in columns.items()]


def document_schema(score_fields: Mapping[str, Sequence[str]]) -> pa.Schema:
    """The schema of a curated document whose stages write ``score_fields`` (stage -> score names).

    The stages are declared in their packages and listed in ``pipelines/registry.py``, which builds the
    pipeline's ``DOCUMENT_SCHEMA`` with this."""
    return pa.schema(typed_columns(COLUMNS, score_fields), metadata={"schema_version": SCHEMA_VERSION})


#: Errors: one row per record (or file region) that could not be processed (``schemas.outcomes.error_row``).
ERROR_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string()),
        pa.field("position", pa.string()),  # byte offset, line number or record id: where to look
        pa.field("record_id", pa.string()),
        pa.field("url", pa.string()),
        pa.field("reason", pa.string()),  # "stage:kind", e.g. "read:parse_error"
        pa.field("message", pa.string()),
    ],
    metadata={"schema_version": SCHEMA_VERSION},
)


def empty_document() -> dict:
    """A document with every column present, so no stage has to guess which keys exist."""
    return {name: None for name in COLUMNS}


def to_row(doc: dict) -> dict:
    """Project a pipeline document onto the schema's columns (drops working fields like raw HTML)."""
    return {name: doc.get(name) for name in COLUMNS}
