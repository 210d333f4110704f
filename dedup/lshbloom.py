"""LSHBloom: near-duplicate detection with one Bloom filter per MinHash band (Khan et al., 2411.04257).

A MinHash signature is cut into b bands of r values and each band becomes one 64-bit key
(``band_keys``). A document is a near-duplicate if *any* of its band keys is already in that band's
filter; documents are processed in a stated order, queried, then inserted, so the first of a group is
kept. Unlike MinHashLSH the index stores no candidate lists, only bits: ~32 bytes per document at the
defaults (b=9, p_eff=1e-5), against hundreds for an LSH table.

The Bloom filters are numpy bit arrays, chosen by measurement (bench/lshbloom_bench.py "choose", add +
query on 810k real band keys at p = 1.1e-6, one core): ours 1.9M ops/s in batches of 8192, rbloom with
a stable xxh3 ``hash_func`` 0.9M (its default hash is Python's ``hash()``, which differs per process for
str/bytes and would silently break a persisted filter), pybloomfilter3 (datasketch's) 0.75M,
pybloom-live 0.1M. Ours also has a layout we own: files can be memory-mapped, checksummed, OR-merged
and split by band or shard, and the hashing is integer arithmetic on our keys, the same everywhere.
(Double hashing gives only m(m-1) position sequences, a false-positive floor of ~1/m^2 that matters
only for toy filters of a few thousand bits.)

Semantics are exactly those of processing documents one at a time, in order, whatever the batch
size: within a batch, a document also sees the bits set by the documents before it. By default only
documents kept (not duplicates) are inserted, as in the paper; ``insert_duplicates=True`` inserts every
document, which makes each band independent of the others (the form a parallel Beam stage needs).

Persistence: a directory with ``index.json`` (parameters, signature scheme, capacity, count, files and
their checksums) and one ``band-JJJ-shard-SSSS.bloom`` file per filter, each with its own header, so a
worker can load, extend and save one band (or one shard of a band) alone, and filters built with the
same parameters can be OR-merged. Loading an index built with other parameters raises
``IndexMismatchError`` naming the fields that differ.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import xxhash
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from dedup import minhash
from dedup.normalize import MASK64, fmix64, fmix64_int
from dedup.params import LSHParams, bloom_fp, effective_fp
from schemas.files import atomic_write, join, write_text

FORMAT = 1
_MAGIC = b"WCBLOOM1"
INDEX_FILE = "index.json"
_ALIGN = 4096  # bits start on a page boundary, so a filter file can be memory-mapped
# Constants of the band-key and position hashes (fixed forever: they are part of the file format).
_KEY_SEED = 0x5DEECE66D
_POSITION_SALT = np.uint64(0x2545F4914F6CDD1D)
HASHING = "band-key multilinear64+fmix64; positions (h1 + i*h2) mod m, h1 = key mod m, h2 = 1 + fmix64(key^salt) mod (m-1)"


class IndexMismatchError(ValueError):
    """An index on disk was built with parameters other than the ones asked for."""


# Files go through Beam's FileSystems (pipelines.write), so an index can live on gs:// or s3:// as well
# as on disk (Dataflow workers share no disk), and are written under a temporary name and renamed, so a
# reader never sees half a filter.
def read_bytes(path: str | os.PathLike) -> bytes:
    with FileSystems.open(str(path), compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        return handle.read()


def _is_local(path: str | os.PathLike) -> bool:
    return "://" not in str(path)


def _splitmix64(state: int, count: int) -> list[int]:
    out = []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        out.append(z ^ (z >> 31))
    return out


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One uint64 key per band: shape (documents, bands), or (bands,) for one signature.

    Key j of a signature v is fmix64(sum over t < r of (v[j*r + t] + 1) * K_t mod 2^64), with K_t fixed
    constants (splitmix64 from a fixed seed): equal bands give equal keys, different bands collide with
    probability ~2^-64. The values past b*r are not used.
    """
    sig = np.asarray(signatures)
    single = sig.ndim == 1
    sig = np.atleast_2d(sig)
    if sig.shape[1] < bands * rows:
        raise ValueError(f"signature has {sig.shape[1]} values, fewer than b*r = {bands * rows}")
    constants = np.array(_splitmix64(_KEY_SEED, rows), dtype=np.uint64)
    block = sig[:, : bands * rows].reshape(sig.shape[0], bands, rows).astype(np.uint64)
    block += np.uint64(1)
    block *= constants
    keys = fmix64(block.sum(axis=2, dtype=np.uint64))
    return keys[0] if single else keys


def band_key_reference(band: Iterable[int]) -> int:
    """``band_keys`` for one band, in plain Python (the definition, for tests and other languages)."""
    values = list(band)
    h = 0
    for value, constant in zip(values, _splitmix64(_KEY_SEED, len(values))):
        h = (h + (int(value) + 1) * constant) & MASK64
    return fmix64_int(h)


def shard_of(keys: np.ndarray, shards: int) -> np.ndarray:
    """Which shard of its band a key belongs to: its top log2(shards) bits (shards is a power of two).

    Splitting each band's filter into shards of capacity n/shards keeps the false-positive rate and the
    total size, and lets a parallel runner group keys by (band, shard) so each group meets one small
    filter, with every copy of a key in the same group.
    """
    if shards == 1:
        return np.zeros(np.shape(keys), dtype=np.int64)
    return (np.asarray(keys, dtype=np.uint64) >> np.uint64(64 - (shards.bit_length() - 1))).astype(np.int64)


def positions(keys: np.ndarray, bits: int, hashes: int) -> np.ndarray:
    """Bit positions of keys in a filter of ``bits`` bits: shape (len(keys), hashes), uint64.

    Kirsch-Mitzenmacher double hashing, position i = (h1 + i*h2) mod m, exact integer arithmetic.
    """
    keys = np.asarray(keys, dtype=np.uint64)
    m = np.uint64(bits)
    step = np.uint64(1) + fmix64(keys ^ _POSITION_SALT) % np.uint64(max(bits - 1, 1))
    out = np.empty((keys.size, hashes), dtype=np.uint64)
    current = keys % m
    for i in range(hashes):
        out[:, i] = current
        current = current + step  # both < m < 2^63: no overflow
        current = np.where(current >= m, current - m, current)
    return out


def _test_bits(data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return ((data[(pos >> np.uint64(3)).astype(np.intp)] >> (pos & np.uint64(7)).astype(np.uint8)) & 1).astype(bool)


def _set_bits(data: np.ndarray, pos: np.ndarray) -> None:
    """Set bits at positions; a scatter loses writes to the same byte, so repeat until all are set
    (bitwise_or.at is exact but ~5x slower here; repeats are rare and few)."""
    pos = pos.ravel()
    while pos.size:
        index = (pos >> np.uint64(3)).astype(np.intp)
        data[index] |= np.uint8(1) << (pos & np.uint64(7)).astype(np.uint8)
        pos = pos[~_test_bits(data, pos)]


class BloomFilter:
    """A Bloom filter over uint64 keys: ``bits`` bits, ``hashes`` positions per key, numpy-backed."""

    def __init__(self, bits: int, hashes: int, data: np.ndarray | None = None, count: int = 0, meta: dict | None = None):
        if bits < 8 or bits % 8:
            raise ValueError(f"bits must be a positive multiple of 8, got {bits}")
        self.bits = int(bits)
        self.hashes = int(hashes)
        self.data = np.zeros(self.bits // 8, dtype=np.uint8) if data is None else data
        if self.data.shape != (self.bits // 8,):
            raise ValueError(f"data has {self.data.size} bytes, expected {self.bits // 8}")
        self.count = int(count)  # keys added (not distinct keys)
        self.meta = dict(meta or {})  # what the owner wants written in the file header

    def positions(self, keys: np.ndarray) -> np.ndarray:
        return positions(keys, self.bits, self.hashes)

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Which keys are (probably) present: bool array."""
        return _test_bits(self.data, self.positions(keys)).all(axis=1)

    def add(self, keys: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.uint64).ravel()
        _set_bits(self.data, self.positions(keys))
        self.count += keys.size

    def query_then_add(self, keys: np.ndarray) -> np.ndarray:
        """Per key, in order: present before it was added? (every key is added). Exactly the result of
        one key at a time, so a band worker can run its keys in the stated order, in any batch size."""
        keys = np.asarray(keys, dtype=np.uint64).ravel()
        pos = self.positions(keys)
        hits = _sequential_hits([pos], [_test_bits(self.data, pos)], [keys], insert_duplicates=True)
        _set_bits(self.data, pos)
        self.count += keys.size
        return hits

    def fill_ratio(self) -> float:
        """Fraction of bits set."""
        words = self.data[: self.data.size // 8 * 8].view(np.uint64)
        ones = int(np.bitwise_count(words).sum()) + int(np.bitwise_count(self.data[words.size * 8 :]).sum())
        return ones / self.bits

    def false_positive_rate(self) -> float:
        """Current false-positive rate, from the bits actually set: fill^k."""
        return self.fill_ratio() ** self.hashes

    def compatible(self, other: BloomFilter) -> bool:
        return self.bits == other.bits and self.hashes == other.hashes

    def __ior__(self, other: BloomFilter) -> BloomFilter:
        """OR-merge: afterwards this filter holds both key sets (count is the sum, an upper bound)."""
        if not self.compatible(other):
            raise ValueError(f"cannot merge filters of {self.bits}x{self.hashes} and {other.bits}x{other.hashes} bits x hashes")
        np.bitwise_or(self.data, other.data, out=self.data)
        self.count += other.count
        return self

    def header(self) -> dict:
        return {
            "format": FORMAT,
            "bits": self.bits,
            "hashes": self.hashes,
            "count": self.count,
            "hashing": HASHING,
            "xxh3_64": xxhash.xxh3_64_hexdigest(self.data),
            **self.meta,
        }

    def save(self, path: str | os.PathLike) -> dict:
        """Write header + bits to ``path`` (local or cloud) atomically; returns the header."""
        header = self.header()
        blob = json.dumps(header, sort_keys=True).encode()
        start = -(-(len(_MAGIC) + 8 + len(blob)) // _ALIGN) * _ALIGN
        pad = b"\0" * (start - len(_MAGIC) - 8 - len(blob))

        def write(handle) -> None:
            handle.write(_MAGIC + len(blob).to_bytes(8, "little") + blob + pad)
            handle.write(memoryview(self.data))

        atomic_write(str(path), write)
        return header

    @staticmethod
    def parse_header(head: bytes, path: str | os.PathLike) -> tuple[dict, int]:
        """(header, offset of the bits) from the first bytes of a filter file."""
        if head[: len(_MAGIC)] != _MAGIC:
            raise ValueError(f"{path} is not a webcurate Bloom filter file")
        size = int.from_bytes(head[len(_MAGIC) : len(_MAGIC) + 8], "little")
        if len(head) < len(_MAGIC) + 8 + size:
            raise ValueError(f"{path} is truncated inside its header")
        header = json.loads(head[len(_MAGIC) + 8 : len(_MAGIC) + 8 + size])
        return header, -(-(len(_MAGIC) + 8 + size) // _ALIGN) * _ALIGN

    @classmethod
    def read_header(cls, path: str | os.PathLike) -> tuple[dict, int]:
        """(header, offset of the bits) of a filter file, reading only its first page(s)."""
        with FileSystems.open(str(path), compression_type=CompressionTypes.UNCOMPRESSED) as f:
            head = f.read(len(_MAGIC) + 8)
            size = int.from_bytes(head[len(_MAGIC) :], "little") if len(head) == len(_MAGIC) + 8 else 0
            return cls.parse_header(head + f.read(size), path)

    @classmethod
    def load(cls, path: str | os.PathLike, mmap: bool = False, verify: bool = True) -> BloomFilter:
        """Read a filter (local or cloud). ``mmap=True`` maps a local file copy-on-write instead of
        reading it (a worker that only queries a large filter shares the page cache); ``verify``
        checks the bits' checksum."""
        if mmap and _is_local(path):
            header, offset = cls.read_header(path)
            data = np.memmap(path, dtype=np.uint8, mode="c", offset=offset, shape=(header.get("bits", 0) // 8,))
        else:
            blob = read_bytes(path)
            header, offset = cls.parse_header(blob[:_ALIGN * 16], path)
            data = np.frombuffer(blob, dtype=np.uint8, count=max(0, min(header.get("bits", 0) // 8, len(blob) - offset)),
                                 offset=min(offset, len(blob))).copy()
            del blob
        if header.get("format") != FORMAT or header.get("hashing") != HASHING:
            raise IndexMismatchError(f"{path}: format {header.get('format')} / hashing {header.get('hashing')!r} is not ours")
        if data.size != header["bits"] // 8:
            raise ValueError(f"{path} is truncated: {data.size} of {header['bits'] // 8} bytes")
        if verify and xxhash.xxh3_64_hexdigest(data) != header["xxh3_64"]:
            raise ValueError(f"{path}: checksum mismatch, the file is corrupt")
        meta = {k: v for k, v in header.items() if k not in ("format", "bits", "hashes", "count", "hashing", "xxh3_64")}
        return cls(header["bits"], header["hashes"], data, header["count"], meta)


def _sequential_hits(
    pos: list[np.ndarray], present: list[np.ndarray], keys: list[np.ndarray], insert_duplicates: bool
) -> np.ndarray:
    """Duplicate flags of a batch as if its documents were queried then inserted one at a time.

    pos[j], present[j]: (docs, k) bit positions of band j (already offset per shard, so equal numbers
    mean the same bit) and whether each was set before the batch; keys[j]: (docs,) band keys.
    A document hits band j when every missing bit of it was set by an earlier *inserted* document of
    the batch. Two cheap necessary tests find the candidates: an earlier document has the same key
    (same key, same bits), or every missing bit is shared with a document of another key (hashed
    counts over distinct keys, no false negatives; rare by chance). Candidates are then resolved in
    order, exactly.
    """
    docs = pos[0].shape[0]
    full = [p.all(axis=1) for p in present]
    dup = np.logical_or.reduce(full)
    if docs < 2:
        return dup
    slots = 1 << max(10, (4 * docs * pos[0].shape[1] - 1).bit_length())
    same_key, by_chance = [], []
    for p, here, whole, key in zip(pos, present, full, keys):
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        same_key.append((first[inverse] < np.arange(docs)) & ~whole)
        slot = (p & np.uint64(slots - 1)).astype(np.intp)
        shared = np.bincount(slot[first].ravel(), minlength=slots)[slot] >= 2
        by_chance.append((here | shared).all(axis=1) & ~whole)
    candidates = np.flatnonzero(np.logical_or.reduce(same_key + by_chance) & ~dup)
    if candidates.size == 0:
        return dup
    inserted = np.ones(docs, dtype=bool) if insert_duplicates else ~dup
    for i in candidates:
        for j in range(len(pos)):
            if same_key[j][i] and (inserted[:i] & (keys[j][:i] == keys[j][i])).any():
                dup[i] = True  # an inserted earlier document has this band: the same bits
                break
            if by_chance[j][i]:
                earlier = np.flatnonzero(inserted[:i])
                missing = pos[j][i][~present[j][i]]
                if earlier.size and np.isin(missing, pos[j][earlier]).all():
                    dup[i] = True
                    break
        if dup[i] and not insert_duplicates:
            inserted[i] = False
    return dup


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _compare(found: dict, expected: dict, where: str) -> None:
    found, expected = _flatten(found), _flatten(expected)
    diffs = {k: (found.get(k), v) for k, v in expected.items() if found.get(k) != v}
    if diffs:
        lines = ", ".join(f"{k}: index has {a!r}, expected {b!r}" for k, (a, b) in sorted(diffs.items()))
        raise IndexMismatchError(
            f"{where} was built with different parameters ({lines}); its keys cannot be compared with "
            "these documents. Use the parameters it was built with, or build a new index."
        )


#: A filter file above this size is split into shards (by the top bits of the key), so one (band, shard)
#: fits easily in a worker's memory and a parallel runner has many groups to spread.
MAX_FILTER_BYTES = 64 * 2**20


@dataclass(frozen=True)
class IndexSpec:
    """What an index is, without its bits: enough to size, name, check and describe its files."""

    params: LSHParams
    capacity: int
    shards: int = 1
    backend: str = minhash.BACKEND

    def __post_init__(self) -> None:
        if self.shards < 1 or self.shards & (self.shards - 1):
            raise ValueError(f"shards must be a power of two, got {self.shards}")
        if self.capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {self.capacity}")

    @classmethod
    def auto(cls, params: LSHParams, capacity: int, backend: str = minhash.BACKEND,
             max_filter_bytes: int = MAX_FILTER_BYTES) -> IndexSpec:
        """The fewest shards (a power of two) that keep every filter file under ``max_filter_bytes``."""
        shards = 1
        while params.filter_bits(-(-capacity // shards)) // 8 > max_filter_bytes:
            shards *= 2
        return cls(params, capacity, shards, backend)

    @classmethod
    def for_header(cls, header: dict, params: LSHParams, where: str, capacity: int | None = None,
                   shards: int | None = None, backend: str = minhash.BACKEND) -> IndexSpec:
        """The spec of an existing index (its ``index.json`` header): its own capacity and shards unless
        given, checked against the header (IndexMismatchError naming every field that differs)."""
        try:
            spec = cls(params, capacity or header["capacity"], shards or header["shards"], backend)
        except (KeyError, ValueError) as err:
            raise IndexMismatchError(f"{where}: index.json is not a webcurate LSHBloom header ({err})") from None
        spec.check_header(header, where)
        return spec

    @property
    def per_filter(self) -> int:
        return -(-self.capacity // self.shards)

    @property
    def bits(self) -> int:
        return self.params.filter_bits(self.per_filter)

    @property
    def hashes(self) -> int:
        return self.params.filter_hashes(self.per_filter)

    @property
    def nbytes(self) -> int:
        """Bytes of bit arrays (the files add one 4 KiB header each)."""
        return self.params.bands * self.shards * self.bits // 8

    def formula_bits(self) -> float:
        """The paper's m = b * (-n ln p) / (ln 2)^2, to compare with the real size."""
        return self.params.bands * (-self.capacity * math.log(self.params.p)) / math.log(2) ** 2

    def identity(self) -> dict:
        """Header fields that must match for two indexes (or a filter and an index) to be compatible."""
        return {
            "params": self.params.to_dict(),
            "signature_scheme": minhash.scheme(self.backend),
            "capacity": self.capacity,
            "shards": self.shards,
        }

    def header(self, count: int) -> dict:
        return {
            "format": FORMAT,
            "kind": "webcurate-lshbloom",
            **self.identity(),
            "signature": minhash.describe(self.params.num_perm, self.params.ngram, self.params.seed, self.backend),
            "bits_per_filter": self.bits,
            "hashes": self.hashes,
            "hashing": HASHING,
            "count": count,
            "memory_formula_bits": self.formula_bits(),
        }

    def new_filter(self, band: int, shard: int) -> BloomFilter:
        return BloomFilter(self.bits, self.hashes, meta={"band": band, "shard": shard, **self.identity()})

    def check_filter(self, bloom: BloomFilter, band: int, shard: int, where: str) -> None:
        """Refuse a filter file that does not belong at (band, shard) of this index."""
        _compare(bloom.meta, {**self.identity(), "band": band, "shard": shard}, where)
        if (bloom.bits, bloom.hashes) != (self.bits, self.hashes):
            raise IndexMismatchError(f"{where} has {bloom.bits} bits x {bloom.hashes} hashes, expected {self.bits} x {self.hashes}")

    def check_header(self, header: dict, where: str) -> None:
        """Refuse an index.json written for other parameters, signature scheme, capacity or shards."""
        expected = {"kind": "webcurate-lshbloom", "format": FORMAT, "hashing": HASHING, **self.identity()}
        _compare(header, expected, where)
        if (header.get("bits_per_filter"), header.get("hashes")) != (self.bits, self.hashes):
            raise IndexMismatchError(f"{where} has filters of {header.get('bits_per_filter')} bits, expected {self.bits}")


class LSHBloomIndex:
    """b Bloom filters (times ``shards`` per band), sized for ``capacity`` documents over the index's life.

    ``path`` is where ``save()`` writes by default. Keys are ``band_keys`` of signatures from
    ``dedup.minhash`` with the given backend; the signature scheme is recorded and checked on load.
    """

    def __init__(
        self,
        params: LSHParams,
        capacity: int,
        path: str | os.PathLike | None = None,
        shards: int = 1,
        backend: str = minhash.BACKEND,
    ):
        self.spec = IndexSpec(params, int(capacity), shards, backend)
        self.params = params
        self.capacity = self.spec.capacity
        self.shards = shards
        self.path = str(path) if path is not None else None
        self.signature = minhash.describe(params.num_perm, params.ngram, params.seed, backend)
        self.backend = backend
        self.bits = self.spec.bits
        self.hashes = self.spec.hashes
        self.count = 0
        self.filters = [[self.spec.new_filter(j, s) for s in range(shards)] for j in range(params.bands)]

    def _identity(self) -> dict:
        return self.spec.identity()

    # -- documents ------------------------------------------------------------------------------

    def keys(self, signatures: np.ndarray) -> np.ndarray:
        """Band keys of signatures: (documents, bands), or (bands,) for one signature."""
        return band_keys(signatures, self.params.bands, self.params.rows)

    def _layout(self, keys: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        keys = np.atleast_2d(np.asarray(keys, dtype=np.uint64))
        if keys.shape[1] != self.params.bands:
            raise ValueError(f"expected {self.params.bands} band keys per document, got {keys.shape[1]}")
        cols, pos, present, shard = [], [], [], []
        for j in range(self.params.bands):
            col = np.ascontiguousarray(keys[:, j])
            p = positions(col, self.bits, self.hashes)
            s = shard_of(col, self.shards)
            here = np.empty(p.shape, dtype=bool)
            for t in np.unique(s):
                rows = s == t
                here[rows] = _test_bits(self.filters[j][t].data, p[rows])
            cols.append(col)
            pos.append(p + (s.astype(np.uint64) * np.uint64(self.bits))[:, None] if self.shards > 1 else p)
            present.append(here)
            shard.append(s)
        return cols, pos, present, shard

    def _insert(self, pos: list[np.ndarray], shard: list[np.ndarray], rows: np.ndarray) -> None:
        for j in range(self.params.bands):
            p, s = pos[j][rows], shard[j][rows]
            if self.shards > 1:
                p = p - (s.astype(np.uint64) * np.uint64(self.bits))[:, None]
            for t in np.unique(s):
                chosen = s == t
                _set_bits(self.filters[j][t].data, p[chosen])
                self.filters[j][t].count += int(chosen.sum())
        self.count += int(rows.sum())
        if self.count > self.capacity:
            warnings.warn(
                f"LSHBloom index holds {self.count:,} documents, over its capacity {self.capacity:,}: "
                f"its false-positive rate is now above {self.params.p_effective:g}",
                RuntimeWarning,
                stacklevel=3,
            )

    def query_many(self, keys: np.ndarray) -> np.ndarray:
        """Near-duplicate flags (any band present) of documents' band keys (documents, bands)."""
        _, _, present, _ = self._layout(keys)
        return np.logical_or.reduce([p.all(axis=1) for p in present])

    def add_many(self, keys: np.ndarray) -> None:
        _, pos, _, shard = self._layout(keys)
        self._insert(pos, shard, np.ones(pos[0].shape[0], dtype=bool))

    def query_then_add_many(self, keys: np.ndarray, insert_duplicates: bool = False) -> np.ndarray:
        """Flags of documents processed in order: query, then insert (kept ones only, by default).

        Exactly the result of calling ``query_then_add`` on each document in turn.
        """
        cols, pos, present, shard = self._layout(keys)
        dup = _sequential_hits(pos, present, cols, insert_duplicates)
        self._insert(pos, shard, np.ones(dup.size, dtype=bool) if insert_duplicates else ~dup)
        return dup

    def query(self, keys: np.ndarray) -> bool:
        """Is this document (its b band keys) a near-duplicate of one in the index?"""
        return bool(self.query_many(keys)[0])

    def add(self, keys: np.ndarray) -> None:
        self.add_many(keys)

    def query_then_add(self, keys: np.ndarray, insert_duplicates: bool = False) -> bool:
        """Query, then insert the document if it was kept (or always, with ``insert_duplicates``)."""
        return bool(self.query_then_add_many(keys, insert_duplicates)[0])

    # -- index ----------------------------------------------------------------------------------

    @property
    def nbytes(self) -> int:
        """Bytes of bit arrays (the files add one 4 KiB header each)."""
        return self.spec.nbytes

    def stats(self) -> dict:
        fills = [f.fill_ratio() for band in self.filters for f in band]
        per_band = [np.mean([f.false_positive_rate() for f in band]) for band in self.filters]
        return {
            "documents": self.count,
            "capacity": self.capacity,
            "bytes": self.nbytes,
            "fill_max": max(fills),
            "p_effective_now": 1.0 - float(np.prod([1.0 - p for p in per_band])),
            "p_effective_at_capacity": effective_fp(bloom_fp(self.bits, self.hashes, self.spec.per_filter), self.params.bands),
        }

    def header(self) -> dict:
        return self.spec.header(self.count)

    @staticmethod
    def filter_name(band: int, shard: int) -> str:
        return f"band-{band:03d}-shard-{shard:04d}.bloom"

    def save(self, path: str | os.PathLike | None = None) -> str:
        """Write every filter, then ``index.json`` last (its presence marks a complete index)."""
        path = str(path) if path is not None else self.path
        if path is None:
            raise ValueError("no path: pass one to save() or to the constructor")
        files = []
        for j, band in enumerate(self.filters):
            for s, bloom in enumerate(band):
                name = self.filter_name(j, s)
                head = bloom.save(join(path, name))
                files.append({"band": j, "shard": s, "file": name, "count": bloom.count, "xxh3_64": head["xxh3_64"]})
        header = {**self.header(), "files": files}
        write_text(join(path, INDEX_FILE), json.dumps(header, indent=1, sort_keys=True))
        self.path = path
        return path

    @staticmethod
    def exists(path: str | os.PathLike) -> bool:
        return FileSystems.exists(join(path, INDEX_FILE))

    @staticmethod
    def read_header(path: str | os.PathLike) -> dict:
        return json.loads(read_bytes(join(path, INDEX_FILE)))

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        expected_params: LSHParams,
        backend: str = minhash.BACKEND,
        capacity: int | None = None,
        mmap: bool = False,
        verify: bool = True,
    ) -> LSHBloomIndex:
        """Load an index, refusing one built with other parameters, signature scheme or (if given) capacity."""
        header = cls.read_header(path)
        spec = IndexSpec.for_header(header, expected_params, f"the index at {path}", capacity, backend=backend)
        index = cls(expected_params, spec.capacity, path, spec.shards, backend)
        for entry in header["files"]:
            where = join(path, entry["file"])
            bloom = BloomFilter.load(where, mmap=mmap, verify=verify)
            index.spec.check_filter(bloom, entry["band"], entry["shard"], where)
            index.filters[entry["band"]][entry["shard"]] = bloom
        index.count = header["count"]
        return index

    @classmethod
    def open(
        cls, path: str | os.PathLike, params: LSHParams, capacity: int, shards: int = 1, backend: str = minhash.BACKEND
    ) -> LSHBloomIndex:
        """The index at ``path`` if there is one (checked against these parameters and capacity), else a new one."""
        if cls.exists(path):
            return cls.load(path, params, backend, capacity=capacity)
        return cls(params, capacity, path, shards, backend)

    def merge(self, other: LSHBloomIndex) -> LSHBloomIndex:
        """OR-merge another index of the same parameters into this one (e.g. indexes of two crawls)."""
        _compare(other.spec.identity(), self.spec.identity(), "the index to merge")
        for mine, theirs in zip(self.filters, other.filters):
            for a, b in zip(mine, theirs):
                a |= b
        self.count += other.count
        return self
