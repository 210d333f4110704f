"""Deterministic sharded output: Parquet shards (the Hub layout) and optional Arrow shards (load_from_disk).

Why not Beam's ``WriteToParquet``: it assigns rows to shards in arrival order, so the bytes of a
shard depend on bundling and parallelism. Here a document's shard is a function of its id, rows in
a shard are sorted by id, and the shard count is a function of the total size, so the same input and
recipe give byte-identical files on any runner. Files are written under a temporary name and renamed,
so a reader (or a rerun) never sees a half-written shard.

A rerun into the same output (after a crash, a kill, or a Dataflow retry) leaves in place every shard
that already holds exactly the rows it would write: each file carries a fingerprint of its content and
settings in its schema metadata, so a complete shard is recognised by reading its footer (Parquet) or
first message (Arrow), and only missing or different shards are written.
"""

from __future__ import annotations

import contextlib
import json
import math
import posixpath
from typing import Iterable, Literal

import xxhash

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field, field_validator
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines import token_shards
from schemas import ERROR_SCHEMA
from schemas.config import StrictConfig
from schemas.files import atomic_write, file_size, join, read_bytes, write_text

DATA_DIR = "data"
SYNTHETIC_DIR = "synthetic"  # the ``synthetic`` config: MAGA rewrites (synth/), same layout as data/
ARROW_DIR = "arrow"
ERRORS_DIR = "errors"
KEYS_DIR = "dedup_keys"  # annotate-only runs: the dedup keys of every document with text (pipelines.redecide)
_KEY_ROW_BYTES = 160  # id, text key and nine band keys of one row, roughly
SPLIT = "train"
_ROW_OVERHEAD_BYTES = 512  # ids, url, metadata and scores of one row, roughly


class OutputConfig(StrictConfig):
    """The recipe's ``output`` section: formats, shard size and Parquet settings. ``megatron`` and
    ``nanotron`` add token shards for trainers beside the Parquet (or Arrow) shards they mirror
    (``pipelines/token_shards.py``)."""

    formats: list[Literal["parquet", "arrow", "megatron", "nanotron"]] = ["parquet"]
    #: report.html (funnel, distributions, examples) and the card's charts (pipelines/report)
    report: bool = True
    target_shard_bytes: int = Field(256 * 1024 * 1024, gt=0)
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"
    row_group_rows: int = Field(2000, gt=0)

    @field_validator("formats")
    @classmethod
    def _not_empty(cls, value: list[str]) -> list[str]:
        if not {"parquet", "arrow"} & set(value):
            raise ValueError("name parquet or arrow among the output formats: token shards (megatron, nanotron) "
                             "are written beside the Parquet or Arrow shards they mirror")
        return value

    @property
    def token_formats(self) -> list[str]:
        return [f for f in token_shards.TOKEN_FORMATS if f in self.formats]


def doc_bytes(doc: dict) -> int:
    return len((doc.get("text") or "").encode("utf-8")) + _ROW_OVERHEAD_BYTES


def num_shards(total_bytes: int, target_shard_bytes: int) -> int:
    return max(1, math.ceil(total_bytes / target_shard_bytes))


def shard_of(doc_id: str, shards: int) -> int:
    """Ids are xxh3 hex digests, so their leading bits spread documents evenly over shards."""
    return int(doc_id[:16], 16) % shards


def parquet_shard_path(index: int, shards: int, directory: str = DATA_DIR) -> str:
    return f"{directory}/{SPLIT}-{index:05d}-of-{shards:05d}.parquet"


def shard_targets(config: OutputConfig, index: int, shards: int, directory: str = DATA_DIR) -> list[tuple]:
    """The files shard ``index`` of ``shards`` is written to: (relative path, the writer settings its
    fingerprint covers, writer(path, table) -> bytes). Parquet always for a config other than ``data``;
    Arrow for ``data`` when the formats ask for it."""
    primary = directory == DATA_DIR
    targets = []
    if "parquet" in config.formats or not primary:
        targets.append((parquet_shard_path(index, shards, directory),
                        ("parquet", config.compression, config.row_group_rows),
                        lambda path, t: write_parquet(path, t, config.compression, config.row_group_rows)))
    if "arrow" in config.formats and primary:
        targets.append((arrow_shard_path(index, shards), ("arrow",), write_arrow))
    return targets


def keys_shard_path(index: int, shards: int) -> str:
    return f"{KEYS_DIR}/keys-{index:05d}-of-{shards:05d}.parquet"


def num_key_shards(rows: int, target_shard_bytes: int) -> int:
    return num_shards(rows * _KEY_ROW_BYTES, target_shard_bytes)


def arrow_shard_path(index: int, shards: int) -> str:
    return f"{ARROW_DIR}/data-{index:05d}-of-{shards:05d}.arrow"


FINGERPRINT_KEY = b"webcurate.fingerprint"


def _canonical(array: pa.Array) -> pa.Array:
    """The same values without the validity bitmap of an array that holds no null: Arrow allocates one or
    not depending on how the array was made (from Python objects, from a Parquet file)."""
    if array.null_count == 0 and array.buffers()[0] is not None and pa.types.is_primitive(array.type):
        return pa.Array.from_buffers(array.type, len(array), [None, *array.buffers()[1:]], 0, array.offset)
    return array


def content_digest(table: pa.Table) -> xxhash.xxh3_128:
    """xxh3-128 over a table's Arrow IPC bytes, in a canonical form, so the same rows give the same digest
    however the table was built (the pipeline builds shards from Python rows, pipelines.redecide from the
    Parquet of an earlier run): one record batch, structs flattened into their fields (a field under a null
    struct is null, whatever value a builder left there), no validity bitmap where there is no null. Hashed
    once per shard, then ``fingerprint`` per file."""
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    table = table.combine_chunks()
    columns = [pa.chunked_array([_canonical(c) for c in column.chunks], column.type) for column in table.columns]
    table = pa.Table.from_arrays(columns, schema=table.schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return xxhash.xxh3_128(sink.getvalue().to_pybytes())


def fingerprint(content: xxhash.xxh3_128, *settings: object) -> str:
    """The content digest continued with a file's writer settings: equal means the same file."""
    digest = content.copy()
    digest.update(repr(settings).encode())
    return digest.hexdigest()


def with_fingerprint(table: pa.Table, value: str) -> pa.Table:
    return table.replace_schema_metadata({**(table.schema.metadata or {}), FINGERPRINT_KEY: value.encode()})


def existing_fingerprint(path: str) -> str | None:
    """The fingerprint a complete shard at ``path`` carries; None if it is absent, unreadable or has none."""
    if not FileSystems.exists(path):
        return None
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            if path.endswith(".parquet"):
                schema = pq.read_schema(pa.PythonFile(handle, mode="r"))
            else:
                schema = pa.ipc.open_stream(handle).schema
    except (OSError, pa.ArrowException, ValueError):
        return None  # a foreign or damaged file: rewrite it
    value = (schema.metadata or {}).get(FINGERPRINT_KEY)
    return value.decode() if value else None


def kept_rows(table: pa.Table) -> pa.Table:
    """The rows a trainer gets: all of a filtered shard; of an annotate-only shard, those decided ``keep``."""
    if "decision" not in table.column_names:
        return table
    decision = table.column("decision")
    return table.filter(pc.or_kleene(pc.is_null(decision), pc.equal(decision, "keep")))


def rows_table(docs: Iterable[dict], schema: pa.Schema) -> pa.Table:
    """Rows sorted by id, projected onto ``schema``'s columns (working fields dropped)."""
    names = schema.names
    rows = [{name: d.get(name) for name in names} for d in sorted(docs, key=lambda d: d["id"])]
    return pa.Table.from_pylist(rows, schema=schema)


def write_parquet(path: str, table: pa.Table, compression: str, row_group_rows: int) -> int:
    codec = None if compression == "none" else compression

    def write(handle) -> None:
        if table.num_rows:
            pq.write_table(table, handle, compression=codec, row_group_size=row_group_rows, write_statistics=True)
        else:
            # No row group at all: `datasets` reads a 0-row row group with batch size 0 and fails.
            pq.ParquetWriter(handle, table.schema, compression=codec).close()

    return atomic_write(path, write)


def write_arrow(path: str, table: pa.Table) -> int:
    def write(handle) -> None:
        with pa.ipc.new_stream(handle, table.schema) as writer:
            writer.write_table(table)

    return atomic_write(path, write)


def token_shard_complete(output: str, stem: str, fmt: str, stamp: str) -> bool:
    """Whether the token shard at ``stem`` was completely written with ``stamp`` (its ``.fingerprint``
    sidecar, written after its files, says so, and every file is there)."""
    files = [join(output, stem + ext) for ext in token_shards.EXTENSIONS[fmt]]
    sidecar = join(output, fingerprint_path(stem))
    return (FileSystems.exists(sidecar) and read_bytes(sidecar).decode() == stamp
            and all(FileSystems.exists(f) for f in files))


def write_token_shards(output: str, stems: dict[str, str], stamps: dict[str, str], documents: Iterable[list],
                       vocab_size: int, tokenizer_name: str) -> list[dict]:
    """Streams batches of documents' ids (``documents`` yields lists of id lists) into one token shard per
    format of ``stems`` ({format: stem}); every file atomic, each shard's ``.fingerprint`` (``stamps``)
    written last, after removing the old one, so a shard killed mid-write is never taken as complete.
    Returns an info dict per file (``token_shard_info``)."""
    tmp = {}
    for fmt, stem in stems.items():
        sidecar = join(output, fingerprint_path(stem))
        if FileSystems.exists(sidecar):
            FileSystems.delete([sidecar])
        directory, name = FileSystems.split(join(output, stem + token_shards.EXTENSIONS[fmt][0]))
        tmp[fmt] = (FileSystems.join(directory, f".tmp-{name}"), FileSystems.join(directory, name))
    lengths: list[int] = []
    with contextlib.ExitStack() as stack:  # every body closed, whichever create, write or close fails
        handles = {fmt: stack.enter_context(FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED))
                   for fmt, (path, _) in tmp.items()}
        for batch in documents:
            lengths.extend(len(ids) for ids in batch)
            for fmt, handle in handles.items():
                handle.write(token_shards.token_bytes(batch, token_shards.dtype_of(fmt, vocab_size)))
    tokens = sum(lengths)
    infos: list[dict] = []
    for fmt, stem in stems.items():
        dtype = token_shards.dtype_of(fmt, vocab_size)
        FileSystems.rename([tmp[fmt][0]], [tmp[fmt][1]])
        tails = ([token_shards.megatron_index(lengths, dtype)] if fmt == token_shards.MEGATRON else
                 [token_shards.nanotron_index(lengths), token_shards.nanotron_metadata(tokenizer_name, dtype, tokens)])
        for ext, body in zip(token_shards.EXTENSIONS[fmt][1:], tails):
            atomic_write(join(output, stem + ext), lambda f, b=body: f.write(b))
        write_text(join(output, fingerprint_path(stem)), stamps[fmt])
        infos += token_shard_info(output, stem, fmt, len(lengths), vocab_size)
    return infos


def fingerprint_path(stem: str) -> str:
    return stem + ".fingerprint"


def token_shard_info(output: str, stem: str, fmt: str, documents: int, vocab_size: int) -> list[dict]:
    """An info dict per file of a complete token shard (its token count from its body's size)."""
    sizes = [file_size(join(output, stem + ext)) for ext in token_shards.EXTENSIONS[fmt]]
    tokens = sizes[0] // token_shards.dtype_of(fmt, vocab_size).itemsize
    return [{"file": stem + ext, "stem": stem, "format": fmt, "documents": documents, "tokens": tokens, "bytes": size}
            for ext, size in zip(token_shards.EXTENSIONS[fmt], sizes)]


def write_errors(output: str, errors: list[dict]) -> str:
    errors = sorted(errors, key=lambda e: (e["source"], e["position"], e["reason"], e["message"]))
    relative = f"{ERRORS_DIR}/errors-00000-of-00001.parquet"
    write_parquet(join(output, relative), pa.Table.from_pylist(errors, schema=ERROR_SCHEMA), "zstd", 10_000)
    return relative


def write_arrow_layout(output: str, shards: list[str], fingerprint: str, description: str, schema: pa.Schema) -> None:
    """state.json + dataset_info.json next to the Arrow shards (of ``schema``): what ``datasets.load_from_disk``
    reads."""
    import datasets

    features = datasets.Features.from_arrow_schema(schema)
    state = {
        "_data_files": [{"filename": posixpath.basename(s)} for s in sorted(shards)],
        "_fingerprint": fingerprint,
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": SPLIT,
    }
    info = {"citation": "", "description": description, "features": features.to_dict(), "homepage": "", "license": ""}
    write_text(join(output, f"{ARROW_DIR}/state.json"), json.dumps(state, indent=2) + "\n")
    write_text(join(output, f"{ARROW_DIR}/dataset_info.json"), json.dumps(info, indent=2) + "\n")


def remove_stale(output: str, keep: set[str]) -> list[str]:
    """Delete what an earlier run left that this run did not write: shards of another shard count (token
    shards of a format no longer asked for among them), a report this run did not make, and temporary
    files of a run killed mid-write."""
    stale = []
    patterns = [f"{DATA_DIR}/{SPLIT}-*.parquet", f"{SYNTHETIC_DIR}/{SPLIT}-*.parquet", f"{ARROW_DIR}/data-*.arrow",
                f"{DATA_DIR}/.tmp-*", f"{SYNTHETIC_DIR}/.tmp-*", f"{ARROW_DIR}/.tmp-*", f"{ERRORS_DIR}/.tmp-*", ".tmp-*",
                "report.html", "report/*.png", "report/.tmp-*", f"{KEYS_DIR}/*"]
    patterns += [f"{fmt}/{config}/{name}" for fmt in token_shards.TOKEN_FORMATS for config in (DATA_DIR, SYNTHETIC_DIR)
                 for name in (f"{SPLIT}-*", ".tmp-*")]
    for pattern in patterns:
        for match in FileSystems.match([join(output, pattern)])[0].metadata_list:
            relative = posixpath.relpath(match.path.replace("\\", "/"), output.replace("\\", "/"))
            if relative not in keep:
                stale.append(match.path)
    if stale:
        FileSystems.delete(stale)
    return stale
