from __future__ import annotations

from pipelines import stats
from pipelines.stats import DROPPED, ERROR, KEPT, SKIPPED, build_stats, check_identity, format_funnel, outcome_of


def test_funnel_balances_per_file_and_in_total():
    counts = [
        (("a.warc", KEPT, ""), 5), (("a.warc", DROPPED, "language:not_kept"), 3),
        (("a.warc", ERROR, "read:parse_error"), 1), (("a.warc", SKIPPED, "request"), 9),
        (("b.warc", DROPPED, "language:not_kept"), 2), (("b.warc", DROPPED, "dedup:exact"), 1),
    ]
    stats = build_stats(counts)
    assert stats["read"] == 12 and stats["kept"] == 5
    assert stats["dropped"] == {"language:not_kept": 5, "dedup:exact": 1}
    assert stats["errors"] == {"read:parse_error": 1}
    assert stats["skipped_records"] == {"request": 9}
    assert stats["files"]["a.warc"]["read"] == 9 and stats["files"]["b.warc"]["read"] == 3
    assert check_identity(stats) == []
    text = format_funnel(stats)
    assert "language:not_kept" in text and "read:parse_error" in text


def test_identity_check_catches_a_lost_record():
    stats = build_stats([(("a", KEPT, ""), 2)])
    stats["files"]["a"]["read"] = 3
    assert check_identity(stats) == ["a: read 3 != kept + dropped + errors 2"]


def test_outcome_of_document():
    assert outcome_of({"source": "s", "decision": "keep"}) == ("s", KEPT, "")
    assert outcome_of({"source": "s", "decision": "c4:min_sentences"}) == ("s", DROPPED, "c4:min_sentences")


def test_the_corpus_checks_complete_the_synthetic_funnel():
    synth = {"documents_selected": 4, "pairs_kept": 20, "rewrites": 20, "sources_expanded": 3,
             "rewrite_outcomes": {"keep": 9, "synth:echo": 11}, "expansion": {"documents": 9 / 4, "words": 1.0}}
    out = stats.with_corpus_checks(synth, [("keep", 5), ("gopher_repetition:dup_line", 3), ("dedup:near", 1)], [2])
    assert out["corpus_checks"] == {"keep": 5, "dedup:near": 1, "gopher_repetition:dup_line": 3}
    assert out["synthetic_documents"] == 5 and out["expansion"]["documents"] == 5 / 4 and out["sources_expanded"] == 2
    assert out["funnel"] == {"documents_selected": 4, "pairs": 20, "rewrites": 20, "passed_synthesis_checks": 9,
                             "kept": 5, "documents_with_a_rewrite": 2}
    lines = "\n".join(stats.format_synthetic({**out, "backend": "b", "model": "m", "documents_in": 9,
                                              "pairs_proposed": 12, "pairs_catalogue": 8}))
    assert "then the corpus checks" in lines and "dedup:near" in lines and "documents with a kept rewrite" in lines
    nothing = stats.with_corpus_checks({**synth, "rewrite_outcomes": {"keep": 0}}, [], [])
    assert nothing["synthetic_documents"] == 0 and nothing["corpus_checks"] == {"keep": 0}
