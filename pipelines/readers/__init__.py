"""Readers: one input file in, a stream of documents, drops, errors and skipped records out.

Pure Python over a binary file object, no Beam: ``pipelines.transforms.ReadRecords`` opens files through
Beam's FileSystems (local, gs://, s3://) and hands them here.

* ``records``    what every reader makes: items, stable document ids, the format of a file name, the
                 recipe's ``read`` section;
* ``compressed`` the decompressed bytes of a file, with truncation, corruption and bombs reported;
* ``archives``   WARC, WET and ARC records framed over those bytes, HTTP decoded by FastWARC;
* ``text``       JSON Lines and Parquet with a text column.
"""

from pipelines.readers.archives import read_warc
from pipelines.readers.records import (
    DEFAULT_MAX_DECOMPRESSED_BYTES,
    HTML_TYPES,
    Item,
    Opener,
    ReadConfig,
    detect_format,
    doc_id,
)
from pipelines.readers.text import TextColumns, read_jsonl, read_parquet

__all__ = [
    "DEFAULT_MAX_DECOMPRESSED_BYTES",
    "HTML_TYPES",
    "Item",
    "Opener",
    "ReadConfig",
    "TextColumns",
    "detect_format",
    "doc_id",
    "read_jsonl",
    "read_parquet",
    "read_warc",
]
