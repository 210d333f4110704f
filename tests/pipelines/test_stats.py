from __future__ import annotations

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
