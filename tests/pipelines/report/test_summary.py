"""The report's one-pass summary: exact counts, any merge order, the same examples."""

from __future__ import annotations

import itertools
import random

from filters.decide import parse_rule
from pipelines.report.summary import KEPT_EXAMPLES, Summary, rounded, rules_of, summarize
from pipelines.recipe import load_recipe
from schemas.outcomes import SNIPPET_CHARS, light

RULE = parse_rule("gopher_quality", "min_words", "word_count >= 50", ("word_count",))


def _doc(i: int, words: int, decision: str | None = None, language: str = "en") -> dict:
    text = " ".join(["word"] * words)
    return {"id": f"{i:032x}", "url": f"https://example.org/{i}", "source": "a.warc.gz", "text": text,
            "decision": decision, "language": language, "ccnet_bucket": "head" if i % 2 else "tail",
            "token_count": words if decision is None else None,
            "scores": {"gopher_quality": {"word_count": float(words), "mean_word_length": float("nan")},
                       "quality": None}}


def _docs() -> list[dict]:
    docs = [_doc(i, 20 + 7 * i, None if 20 + 7 * i >= 50 else "gopher_quality:min_words") for i in range(40)]
    return [d if d["decision"] is None else light(d) for d in docs]  # dropped ones travel light, as in a run


def test_counts_are_exact_and_split_kept_from_all():
    summary = summarize(_docs(), (RULE,)).to_dict()
    scores = summary["scores"]["gopher_quality.word_count"]
    assert sum(n for _, n in scores["all"]) == 40 and sum(n for _, n in scores["kept"]) == 35
    assert scores["unmeasured"] == 0 and summary["scores"]["gopher_quality.mean_word_length"]["unmeasured"] == 40
    assert summary["scored"] == {"gopher_quality": 40}  # a null struct is a stage that did not score
    assert summary["rules"] == [{"reason": "gopher_quality:min_words", "stage": "gopher_quality",
                                 "score": "word_count", "op": ">=", "threshold": 50.0, "fails": 5}]
    assert sum(n for _, n in summary["words"]["all"]) == 40 and sum(n for _, n in summary["words"]["kept"]) == 35
    assert summary["languages"] == {"all": {"en": 40}, "kept": {"en": 35}}
    assert summary["buckets"]["all"] == {"head": 20, "tail": 20}
    assert sum(n for _, n in summary["tokens"]["kept"]) == 35


def test_any_split_and_merge_order_gives_the_same_summary():
    docs = _docs()
    whole = summarize(docs, (RULE,)).to_dict()
    rng = random.Random(7)
    for _ in range(5):
        shuffled = docs[:]
        rng.shuffle(shuffled)
        cuts = sorted(rng.sample(range(1, len(docs)), 3))
        parts = [summarize(shuffled[a:b], (RULE,)) for a, b in itertools.pairwise([0, *cuts, len(docs)])]
        rng.shuffle(parts)
        merged = Summary(rules=(RULE,))
        for part in parts:
            merged.merge(part)
        assert merged.to_dict() == whole


def test_examples_are_the_smallest_ids_with_the_failing_value():
    summary = summarize(_docs(), (RULE,)).to_dict()
    kept = summary["examples"]["keep"]
    assert [e["id"] for e in kept] == [f"{i:032x}" for i in range(5, 5 + KEPT_EXAMPLES)]
    dropped = summary["examples"]["gopher_quality:min_words"]
    assert [e["id"] for e in dropped] == [f"{i:032x}" for i in range(3)]
    assert dropped[0]["why"] == "word_count = 20, kept when word_count >= 50"
    assert dropped[0]["text"] == " ".join(["word"] * 20)


def test_a_light_record_carries_what_the_report_shows():
    doc = _doc(1, 400, "c4:curly_bracket")
    record = light(doc)
    assert record["words"] == 400 and len(record["snippet"]) == SNIPPET_CHARS
    assert record["scores"] == doc["scores"] and "text" not in record
    assert light({**doc, "text": None})["words"] is None  # dropped before extraction: no length


def test_rounding_keeps_three_significant_digits():
    assert [rounded(v) for v in (0.123456, 12345.0, 0.0, -0.0004567)] == [0.123, 12300.0, 0.0, -0.000457]


def test_the_recipes_rules_in_stage_order():
    rules = rules_of(load_recipe(None))
    stages = [r.stage for r in rules]
    assert stages.index("language") < stages.index("gopher_repetition") < stages.index("c4")
    assert any(r.reason == "gopher_quality:min_words" for r in rules)
