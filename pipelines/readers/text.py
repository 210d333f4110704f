"""Text inputs: JSON Lines and Parquet files with a text column (and optional id and url columns)."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Iterator

from pipelines.readers.records import Item, Opener, new_doc
from schemas.outcomes import error_row


@dataclass(frozen=True)
class TextColumns:
    """Column / key names of text inputs (JSONL, Parquet), configurable per run."""

    text: str = "text"
    id: str = "id"
    url: str = "url"


def _valid_str(value: str) -> str:
    """``value`` with lone surrogates (JSON allows "\\ud800" escapes) replaced by U+FFFD: no UTF-8 encoder,
    Beam coder or Arrow column accepts them, so one such record would otherwise fail the whole job."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _text_doc(source: str, fmt: str, row: dict, cols: TextColumns, position: int) -> dict:
    record_id = row.get(cols.id)
    url = row.get(cols.url)
    doc = new_doc(source, fmt, _valid_str(str(record_id)) if record_id is not None else None,
                   _valid_str(str(url or "")), position)
    text = row.get(cols.text)
    if isinstance(text, str):
        text = _valid_str(text)
    if not isinstance(text, str) or not text.strip():
        doc["decision"] = "read:no_text"
    else:
        doc["text"] = text
        doc["content_type"] = "text/plain"
    return doc


def read_jsonl(source: str, open_file: Opener, cols: TextColumns) -> Iterator[Item]:
    """JSON Lines; ``open_file`` already undoes .gz/.zst (Beam's compression detection)."""
    line_no = 0
    try:
        with open_file() as raw:
            # readline() rather than TextIOWrapper: Beam's CompressedFile is not a full io object.
            for line_no, raw_line in enumerate(iter(raw.readline, b""), start=1):
                line = raw_line.decode("utf-8", errors="replace")
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    yield "error", error_row(source, f"line {line_no}", "read:bad_json", f"{err}; fix or drop that line")
                    continue
                if not isinstance(row, dict):
                    yield "error", error_row(source, f"line {line_no}", "read:bad_json", "line is not a JSON object")
                    continue
                yield "doc", _text_doc(source, "jsonl", row, cols, line_no)
    except (OSError, EOFError, gzip.BadGzipFile, ValueError) as err:
        yield "error", error_row(
            source, f"line {line_no + 1}", "read:parse_error",
            f"{type(err).__name__}: {err}; lines before it were processed; re-fetch or re-compress the file",
        )


def read_parquet(source: str, open_file: Opener, cols: TextColumns, batch_rows: int = 1024) -> Iterator[Item]:
    """Parquet with a text column; only the three named columns are read."""
    import pyarrow.parquet as pq

    row_no = 0
    try:
        with open_file() as raw:
            parquet = pq.ParquetFile(raw)
            names = set(parquet.schema_arrow.names)
            if cols.text not in names:
                yield "error", error_row(
                    source, "schema", "read:no_text_column",
                    f"no column {cols.text!r} (columns: {', '.join(sorted(names))}); pass --text_column",
                )
                return
            wanted = [c for c in (cols.text, cols.id, cols.url) if c in names]
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=wanted):
                for row in batch.to_pylist():
                    yield "doc", _text_doc(source, "parquet", row, cols, row_no)
                    row_no += 1
    except Exception as err:  # noqa: BLE001 — corrupt Parquet must be an error row, not a crash
        yield "error", error_row(
            source, f"row {row_no}", "read:parse_error",
            f"{type(err).__name__}: {err}; rows before it were processed",
        )
