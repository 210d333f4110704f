"""LSHBloom: parameter formulas, band keys, Bloom rates, query-then-insert semantics, persistence."""

from __future__ import annotations

import csv
import math
import warnings

import numpy as np
import pytest

from dedup import minhash
from dedup.lshbloom import (
    BloomFilter,
    IndexMismatchError,
    LSHBloomIndex,
    band_key_reference,
    band_keys,
    positions,
    shard_of,
)
from dedup.params import (
    LSHParams,
    bloom_bits,
    bloom_fp,
    bloom_hashes,
    effective_fp,
    false_negative_area,
    false_positive_area,
    index_bits,
    optimal_bands_rows,
    per_filter_fp,
)

PARAMS = LSHParams.for_threshold(0.8, 128, 1e-5)
BACKEND = "rensa"
try:
    minhash.scheme("rensa")
except ImportError:  # without rensa the numpy backend carries the same tests
    BACKEND = "numpy"


def random_signatures(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 1 << 32, size=(n, 128), dtype=np.uint32)


# -- parameters -------------------------------------------------------------------------------------


def test_default_parameters_by_hand():
    assert (PARAMS.bands, PARAMS.rows) == (9, 13)  # RedPajama-V2's 0.8 setting, datasketch's choice
    # p = 1 - (1 - 1e-5)^(1/9) = 1.1111160...e-6 (binomial series: p_eff/9 + (1/9)(8/9)/2 p_eff^2 ...)
    assert PARAMS.p == pytest.approx(1e-5 / 9 + (1 / 9) * (8 / 9) / 2 * 1e-10, rel=1e-12)
    assert effective_fp(PARAMS.p, 9) == pytest.approx(1e-5, rel=1e-12)
    # m = -n ln p / ln2^2 for n = 1e6: 13.710 / 0.48045 * 1e6 = 28,535,8xx bits per filter
    assert bloom_bits(10**6, PARAMS.p) == pytest.approx(-1e6 * math.log(PARAMS.p) / math.log(2) ** 2, abs=8)
    assert bloom_bits(10**6, PARAMS.p) % 8 == 0
    assert bloom_hashes(bloom_bits(10**6, PARAMS.p), 10**6) == 20  # -log2(1.11e-6) = 19.78
    # the paper's example: T=0.5, k=256, p_eff=1e-5 -> b=42, r=6, ~1,333 bits = ~167 bytes per document
    example = LSHParams.for_threshold(0.5, 256, 1e-5)
    assert (example.bands, example.rows) == (42, 6)
    assert index_bits(1, example.p, example.bands) == pytest.approx(1333, abs=2)
    assert PARAMS.memory_bytes(10**6) == 9 * bloom_bits(10**6, PARAMS.p) // 8


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9])
@pytest.mark.parametrize("num_perm", [64, 128, 256])
def test_bands_rows_match_datasketch(threshold, num_perm):
    lsh = pytest.importorskip("datasketch.lsh")
    assert optimal_bands_rows(threshold, num_perm) == lsh._optimal_param(threshold, num_perm, 0.5, 0.5)


def test_weighted_bands_rows_and_areas_match_datasketch():
    lsh = pytest.importorskip("datasketch.lsh")
    assert optimal_bands_rows(0.8, 128, (0.3, 0.7)) == lsh._optimal_param(0.8, 128, 0.3, 0.7)
    assert optimal_bands_rows(0.7, 112, (0.9, 0.1)) == lsh._optimal_param(0.7, 112, 0.9, 0.1)
    for b, r in [(9, 13), (14, 9), (42, 6)]:
        assert false_positive_area(0.8, b, r) == pytest.approx(lsh._false_positive_probability(0.8, b, r), rel=1e-7)
        assert false_negative_area(0.8, b, r) == pytest.approx(lsh._false_negative_probability(0.8, b, r), rel=1e-7)


def test_params_validation():
    with pytest.raises(ValueError, match="exceeds num_perm"):
        LSHParams(bands=20, rows=10)
    with pytest.raises(ValueError, match="p_effective"):
        LSHParams(bands=9, rows=13, p_effective=0.0)
    assert per_filter_fp(0.5, 1) == pytest.approx(0.5)
    assert "m = b*(-n ln p)/(ln 2)^2" in PARAMS.summary(1000)


# -- keys and filters -------------------------------------------------------------------------------


def test_band_keys_definition_and_shape():
    sigs = random_signatures(5)
    keys = band_keys(sigs, 9, 13)
    assert keys.shape == (5, 9) and keys.dtype == np.uint64
    assert int(keys[3, 4]) == band_key_reference(sigs[3, 52:65].tolist())
    assert (band_keys(sigs[2], 9, 13) == keys[2]).all()
    changed = sigs[0].copy()
    changed[13 * 4] ^= 1  # one value of band 4
    assert (band_keys(changed, 9, 13) != keys[0]).tolist() == [j == 4 for j in range(9)]
    assert band_keys(np.zeros(128, np.uint32), 9, 13).tolist() != band_keys(np.zeros(128, np.uint32) + 1, 9, 13).tolist()


def test_positions_are_in_range_and_stable():
    keys = np.array([0, 1, 2**64 - 1, 12345678901234567], dtype=np.uint64)
    pos = positions(keys, 1000, 7)
    assert pos.shape == (4, 7) and (pos < 1000).all()
    # double hashing: constant step mod m
    step = (pos[:, 1].astype(np.int64) - pos[:, 0].astype(np.int64)) % 1000
    assert ((pos.astype(np.int64) - pos[:, :1].astype(np.int64) - step[:, None] * np.arange(7)) % 1000 == 0).all()
    assert pos[1].tolist() == positions(keys[1:2], 1000, 7)[0].tolist()


def test_bloom_false_positive_rate_on_real_data(shared_data):
    """Filter sized for n real band keys at p = 1%: the measured rate on other real keys is p +- 15%."""
    import gzip
    import re

    texts = []
    for name in ("wiki_03.gz", "wiki_04.gz"):
        wiki = gzip.open(shared_data / "quality/wikipedia-en-2015" / name, "rt", encoding="utf-8").read()
        for doc in re.split(r"</doc>", wiki):
            paragraphs = [p for p in doc.split("\n") if len(p.split()) >= 20]
            texts += paragraphs
    sigs = minhash.signatures(texts[:6000], backend=BACKEND)
    keys = np.unique(band_keys(sigs, 9, 13).ravel())  # ~54k distinct real keys
    inserted, probes = keys[: keys.size // 4], keys[keys.size // 4 :]
    bloom = BloomFilter(bloom_bits(inserted.size, 0.01), bloom_hashes(bloom_bits(inserted.size, 0.01), inserted.size))
    bloom.add(inserted)
    assert bloom.contains(inserted).all()  # no false negatives
    measured = bloom.contains(probes).mean()
    expected = bloom_fp(bloom.bits, bloom.hashes, inserted.size)
    assert expected == pytest.approx(0.01, rel=0.05)
    assert measured == pytest.approx(expected, rel=0.15)
    assert bloom.false_positive_rate() == pytest.approx(expected, rel=0.1)


def test_bloom_merge_is_union():
    a, b = BloomFilter(80_000, 7), BloomFilter(80_000, 7)
    ka, kb = np.arange(0, 3000, dtype=np.uint64), np.arange(10**9, 10**9 + 3000, dtype=np.uint64)
    a.add(ka)
    b.add(kb)
    a |= b
    assert a.contains(ka).all() and a.contains(kb).all() and a.count == 6000
    with pytest.raises(ValueError, match="cannot merge"):
        a |= BloomFilter(80_008, 7)


def test_filter_query_then_add_is_sequential():
    keys = np.array([5, 6, 5, 7, 6, 8], dtype=np.uint64)
    bloom = BloomFilter(8_000, 5)
    assert bloom.query_then_add(keys).tolist() == [False, False, True, False, True, False]
    assert bloom.query_then_add(np.array([8, 9], dtype=np.uint64)).tolist() == [True, False]


def test_shard_of_uses_top_bits():
    keys = np.array([0, 2**63, 2**62, 2**64 - 1], dtype=np.uint64)
    assert shard_of(keys, 4).tolist() == [0, 2, 1, 3]
    assert shard_of(keys, 1).tolist() == [0, 0, 0, 0]


# -- index semantics --------------------------------------------------------------------------------


def test_query_then_add_keeps_first_and_inserts_only_kept():
    index = LSHBloomIndex(PARAMS, 1000, backend=BACKEND)
    a, b, c = random_signatures(3)
    b_like_a = b.copy()
    b_like_a[:13] = a[:13]  # shares band 0 with a
    c_like_b = c.copy()
    c_like_b[13:26] = b_like_a[13:26]  # shares band 1 with b only
    keys = index.keys(np.stack([a, b_like_a, c_like_b]))
    assert not index.query_then_add(keys[0])
    assert index.query_then_add(keys[1])  # near-duplicate of a: dropped, not inserted
    assert not index.query_then_add(keys[2])  # b was not inserted, so c is new
    assert index.count == 2
    # inserting duplicates too (the per-band-independent form): c is then a duplicate of b
    index_all = LSHBloomIndex(PARAMS, 1000, backend=BACKEND)
    assert index_all.query_then_add_many(keys, insert_duplicates=True).tolist() == [False, True, True]


def test_query_does_not_insert_and_add_does():
    index = LSHBloomIndex(PARAMS, 1000, backend=BACKEND)
    keys = index.keys(random_signatures(2))
    assert not index.query(keys[0]) and not index.query(keys[0])
    index.add(keys[0])
    assert index.query(keys[0]) and not index.query(keys[1])


@pytest.mark.parametrize("shards", [1, 4])
@pytest.mark.parametrize("insert_duplicates", [False, True])
def test_batches_equal_one_document_at_a_time(shards, insert_duplicates):
    """Any batch size gives exactly the one-at-a-time result, even overloaded (many Bloom hits)."""
    sigs = random_signatures(600, seed=1)
    rng = np.random.default_rng(2)
    for i in range(0, 600, 3):  # plant near-duplicates sharing 1-3 bands with an earlier document
        j = int(rng.integers(i, 600))
        width = 13 * int(rng.integers(1, 4))
        sigs[j, :width] = sigs[i, :width]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # capacity 60 is exceeded on purpose
        one = LSHBloomIndex(PARAMS, 60, shards=shards, backend=BACKEND)
        keys = one.keys(sigs)
        expected = [one.query_then_add(k, insert_duplicates) for k in keys]
        for size in (600, 97, 8):
            index = LSHBloomIndex(PARAMS, 60, shards=shards, backend=BACKEND)
            got = np.concatenate([index.query_then_add_many(keys[i : i + size], insert_duplicates) for i in range(0, 600, size)])
            assert got.tolist() == expected
            assert all((x.data == y.data).all() for bx, by in zip(index.filters, one.filters) for x, y in zip(bx, by))
    assert 0 < sum(expected) < 600


def test_capacity_warning():
    index = LSHBloomIndex(PARAMS, 10, backend=BACKEND)
    with pytest.warns(RuntimeWarning, match="over its capacity"):
        index.add_many(index.keys(random_signatures(11)))


# -- persistence ------------------------------------------------------------------------------------


def test_save_load_round_trip_and_extend(tmp_path):
    first, second = random_signatures(400, 3), random_signatures(400, 4)
    index = LSHBloomIndex(PARAMS, 5000, tmp_path / "idx", backend=BACKEND)
    assert not index.query_then_add_many(index.keys(first)).any()
    index.save()
    header = LSHBloomIndex.read_header(tmp_path / "idx")
    assert header["count"] == 400 and header["params"]["bands"] == 9 and header["signature_scheme"] == minhash.scheme(BACKEND)
    assert header["bits_per_filter"] == PARAMS.filter_bits(5000) and len(header["files"]) == 9
    for mmap in (False, True):
        loaded = LSHBloomIndex.load(tmp_path / "idx", PARAMS, backend=BACKEND, mmap=mmap)
        assert loaded.count == 400 and loaded.nbytes == index.nbytes
        assert loaded.query_many(loaded.keys(first)).all()  # the earlier run's documents are remembered
    # a later run: dedup a new crawl against the earlier one and extend the index
    later = LSHBloomIndex.open(tmp_path / "idx", PARAMS, 5000, backend=BACKEND)
    crawl = np.concatenate([second, first[:50]])
    flags = later.query_then_add_many(later.keys(crawl))
    assert not flags[:400].any() and flags[400:].all()
    later.save()
    again = LSHBloomIndex.load(tmp_path / "idx", PARAMS, backend=BACKEND)
    assert again.count == 800 and again.query_many(again.keys(second)).all()
    # files on disk: bits plus one page of header per filter
    on_disk = sum(p.stat().st_size for p in (tmp_path / "idx").glob("*.bloom"))
    assert index.nbytes <= on_disk <= index.nbytes + 9 * 2 * 4096


def test_load_refuses_other_parameters(tmp_path):
    LSHBloomIndex(PARAMS, 1000, tmp_path / "idx", backend=BACKEND).save()
    other = LSHParams(bands=14, rows=9, threshold=0.7)
    with pytest.raises(IndexMismatchError, match=r"params\.bands: index has 9, expected 14"):
        LSHBloomIndex.load(tmp_path / "idx", other, backend=BACKEND)
    with pytest.raises(IndexMismatchError, match="p_effective"):
        LSHBloomIndex.load(tmp_path / "idx", LSHParams(bands=9, rows=13, p_effective=1e-3), backend=BACKEND)
    with pytest.raises(IndexMismatchError, match="capacity"):
        LSHBloomIndex.open(tmp_path / "idx", PARAMS, 2000, backend=BACKEND)
    other_backend = "numpy" if BACKEND == "rensa" else None
    if other_backend:
        with pytest.raises(IndexMismatchError, match="signature_scheme"):
            LSHBloomIndex.load(tmp_path / "idx", PARAMS, backend=other_backend)


def test_single_band_file_loads_alone_and_detects_corruption(tmp_path):
    index = LSHBloomIndex(PARAMS, 1000, tmp_path / "idx", backend=BACKEND)
    index.add_many(index.keys(random_signatures(50)))
    index.save()
    path = tmp_path / "idx" / LSHBloomIndex.filter_name(3, 0)
    band = BloomFilter.load(path)
    assert band.meta["band"] == 3 and band.meta["params"] == PARAMS.to_dict() and band.count == 50
    assert (band.data == index.filters[3][0].data).all()
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="checksum"):
        BloomFilter.load(path)


def test_merge_indexes(tmp_path):
    a = LSHBloomIndex(PARAMS, 1000, backend=BACKEND)
    b = LSHBloomIndex(PARAMS, 1000, backend=BACKEND)
    sa, sb = random_signatures(100, 5), random_signatures(100, 6)
    a.add_many(a.keys(sa))
    b.add_many(b.keys(sb))
    a.merge(b)
    assert a.count == 200 and a.query_many(a.keys(sa)).all() and a.query_many(a.keys(sb)).all()
    with pytest.raises(IndexMismatchError):
        a.merge(LSHBloomIndex(PARAMS, 2000, backend=BACKEND))


# -- real near-duplicates ---------------------------------------------------------------------------


def test_clough_stevenson_near_duplicates(shared_data):
    """Copied answers are found against their Wikipedia source, independent answers never are.

    Answers copy part of a longer source, so their Jaccard is mostly 0.1-0.5 (bench: mean 0.32 for
    "cut"): at the default 0.8 only the nearly whole copies match; at 0.3 most copies do.
    """
    data = shared_data / "dedup" / "clough-stevenson" / "data"
    info = list(csv.DictReader(open(data / "file_information.csv")))
    text = {row["File"]: (data / row["File"]).read_text(encoding="utf-8", errors="replace") for row in info}
    origs = {row["Task"]: row["File"] for row in info if row["Category"] == "orig"}
    sig = dict(zip(text, minhash.signatures(list(text.values()), backend=BACKEND)))
    for params in (PARAMS, LSHParams.for_threshold(0.3)):
        indexes = {}
        for orig in origs.values():
            indexes[orig] = LSHBloomIndex(params, 10**5, backend=BACKEND)
            indexes[orig].add(indexes[orig].keys(sig[orig]))
        found = {"cut": 0, "light": 0, "heavy": 0, "non": 0, "other-task": 0}
        total = dict.fromkeys(found, 0)
        for row in info:
            if row["Category"] == "orig":
                continue
            for task, orig in origs.items():
                category = row["Category"] if task == row["Task"] else "other-task"
                total[category] += 1
                found[category] += indexes[orig].query(indexes[orig].keys(sig[row["File"]]))
        assert found["non"] == 0 and found["other-task"] == 0
        if params is PARAMS:
            assert found["cut"] >= 1
        else:
            assert found["cut"] >= 0.4 * total["cut"]
            assert found["cut"] >= found["light"] >= found["heavy"]
