"""Benchmark decontamination: documents that share a word n-gram with an evaluation set's items.

A model trained on a page that quotes a test question has seen the answer key; its score on that
benchmark then measures memory, not skill. GPT-3 (Brown et al. 2020, "Language Models are Few-Shot
Learners", §4 and Appendix C) filtered its training data by **13-gram** overlap with every test and
development set it evaluated on (a "gram" being a lowercase, whitespace-delimited word without
punctuation); EleutherAI's lm-evaluation-harness "janitor" reproduces it with ``ngram_n = 13``. Thirteen
words are long enough that a shared run is almost never chance (common phrases are shorter) and short
enough that one copied sentence of a question is caught. The default here is the same 13.

**Normalization is the dedup stage's** (``dedup.normalize``: lowercase, accents stripped, punctuation,
symbols and line breaks turned into word breaks, whitespace collapsed), and the n-gram hashes are its
``shingle_hashes``, for the eval items and the documents alike. So an item pasted into a page with other
case, quotes, punctuation, line wrapping or accents still gives the same n-grams; different words do
not (a paraphrase or a changed number is not caught: this is exact n-gram overlap, as in GPT-3).

**Items.** One text per item: JSONL records (every string field joined with a line break, strings inside
lists included, unless ``fields`` names the fields), Parquet rows (the same), or one line of a text file.
The joined fields make n-grams across field boundaries too (question into answer), a superset of each
field's own n-grams. An item with fewer than ``ngram`` words has no n-gram and cannot be matched: it is
counted in ``items`` but not in ``indexed_items``; ``shingle_hashes`` gives such a text one hash of all
its words, which is left out, for items and documents alike (else a 5-word page would "match" a
5-word item). Two pieces of markup that the eval files carry and web copies usually lack are also
indexed without them (the item's n-grams with and without, so nothing is lost): GSM8K's calculator
annotations ``<<48/2=24>>`` and its ``#### 72`` answer line, and ``Question:``/``Answer:`` labels at
the start of a line (ARC in llm-foundry's format).

**Numbers-only n-grams are not indexed** (``EvalSet.numeric_ngrams`` counts them). HumanEval/129's test
has the grid ``[[1, 2, 3, 4], [5, 6, 7, 8], ...]``, whose "1 2 3 ... 16" n-grams matched every calendar
page of the bench corpus (6 of 2,382 pages, and all of its matches): a run of 13 numbers is a table,
a calendar or a numbered list far more often than a copied test item, and an item is still caught by
its other n-grams. GPT-3 met the same problem at scale and ignored 13-grams found in more than 10
training documents; a per-worker filter cannot count documents, so this is the cheap half of it.

**Index.** A hash set per eval set: the sorted unique uint64 n-gram hashes in a numpy array, 8 bytes per
distinct n-gram, built once per worker, plus a two-probe Bloom filter over all sets (8-16 bits per
n-gram, a power of two) that turns away ~98.5% of a page's n-grams with one or two memory accesses. GSM8K +
HumanEval + HellaSwag + ARC: 1.08 M n-grams, 8.6 MB of hashes + 2.1 MB of filter. Exact up to 64-bit
collisions: at 10^6 indexed n-grams and 10^10 document n-grams the expected number of chance hits is
~5e-4. A batch of documents is hashed in one ``shingle_hashes`` call, filtered, and the survivors looked
up with ``np.searchsorted`` in each set; per document the result is the number of *distinct* n-grams
found in any set and the set with the most (ties: the first set). Cost on one core, on the 2,382
pages of the bench corpus (8.9 kB of text on average; bench/decontamination_bench.py): ~0.24 ms a page
matched in batches of 64, ~0.6 ms one page per call, about half of it ``shingle_hashes`` itself.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from dedup.normalize import normalize, shingle_hash, shingle_hashes
from schemas.files import read_bytes

NGRAM = 13

_COMPRESSIONS = (".gz", ".zst", ".zstd", ".bz2", ".xz", ".lzma", ".deflate")
_JSON = (".jsonl", ".json", ".ndjson")
_FORMATS = (*_JSON, ".parquet", ".txt", ".text")
# File and folder names that say which split or shard a file is, not which benchmark.
_GENERIC = frozenset({
    "test", "tests", "val", "valid", "validation", "dev", "devel", "train", "training", "eval", "evaluation",
    "data", "dataset", "full", "all", "main", "default", "split", "of", "part", "shard", "items",
})
_TOKEN = re.compile(r"[^_\-.\s]+")
# Markup of eval files that web copies usually lack (see the module doc); removed in a second variant.
_VARIANTS = (
    re.compile(r"<<[^<>\n]*>>"),  # GSM8K calculator annotations
    re.compile(r"(?m)^#### .*$"),  # GSM8K final answer line
    re.compile(r"(?m)^[ \t]*(?:Question|Answer):[ \t]*"),  # labels (llm-foundry's ARC "Question: ")
)
_DIGITS = re.compile(r"\d+")
_BATCH_CHARS = 4_000_000  # characters per shingle_hashes call when indexing (bounds its temporaries)


@dataclass(frozen=True, eq=False)
class EvalSet:
    """The n-gram hash set of one evaluation file."""

    name: str  # e.g. "gsm8k"
    path: str
    items: int  # items read
    indexed_items: int  # items with >= ngram words (a shorter item has no n-gram: counted, not indexed)
    hashes: np.ndarray  # sorted unique uint64 n-gram hashes of every indexed item's text fields
    ngram: int = NGRAM
    numeric_ngrams: int = 0  # distinct n-grams of numbers only, left out of ``hashes``

    @property
    def nbytes(self) -> int:
        return int(self.hashes.nbytes)


# --- reading eval files ---------------------------------------------------------------------------------

def _suffixes(path: str) -> tuple[str, str]:
    """(format extension, compression extension) of a path, lowercase, "" when absent."""
    name = posixpath.basename(path.rstrip("/")).lower()
    compression = next((ext for ext in _COMPRESSIONS if name.endswith(ext)), "")
    name = name[: len(name) - len(compression)]
    return posixpath.splitext(name)[1], compression


def is_record_file(path: str) -> bool:
    """JSONL / JSON / Parquet (items with fields), not a text file of one item per line."""
    return _suffixes(path)[0] in (*_JSON, ".parquet")


def _strings(value: object) -> Iterator[str]:
    """The strings of a JSON value, in order: itself, or those inside its lists and objects."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def _json_records(text: str, path: str) -> list[object]:
    stripped = text.lstrip()
    if _suffixes(path)[0] == ".json" and stripped.startswith("["):
        try:  # a .json file holding one array of records
            records = json.loads(stripped)
            if isinstance(records, list):
                return records
        except json.JSONDecodeError:
            pass  # JSON lines whose records are arrays: read line by line below
    records = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: line {number} is not valid JSON ({exc.msg})") from None
    return records


def _parquet_records(data: bytes) -> list[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.read_table(pa.BufferReader(data)).to_pylist()


def _item_texts(records: Sequence[object], fields: list[str] | None, path: str) -> list[str]:
    if fields is None:
        return ["\n".join(_strings(record)) for record in records]
    seen: dict[str, None] = {}
    for record in records:
        if isinstance(record, dict):
            seen.update(dict.fromkeys(record))
    missing = [field for field in fields if field not in seen]
    if missing:
        raise ValueError(f"{path}: no record has the field(s) {missing}; its records have {list(seen)}")
    texts = []
    for record in records:
        values = [record[field] for field in fields if field in record] if isinstance(record, dict) else []
        texts.append("\n".join(s for value in values for s in _strings(value)))
    return texts


def read_items(path: str, fields: list[str] | None = None) -> list[str]:
    """One text per item of an eval file (local, gs://, s3://: any ``FileSystems`` path).

    The format is the extension's: ``.jsonl``/``.json``/``.ndjson`` JSON lines (or one JSON array in a
    ``.json``), ``.parquet``, anything else plain text with one item per non-blank line; a ``.gz``,
    ``.zst``, ``.bz2`` or ``.xz`` ending is decompressed first. ``fields=None`` takes every string field
    of a record (strings inside lists too, e.g. ARC's choices), joined with "\\n"; given ``fields``, those
    fields only, in that order (a record lacking one is read without it; a field that no record has is a
    ``ValueError``). A line that is not JSON is a ``ValueError`` naming the file and the line.
    """
    ext = _suffixes(path)[0]
    if ext == ".parquet":
        records: list[object] = _parquet_records(read_bytes(path))
        return _item_texts(records, fields, path)
    text = read_bytes(path).decode("utf-8-sig")
    if ext in _JSON:
        return _item_texts(_json_records(text, path), fields, path)
    if fields is not None:
        raise ValueError(f"{path}: fields {fields} name record fields, but a text file has one item per line")
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def set_name(path: str) -> str:
    """The default name of an eval file's set: its file name without extensions and without the words
    that name a split or shard (``hellaswag_val_full.txt.gz`` -> ``hellaswag``); when nothing else is
    left (``gsm8k/test.jsonl.gz``), the nearest folder whose name is not such a word (``gsm8k``)."""
    parts = [part for part in re.sub(r"^[a-z][a-z0-9+.-]*://", "", path).rstrip("/").split("/") if part]
    if not parts:
        return path
    name = parts[-1]
    while True:
        ext, compression = _suffixes(name)
        if not (ext in _FORMATS or compression):
            break
        name = name[: len(name) - len(compression)]
        name = name[: len(name) - len(ext)] if ext in _FORMATS else name
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(name)]
    meaningful = [t for t in tokens if not (t[2].lower() in _GENERIC or t[2].isdigit())]
    if meaningful:
        return name[meaningful[0][0]: meaningful[-1][1]]
    for folder in reversed(parts[:-1]):
        if folder.lower() not in _GENERIC:
            return folder
    return name or path


# --- hashing ---------------------------------------------------------------------------------------------

def ngram_hashes(texts: Sequence[str], ngram: int = NGRAM) -> tuple[np.ndarray, np.ndarray]:
    """``shingle_hashes(texts, ngram)`` without the one all-words hash of a text shorter than ``ngram``
    words: only real n-grams. Same ``(hashes, offsets)`` layout, repeats included."""
    hashes, offsets = shingle_hashes(texts, ngram)
    counts = np.diff(offsets)
    single = np.flatnonzero(counts == 1)  # 1 to ngram words: count them to tell
    if single.size and ngram > 1:
        _, word_offsets = shingle_hashes([texts[i] for i in single], 1)
        short = single[np.diff(word_offsets) < ngram]
        if short.size:
            keep = np.ones(hashes.size, dtype=bool)
            keep[offsets[short]] = False
            hashes = hashes[keep]
            counts[short] = 0
            offsets = np.concatenate(([0], np.cumsum(counts)))
    return hashes, offsets


def variants(text: str) -> list[str]:
    """The texts indexed for one item: itself, and itself without eval-file markup when it has some."""
    clean = text
    for pattern in _VARIANTS:
        clean = pattern.sub("", clean)
    return [text] if clean == text else [text, clean]


def _batches(texts: Sequence[str], limit: int = _BATCH_CHARS) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for text in texts:
        if batch and size + len(text) > limit:
            yield batch
            batch, size = [], 0
        batch.append(text)
        size += len(text) + 1
    if batch:
        yield batch


def numeric_ngram_hashes(texts: Iterable[str], ngram: int = NGRAM) -> np.ndarray:
    """Sorted unique hashes of the n-grams made of numbers only ("1 2 3 ... 13", a row of a table)."""
    found: set[int] = set()
    for text in texts:
        if len(_DIGITS.findall(text)) < ngram:  # a numeric word holds a run of digits: too few, none
            continue
        words = normalize(text).split(" ")
        numeric = np.fromiter((w.isdigit() for w in words), dtype=np.int64, count=len(words))
        if numeric.size < ngram:
            continue
        runs = np.convolve(numeric, np.ones(ngram, dtype=np.int64), mode="valid")
        found.update(shingle_hash(" ".join(words[i: i + ngram])) for i in np.flatnonzero(runs == ngram).tolist())
    return np.array(sorted(found), dtype=np.uint64)


def hash_set(texts: Iterable[str], ngram: int = NGRAM) -> tuple[np.ndarray, int, int]:
    """Of texts (and their markup-free variants): the sorted unique hashes of their n-grams that are
    not numbers only, how many texts have >= ``ngram`` words, and how many numeric n-grams were left out."""
    texts = list(texts)
    parts: list[np.ndarray] = []
    indexed = 0
    cleaned: list[str] = []
    for batch in _batches(texts):
        hashes, offsets = ngram_hashes(batch, ngram)
        indexed += int(np.count_nonzero(np.diff(offsets)))
        parts.append(hashes)
        cleaned_batch = [clean for text in batch for clean in variants(text)[1:]]
        if cleaned_batch:
            parts.append(ngram_hashes(cleaned_batch, ngram)[0])
            cleaned += cleaned_batch
    hashes = np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)
    numeric = numeric_ngram_hashes(texts + cleaned, ngram)
    if numeric.size:
        hashes = hashes[~np.isin(hashes, numeric, assume_unique=True)]
    return hashes, indexed, int(numeric.size)


def load_eval_set(path: str, ngram: int = NGRAM, fields: list[str] | None = None, name: str | None = None) -> EvalSet:
    """Read an eval file and hash its items' n-grams (see ``read_items`` and ``set_name``)."""
    if ngram < 1:
        raise ValueError(f"ngram must be >= 1, got {ngram}")
    texts = read_items(path, fields)
    hashes, indexed, numeric = hash_set(texts, ngram)
    return EvalSet(name=name or set_name(path), path=path, items=len(texts), indexed_items=indexed,
                   hashes=hashes, ngram=ngram, numeric_ngrams=numeric)


# --- matching --------------------------------------------------------------------------------------------

def _sorted_unique(hashes: np.ndarray) -> np.ndarray:
    """The set's hashes as the sorted unique uint64 array the lookups need (no copy when they are)."""
    table = np.ascontiguousarray(hashes, dtype=np.uint64)
    return table if table.size < 2 or bool(np.all(table[1:] > table[:-1])) else np.unique(table)


def _member(table: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """keys in the sorted array table, elementwise."""
    if table.size == 0 or keys.size == 0:
        return np.zeros(keys.size, dtype=bool)
    at = table.searchsorted(keys)
    np.minimum(at, table.size - 1, out=at)
    return table[at] == keys


def _distinct_per_doc(doc: np.ndarray, hashes: np.ndarray, docs: int) -> np.ndarray:
    """How many distinct hashes each document has among (doc, hash) pairs."""
    if doc.size == 0:
        return np.zeros(docs, dtype=np.int64)
    order = np.lexsort((hashes, doc))
    doc, hashes = doc[order], hashes[order]
    new = np.ones(doc.size, dtype=bool)
    new[1:] = (doc[1:] != doc[:-1]) | (hashes[1:] != hashes[:-1])
    return np.bincount(doc[new], minlength=docs)


class Index:
    """The n-gram hash sets of several eval sets, built once per worker, matched against batches of texts."""

    def __init__(self, sets: Sequence[EvalSet], ngram: int):
        if ngram < 1:
            raise ValueError(f"ngram must be >= 1, got {ngram}")
        for eval_set in sets:
            if eval_set.ngram != ngram:
                raise ValueError(f"eval set {eval_set.name!r} was hashed with {eval_set.ngram}-grams, the index "
                                 f"uses {ngram}-grams")
        self.sets = tuple(sets)
        self.ngram = ngram
        self._tables = [_sorted_unique(s.hashes) for s in self.sets]
        # A two-probe Bloom filter in front of the tables, bits (hash >> shift) and (hash & mask): with
        # 8-16 bits per n-gram it turns away ~98.5% of a page's n-grams with one or two memory accesses
        # (the second only for the ~12% that pass the first), where a binary search costs ~20 per table
        # (mostly cache misses on a cold multi-MB array).
        total = sum(table.size for table in self._tables)
        bits = max(10, (8 * total - 1).bit_length())
        self._shift = np.uint64(64 - bits)
        self._mask = np.uint64((1 << bits) - 1)
        self._bitmap = np.zeros(1 << (bits - 3), dtype=np.uint8)
        for table in self._tables:
            for probe in (table >> self._shift, table & self._mask):
                np.bitwise_or.at(self._bitmap, probe >> np.uint64(3),
                                 np.left_shift(1, (probe & np.uint64(7)).astype(np.uint8)))

    def _maybe(self, hashes: np.ndarray) -> np.ndarray:
        """Positions of the hashes that pass the Bloom filter: all that are in some set, ~1.5% others."""
        first = hashes >> self._shift
        passed = np.flatnonzero((self._bitmap[first >> np.uint64(3)] >> (first & np.uint64(7)).astype(np.uint8)) & 1)
        second = hashes[passed] & self._mask
        return passed[((self._bitmap[second >> np.uint64(3)] >> (second & np.uint64(7)).astype(np.uint8)) & 1) != 0]

    @property
    def nbytes(self) -> int:
        """Memory of the index arrays: 8 bytes per distinct n-gram of each set, plus the filter's 1-2."""
        return sum(int(table.nbytes) for table in self._tables) + int(self._bitmap.nbytes)

    def _found(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Of a batch: the n-gram hashes, their offsets, and positions of the n-grams in some set with a
        boolean matrix [set, position] of which sets."""
        hashes, offsets = ngram_hashes(texts, self.ngram)
        candidates = self._maybe(hashes)
        found = np.zeros((len(self._tables), candidates.size), dtype=bool)
        if candidates.size == 0:
            return hashes, offsets, candidates, found
        keys = hashes[candidates]
        for k, table in enumerate(self._tables):
            found[k] = _member(table, keys)
        hit = found.any(axis=0)
        return hashes, offsets, candidates[hit], found[:, hit]

    def match(self, texts: Sequence[str]) -> list[tuple[int, int | None]]:
        """Per text: (distinct n-grams of the text found in any set, index in ``sets`` of the set with
        the most distinct matches, the first on a tie, or None when nothing matched)."""
        docs = len(texts)
        if docs == 0:
            return []
        hashes, offsets, positions, found = self._found(texts)
        if positions.size == 0:
            return [(0, None)] * docs
        doc = np.searchsorted(offsets, positions, side="right") - 1
        keys = hashes[positions]
        total = _distinct_per_doc(doc, keys, docs)
        per_set = np.stack([_distinct_per_doc(doc[row], keys[row], docs) for row in found])
        best = per_set.argmax(axis=0)  # the first maximum: ties go to the first set
        return [(int(n), int(best[d]) if n else None) for d, n in enumerate(total)]

    def spans(self, text: str) -> list[tuple[int, str]]:
        """What matched in one text, for a human to judge: (set index, normalized words) of each run of
        consecutive matched n-grams, the set being the one matching most of the run's n-grams."""
        _, _, hits, found = self._found([text])
        if hits.size == 0:
            return []
        words = normalize(text).split(" ")
        breaks = np.flatnonzero(np.diff(hits) > 1)
        firsts = np.concatenate(([0], breaks + 1))
        lasts = np.concatenate((breaks, [hits.size - 1]))
        out = []
        for first, last in zip(firsts.tolist(), lasts.tolist()):
            start, end = int(hits[first]), int(hits[last])
            best = int(found[:, first: last + 1].sum(axis=1).argmax())
            out.append((best, " ".join(words[start: end + self.ngram])))
        return out


def load_index(paths: Sequence[str], ngram: int = NGRAM, fields: list[str] | None = None) -> Index:
    """An index of the eval files at ``paths``, each named by ``set_name``."""
    return Index([load_eval_set(path, ngram, fields) for path in paths], ngram)


__all__ = ["NGRAM", "EvalSet", "Index", "hash_set", "is_record_file", "load_eval_set", "load_index", "ngram_hashes",
           "numeric_ngram_hashes", "read_items", "set_name", "variants"]
