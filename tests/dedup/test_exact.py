from __future__ import annotations

from dedup.exact import normalize, order_key, text_key


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
        assert min(arrival, key=lambda d: order_key(d, ["crawl_date", "url", "id"])) is b
    assert min([a, b, c], key=lambda d: order_key(d, ["id"]))["id"] == "a1"
    assert order_key(c, ["crawl_date"]) > order_key(b, ["crawl_date"])  # same date: the id breaks the tie
