"""Properties of the dedup normalizers, keys, shingles and signatures on arbitrary Unicode (hypothesis).

Normalization is idempotent and never raises; keys and signatures are functions of the normalized text
(so texts that normalize the same collide, by design) and do not depend on how documents are batched;
scores stay in their documented ranges.
"""

from __future__ import annotations

import unicodedata

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from dedup import exact, minhash
from dedup.normalize import normalize, shingle_hash, shingle_hashes, shingles

_PIECES = st.sampled_from([
    " ", "\n", "\t", "\u00a0", "\u3000", "\u200b", "\u00ad", "\ufeff", ".", ",", "—", "“", "”", "e\u0301",
    "é", "\u0308", "İ", "ı", "ß", "ẞ", "ﬁ", "Σ", "ς", "ΐ", "ι\u0308\u0301", "ǅ", "Ⅻ", "①", "Ｈｅｌｌｏ", "😀", "漢字",
    "한국어", "\u0d15\u0d4a", "عربى", "\x00", "\ud800", "\U000e0041", "\U0010ffff", "word", "WORD",
])
_TEXTS = st.one_of(
    st.text(st.characters(exclude_categories=())),  # all of Unicode, surrogates included
    st.lists(st.one_of(_PIECES, st.text(max_size=4)), max_size=40).map("".join),
)
_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(_TEXTS)
def test_refinedweb_normalize_is_idempotent_and_clean(text):
    out = normalize(text)
    assert normalize(out) == out
    assert out == out.strip() and "  " not in out
    for ch in out.replace(" ", ""):
        cat = unicodedata.category(ch)
        assert cat[0] not in "PSZ" and cat not in ("Cc", "Mn", "Me", "Cf"), (ch, cat)


@_SETTINGS
@given(_TEXTS, st.integers(1, 6))
def test_shingles_and_their_hashes_agree(text, n):
    grams = shingles(text, n)
    words = normalize(text).split()
    assert len(grams) == (0 if not words else max(1, len(words) - n + 1))
    hashes, offsets = shingle_hashes([text], n)
    assert offsets.tolist() == [0, len(grams)]
    assert hashes.tolist() == [shingle_hash(g) for g in grams]


@_SETTINGS
@given(st.lists(_TEXTS, min_size=1, max_size=5), st.integers(1, 6))
def test_shingle_hashes_do_not_depend_on_batching(texts, n):
    hashes, offsets = shingle_hashes(texts, n)
    for d, text in enumerate(texts):
        alone, _ = shingle_hashes([text], n)
        assert hashes[offsets[d]:offsets[d + 1]].tolist() == alone.tolist()


@_SETTINGS
@given(_TEXTS)
def test_exact_normalize_is_idempotent_and_keys_follow_it(text):
    out = exact.normalize(text)
    assert exact.normalize(out) == out
    assert exact.text_key(out) == exact.text_key(text)
    assert out == out.strip() and "  " not in out
    key = exact.text_key(text)
    assert len(key) == 32 and int(key, 16) >= 0
    # Case and whitespace layout never change the key.
    assert exact.text_key(" \n ".join(text.upper().split())) == exact.text_key(" ".join(text.upper().split()))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_TEXTS, min_size=1, max_size=4), st.sampled_from(minhash.BACKENDS))
def test_signatures_shape_range_and_batch_independence(texts, backend):
    sigs = minhash.signatures(texts, num_perm=32, backend=backend)
    assert sigs.shape == (len(texts), 32) and sigs.dtype == np.uint32
    for d, text in enumerate(texts):
        alone = minhash.signature(text, num_perm=32, backend=backend)
        assert np.array_equal(sigs[d], alone)
        if not normalize(text):
            assert (alone == minhash.EMPTY).all()  # every empty document has the empty-set signature
        # The signature is a function of the normalized text.
        assert np.array_equal(minhash.signature(normalize(text), num_perm=32, backend=backend), alone)
        j = minhash.jaccard(alone, sigs[0])
        assert 0.0 <= j <= 1.0 and minhash.jaccard(alone, alone) == 1.0
