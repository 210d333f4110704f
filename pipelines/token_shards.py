"""Token shards for trainers: Megatron's indexed dataset (``.bin`` + ``.idx``) and nanotron's (datatrove's)
``.ds`` + ``.ds.index`` + ``.ds.metadata``, which OLMo-core's numpy datasets also read unchanged.

Pure functions from documents' token ids to the bytes each trainer reads; the Beam writer
(``pipelines/pipeline.py``) streams them to files. Written here rather than through megatron-core's
``IndexedDatasetBuilder`` or datatrove's ``TokenizedFile``: both pull torch (and datatrove pins an old
trafilatura) into a curation job that only needs a few numpy arrays, and neither writes through Beam's
FileSystems or atomically. The tests hold these bytes equal to what those two write for the same ids
(``tests/clients``), so a trainer cannot tell the difference.

Formats, as their readers define them:

* Megatron MMIDIDX v1: ``.bin`` is every document's ids back to back; ``.idx`` is the header
  ``MMIDIDX\\0\\0``, version 1 (<Q), the dtype code (<B: 8 uint16, 4 int32), the sequence count (<Q), the
  document count + 1 (<Q), then int32 sequence lengths, int64 byte pointers and int64 document indices
  (one sequence per document, so 0..n). The dtype is megatron-core's ``DType.optimal_dtype``: uint16 for
  a vocabulary below 65,500 ids, else int32.
* nanotron / datatrove: ``.ds`` is the ids back to back (uint16 when every id fits, i.e. a vocabulary of
  at most 65,536, else uint32); ``.ds.index`` is each document's end in tokens (<Q); ``.ds.metadata`` is
  ``<tokenizer>|<token bytes>``, the token count and its humanized form, on three lines without a final
  newline (datatrove's ``TokenizedFile.write_final_metadata``).
"""

from __future__ import annotations

import struct
from typing import Iterable, Sequence

import numpy as np

MEGATRON = "megatron"
NANOTRON = "nanotron"
TOKEN_FORMATS = (MEGATRON, NANOTRON)
LAYOUT_VERSION = 1  # part of every token shard's fingerprint: a change to these bytes rewrites old shards
EXTENSIONS = {MEGATRON: (".bin", ".idx"), NANOTRON: (".ds", ".ds.index", ".ds.metadata")}

_MEGATRON_HEADER = b"MMIDIDX\x00\x00"
_MEGATRON_CODES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}


def megatron_dtype(vocab_size: int) -> np.dtype:
    return np.dtype("<u2") if vocab_size < 65_500 else np.dtype("<i4")


def nanotron_dtype(vocab_size: int) -> np.dtype:
    return np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")


def dtype_of(fmt: str, vocab_size: int) -> np.dtype:
    return megatron_dtype(vocab_size) if fmt == MEGATRON else nanotron_dtype(vocab_size)


def token_bytes(documents: Iterable[Sequence[int]], dtype: np.dtype) -> bytes:
    """Documents' ids back to back: the body of a ``.bin`` and a ``.ds`` alike. An id the dtype cannot hold
    is an error, never a silent wrap."""
    ids = [np.asarray(doc, dtype=np.int64) for doc in documents]
    if not ids:
        return b""
    flat = np.concatenate(ids)
    if flat.size and (flat.min() < 0 or flat.max() > np.iinfo(dtype).max):
        raise ValueError(f"token id {int(flat.max())} does not fit the shard's {np.dtype(dtype).name}")
    return flat.astype(dtype).tobytes()


def megatron_index(lengths: Sequence[int], dtype: np.dtype) -> bytes:
    """The ``.idx`` of documents of ``lengths`` tokens each, one sequence per document."""
    lengths = np.asarray(lengths, dtype=np.int64)
    pointers = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1] * np.dtype(dtype).itemsize, out=pointers[1:])
    header = _MEGATRON_HEADER + struct.pack("<QBQQ", 1, _MEGATRON_CODES[np.dtype(dtype)], len(lengths),
                                            len(lengths) + 1)
    return (header + lengths.astype("<i4").tobytes() + pointers.astype("<i8").tobytes()
            + np.arange(len(lengths) + 1, dtype="<i8").tobytes())


def nanotron_index(lengths: Sequence[int]) -> bytes:
    """The ``.ds.index``: each document's end, in tokens from the start of the file."""
    return np.cumsum(np.asarray(lengths, dtype=np.uint64), dtype=np.uint64).astype("<u8").tobytes()


def nanotron_metadata(tokenizer: str, dtype: np.dtype, tokens: int) -> bytes:
    import humanize

    return "\n".join([f"{tokenizer}|{np.dtype(dtype).itemsize}", str(tokens),
                      humanize.metric(tokens, unit="T")]).encode("utf-8")


def shard_stem(fmt: str, directory: str, parquet_name: str) -> str:
    """``megatron/data/train-00000-of-00004`` for ``data/train-00000-of-00004.parquet``: one token shard per
    Parquet shard, same name, under a folder per format (and per config, so a folder holds one config)."""
    return f"{fmt}/{directory}/{parquet_name.rsplit('/', 1)[-1].removesuffix('.parquet')}"
