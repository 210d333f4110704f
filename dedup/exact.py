"""Exact duplicates: documents whose text is the same after light normalization.

Normalization folds what does not change the content a model learns from: Unicode form (NFKC), case,
and runs of whitespace. Punctuation and digits are kept: "10 mg" and "100 mg" must not collide.
"""

from __future__ import annotations

import unicodedata

import xxhash


def normalize(text: str) -> str:
    """NFKC, casefold, whitespace runs to one space, stripped; idempotent (checked by a property test)."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def text_key(text: str) -> str:
    """128-bit xxh3 of the normalized text, as 32 hex digits: collisions are negligible (2^-64 at 2^32
    documents). ``text_key(t) == text_key(normalize(t))``; lone surrogates are hashed as they are."""
    return xxhash.xxh3_128_hexdigest(normalize(text).encode("utf-8", "surrogatepass"))


def order_key(doc: dict, fields: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Sort key of the stated order in which the *first* copy of a group is the one kept; the id breaks
    ties, so the order is total and the copy kept never depends on arrival order."""
    return (*(doc.get(name) or "" for name in fields), doc["id"])

