"""Benchmark decontamination on real eval sets and real pages: planted items are caught, clean pages are not.

Eval sets: GSM8K (test), HumanEval, HellaSwag (val, text form), ARC-Challenge (test) from
``../shared/data/benchmarks`` (skipped when absent). Pages: the gold main text of the modern-web-2026 pages
in ``tests/data/mini.jsonl.gz`` (the ``mini_jsonl_rows`` fixture), real English web pages.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dedup.normalize import normalize
from filters.decontamination import (
    NGRAM,
    EvalSet,
    Index,
    hash_set,
    load_eval_set,
    ngram_hashes,
    numeric_ngram_hashes,
    read_items,
    set_name,
    variants,
)

FILES = {
    "gsm8k": "gsm8k/test.jsonl.gz",
    "humaneval": "humaneval/HumanEval.jsonl.gz",
    "hellaswag": "hellaswag/hellaswag_val_full.txt.gz",
    "arc": "arc-challenge/arc_challenge.jsonl.gz",
}
PER_SET = 25


def _words(text: str) -> int:
    normalized = normalize(text)
    return len(normalized.split(" ")) if normalized else 0


@pytest.fixture(scope="module")
def benchmarks(shared_data) -> Path:
    return shared_data / "benchmarks"


@pytest.fixture(scope="module")
def eval_sets(benchmarks) -> list[EvalSet]:
    return [load_eval_set(str(benchmarks / path), name=name) for name, path in FILES.items()]


@pytest.fixture(scope="module")
def index(eval_sets) -> Index:
    return Index(eval_sets, NGRAM)


@pytest.fixture(scope="module")
def pages(mini_jsonl_rows) -> list[str]:
    return [row["text"] for row in mini_jsonl_rows]


def _plant(page: str, item: str) -> str:
    """The item inserted between two words near the middle of the page."""
    middle = len(page) // 2
    cut = page.find(" ", middle)
    cut = middle if cut < 0 else cut
    return f"{page[:cut]}\n{item}\n{page[cut:]}"


def _disguise(item: str, how: int) -> str:
    """Changes a normalizer must undo: case, punctuation, typographic quotes, line wrapping."""
    if how == 1:
        return item.upper()
    if how == 2:  # other punctuation at the same places, curly quotes, a quote mark glued to a word
        swapped = item.replace(",", ";").replace(".", "!").replace("'", "\u2019").replace("?", " ?!")
        return re.sub(r"(\w+)$", "\\1...\u201d", swapped)
    if how == 3:  # wrapped at every fifth word, with indentation and doubled spaces
        words = item.split()
        return "".join(w + ("\n    " if i % 5 == 4 else "  ") for i, w in enumerate(words))
    return item


def _sample(benchmarks: Path) -> list[tuple[int, str]]:
    """PER_SET indexed items of each set (>= NGRAM words), seeded: (set index, item text)."""
    rng = random.Random(13)
    chosen = []
    for k, path in enumerate(FILES.values()):
        items = [item for item in read_items(str(benchmarks / path)) if _words(item) >= NGRAM]
        chosen += [(k, item) for item in rng.sample(items, PER_SET)]
    return chosen


def test_real_sets_are_read_and_counted(eval_sets, index):
    counts = {s.name: (s.items, s.indexed_items, s.numeric_ngrams) for s in eval_sets}
    # GSM8K, HumanEval: every item is long; HellaSwag's text file has 6 lines per item (the label lines
    # "0".."3" and short endings are items of < 13 words); 12 ARC questions with their choices are short.
    # Numbers-only n-grams: HumanEval's test lists and grids, GSM8K's runs of calculator annotations.
    assert counts == {"gsm8k": (1319, 1319, 48), "humaneval": (164, 164, 533), "hellaswag": (60252, 41840, 0),
                      "arc": (1172, 1160, 0)}
    for s in eval_sets:
        assert s.hashes.dtype == np.uint64 and s.hashes.size > 10_000
        assert np.all(np.diff(s.hashes) > 0)  # sorted, unique
    assert index.nbytes >= 8 * sum(s.hashes.size for s in eval_sets)
    assert index.nbytes < 16 * sum(s.hashes.size for s in eval_sets)


def test_planted_items_are_caught_with_their_set(benchmarks, index, pages):
    sample = _sample(benchmarks)
    assert len(sample) == 4 * PER_SET
    planted = [_plant(pages[i % len(pages)], _disguise(item, i % 4)) for i, (_, item) in enumerate(sample)]
    results = index.match(planted)
    missed = [(k, item[:80]) for (k, item), (count, _) in zip(sample, results) if count == 0]
    assert not missed
    wrong = [(k, best, item[:80]) for (k, item), (_, best) in zip(sample, results) if best != k]
    assert not wrong
    for (k, item), (count, _) in zip(sample, results):
        # every distinct n-gram of the item (less those of numbers only), none across its edges into the page
        expected = np.setdiff1d(ngram_hashes([item], NGRAM)[0], numeric_ngram_hashes([item]))
        assert count == expected.size <= _words(item) - NGRAM + 1


def test_unplanted_real_pages_match_nothing(index, pages):
    assert len(pages) == 20
    assert index.match(pages) == [(0, None)] * len(pages)


def test_batch_equals_one_at_a_time(benchmarks, index, pages):
    sample = _sample(benchmarks)[::7]
    texts = pages[:6] + [_plant(pages[i], item) for i, (_, item) in enumerate(sample)] + ["", "short text"]
    batch = index.match(texts)
    assert batch == [index.match([text])[0] for text in texts]
    assert sum(count > 0 for count, _ in batch) == len(sample)


def test_spans_show_the_planted_words(benchmarks, index, pages):
    (k, item), = [pair for pair in _sample(benchmarks) if pair[0] == 0][:1]
    (set_index, words), = index.spans(_plant(pages[3], item))
    assert set_index == k
    assert words == normalize(item)
    assert index.spans(pages[3]) == []


def test_gsm8k_answer_without_calculator_annotations(benchmarks, index, pages):
    """Web copies of GSM8K answers drop the "<<48/2=24>>" annotations and the "#### 18" line; the
    markup-free variant of every item is indexed too."""
    with gzip.open(benchmarks / FILES["gsm8k"], "rt", encoding="utf-8") as handle:
        record = json.loads(handle.readline())
    answer = record["answer"]
    assert "<<" in answer and "####" in answer
    clean = variants(answer)[1]
    assert "<<" not in clean and "####" not in clean
    count, best = index.match([_plant(pages[0], clean)])[0]
    assert count >= 1 and best == 0
    # without the variant, the clean answer is not found: all its 13-grams cross an annotation
    only_raw = EvalSet("raw", "", 1, 1, np.unique(ngram_hashes([answer], NGRAM)[0]))
    assert Index([only_raw], NGRAM).match([clean]) == [(0, None)]


def test_number_runs_are_not_indexed(benchmarks, index, pages):
    """HumanEval/129's test has the grid [[1, 2, 3, 4], [5, 6, 7, 8], ...]: its "1 2 ... 16" n-grams matched
    every calendar page of the bench corpus (bench/decontamination_bench.py) until numbers-only n-grams
    were left out of the index. The item's other n-grams still catch it."""
    calendar = "November 2009\nSu Mo Tu We Th Fr Sa\n" + " ".join(str(day) for day in range(1, 31)) + "\nEvents"
    assert index.match([_plant(pages[5], calendar)]) == [(0, None)]
    with gzip.open(benchmarks / FILES["humaneval"], "rt", encoding="utf-8") as handle:
        problem = [json.loads(line) for line in handle][129]
    assert "[5, 6, 7, 8]" in problem["test"]
    count, best = index.match([_plant(pages[5], problem["test"])])[0]
    assert count > 20 and best == 1
    assert numeric_ngram_hashes([calendar]).size == 30 - NGRAM + 1
    assert numeric_ngram_hashes(["1 2 3 4 5 6 7 8 9 10 11 12 x 13"]).size == 0


def test_short_items_are_counted_not_indexed(tmp_path):
    thirteen = "one two three four five six seven eight nine ten eleven twelve thirteen"
    five = "alpha beta gamma delta epsilon"
    path = tmp_path / "tiny.txt"
    path.write_text(f"{five}\n{thirteen}\n\n{thirteen.rsplit(' ', 1)[0]}\n", encoding="utf-8")
    eval_set = load_eval_set(str(path))
    assert (eval_set.name, eval_set.items, eval_set.indexed_items, eval_set.hashes.size) == ("tiny", 3, 1, 1)
    index = Index([eval_set], NGRAM)
    # a document shorter than n words matches nothing, even when it is exactly a short item
    assert index.match([five, "alpha beta", ""]) == [(0, None)] * 3
    # exactly n words: one n-gram, matched; repeated, still one distinct n-gram
    assert index.match([thirteen.upper(), f"{thirteen}. {thirteen}!"]) == [(1, 0), (1, 0)]
    # ngram_hashes keeps n-word texts and drops the all-words hash of shorter ones
    _, offsets = ngram_hashes([five, thirteen, "x", f"{thirteen} fourteen"], NGRAM)
    assert np.diff(offsets).tolist() == [0, 1, 0, 2]


def test_ties_go_to_the_first_set_and_counts_are_distinct():
    text_a = "the quick brown fox jumps over the lazy dog while the farmer sleeps soundly"
    text_b = "colorless green ideas sleep furiously in the dark while the old clock ticks on slowly"
    a_hashes, _, _ = hash_set([text_a])
    ab_hashes, _, _ = hash_set([text_a, text_b])
    first = EvalSet("first", "", 1, 1, a_hashes)
    second = EvalSet("second", "", 2, 2, ab_hashes)
    index = Index([first, second], NGRAM)
    assert index.match([text_a]) == [(2, 0)]  # 14 words: both sets have its 2 n-grams, the first wins
    assert index.match([text_b]) == [(3, 1)]  # 15 words
    assert index.match([f"{text_a}\n{text_b}", f"{text_a} {text_a}"]) == [(5, 1), (2, 0)]  # distinct only
    with pytest.raises(ValueError, match="8-grams"):
        Index([EvalSet("eight", "", 0, 0, np.zeros(0, dtype=np.uint64), ngram=8)], NGRAM)
    assert Index([], NGRAM).match(["anything at all"]) == [(0, None)]


def test_jsonl_fields(tmp_path):
    rows = [{"query": "Question: Which gas do plants take in?", "choices": ["oxygen", "carbon dioxide"], "gold": 1},
            {"query": "Question: What melts ice?", "choices": ["heat", "cold"], "extra": {"note": "nested"}}]
    path = tmp_path / "arc" / "test.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(row) + "\n" for row in rows) + "\n", encoding="utf-8")
    assert read_items(str(path)) == ["Question: Which gas do plants take in?\noxygen\ncarbon dioxide",
                                     "Question: What melts ice?\nheat\ncold\nnested"]
    assert read_items(str(path), ["choices"]) == ["oxygen\ncarbon dioxide", "heat\ncold"]
    assert read_items(str(path), ["extra", "query"]) == ["Question: Which gas do plants take in?",
                                                         "nested\nQuestion: What melts ice?"]
    with pytest.raises(ValueError, match=r"test\.jsonl.*\['question'\].*'query', 'choices', 'gold', 'extra'"):
        read_items(str(path), ["question"])
    assert load_eval_set(str(path)).name == "arc"


def test_bad_json_line_names_file_and_line(data_dir):
    # the fixture's line 14 is a deliberately truncated JSON record (tests/data/README.md)
    for name in ("mini.jsonl.gz", "mini.jsonl.zst"):
        with pytest.raises(ValueError, match=rf"{re.escape(name)}: line 14 "):
            read_items(str(data_dir / name))


def test_parquet_text_and_gzip(tmp_path, data_dir, mini_jsonl_rows):
    texts = read_items(str(data_dir / "mini.parquet"), ["text"])
    assert texts == [row["text"] for row in mini_jsonl_rows] + [""]  # the last row's text is null
    every = read_items(str(data_dir / "mini.parquet"))  # id, url and text: every string column
    assert every[0] == "\n".join([mini_jsonl_rows[0]["id"], mini_jsonl_rows[0]["url"], mini_jsonl_rows[0]["text"]])
    table = pa.table({"prompt": ["def f(x):\n    return x", "def g():\n    pass"], "n": [1, 2],
                      "tags": [["a", "b"], []]})
    pq.write_table(table, tmp_path / "code.parquet")
    assert read_items(str(tmp_path / "code.parquet")) == ["def f(x):\n    return x\na\nb", "def g():\n    pass"]
    assert read_items(str(tmp_path / "code.parquet"), ["prompt"]) == ["def f(x):\n    return x", "def g():\n    pass"]
    lines = "first item, one line\r\nsecond item\n\n  \nthird\n"
    (tmp_path / "items.txt").write_text(lines, encoding="utf-8", newline="")
    with gzip.open(tmp_path / "items.txt.gz", "wt", encoding="utf-8", newline="") as handle:
        handle.write(lines)
    expected = ["first item, one line", "second item", "third"]
    assert read_items(str(tmp_path / "items.txt")) == expected
    assert read_items(str(tmp_path / "items.txt.gz")) == expected
    with pytest.raises(ValueError, match="text file"):
        read_items(str(tmp_path / "items.txt"), ["text"])
    (tmp_path / "array.json").write_text(json.dumps([{"q": "one"}, {"q": "two"}]), encoding="utf-8")
    assert read_items(str(tmp_path / "array.json")) == ["one", "two"]


@pytest.mark.parametrize("path, name", [
    ("../shared/data/benchmarks/gsm8k/test.jsonl.gz", "gsm8k"),
    ("/x/humaneval/HumanEval.jsonl.gz", "HumanEval"),
    ("/x/hellaswag/hellaswag_val_full.txt.gz", "hellaswag"),
    ("/x/arc-challenge/arc_challenge.jsonl.gz", "arc_challenge"),
    ("gs://bucket/evals/mmlu/data/test-00000-of-00001.parquet", "mmlu"),
    ("s3://bucket/triviaqa_validation.jsonl.zst", "triviaqa"),
    ("boolq.txt", "boolq"),
])
def test_set_names(path, name):
    assert set_name(path) == name


def test_index_sorts_hashes_it_is_given():
    hashes, _, _ = hash_set(["the quick brown fox jumps over the lazy dog while the farmer sleeps soundly today"])
    shuffled = EvalSet("shuffled", "", 1, 1, np.concatenate([hashes[::-1], hashes[:1]]))
    index = Index([shuffled], NGRAM)
    assert index.match(["The quick brown fox jumps over the lazy dog, while the farmer sleeps soundly today."]) == [(3, 0)]
    assert index.nbytes >= hashes.nbytes
