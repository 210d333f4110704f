"""Packing documents for shuffles: lossless, and smaller than the document for real extracted text."""

from __future__ import annotations

import pickle

from schemas.packed import by_id, pack, unpack


def _real_text(data_dir) -> str:
    import gzip
    import json

    texts = []
    with gzip.open(data_dir / "mini.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:  # the sample has deliberately broken lines: use the good ones
            try:
                texts.append(str(json.loads(line).get("text") or ""))
            except (ValueError, AttributeError):
                continue
    return "\n\n".join(texts)


def test_round_trip_keeps_every_field_and_key_order(data_dir):
    text = _real_text(data_dir)
    doc = {"id": "a", "text": text + "\ud800", "html": b"<p>\x00\xff</p>", "scores": {"c4": {"x": 0.5}},
           "duplicate_of": None, "date": ""}
    back = unpack(pack(doc))
    assert back == doc and list(back) == list(doc)


def test_packed_text_is_smaller_than_its_pickle(data_dir):
    text = _real_text(data_dir)
    doc = {"id": "a", "text": text}
    assert len(pack(doc)) < 0.6 * len(pickle.dumps(doc))


def test_by_id_keys_the_packed_document_by_its_id():
    doc = {"id": "abc", "text": "x"}
    key, packed = by_id(doc)
    assert key == "abc" and unpack(packed) == doc
