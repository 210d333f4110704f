"""The floor of the house: what every stage shares, importing nothing else of the project.

* ``document``   the document record: its columns, an empty one, its row; the schema built from the
                 scores the registered stages write; the error row's schema;
* ``synthetic``  the synthetic (MAGA) record: the document columns plus ``provenance``;
* ``packed``     the wire form of a document crossing a shuffle or waiting on a side input;
* ``outcomes``   where a record ends (docs / dropped / errors / skipped), light and error rows;
* ``routing``    the Beam side of the stage contract: one helper routes and counts every decision;
* ``stage``      how a stage declares itself (``StageSpec``);
* ``config``     the base of every recipe section (strict, frozen);
* ``files``      the guarded path join and the atomic writer every output file goes through.

``filters/``, ``dedup/``, ``synth/`` and ``pipelines/`` build on it; nothing here imports them
(``tests/test_layers.py``).
"""

from schemas.document import (
    COLUMNS,
    ERROR_SCHEMA,
    SCHEMA_VERSION,
    document_schema,
    empty_document,
    scores_type,
    to_row,
)
from schemas.synthetic import (
    PROVENANCE_FIELDS,
    PROVENANCE_TYPE,
    SYNTHETIC_COLUMNS,
    SYNTHETIC_SCHEMA_VERSION,
    synthetic_schema,
    to_synthetic_row,
)

__all__ = [
    "COLUMNS",
    "ERROR_SCHEMA",
    "SCHEMA_VERSION",
    "document_schema",
    "empty_document",
    "scores_type",
    "to_row",
    "PROVENANCE_FIELDS",
    "PROVENANCE_TYPE",
    "SYNTHETIC_COLUMNS",
    "SYNTHETIC_SCHEMA_VERSION",
    "synthetic_schema",
    "to_synthetic_row",
]
