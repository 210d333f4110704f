"""Properties of MAGA's pure checks and parsers on arbitrary Unicode (hypothesis).

No check raises on any text an LM can return; every score stays in its documented range (or is NaN
exactly where documented: the rule then abstains); parsers return None or well-formed pairs.
"""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings, strategies as st

from synth import maga
from synth.backends import Generation
from synth.maga import Pair

_PIECES = st.sampled_from([
    " ", "\n", "\n\n", "\t", "\u00a0", "\u2019", "[", "]", "{", "}", '"', "\\", ",", ":", "```", "```json\n",
    '{"genre": "', '", "audience": "', '"}', "Sure!", "Here is the rewritten article:", "I'm sorry, but",
    "As an AI model", "Score: 4", "3", "5.", "photographs", "photograph", "the", "and", "😀", "漢字", "İ", "\x00",
    "\ud800", "video", "children aged 8", "A long-form essay for", "The document", "Keep all of",
])
_TEXTS = st.one_of(
    st.text(st.characters(exclude_categories=())),  # all of Unicode, surrogates included
    st.lists(st.one_of(_PIECES, st.text(max_size=5)), max_size=40).map("".join),
)
_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(_TEXTS, _TEXTS)
def test_consistency_scores_stay_in_range(source, rewrite):
    ratio = maga.length_ratio(source, rewrite)
    if maga.words(source):
        assert math.isfinite(ratio) and ratio >= 0.0
        assert ratio == len(maga.words(rewrite)) / len(maga.words(source))
    else:
        assert math.isnan(ratio)
    coverage = maga.keyword_coverage(source, rewrite)
    if maga.top_keywords(source):
        assert 0.0 <= coverage <= 1.0
        assert maga.keyword_coverage(source, source) == 1.0  # a source covers its own keywords
    else:
        assert math.isnan(coverage)
    copy = maga.source_copy(source, rewrite)
    assert 0.0 <= copy <= 1.0
    if len(maga.words(source)) >= 8:
        assert maga.source_copy(source, source) == 1.0
    assert len(maga.top_keywords(source, 5)) <= 5


@_SETTINGS
@given(_TEXTS)
def test_flags_are_zero_or_one(text):
    assert maga.refusal(text) in (0.0, 1.0)
    judge = maga.parse_judge(text)
    assert math.isnan(judge) or judge in (1.0, 2.0, 3.0, 4.0, 5.0)
    assert maga.truncated("length") == 1.0 and maga.truncated(None) == 0.0
    stripped, removed = maga.strip_preamble(text)
    assert isinstance(stripped, str)
    assert stripped == text if not removed else len(stripped) < len(text)


@_SETTINGS
@given(_TEXTS, st.sampled_from(["rewrite_v1", "pairs_v1", "judge_v1"]))
def test_echo_counts_words_shared_with_the_prompt(text, name):
    template = maga.load_prompt(name)
    n = maga.echo(text, template, Pair(genre=text[:40], audience="readers"))
    assert n == int(n) and 0.0 <= n <= len(maga.words(text))
    longest = max(template.fixed_parts(), key=lambda p: len(maga.words(p)))
    assert maga.echo(longest, template) == len(maga.words(longest))  # a parroted prompt is caught whole


@_SETTINGS
@given(_TEXTS, st.integers(1, 200))
def test_prepare_source_is_a_bounded_prefix(text, max_chars):
    shown, cut = maga.prepare_source(text, max_chars)
    assert len(shown) <= max_chars and text.strip().startswith(shown)
    assert cut == (len(text.strip()) > max_chars)


@_SETTINGS
@given(_TEXTS)
def test_parsers_never_raise_and_return_well_formed_pairs(text):
    repaired = maga.repair_json(text)
    assert repaired is None or isinstance(repaired, str)
    parsed = maga.parse_pairs(text)
    if parsed is not None:
        pairs, how = parsed
        assert how in ("none", "local") and pairs
        for pair in pairs:
            assert isinstance(pair.genre, str) and isinstance(pair.audience, str)
            assert pair.genre == " ".join(pair.genre.split()) and pair.audience == " ".join(pair.audience.split())


@_SETTINGS
@given(st.lists(st.tuples(_TEXTS, _TEXTS), min_size=1, max_size=4), st.booleans())
def test_any_unicode_pairs_round_trip_through_json(pairs, ascii_only):
    body = json.dumps([{"genre": g, "audience": a} for g, a in pairs], ensure_ascii=ascii_only)
    assert maga.parse_pairs(body) == ([Pair(" ".join(g.split()), " ".join(a.split())) for g, a in pairs], "none")


@_SETTINGS
@given(st.lists(st.tuples(_TEXTS, _TEXTS), max_size=8), st.integers(0, 5))
def test_pair_selection_accounts_for_every_proposal(raw, n):
    pairs = [Pair(g, a) for g, a in raw]
    for pair in pairs:
        assert maga.pair_problem(pair) in (None, *maga.PAIR_PROBLEMS)
    kept, counts = maga.select_pairs(pairs, n)
    assert len(kept) == counts["kept"] <= n
    set_aside = sum(counts[p] for p in maga.PAIR_PROBLEMS) + counts["duplicates"]
    assert counts["proposed"] == len(pairs) >= set_aside + counts["kept"]
    distinct, duplicates = maga.dedup_pairs(pairs)
    assert len(distinct) + duplicates == len(pairs)


@_SETTINGS
@given(_TEXTS, _TEXTS, st.sampled_from([None, "stop", "length"]))
def test_rewrite_scores_has_every_score(source, text, finish):
    scores = maga.rewrite_scores(source, Generation(text=text, finish_reason=finish), maga.load_prompt("rewrite_v1"))
    assert tuple(scores) == maga.SYNTH_SCORES
    assert all(type(v) is float for v in scores.values())
    assert math.isnan(scores["judge"]) and scores["preamble"] in (0.0, 1.0) and scores["words"] >= 0.0
