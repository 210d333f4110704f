"""Properties of the heuristic filters and language ID on arbitrary Unicode (hypothesis).

Every function must accept any string (all of Unicode, lone surrogates, every line separator Python's
``splitlines`` knows, control characters), return exactly its documented score keys as floats in their
documented ranges, and the text-editing functions must be idempotent.
"""

from __future__ import annotations

import math
from functools import lru_cache

from hypothesis import HealthCheck, given, settings, strategies as st

from filters import heuristics as h
from filters import langid
from filters.registry import DOCUMENT_STAGES

SCORE_FIELDS = {stage.name: stage.scores for stage in DOCUMENT_STAGES}  # what the schema says each returns

#: Pieces that trip up text code: every line boundary of ``str.splitlines``, whitespace that
#: ``str.split`` knows and ``\\s`` may not, bullets, ellipses, '#', combining marks, case-changing letters
#: ("İ" lowercases to two characters), zero-width characters, emoji, CJK, RTL, and the phrases the rules
#: look for.
_PIECES = st.sampled_from([
    "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\n\n", " ", "\t",
    "\u00a0", "\u3000", "\u200b", "\ufeff", "\x00", "•", "- ", "* ", "...", "…", "#", "[1]", "[edit]", "{", "}",
    "İ", "ß", "ﬁ", "Σ", "e\u0301", "\u0308", "😀", "漢字", "عربى", "THE END", "the", "and", "lorem ipsum",
    "javascript", "cookie policy", "Sign in", "Read more »", "Add to cart", "3 likes", "Dr.", "U.S.", "3.5",
    "word", "Words.", "Yes!", "ok?", "\"quoted.\"", "”", "’", "\ud800",
])
_TEXTS = st.one_of(
    st.text(st.characters(exclude_categories=())),  # all of Unicode, surrogates included
    st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=60).map("".join),
)
_SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _in_unit(value: float) -> bool:
    return type(value) is float and 0.0 <= value <= 1.0


def _count(value: float) -> bool:
    return type(value) is float and value >= 0.0 and value == int(value)


@_SETTINGS
@given(_TEXTS)
def test_gopher_quality_ranges(text):
    s = h.gopher_quality(text)
    assert tuple(s) == SCORE_FIELDS["gopher_quality"]
    assert _count(s["word_count"]) and 0.0 <= s["stop_word_count"] <= len(h.GOPHER_STOP_WORDS)
    assert _count(s["stop_word_count"])
    assert math.isfinite(s["mean_word_length"]) and s["mean_word_length"] >= 0.0
    assert (s["mean_word_length"] == 0.0) == (s["word_count"] == 0.0)
    for key in ("hash_word_ratio", "ellipsis_word_ratio", "bullet_line_ratio", "ellipsis_line_ratio",
                "alpha_word_ratio"):
        assert _in_unit(s[key]), key
    # Words are whitespace tokens: how the whitespace is laid out changes no word score.
    again = h.gopher_quality(" ".join(text.split()))
    for key in ("word_count", "mean_word_length", "alpha_word_ratio", "stop_word_count", "hash_word_ratio"):
        assert again[key] == s[key], key


@_SETTINGS
@given(_TEXTS)
def test_gopher_repetition_ranges(text):
    s = h.gopher_repetition(text)
    assert tuple(s) == SCORE_FIELDS["gopher_repetition"]
    assert all(_in_unit(v) for v in s.values()), s
    # A text repeated is at least as repetitive as the text (for the line and paragraph fractions).
    if text.strip():
        doubled = h.gopher_repetition(text.strip() + "\n\n" + text.strip())
        assert doubled["dup_para_frac"] > 0.0 or "\n\n" in text or "\r" in text


@_SETTINGS
@given(_TEXTS)
def test_fineweb_ranges(text):
    s = h.fineweb(text)
    assert tuple(s) == SCORE_FIELDS["fineweb"]
    assert all(_in_unit(v) for v in s.values()), s


@_SETTINGS
@given(_TEXTS, st.booleans(), st.integers(0, 6), st.sampled_from([-1, 2, 1000]))
def test_c4_lines_ranges_and_idempotence(text, terminal, min_words, max_len):
    options = dict(drop_no_terminal_punct=terminal, min_words_per_line=min_words, max_word_length=max_len)
    edited, s = h.c4_lines(text, **options)
    assert set(s) | {"bad_words"} == set(SCORE_FIELDS["c4"])
    assert _in_unit(s["lines_removed_frac"]) and _in_unit(s["words_removed_frac"])
    assert _count(s["sentence_count"]) and s["lorem_ipsum"] in (0.0, 1.0) and s["curly_bracket"] in (0.0, 1.0)
    assert (s["sentence_count"] == 0.0) == (edited == "")
    # Kept lines are stripped, non-empty and in their original order.
    assert all(line and line == line.strip() for line in edited.split("\n")) or edited == ""
    assert h.c4_lines(edited, **options)[0] == edited


@_SETTINGS
@given(_TEXTS)
def test_refinedweb_lines_ranges_and_idempotence(text):
    edited, s = h.refinedweb_lines(text)
    assert set(s) == set(SCORE_FIELDS["refinedweb"])
    assert _in_unit(s["removed_word_frac"]) and _count(s["lines_removed"])
    assert s["lines_removed"] <= len(text.splitlines())
    again, s2 = h.refinedweb_lines(edited)
    assert again == edited
    assert s2["lines_removed"] == 0.0 and s2["removed_word_frac"] == 0.0


@_SETTINGS
@given(_TEXTS, st.frozensets(st.sampled_from(["cart", "sign in", "the end", "漢字", "x", "", "  "]), max_size=4))
def test_c4_bad_words_is_a_count(text, bad_words):
    n = h.c4_bad_words(text, bad_words)
    assert _count(n)
    assert n <= len(text)  # matches do not overlap and each is at least one character
    assert h.c4_bad_words(text, frozenset()) == 0.0


@lru_cache(maxsize=1)
def _lid():
    return langid.load_model()


@settings(max_examples=150, deadline=None)
@given(_TEXTS)
def test_langid_label_and_probability(text):
    label, score = langid.identify(_lid(), text)
    assert isinstance(label, str) and type(score) is float and 0.0 <= score <= 1.0
    assert (label == "") == (score == 0.0) or not text.split()
    if not text.split():
        assert (label, score) == ("", 0.0)
    # Newlines are folded to spaces: the layout of whitespace does not change the answer.
    assert langid.identify(_lid(), " ".join(text.split())) == (label, score)
