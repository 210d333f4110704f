"""Arrow schemas shared by readers, filters, writers and the dataset card."""

from schemas.document import (
    COLUMNS,
    DOCUMENT_SCHEMA,
    ERROR_SCHEMA,
    SCHEMA_VERSION,
    SCORE_FIELDS,
    empty_document,
    to_row,
)

__all__ = [
    "COLUMNS",
    "DOCUMENT_SCHEMA",
    "ERROR_SCHEMA",
    "SCHEMA_VERSION",
    "SCORE_FIELDS",
    "empty_document",
    "to_row",
]
