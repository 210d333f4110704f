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
from schemas.synthetic import (
    PROVENANCE_FIELDS,
    PROVENANCE_TYPE,
    SYNTHETIC_COLUMNS,
    SYNTHETIC_SCHEMA,
    SYNTHETIC_SCHEMA_VERSION,
    to_synthetic_row,
)

__all__ = [
    "COLUMNS",
    "DOCUMENT_SCHEMA",
    "ERROR_SCHEMA",
    "SCHEMA_VERSION",
    "SCORE_FIELDS",
    "empty_document",
    "to_row",
    "PROVENANCE_FIELDS",
    "PROVENANCE_TYPE",
    "SYNTHETIC_COLUMNS",
    "SYNTHETIC_SCHEMA",
    "SYNTHETIC_SCHEMA_VERSION",
    "to_synthetic_row",
]
