"""RefinedWeb normalization and shingle hashes: the fast numpy path against plain-Python references."""

from __future__ import annotations

import gzip
import json
import re
import sys
import unicodedata

import numpy as np
import pytest

from dedup.normalize import _table, normalize, shingle_hash, shingle_hashes, shingles, word_hash


def reference_normalize(text: str) -> str:
    """The spec, one character at a time with unicodedata (slow, independent of the lookup table)."""
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cn", "Co", "Cs"):
            out.append(ch)
        elif cat[0] in "PSZ" or cat == "Cc":
            out.append(" ")
        elif cat in ("Mn", "Me", "Cf"):
            continue
        else:
            lower = ch.lower()
            bare = "".join(c for c in unicodedata.normalize("NFD", lower) if unicodedata.category(c) not in ("Mn", "Me", "Cf"))
            out.append(bare if len(bare) <= 1 else (lower if len(lower) == 1 else lower[0]))
    return " ".join(w for w in "".join(out).split(" ") if w)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hello, World!", "hello world"),
        ("Naïve café — “quoted”", "naive cafe quoted"),
        ("e\u0301te\u0301 \u00e9t\u00e9", "ete ete"),  # decomposed and composed accents agree
        ("end.Next", "end next"),  # punctuation separates words, as in datatrove
        ("soft\u00adhyphen zero\u200bwidth", "softhyphen zerowidth"),  # format characters vanish
        ("  tabs\tand\nnew\r\nlines  ", "tabs and new lines"),
        ("İSTANBUL ΣΑΣ Straße", "istanbul σασ straße"),
        ("10,000 $5 50% a+b=c", "10 000 5 50 a b c"),
        ("emoji 🙂 here", "emoji here"),
        ("", ""),
        ("...!!!", ""),
    ],
)
def test_normalize_examples(text, expected):
    assert normalize(text) == expected


def test_normalize_matches_reference_on_real_multilingual_text(shared_data):
    texts = []
    for lang in ("de", "en", "es", "fi", "fr", "sv"):
        path = next((shared_data / "quality/turkunlp-line-noise" / lang).glob("*.json.gz"))
        docs = json.load(gzip.open(path, "rt", encoding="utf-8"))
        texts += ["\n".join(d["text"]) for d in docs[:5]]
    wiki = gzip.open(shared_data / "quality/wikipedia-en-2015/wiki_00.gz", "rt", encoding="utf-8").read()
    texts += re.split(r"</doc>", wiki)[:20]
    assert sum(not t.isascii() for t in texts) > 20
    for text in texts:
        assert normalize(text) == reference_normalize(text)


def test_table_is_identity_outside_the_planes_it_scans():
    table = _table()
    outside = np.r_[0x40000:0xE0000, 0xE1000 : sys.maxunicode + 1]
    assert (table[outside] == outside).all()
    for cp in range(0x40000, sys.maxunicode + 1, 997):  # and that is right: nothing there needs mapping
        ch = chr(cp)
        assert unicodedata.category(ch) in ("Cn", "Co", "Lo") or cp >= 0xE0000
        assert ch.lower() == ch


def test_shingles_reference():
    assert shingles("One two three four five six", 5) == ["one two three four five", "two three four five six"]
    assert shingles("Just three words", 5) == ["just three words"]  # short: one shingle of all words
    assert shingles("  ...  ", 5) == []
    assert shingles("a b c", 2) == ["a b", "b c"]


def test_shingle_hash_definition():
    # hand-computed: word hash is fmix64 of the code-point polynomial; "ab" = 97 * BASE + 98 mod 2^64
    base, mask = 0x9E3779B97F4A7C15, (1 << 64) - 1

    def fmix(h):
        h ^= h >> 33
        h = (h * 0xFF51AFD7ED558CCD) & mask
        h ^= h >> 33
        h = (h * 0xC4CEB9FE1A85EC53) & mask
        return h ^ (h >> 33)

    assert word_hash("ab") == fmix((97 * base + 98) & mask)
    assert shingle_hash("ab") == fmix(word_hash("ab"))
    assert shingle_hash("ab cd") == fmix((word_hash("ab") * 0xC2B2AE3D27D4EB4F + word_hash("cd")) & mask)
    assert shingle_hash("ab cd") != shingle_hash("cd ab")


TEXTS = [
    "The quick brown fox jumps over the lazy dog. " * 5,
    "",
    "Too short",
    "Exactly five words here now",
    "Ünïcödé — text, with “quotes” and accents: café, naïve, Ærøskøbing; and more words after it.",
    " ...  ",
    "x",
]


@pytest.mark.parametrize("n", [1, 3, 5])
def test_fast_hashes_equal_reference_and_do_not_depend_on_batching(n):
    hashes, offsets = shingle_hashes(TEXTS, n)
    assert offsets[0] == 0 and offsets[-1] == hashes.size and np.all(np.diff(offsets) >= 0)
    for d, text in enumerate(TEXTS):
        expected = [shingle_hash(s) for s in shingles(text, n)]
        assert hashes[offsets[d] : offsets[d + 1]].tolist() == expected
        alone, _ = shingle_hashes([text], n)
        assert alone.tolist() == expected


def test_fast_hashes_on_real_documents(shared_data):
    wiki = gzip.open(shared_data / "quality/wikipedia-en-2015/wiki_01.gz", "rt", encoding="utf-8").read()
    docs = [d for d in re.split(r"</doc>", wiki) if d.strip()][:30]
    hashes, offsets = shingle_hashes(docs)
    for d in (0, 7, 29):
        assert hashes[offsets[d] : offsets[d + 1]].tolist() == [shingle_hash(s) for s in shingles(docs[d])]


def test_near_identical_texts_share_shingles():
    a = "The Committee met on Tuesday to discuss the budget for next year and approved it unanimously."
    b = "the committee met on tuesday — to discuss the budget for next year, and approved it unanimously!!"
    ha, _ = shingle_hashes([a])
    hb, _ = shingle_hashes([b])
    assert set(ha.tolist()) == set(hb.tolist())
