"""Files this project reads and writes, on any FileSystems path (local, gs://, s3://): one reader of
whole (small) files, one guarded join, one writer that never leaves half a file under a final name.

Every file of an output folder or a near-dedup index (shards, stats, card, LSHBloom filters) is written
through ``atomic_write``: to a temporary sibling ``.tmp-<name>``, then renamed, so a reader, a rerun or a
Dataflow retry sees either the old file or the whole new one.
"""

from __future__ import annotations

import os

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems


def read_bytes(path: str) -> bytes:
    """A whole file's bytes, decompressed when its name ends in a compression extension (.gz, .zst, .bz2,
    .xz, .deflate: Beam's ``CompressionTypes.AUTO``); for lists and eval sets, not crawl files.

    Read in chunks to the end: Beam's compressed file returns at most 16 MiB from one ``read()``, so a
    plain ``read()`` of a larger decompressed file silently stops there (UT1's adult list is 124 MB)."""
    chunks = []
    with FileSystems.open(path, compression_type=CompressionTypes.AUTO) as handle:
        while chunk := handle.read(1 << 24):
            chunks.append(chunk)
    return b"".join(chunks)


def join(root: str | os.PathLike, relative: str) -> str:
    """``root``/``relative`` for a path this package names itself; anything that could land outside
    ``root`` (absolute, empty, ``.`` or ``..`` parts, backslashes) is refused rather than normalised."""
    parts = relative.split("/")
    if "\\" in relative or ":" in parts[0] or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"refusing to write {relative!r}: output files must stay inside {root}")
    return FileSystems.join(str(root), *parts)


def atomic_write(path: str, write) -> int:
    """Write through ``write(file)`` to a temporary sibling ``.tmp-<name>``, then rename onto ``path``
    (replacing it), so no reader ever sees half a file; returns the file's size."""
    directory, name = FileSystems.split(path)
    tmp = FileSystems.join(directory, f".tmp-{name}")
    with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        write(handle)
    FileSystems.rename([tmp], [path])
    return file_size(path)


def write_text(path: str, text: str) -> None:
    """``text`` as UTF-8 at ``path``, atomically."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def file_size(path: str) -> int:
    return FileSystems.match([path])[0].metadata_list[0].size_in_bytes
