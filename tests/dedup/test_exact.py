from __future__ import annotations

from dedup.exact import normalize, pick_first, text_key


def test_normalization_folds_case_whitespace_and_unicode_form_only():
    assert normalize("  Hello\n\tWORLD  ") == "hello world"
    assert text_key("Ｈｅｌｌｏ world") == text_key("hello   WORLD")  # NFKC folds full-width letters
    assert text_key("10 mg daily.") != text_key("100 mg daily.")
    assert text_key("Stop.") != text_key("Stop!")


def test_kept_copy_is_first_by_the_stated_order_not_by_arrival():
    a = {"id": "b2", "crawl_date": "2024-01-02", "url": "https://x/a"}
    b = {"id": "a1", "crawl_date": "2024-01-01", "url": "https://x/b"}
    c = {"id": "c3", "crawl_date": "2024-01-01", "url": "https://x/b"}
    for arrival in ([a, b, c], [c, b, a], [b, a, c]):
        first, dups = pick_first(arrival, ["crawl_date", "url", "id"])
        assert first is b and {d["id"] for d in dups} == {"b2", "c3"}
    first, _ = pick_first([a, b, c], ["id"])
    assert first["id"] == "a1"
