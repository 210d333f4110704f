from __future__ import annotations

import math

import pytest

from filters.decide import decide, parse_rule

KNOWN = ("word_count", "alpha_word_ratio")


def test_rule_keeps_when_expression_holds():
    rule = parse_rule("gopher_quality", "min_words", "word_count >= 50", KNOWN)
    assert rule.keeps({"word_count": 50.0})
    assert not rule.keeps({"word_count": 49.0})
    assert rule.reason == "gopher_quality:min_words"


@pytest.mark.parametrize("expr, value, keeps", [
    ("word_count > 1", 1.0, False), ("word_count < 1", 0.5, True), ("word_count <= 1e5", 100000.0, True),
    ("word_count == 3", 3.0, True), ("word_count != 3", 3.0, False), ("word_count >= 100_000", 99999.0, False),
])
def test_operators(expr, value, keeps):
    assert parse_rule("s", "r", expr, KNOWN).keeps({"word_count": value}) is keeps


def test_missing_or_nan_score_abstains():
    rule = parse_rule("s", "r", "word_count >= 50", KNOWN)
    assert rule.keeps({}) and rule.keeps({"word_count": math.nan})


def test_first_failing_rule_in_order_is_the_reason():
    rules = [parse_rule("g", "min_words", "word_count >= 50", KNOWN),
             parse_rule("g", "alpha", "alpha_word_ratio >= 0.8", KNOWN)]
    assert decide({"word_count": 10, "alpha_word_ratio": 0.1}, rules) == "g:min_words"
    assert decide({"word_count": 60, "alpha_word_ratio": 0.1}, rules) == "g:alpha"
    assert decide({"word_count": 60, "alpha_word_ratio": 0.9}, rules) is None


@pytest.mark.parametrize("expr, message", [
    ("word_count >> 5", "cannot parse"), ("words >= 5", "unknown score 'words'"), ("word_count >= ", "cannot parse"),
])
def test_bad_rules_name_stage_rule_and_fix(expr, message):
    with pytest.raises(ValueError, match=message) as info:
        parse_rule("gopher_quality", "min_words", expr, KNOWN)
    assert "gopher_quality.rules.min_words" in str(info.value)
