"""MinHash signatures: stable across processes, batch-independent, datasketch-exact (numpy), unbiased."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dedup import minhash
from dedup.normalize import shingle_hashes

ROOT = Path(__file__).resolve().parents[2]
try:
    minhash.scheme("rensa")
    BACKENDS = ["rensa", "numpy"]
except ImportError:  # rensa not installed: the numpy backend is still tested
    BACKENDS = ["numpy"]

TEXTS = [
    "Deduplication removes documents that repeat, or nearly repeat, others in the corpus. " * 6,
    "A completely different text about the migration of birds across the northern hemisphere in spring.",
    "",
    "short one",
    "Ünïcödé text — with “quotes”, accents (café, naïve) and enough words to make several shingles.",
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_signature_shape_and_empty_document(backend):
    sigs = minhash.signatures(TEXTS, backend=backend)
    assert sigs.shape == (len(TEXTS), 128) and sigs.dtype == np.uint32
    assert (sigs[2] == minhash.EMPTY).all()
    assert not (sigs[0] == minhash.EMPTY).any()
    assert minhash.signature(TEXTS[0], backend=backend).tolist() == sigs[0].tolist()


@pytest.mark.parametrize("backend", BACKENDS)
def test_batching_does_not_change_signatures(backend):
    together = minhash.signatures(TEXTS * 3, backend=backend)
    for i, text in enumerate(TEXTS * 3):
        assert (minhash.signature(text, backend=backend) == together[i]).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_signatures_are_identical_in_another_process(backend):
    """Stable hashing: a fresh interpreter (another PYTHONHASHSEED) computes the same signatures."""
    code = (
        "import json, sys; from dedup import minhash; "
        f"print(json.dumps(minhash.signatures(json.loads(sys.stdin.read()), backend={backend!r}).tolist()))"
    )
    here = minhash.signatures(TEXTS, backend=backend).tolist()
    for seed in ("1", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code], input=json.dumps(TEXTS), capture_output=True, text=True, check=True, cwd=ROOT,
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )
        assert json.loads(out.stdout) == here


def test_numpy_backend_equals_datasketch_affine32():
    datasketch = pytest.importorskip("datasketch")
    hashes, offsets = shingle_hashes(TEXTS)
    ours = minhash.signatures_from_hashes(hashes, offsets, backend="numpy")
    for d in range(len(TEXTS)):
        m = datasketch.MinHash(num_perm=128, seed=1, hashfunc=lambda h: h)
        values = minhash.shingle_hash32(hashes[offsets[d] : offsets[d + 1]]).tolist()
        if values:
            m.update_batch(values)
        assert m.scheme == "affine32"
        assert m.hashvalues.tolist() == ours[d].tolist()


def test_permutations_are_datasketch_s():
    datasketch = pytest.importorskip("datasketch")
    a, b = minhash.permutations(64, 7)
    m = datasketch.MinHash(num_perm=64, seed=7)
    assert m.permutations[0].tolist() == a.tolist() and m.permutations[1].tolist() == b.tolist()


def test_long_document_blocks_equal_one_pass():
    """Documents longer than the block size are reduced block by block: same minimum."""
    words = [f"w{i}" for i in range(minhash._BLOCK * 2 + 50)]
    text = " ".join(words)
    hashes, offsets = shingle_hashes([text])
    a, b = minhash.permutations()
    direct = (minhash.fmix32(minhash.shingle_hash32(hashes))[:, None] * a + b).min(axis=0)
    assert (minhash.signature(text, backend="numpy") == direct).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_estimates_are_unbiased_on_real_near_duplicates(backend, shared_data):
    import gzip
    import random
    import re

    wiki = gzip.open(shared_data / "quality/wikipedia-en-2015/wiki_02.gz", "rt", encoding="utf-8").read()
    docs = [d for d in re.split(r"</doc>", wiki) if len(d) > 3000][:150]
    rng = random.Random(0)
    edited = []
    for doc in docs:
        words = doc.split()
        for _ in range(int(len(words) * rng.uniform(0.0, 0.05))):
            words[rng.randrange(len(words))] = f"edit{rng.randrange(10**6)}"
        edited.append(" ".join(words))
    ha, oa = shingle_hashes(docs)
    hb, ob = shingle_hashes(edited)
    truth = np.array([
        len(set(ha[oa[i] : oa[i + 1]].tolist()) & set(hb[ob[i] : ob[i + 1]].tolist()))
        / len(set(ha[oa[i] : oa[i + 1]].tolist()) | set(hb[ob[i] : ob[i + 1]].tolist()))
        for i in range(len(docs))
    ])
    sa = minhash.signatures_from_hashes(ha, oa, backend=backend)
    sb = minhash.signatures_from_hashes(hb, ob, backend=backend)
    errors = np.array([minhash.jaccard(x, y) for x, y in zip(sa, sb)]) - truth
    binomial_sd = np.sqrt(truth * (1 - truth) / 128).mean()
    assert abs(errors.mean()) < 3 * binomial_sd / np.sqrt(len(docs)) + 0.005
    assert errors.std() < 1.3 * binomial_sd


def test_scheme_names_backend_and_rejects_unknown():
    assert "affine32" in minhash.scheme("numpy")
    with pytest.raises(ValueError, match="unknown MinHash backend"):
        minhash.scheme("sha1")
    with pytest.raises(ValueError, match="unknown MinHash backend"):
        minhash.signatures(["x"], backend="sha1")
