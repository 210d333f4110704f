"""KenLM perplexity: CCNet normalization, the formula against KenLM's own scoring, rankings on real text,
the selection helpers, and ``train_kenlm`` end to end (when lmplz is available).

Reference prose copied below: US presidential inaugural addresses (public domain, from NLTK's
``inaugural`` corpus) and the opening of the English Wikipedia article "Aldebaran" (2015 dump, CC BY-SA
3.0, https://en.wikipedia.org/wiki?curid=3077). That article lies in wiki_19, which the shipped model
was NOT trained on, so it measures the model on unseen encyclopedic text.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import re
import shutil
import unicodedata

import numpy as np
import pytest

from filters import perplexity as P
from filters import quantiles
from filters import train_kenlm as T

KENNEDY_1961 = (
    "The world is very different now. For man holds in his mortal hands the power to abolish all forms of "
    "human poverty and all forms of human life. And yet the same revolutionary beliefs for which our "
    "forebears fought are still at issue around the globe -- the belief that the rights of man come not from "
    "the generosity of the state, but from the hand of God.\n\n"
    "We dare not forget today that we are the heirs of that first revolution. Let the word go forth from this "
    "time and place, to friend and foe alike, that the torch has been passed to a new generation of Americans "
    "-- born in this century, tempered by war, disciplined by a hard and bitter peace, proud of our ancient "
    "heritage -- and unwilling to witness or permit the slow undoing of those human rights to which this "
    "Nation has always been committed, and to which we are committed today at home and around the world."
)
LINCOLN_1865 = (
    "One-eighth of the whole population were colored slaves, not distributed generally over the Union, but "
    "localized in the southern part of it. These slaves constituted a peculiar and powerful interest. All "
    "knew that this interest was somehow the cause of the war. To strengthen, perpetuate, and extend this "
    "interest was the object for which the insurgents would rend the Union even by war, while the Government "
    "claimed no right to do more than to restrict the territorial enlargement of it. Neither party expected "
    "for the war the magnitude or the duration which it has already attained."
)
ALDEBARAN_WIKIPEDIA = (
    "Aldebaran\n\n"
    "Aldebaran (α Tau, α Tauri, Alpha Tauri) is an orange giant star located about 65 light years away in "
    "the zodiac constellation of Taurus. With an average apparent magnitude of 0.87 it is the brightest star "
    "in the constellation and is one of the brightest stars in the nighttime sky.\n"
    "In 1993 a substellar companion was reported. Subsequent observations did not confirm this claim, but a "
    "paper accepted for publication in Astronomy and Astrophysics in 2015 shows evidence for a planetary "
    "companion.\n"
    "Aldebaran is classified as a type K5III star, which indicates it is an orange giant star that has moved "
    "off the main sequence line of the Hertzsprung–Russell diagram after exhausting the hydrogen at its core."
)
#: The shipped SentencePiece model's pieces of the worked example's normalized text (a new model changes them).
SHIPPED_PIECES = "▁the ▁quick ▁brown ▁fox jump s ▁over ▁00 ▁lazy ▁dogs ."
PROSE = {"kennedy": KENNEDY_1961, "lincoln": LINCOLN_1865, "aldebaran": ALDEBARAN_WIKIPEDIA}
# Real web pages of tests/data/mini.jsonl.gz that are listings and navigation rather than prose.
BOILERPLATE_URLS = (
    "https://hyosilver.com/shop/buckles/texan-series-buckles/engraved-silver-fashion-belt-buckle/",
    "https://www.imdb.com/chart/top/",
    "https://www.zappos.com/women-sneakers-athletic-shoes",
)


def shuffle_words(text: str, seed: int = 0) -> str:
    words = text.split()
    random.Random(seed).shuffle(words)
    return " ".join(words)


def garble_chars(text: str, rate: float = 0.3, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") if c.isalpha() and rng.random() < rate else c
                   for c in text)


def gold_texts(shared_data) -> list[str]:
    """The gold main texts of modern-web-2026 (real 2025-26 web pages), the English ones over 50 words."""
    from filters.langid import identify, load_model

    lid = load_model()
    folder = shared_data / "extraction" / "modern-web-2026" / "ground-truth"
    texts = []
    for path in sorted(folder.glob("*.json.gz")):
        truth = json.loads(gzip.decompress(path.read_bytes()))["ground_truth"]
        text = truth.get("main_content") or ""
        if len(text.split()) > 50 and identify(lid, text)[0] == "en":
            texts.append(text)
    return texts


@pytest.fixture(scope="module")
def model():
    return P.load_model()


@pytest.fixture(scope="module")
def web_docs(data_dir) -> dict[str, str]:
    docs = {}
    with gzip.open(data_dir / "mini.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # the fixture's deliberately malformed line
            if row.get("text"):
                docs[row["url"]] = row["text"]
    return docs


# --------------------------------------------------------------------------------------- normalization


def test_cc_net_normalizer_test_cases():
    """facebookresearch/cc_net tests/test_normalizer.py, all three tests, verbatim but for the module name."""
    weird = "，。、„”“«»１」「《》´∶：？！（）；–—．～’…━〈〉【】％"
    replaced = ',.,""""""""""\'::?!();- - . ~\'...-<>[]%'
    assert P.replace_unicode_punct(weird) == replaced
    assert P.remove_unicode_punct(weird) == ""

    weird = "０２３４５６７８９ | 0123456789"
    normalized = "000000000 | 0000000000"
    assert P.normalize(weird, numbers=True) == normalized
    assert P.normalize(weird, numbers=False) == weird

    # test_normalize_for_dedup: cc_net's slow_normalize_for_dedup is normalize(accent=False, case=True,
    # numbers=True, punct=2); its normalize_for_dedup is a faster copy of the same.
    weird = "０２３´∶：\x10 | ;012 hèllo"
    normalized = "000 | ;000 hèllo"
    assert normalized == P.normalize(weird, accent=False, case=True, numbers=True, punct=2)


def cc_net_normalize(line: str, accent=True, case=True, numbers=True, punct=1) -> str:
    """cc_net's text_normalizer.normalize, its steps one after another as its code runs them: the oracle
    the single-pass table is checked against."""
    line = line.strip()
    if not line:
        return line
    if case:
        line = line.lower()
    if accent:
        line = "".join(c for c in unicodedata.normalize("NFD", line) if unicodedata.category(c) != "Mn")
    if numbers:
        line = re.sub(r"\d", "0", line)
    if punct == 1:
        line = "".join(P.UNICODE_PUNCT.get(c, c) for c in line)
    elif punct == 2:
        line = re.sub("[" + "".join(P.UNICODE_PUNCT) + "]", "", line)
    return re.sub("[" + "".join(map(chr, P.NON_PRINTING)) + "]", "", line)


@pytest.mark.parametrize("settings", [{}, {"accent": False, "punct": 2}, {"numbers": False}, {"case": False}])
def test_normalize_is_cc_net_step_by_step_on_real_pages(web_docs, settings):
    texts = [*web_docs.values(), *PROSE.values(), "Ｆｕｌｌ１ “quoted” １２ İstanbul\tTAB\x85\u2028end"]
    for text in texts:
        assert P.normalize(text, **settings) == cc_net_normalize(text, **settings)


@pytest.mark.parametrize("raw, expected", [
    ("Café “Zürich” – 12:30…", 'cafe "zurich" - 00:00...'),       # accents stripped, digits, punct
    ("a—b", "a - b"),                                                  # em dash gets spaces, as CCNet
    ("Price: ١٢٣ dollars", "price: 000 dollars"),                     # every script's decimal digits
    ("「引用」，。（注）", '"引用",.(注)'),                                # CJK punctuation → ASCII
    ("One line.\nThe next\tline", "one line.the nextline"),           # controls deleted: lines glued, as CCNet
    ("  THE   End \n ", "the   end"),                                 # spaces left to SentencePiece
    ("Ｆｕｌｌ１", "ｆｕｌｌ0"),                                         # no NFKC here (SentencePiece does it)
])
def test_normalize_examples(raw, expected):
    assert P.normalize(raw) == expected


def test_the_normalization_table_covers_every_code_point_it_must():
    """The table scans planes 0, 1 and 14 only: every combining mark and decimal digit of this Python's
    Unicode must be there (a new Unicode version with one elsewhere fails here)."""
    wanted = {cp for cp in range(0x110000) if unicodedata.category(chr(cp)) in ("Mn", "Nd")}
    assert wanted and wanted <= set(P._table())


def test_normalize_is_idempotent_on_real_pages(web_docs):
    for text in list(web_docs.values()) + list(PROSE.values()):
        once = P.normalize(text)
        assert P.normalize(once) == once and "\n" not in once


# --------------------------------------------------------------------------------------- scoring


def test_the_sentencepiece_model_sits_beside_the_kenlm_model():
    assert P.sentencepiece_path("m/en.arpa.bin") == "m/en.sp.model"  # cc_net's layout
    assert P.sentencepiece_path("gs://b/lm.binary") == "gs://b/lm.sp.model"
    assert P.sentencepiece_path("lm.arpa") == "lm.sp.model"


def test_shipped_pair_is_cc_nets_recipe(model):
    assert model.lm.order == 5
    assert model.sp.get_piece_size() == 65536  # cc_net Makefile VOCAB_SIZE
    pieces = [model.sp.id_to_piece(i) for i in range(model.sp.get_piece_size())]
    assert "▁the" in pieces and "▁The" not in pieces  # trained on normalized (lowercased) text
    assert not any(c in piece for piece in pieces for c in "123456789")  # digits → 0
    assert "▁cafe" in pieces and "▁café" not in pieces  # accents stripped


def test_worked_example_of_each_scoring_step(model):
    """Every step of cc_net's score on one document, spelt out."""
    text = "The Quick brown fox\njumps over 12 lazy dogs."
    normalized = P.normalize(text)  # 1. text_normalizer.normalize: lowercase, digits → 0, "\n" deleted
    assert normalized == "the quick brown foxjumps over 00 lazy dogs."
    tokenized = P.pieces(model, normalized)  # 2. MultiSentencePiece: " ".join(encode_as_pieces)
    assert tokenized == SHIPPED_PIECES
    # 3. DocLM: KenLM's log10 probability of the sequence after <s>: one term per piece, then </s>.
    terms = [log10 for log10, _, _ in model.lm.full_scores(tokenized)]
    assert len(terms) == len(tokenized.split()) + 1
    log_score, length = P.log10_and_length(model, tokenized)
    assert log_score == pytest.approx(sum(terms), abs=1e-4) and length == len(terms)
    # 4. pp(log_score, length) = 10 ** (-log_score / length), rounded to one decimal as DocLM stores it.
    assert P.doc_perplexity(model, text) == round(10 ** (-log_score / length), 1)
    assert P.doc_perplexity(model, text) == pytest.approx(model.lm.perplexity(tokenized), abs=0.05)


def test_the_whole_document_is_one_sequence(model):
    """Not a sum over lines: the lines are glued by normalization and scored once, with one <s> and </s>."""
    text = LINCOLN_1865 + "\n\nAll dreaded it, all sought to avert it.\n"
    tokenized = P.pieces(model, P.normalize(text))
    assert "attained.all dreaded it" in P.normalize(text) and "\n" not in tokenized
    assert P.doc_perplexity(model, text) == round(P.pp(model.lm.score(tokenized), len(tokenized.split()) + 1), 1)
    per_line = [P.doc_perplexity(model, line) for line in text.split("\n") if line.strip()]
    assert all(p != P.doc_perplexity(model, text) for p in per_line)


def test_nothing_to_score_is_nan(model):
    assert math.isnan(P.doc_perplexity(model, ""))
    assert math.isnan(P.doc_perplexity(model, " \n\t\n"))
    assert math.isnan(P.doc_perplexity(model, "\x00\x01\n"))  # only control characters: nothing left


def test_prose_ranks_below_boilerplate_below_garbled_text(model, web_docs):
    prose = {name: P.doc_perplexity(model, text) for name, text in PROSE.items()}
    boilerplate = {url: P.doc_perplexity(model, web_docs[url]) for url in BOILERPLATE_URLS}
    garbled = {name: P.doc_perplexity(model, garble_chars(text)) for name, text in PROSE.items()}
    shuffled = {name: P.doc_perplexity(model, shuffle_words(text)) for name, text in PROSE.items()}
    assert max(prose.values()) < min(boilerplate.values()) < min(garbled.values()), (prose, boilerplate, garbled)
    for name in PROSE:  # same words, broken order: the n-grams notice
        assert shuffled[name] > 2.5 * prose[name], (name, prose[name], shuffled[name])


def test_unseen_words_are_spelt_in_pieces_not_unknown(model, shared_data):
    """The old word model scored every word it had not seen as <unk>, so its perplexity followed a page's
    out-of-vocabulary rate. Pieces spell such words: on real web pages (the modern-web-2026 gold texts), a
    few percent of the words were never in the Wikipedia text, yet almost no piece is unknown to KenLM."""
    from filters.train_kenlm import expand, read_texts

    wiki = shared_data / "quality" / "wikipedia-en-2015"
    vocab = {w for path in expand([str(wiki / "wiki_0*.gz")]) for text in read_texts(path)
             for w in P.normalize(text).split()}
    words = unseen = tokens = unknown = 0
    for text in gold_texts(shared_data):
        normalized = [w for line in text.split("\n") for w in P.normalize(line).split()]
        words += len(normalized)
        unseen += sum(w not in vocab for w in normalized)
        tokenized = P.pieces(model, P.normalize(text)).split()
        tokens += len(tokenized)
        unknown += sum(piece not in model.lm for piece in tokenized)
    assert unseen / words > 0.03 and unknown / tokens < 0.002, (unseen / words, unknown / tokens)


def test_scores_are_identical_across_loads(web_docs):
    texts = list(web_docs.values()) + list(PROSE.values())
    first = [P.doc_perplexity(P.load_model(), t) for t in texts]
    second = [P.doc_perplexity(P.load_model(P.DEFAULT_MODEL, P.sentencepiece_path(str(P.DEFAULT_MODEL))), t)
              for t in texts]
    assert first == second


def test_missing_models_are_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="KenLM model not found.*train_kenlm"):
        P.load_model(tmp_path / "nope.arpa.bin")
    lonely = tmp_path / "lonely.arpa.bin"
    shutil.copyfile(P.DEFAULT_MODEL, lonely)
    with pytest.raises(FileNotFoundError, match=r"SentencePiece model not found: .*lonely\.sp\.model"):
        P.load_model(lonely)


# --------------------------------------------------------------------------------------- selection


def test_ccnet_bucket_boundaries():
    cutoffs = P.CCNET_CUTOFFS["en"]
    assert cutoffs == (340.0, 520.0)  # cc_net data/cutoff.csv, en, rows 30 and 60
    assert [P.ccnet_bucket(p, cutoffs) for p in (12.0, 339.9, 340.0, 519.9, 520.0, 1e6)] == [
        "head", "head", "middle", "middle", "tail", "tail"]
    assert P.ccnet_bucket(math.nan, cutoffs) == "all"


def test_band_quantiles_follow_perplexed_by_perplexity():
    assert P.band_quantiles("low", 0.5) == (0.0, 0.5)
    assert P.band_quantiles("medium", 0.5) == (0.25, 0.75)
    assert P.band_quantiles("high", 0.5) == (0.5, 1.0)
    assert P.band_quantiles("medium", 0.2) == pytest.approx((0.4, 0.6))
    for bad in ((0.0, "low"), (1.5, "low"), (0.5, "mid")):
        with pytest.raises(ValueError):
            P.band_quantiles(bad[1], bad[0])


@pytest.fixture(scope="module")
def line_perplexities(model, web_docs) -> list[float]:
    """Perplexities of the distinct lines of >= 8 words of the real web pages and prose: ~300 real scores.

    Distinct and not too short, because ties: repeated lines ("Sort By") and one-word lines of an unknown
    word all score the same, and a band keeps every tie of its boundary value, so on such data it keeps
    more than its rate (exact dedup and a minimum length run before perplexity in a real recipe).
    """
    texts = list(web_docs.values()) + list(PROSE.values())
    lines = {" ".join(line.split()) for text in texts for line in text.split("\n") if line.count(" ") >= 7}
    return sorted(P.doc_perplexity(model, line) for line in lines)


def test_sample_quantiles_match_numpy(line_perplexities):
    quantile_of = P.sample_quantiles(line_perplexities + [math.nan])
    for q in (0.0, 0.1, 0.3, 0.5, 0.6, 0.99, 1.0):
        assert quantile_of(q) == pytest.approx(float(np.quantile(line_perplexities, q)), rel=1e-12)
    lo, hi = P.ccnet_cutoffs(quantile_of)
    assert (lo, hi) == (quantile_of(0.3), quantile_of(0.6))
    buckets = [P.ccnet_bucket(p, (lo, hi)) for p in line_perplexities]
    assert abs(buckets.count("head") / len(buckets) - 0.3) < 0.02


@pytest.mark.parametrize("criterion", ["low", "medium", "high"])
def test_bands_keep_the_selection_rate(line_perplexities, criterion):
    n = len(line_perplexities)
    assert n > 200
    for rate in (0.25, 0.5, 0.75):
        lo, hi = P.band_bounds(P.sample_quantiles(line_perplexities), criterion, rate)
        kept = [p for p in line_perplexities if P.perplexity_band(p, lo, hi)]
        assert abs(len(kept) / n - rate) <= 2 / n, (criterion, rate, len(kept), n)
    assert not P.perplexity_band(math.nan, -math.inf, math.inf)


def test_bands_from_the_pipeline_histogram(line_perplexities):
    """The same bands from ``filters.quantiles``' order-independent histogram, as a pipeline computes them."""
    hist = quantiles.empty()
    for p in line_perplexities:
        quantiles.add(hist, p)
    from_histogram = lambda q: quantiles.quantile(hist, q)  # noqa: E731
    for criterion in ("low", "medium", "high"):
        exact = P.band_bounds(P.sample_quantiles(line_perplexities), criterion, 0.5)
        approx = P.band_bounds(from_histogram, criterion, 0.5)
        for got, want in zip(approx, exact, strict=True):
            assert got == want if math.isinf(want) else abs(got / want - 1) < 0.05, (criterion, approx, exact)


# --------------------------------------------------------------------------------------- train_kenlm


def test_reads_jsonl_parquet_and_wikiextractor_text(data_dir, shared_data):
    for name in ("mini.jsonl.gz", "mini.jsonl.zst", "mini.parquet"):
        assert len(list(T.read_texts(str(data_dir / name)))) == 20, name
    custom = str(data_dir / "mini_custom_cols.parquet")
    assert len(list(T.read_texts(custom, text_column="content"))) == 20
    with pytest.raises(ValueError, match="text_column"):
        list(T.read_texts(custom))
    wiki = shared_data / "quality" / "wikipedia-en-2015" / "wiki_00.gz"
    articles = list(T.read_texts(str(wiki)))  # one document per <doc> block, title line dropped
    assert len(articles) == gzip.open(wiki, "rt", encoding="utf-8").read().count("<doc id=")
    assert articles[0].startswith("Anarchism is a political philosophy") and "\n" not in articles[0]
    assert not any("<doc" in a or "</doc>" in a for a in articles)
    docs = list(T.documents([str(data_dir / "mini.parquet")], max_words=500))
    assert 500 <= sum(len(d.split()) for d in docs) < 500 + max(len(d.split()) for d in docs)
    assert all(d == P.normalize(d) and "\n" not in d for d in docs)


def test_missing_build_tools_name_the_packages(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(T.ToolsError, match="libboost-program-options-dev"):
        T.build_tools()


@pytest.fixture(scope="session")
def kenlm_tools() -> dict:
    """lmplz and build_binary: found ($KENLM_BIN, PATH, ~/.cache/webcurate/kenlm/bin), or built once into
    the cache as ``python -m filters.train_kenlm --build-tools`` does; that needs cmake, g++ and Boost
    (on Debian/Ubuntu, the apt line in the skip reason; .ci/run installs them)."""
    try:
        return T.ensure_tools(build=True)
    except T.ToolsError as err:
        pytest.skip(f"the KenLM training tests need lmplz, which could not be built here: {err}")


def test_train_kenlm_end_to_end(kenlm_tools, tmp_path, shared_data, capsys):
    wiki = str(shared_data / "quality" / "wikipedia-en-2015" / "wiki_00.gz")
    out, arpa = tmp_path / "en.arpa.bin", tmp_path / "m.arpa"
    args = ["--text", wiki, "--vocab_size", "4000", "--order", "3", "--out", str(out), "--keep_arpa", str(arpa)]
    assert T.main(args) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["words"] > 150_000 and stats["pieces"] > stats["words"] and stats["vocab_size"] == 4000
    assert stats["sentencepiece"] == str(tmp_path / "en.sp.model")  # cc_net's layout: en.arpa.bin + en.sp.model
    unigrams = []
    with open(arpa, encoding="utf-8") as handle:
        section = None
        for line in handle:
            if line.startswith("\\"):
                section = line.strip()
            elif section == "\\1-grams:" and line.strip():
                unigrams.append(line.split("\t")[1])
    assert "▁the" in unigrams and "<s>" in unigrams  # the n-grams are over pieces
    assert not any(any(c.isupper() for c in w) for w in unigrams)  # the same normalize: lowercased ...
    # ... and digits → 0 ("²" is no decimal digit for cc_net; SentencePiece's NFKC makes it "2": one piece)
    assert sum(any(c in "123456789" for c in w) for w in unigrams) <= 1 and "▁0000" in unigrams
    small = P.load_model(out)
    assert small.lm.order == 3 and small.sp.get_piece_size() == 4000
    assert P.doc_perplexity(small, KENNEDY_1961) < P.doc_perplexity(small, garble_chars(KENNEDY_1961))
    again = tmp_path / "again" / "en.arpa.bin"  # same input, same bytes: both models
    assert T.main([*args[:-4], "--out", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()
    assert (tmp_path / "again" / "en.sp.model").read_bytes() == (tmp_path / "en.sp.model").read_bytes()


def test_train_kenlm_on_jsonl_and_parquet(kenlm_tools, tmp_path, data_dir, capsys):
    out = tmp_path / "web.arpa.bin"
    assert T.main(["--text", str(data_dir / "mini_custom_cols.parquet"), "--order", "3", "--out", str(out)]) == 1
    assert "--text_column" in capsys.readouterr().err  # that file's text column is "content"
    assert not out.exists()
    assert T.main(["--text", str(data_dir / "mini.jsonl.zst"), str(data_dir / "mini.parquet"), "--order", "3",
                   "--quantize", "0", "--data_structure", "probing", "--out", str(out)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["files"] == 2 and stats["documents"] == 40 and out.stat().st_size == stats["binary_bytes"]
    # 40 web pages have fewer distinct pieces than 65,536: cc_net's fallback, the vocabulary a soft limit
    assert stats["vocab_size"] < 65536
    assert P.load_model(out).lm.order == 3


def test_train_kenlm_reuses_a_sentencepiece_model(kenlm_tools, tmp_path, shared_data, capsys):
    wiki = str(shared_data / "quality" / "wikipedia-en-2015" / "wiki_01.gz")
    first = tmp_path / "a" / "en.arpa.bin"
    assert T.main(["--text", wiki, "--vocab_size", "2000", "--order", "3", "--max_words", "50000",
                   "--out", str(first)]) == 0
    capsys.readouterr()
    second = tmp_path / "b" / "en.arpa.bin"
    assert T.main(["--text", wiki, "--order", "3", "--sentencepiece", str(tmp_path / "a" / "en.sp.model"),
                   "--out", str(second)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["vocab_size"] == 2000 and stats["words"] > 50_000
    assert (tmp_path / "b" / "en.sp.model").read_bytes() == (tmp_path / "a" / "en.sp.model").read_bytes()
    model = P.load_model(second)
    assert P.doc_perplexity(model, LINCOLN_1865) < P.doc_perplexity(model, shuffle_words(LINCOLN_1865))
    assert T.main(["--text", wiki, "--sentencepiece", str(tmp_path / "none.model"), "--out", str(second)]) == 1
