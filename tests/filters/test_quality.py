"""The fastText quality classifier: preprocessing, the shipped model on real text, training, the CLI.

Quoted text: the Wikipedia paragraphs are from articles of ``wiki_19`` (English Wikipedia, 2015 dump,
CC BY-SA 3.0, Wikipedia contributors: "Accrington", "Arithmetic", "Asymptote", "Aldebaran"), a file
the shipped model was not trained on; the Gettysburg Address (1863) is public domain and in no training
set. The web texts are the gold texts of tests/data (modern-web-2026, Apache-2.0), whose pages the
model build excludes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import statistics

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings, strategies as st

from filters import quality, train_quality as tq

# Explanatory, textbook-like prose (FineWeb-Edu's "educational"): two Wikipedia leads and three passages
# written for these tests. The shipped model is distilled from a classifier of educational value.
EDUCATIONAL = [
    "Arithmetic or arithmetics (from the Greek ἀριθμός \"arithmos\", \"number\") is the oldest and most elementary "
    "branch of mathematics. It consists of the study of numbers, especially the properties of the traditional "
    "operations between them — addition, subtraction, multiplication and division.",
    "In analytic geometry, an asymptote of a curve is a line such that the distance between the curve and the "
    "line approaches zero as they tend to infinity. Some sources include the requirement that the curve may not "
    "cross the line infinitely often, but this is unusual for modern authors.",
    "Photosynthesis is the process by which green plants, algae and some bacteria turn light energy into chemical "
    "energy. In the chloroplasts, chlorophyll absorbs light, which drives the splitting of water into oxygen, "
    "protons and electrons. The energy captured is then used in the Calvin cycle to fix carbon dioxide from the "
    "air into sugars such as glucose, which the plant uses for growth and stores as starch.",
    "To find the area of a triangle, multiply the length of its base by its height and divide the result by two. "
    "For example, a triangle with a base of 6 centimetres and a height of 4 centimetres has an area of 12 square "
    "centimetres. The height must be measured at a right angle to the base, which is why in an obtuse triangle "
    "it can fall outside the triangle itself.",
    "The water cycle describes how water moves between the oceans, the atmosphere and the land. Heat from the sun "
    "evaporates water from seas and lakes; the vapour rises, cools and condenses into clouds, and falls back as "
    "rain or snow. Some of it runs off into rivers, some soaks into the ground to recharge aquifers, and plants "
    "return more to the air through transpiration.",
]
# Product and listing pages of tests/data/mini.jsonl.gz: prices, SKUs, filters, item counts.
LISTING_URLS = (
    "https://www.zappos.com/women-sneakers-athletic-shoes",
    "https://hyosilver.com/shop/buckles/texan-series-buckles/",  # prefix: the real URL continues
    "https://www.rei.com/product/227955/rei-co-op-trail-25-pack",
    "https://www.skullcandy.com/collections/headphones",
    "https://www.redfin.com/city/17527/NV/Sparks",
)
SMALL_BUCKET = 20_000  # tests train in seconds; the default (1M) is for real seed sets


@pytest.fixture(scope="module")
def model():
    return quality.load_model()


@pytest.fixture(scope="module")
def web_rows(data_dir) -> list[dict]:
    rows = []
    for line in gzip.decompress((data_dir / "mini.jsonl.gz").read_bytes()).decode("utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # the fixture's deliberately malformed line
        if row.get("text"):
            rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------- preprocess


def test_preprocess_is_one_lowercase_line_without_diacritics():
    text = "Café  NAÏVE\n\n\n  résumé\tÅngström\r\nﬁle ＡＢＣ İstanbul\u00a0x\u2028y\0z "
    assert quality.preprocess(text) == "cafe naive resume angstrom file abc istanbul x y z"
    assert quality.preprocess("Plain ASCII,\n\nwith  Punctuation!") == "plain ascii, with punctuation!"
    assert quality.preprocess("Ελληνικά") == "ελληνικα"  # other scripts keep their letters, lose their accents
    assert quality.preprocess(" \n\t ") == ""


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_preprocess_output_is_a_normalised_fixed_point(text):
    line = quality.preprocess(text)
    assert quality.preprocess(line) == line
    assert "\n" not in line and "  " not in line and line == line.strip() and "\0" not in line


# ------------------------------------------------------------------------------------------- prediction


def test_shipped_model_is_small_and_a_quality_model(model):
    assert quality.DEFAULT_MODEL.stat().st_size < 2_000_000
    assert set(model.get_labels()) == {quality.LABEL_HQ, quality.LABEL_LQ}


def test_load_model_copies_a_filesystems_path_to_local_disk(monkeypatch):
    from apache_beam.io.filesystems import FileSystems

    opened = []

    def fake_open(path, compression_type=None):
        opened.append(path)
        return open(quality.DEFAULT_MODEL, "rb")

    monkeypatch.setattr(FileSystems, "open", staticmethod(fake_open))
    model = quality.load_model("gs://bucket/models/quality_en.ftz")
    assert opened == ["gs://bucket/models/quality_en.ftz"]
    assert quality.predict_batch(model, EDUCATIONAL[:1]) == quality.predict_batch(quality.load_model(), EDUCATIONAL[:1])


def test_load_model_rejects_a_model_of_another_task():
    from filters.langid import default_model_path

    with pytest.raises(ValueError, match="not a quality model"):
        quality.load_model(default_model_path())


def test_educational_prose_outscores_product_listings(model, web_rows):
    listings = [row["text"] for row in web_rows if row["url"].startswith(LISTING_URLS)]
    assert len(listings) == len(LISTING_URLS)
    clean = quality.predict_batch(model, EDUCATIONAL)
    web = quality.predict_batch(model, listings)
    assert statistics.mean(clean) > 0.8 and min(clean) > 0.7
    assert statistics.mean(web) < 0.3 and max(web) < min(clean)  # every listing ranks below every lesson
    # and over all 20 real web documents of the fixture, not only the listings
    assert statistics.mean(quality.predict_batch(model, [row["text"] for row in web_rows])) < 0.4


def test_predict_batch_matches_single_predictions_and_the_predict_only_path(model, web_rows, monkeypatch):
    texts = EDUCATIONAL + ["", "   \n "] + [row["text"] for row in web_rows[:5]]
    batch = quality.predict_batch(model, texts)
    assert len(batch) == len(texts) and all(0.0 <= s <= 1.0 for s in batch)
    assert batch[len(EDUCATIONAL)] == batch[len(EDUCATIONAL) + 1] == 0.0  # nothing to judge
    one_by_one = [quality.predict_batch(model, [t])[0] for t in texts]
    assert batch == pytest.approx(one_by_one, abs=1e-6)
    labels, probs = model.predict(quality.preprocess(EDUCATIONAL[0]), k=2)
    assert batch[0] == pytest.approx(min(1.0, dict(zip(labels, probs))[quality.LABEL_HQ]), abs=1e-6)
    # the per-line fallback used when the predict-only fastText build owns the module
    monkeypatch.setattr(quality, "_has_batched_probabilities", lambda: False)
    assert quality.predict_batch(model, texts) == pytest.approx(batch, abs=1e-6)


# ---------------------------------------------------------------------------------------------- metrics


def test_roc_auc_equals_pair_counting_with_ties():
    labels = [1, 0, 1, 1, 0, 0, 1, 0, 0, 1]
    scores = [0.9, 0.1, 0.4, 0.4, 0.4, 0.7, 0.8, 0.2, 0.4, 0.1]
    pos = [s for y, s in zip(labels, scores) if y]
    neg = [s for y, s in zip(labels, scores) if not y]
    pairs = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    assert tq.roc_auc(labels, scores) == pytest.approx(pairs / (len(pos) * len(neg)))
    assert tq.roc_auc([1, 1, 0], [0.1, 0.2, 0.3]) == 0.0
    m = tq.binary_metrics(labels, scores)
    # at 0.5: positives predicted 0.9, 0.8 (tp 2), negatives 0.7 (fp 1), positives missed 0.4, 0.4, 0.1 (fn 3)
    assert (m["precision"], m["recall"]) == pytest.approx((2 / 3, 2 / 5))
    assert m["f1"] == pytest.approx(2 * (2 / 3) * (2 / 5) / (2 / 3 + 2 / 5))


def test_chunks_and_balanced_examples():
    line = " ".join(f"w{i}" for i in range(130))
    pieces = tq.chunk(line, 50)
    assert [len(p.split()) for p in pieces] == [50, 50, 30]
    assert [len(p.split()) for p in tq.chunk(" ".join(line.split()[:120]), 50)] == [50, 70]  # 20 < 25 joins
    assert tq.chunk("a b c", 50) == ["a b c"] and tq.chunk(line, 0) == [line]
    docs = [(1, line)] * 3 + [(0, "short text")] * 2
    examples = tq.training_examples(docs, chunk_words=50, seed=1)
    assert sorted(y for y, _ in examples) == [0, 0, 1, 1]
    assert examples == tq.training_examples(docs, chunk_words=50, seed=1)


def test_teacher_seeds_are_the_ranks_extremes():
    pool = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]
    scores = [0.9, 0.1, 0.5, 0.95, 0.2, 0.5, 0.7, 0.05, 0.3, 0.6]
    positives, negatives, rest = tq.teacher_seeds(pool, scores, positive=0.2, negative=0.3)
    assert positives == ["d", "a"] and negatives == ["e", "b", "h"]  # the top 20% and the bottom 30%
    assert sorted(positives + negatives + rest) == pool
    assert rest == ["g", "j", "c", "f", "i"]  # ties (c, f at 0.5) in pool order
    with pytest.raises(ValueError, match="at most 1"):
        tq.teacher_seeds(pool, scores, positive=0.6, negative=0.5)


def test_cli_needs_seed_files_or_a_teacher_and_its_pool(tmp_path):
    with pytest.raises(SystemExit, match="--teacher and --pool"):
        tq.main(["--positive", "p.txt", "--out", str(tmp_path / "q.bin")])
    with pytest.raises(SystemExit, match="--pool"):
        tq.main(["--teacher", "edu.npz", "--out", str(tmp_path / "q.bin")])


def test_refine_labels_pool_extremes_with_the_model(model, web_rows):
    pool = [row["text"] for row in web_rows] + EDUCATIONAL
    labelled, rest = tq.refine(model, [quality.preprocess(t) for t in pool], per_side=3)
    positives = [line for y, line in labelled if y]
    negatives = [line for y, line in labelled if not y]
    assert len(positives) == len(negatives) == 3 and len(rest) == len(pool) - 6
    ranked = sorted(pool, key=lambda t: quality.predict_batch(model, [t])[0])
    assert set(positives) == {quality.preprocess(t) for t in ranked[-3:]}  # the model's top three ...
    assert set(negatives) == {quality.preprocess(t) for t in ranked[:3]}  # ... and its bottom three
    assert set(positives) & {quality.preprocess(t) for t in EDUCATIONAL}


# ------------------------------------------------------------------------------------------ inputs, CLI


def test_read_texts_reads_jsonl_parquet_and_plain_text(data_dir, tmp_path):
    gold = [row for row in map(_loads, gzip.decompress((data_dir / "mini.jsonl.gz").read_bytes()).splitlines()) if row]
    expected = [row["text"] for row in gold if isinstance(row.get("text"), str) and row["text"].strip()]
    assert len(expected) == 20
    for name in ("mini.jsonl.gz", "mini.jsonl.zst", "mini.parquet"):
        assert list(tq.read_texts([str(data_dir / name)])) == expected, name
    assert list(tq.read_texts([str(data_dir / "mini_custom_cols.parquet")], text_column="content")) == expected
    with pytest.raises(ValueError, match="no column 'text'"):
        list(tq.read_texts([str(data_dir / "mini_custom_cols.parquet")]))
    plain = tmp_path / "docs.txt.gz"
    plain.write_bytes(gzip.compress("first doc, one line\nsecond doc\n\nthird doc\nstill third\n".encode()))
    assert list(tq.read_texts([str(plain)])) == ["first doc, one line", "second doc", "third doc", "still third"]
    assert list(tq.read_texts([str(plain)], text_unit="block")) == [
        "first doc, one line\nsecond doc", "third doc\nstill third"]
    assert len(list(tq.read_texts([str(tmp_path / "*.txt.gz")], text_unit="file"))) == 1
    with pytest.raises(FileNotFoundError):
        list(tq.read_texts([str(tmp_path / "nothing-*.jsonl")]))


def _loads(line: bytes):
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


@pytest.fixture(scope="module")
def real_sets(shared_data) -> tuple[list[str], list[str], list[str]]:
    """Positives: held-out Wikipedia articles + inaugural addresses; negatives: FineWeb documents scored 0-1
    by Llama-3 for educational value; pool: FineWeb documents scored 2+. Read from ../shared, never copied."""
    from tests.filters.corpora import speeches, wikipedia_articles

    quality_dir = shared_data / "quality"
    wiki = quality_dir / "wikipedia-en-2015"
    not_held_out = tuple(p.name for p in wiki.glob("wiki_*.gz") if p.name != "wiki_19.gz")
    positives = list(wikipedia_articles(wiki, skip=not_held_out))
    positives += [t for t in speeches(quality_dir / "nltk-corpora") if t]
    rows = [json.loads(line) for line in gzip.decompress(
        (quality_dir / "fineweb-edu-llama3-labels" / "llama3_annotations_1000.jsonl.gz").read_bytes()).splitlines()]
    negatives = [r["text"] for r in rows if r["scores"]["score"] <= 1]
    pool = [r["text"] for r in rows if r["scores"]["score"] >= 2]
    return positives, negatives, pool


def test_training_on_real_text_separates_held_out_documents_deterministically(real_sets, tmp_path):
    positives, negatives, _ = real_sets
    split = tq.balance_and_split(positives, negatives, seed=0, valid_fraction=0.25)
    assert len(split.valid) >= 100 and not {t for _, t in split.valid} & {t for _, t in split.train}
    digests, metrics = [], []
    for run in range(2):
        result = tq.train_rounds(split, chunk_words=50, seed=0, bucket=SMALL_BUCKET, log=lambda *_: None)
        path = tmp_path / f"run{run}.bin"
        result.model.save_model(str(path))
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
        metrics.append(result.rounds[-1])
    assert digests[0] == digests[1], "same data + seed must give the same model bytes"
    assert metrics[0]["auc"] > 0.9 and metrics[0]["f1"] > 0.8, metrics[0]


def test_cli_trains_from_all_three_formats_with_refinement_and_quantizes(real_sets, tmp_path, capsys):
    positives, negatives, pool = real_sets
    half = len(negatives) // 2
    pos_txt = tmp_path / "positives.txt"
    pos_txt.write_text("".join(" ".join(t.split()) + "\n" for t in positives), encoding="utf-8")
    neg_jsonl = tmp_path / "negatives.jsonl.gz"
    neg_jsonl.write_bytes(gzip.compress("".join(json.dumps({"body": t}) + "\n" for t in negatives[:half]).encode()))
    neg_parquet = tmp_path / "negatives.parquet"
    pq.write_table(pa.table({"body": negatives[half:]}), neg_parquet)
    pool_parquet = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"body": pool}), pool_parquet)
    out = tmp_path / "model.ftz"
    args = ["--positive", str(pos_txt), "--negative", str(neg_jsonl), str(neg_parquet), "--text_column", "body",
            "--out", str(out), "--rounds", "1", "--pool", str(pool_parquet), "--bucket", str(SMALL_BUCKET),
            "--quantize", "--cutoff", "2000", "--valid_fraction", "0.2"]
    assert tq.main(args) == 0
    printed = capsys.readouterr().out
    assert f"read {len(positives)} positive, {len(negatives)} negative documents" in printed
    added = re.search(r"round 1: \+(\d+) positive and \+(\d+) negative documents from the pool", printed)
    assert added and int(added.group(1)) == int(added.group(2)) > 0, printed
    assert "round 1 (" in printed and "quantized:" in printed
    model = quality.load_model(out)
    clean, web = quality.predict_batch(model, EDUCATIONAL), quality.predict_batch(model, negatives[:100])
    assert statistics.mean(clean) > statistics.mean(web) + 0.3
