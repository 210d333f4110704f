"""Text normalization and word n-gram shingle hashes for near-duplicate detection (RefinedWeb G.3.1).

RefinedWeb normalizes before MinHash: lowercase, remove punctuation, NFD and strip accents, collapse
whitespace. Two pages that differ only in quotes, dashes, accents or line wrapping then give the same
shingles. Here every character is mapped on its own:

- punctuation, symbols, separators and control characters (Unicode P*, S*, Z*, Cc) become a space, as
  in datatrove, so "end.Next" stays two words;
- combining marks and format characters (Mn, Me, Cf: accents, soft hyphen, zero-width space) are
  deleted, so "naïve", "naı̈ve" and "na\\u00adive" all become "naive";
- any other character becomes the accent-free NFD of its lowercase ("É" -> "e", "İ" -> "i"). The few
  whose NFD is several letters with no accent to strip (Hangul syllables, some Indic vowel signs) are
  kept whole, lowercased: splitting them would change no duplicate decision;

then runs of spaces collapse to one. Mapping per character (Greek capital sigma is always "σ", never
the word-final "ς" of ``str.lower``) is what lets the whole map be one lookup table over code points,
applied to a batch of documents with numpy: the Python route (``lower``, ``unicodedata.normalize``,
``translate``, ``split``) costs more than the whole MinHash signature.

Shingles are word 5-grams (the FineWeb/datatrove default; RefinedWeb used GPT-2 token 5-grams). A
document with fewer than n words has one shingle: all its words. An empty document has none.

Shingle hashes are computed without one Python string per shingle (building those strings is what
caps Python shingling at ~5k docs/s): a word's hash is a polynomial in its code points read off prefix
sums, and a shingle's hash is a polynomial in its words' hashes, all mod 2^64 and finished with the
MurmurHash3 mixer. It is integer arithmetic only, so the same text gives the same hashes in every
process, run, machine and numpy version (never Python's ``hash()``); ``shingle_hash`` is the
one-shingle reference the fast path must equal. The character map comes from the running Python's
``unicodedata`` (``UNICODE_VERSION``), which changes only for characters new to a Unicode version.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

NGRAM = 5
UNICODE_VERSION = unicodedata.unidata_version

SPACE = 32
_SEP = 10  # between documents of a batch; every control character maps to SPACE, so 10 is free
_DELETE = 0xFFFFFFFF

# Polynomial bases (odd, so invertible mod 2^64): one over a word's code points, one over a shingle's
# word hashes.
_BASE = 0x9E3779B97F4A7C15
_BASE_INV = pow(_BASE, -1, 1 << 64)
_WORD_BASE = 0xC2B2AE3D27D4EB4F
MASK64 = (1 << 64) - 1

# Power tables are cached up to this many code points (16 bytes each); a longer batch gets temporary
# tables so that one huge document does not pin memory for the life of the worker.
_CACHE_LIMIT = 1 << 23


def _map_char(ch: str) -> str:
    """What one character becomes: "" (deleted), " ", or one character."""
    cat = unicodedata.category(ch)
    if cat in ("Cn", "Co", "Cs"):
        return ch
    if cat[0] in "PSZ" or cat == "Cc":
        return " "
    if cat in ("Mn", "Me", "Cf"):
        return ""
    lower = ch.lower()
    bare = "".join(c for c in unicodedata.normalize("NFD", lower) if unicodedata.category(c) not in ("Mn", "Me", "Cf"))
    if len(bare) <= 1:
        return bare
    return lower if len(lower) == 1 else lower[0]


@lru_cache(maxsize=1)
def _table() -> np.ndarray:
    """Code point -> code point, SPACE or _DELETE, for all of Unicode (4.4 MB, built in ~0.2 s).

    Outside planes 0-3 and 14 every assigned character is an unaccented, caseless letter (CJK
    extensions) or private use, which map to themselves (checked by a test).
    """
    table = np.arange(sys.maxunicode + 1, dtype=np.uint32)
    for block in (range(0, 0x40000), range(0xE0000, 0xE1000)):
        for cp in block:
            ch = chr(cp)
            cat = unicodedata.category(ch)
            if cat in ("Cn", "Co", "Cs") or (cat == "Lo" and not unicodedata.decomposition(ch)):
                continue
            out = _map_char(ch)
            table[cp] = _DELETE if not out else ord(out)
    return table


def _codes(texts: Sequence[str]) -> np.ndarray:
    """Mapped code points of the texts joined by _SEP, deleted characters removed (spaces not collapsed)."""
    data = "\n".join(texts).encode("utf-32-le", "surrogatepass")
    codes = _table()[np.frombuffer(data, dtype=np.uint32)]
    if len(texts) > 1:
        lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        codes[np.cumsum(lengths[:-1] + 1) - 1] = _SEP
    deleted = codes == _DELETE
    if deleted.any():
        codes = codes[~deleted]
    return codes


def normalize(text: str) -> str:
    """RefinedWeb normalization (see the module doc): lowercase, accents stripped, punctuation removed,
    words separated by single spaces, no leading or trailing space."""
    decoded = _codes([text]).tobytes().decode("utf-32-le", "surrogatepass")
    return " ".join(word for word in decoded.split(" ") if word)


def shingles(text: str, n: int = NGRAM) -> list[str]:
    """The word n-grams of ``normalize(text)`` as strings, in order (with repeats): the slow reference."""
    words = normalize(text).split(" ")
    if words == [""]:
        return []
    if len(words) < n:
        return [" ".join(words)]
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer: a bijection that spreads every input bit over the output."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK64
    return h ^ (h >> 33)


def word_hash(word: str) -> int:
    """fmix64(sum of code points c_i * BASE^(len-1-i) mod 2^64) of one normalized word."""
    h = 0
    for ch in word:
        h = (h * _BASE + ord(ch)) & MASK64
    return fmix64_int(h)


def shingle_hash(shingle: str) -> int:
    """64-bit hash of one shingle (normalized words joined by single spaces): the pure-Python reference.

    fmix64(sum of word_hash(w_j) * WORD_BASE^(k-1-j) mod 2^64) over its k words.
    """
    h = 0
    for word in shingle.split(" "):
        h = (h * _WORD_BASE + word_hash(word)) & MASK64
    return fmix64_int(h)


def _powers(base: int, length: int) -> np.ndarray:
    out = np.full(length, base, dtype=np.uint64)
    out[0] = 1
    return np.cumprod(out, dtype=np.uint64)  # wraps mod 2^64, which is the arithmetic we want


_power_cache: list[tuple[np.ndarray, np.ndarray]] = []


def _power_tables(length: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE^i and BASE^-i mod 2^64 for i < length (at least); cached, grown in powers of two."""
    if _power_cache and _power_cache[0][0].size >= length:
        return _power_cache[0]
    if length > _CACHE_LIMIT:
        return _powers(_BASE, length), _powers(_BASE_INV, length)
    size = 1 << max(16, (length - 1).bit_length())
    _power_cache[:] = [(_powers(_BASE, size), _powers(_BASE_INV, size))]
    return _power_cache[0]


def shingle_hashes(texts: Sequence[str], n: int = NGRAM) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the word n-grams of a batch of raw texts (normalized here).

    Returns ``(hashes, offsets)``: the uint64 hashes of document ``d`` are
    ``hashes[offsets[d]:offsets[d + 1]]``, in text order, repeats included (MinHash takes a minimum,
    so a set is not needed). Each equals ``shingle_hash`` of the matching ``shingles(text, n)`` string.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    docs = len(texts)
    offsets = np.zeros(docs + 1, dtype=np.int64)
    if docs == 0:
        return np.zeros(0, dtype=np.uint64), offsets
    codes = _codes(texts)
    length = codes.size
    word = codes > SPACE  # neither a space nor the document separator
    edges = np.diff(word.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    if starts.size == 0:
        return np.zeros(0, dtype=np.uint64), offsets
    pow_, inv = _power_tables(length)
    prefix = np.zeros(length + 1, dtype=np.uint64)
    np.cumsum(codes * inv[:length], out=prefix[1:])
    words = fmix64((prefix[ends] - prefix[starts]) * pow_[ends - 1])
    if docs > 1:
        word_doc = np.searchsorted(np.flatnonzero(codes == _SEP), starts)
    else:
        word_doc = np.zeros(starts.size, dtype=np.int64)

    count = words.size
    per_doc = np.bincount(word_doc, minlength=docs)
    base = np.uint64(_WORD_BASE)
    parts: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    if count >= n:
        grams = words[: count - n + 1].copy()
        for j in range(1, n):
            grams *= base
            grams += words[j : count - n + 1 + j]
        inside = word_doc[: count - n + 1] == word_doc[n - 1 :]
        parts.append(grams[inside])
        owners.append(word_doc[: count - n + 1][inside])
    short = np.flatnonzero((per_doc > 0) & (per_doc < n))
    if short.size:  # one shingle of all the words
        first = np.concatenate(([0], np.cumsum(per_doc)[:-1]))
        gram = np.zeros(short.size, dtype=np.uint64)
        for j in range(int(per_doc[short].max())):
            live = per_doc[short] > j
            gram[live] = gram[live] * base + words[first[short[live]] + j]
        parts.append(gram)
        owners.append(short)
    hashes = np.concatenate(parts)
    owner = np.concatenate(owners)
    if short.size:
        order = np.argsort(owner, kind="stable")
        hashes, owner = hashes[order], owner[order]
    np.cumsum(np.bincount(owner, minlength=docs), out=offsets[1:])
    return fmix64(hashes), offsets
