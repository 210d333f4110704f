"""The Beam dedup stages on real text: which copy survives must not depend on arrival or parallelism."""

from __future__ import annotations

import random

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from dedup.transforms import AgainstCorpus, ExactDedup, NearDedup
from schemas.outcomes import DOCS, DROPPED, ERRORS
from dedup.config import ExactDedupConfig, NearDedupConfig


def _edit(text: str, share: float, seed: int) -> str:
    """A light revision: replace a share of the words, as a re-published copy with small edits would."""
    rng = random.Random(seed)
    words = text.split(" ")
    for i in rng.sample(range(len(words)), int(share * len(words))):
        words[i] = "edited"
    return " ".join(words)


def _doc(doc_id: str, text: str, quality: float | None = None) -> dict:
    scores = {"quality": {"score": quality}} if quality is not None else {}
    return {"id": doc_id, "text": text, "decision": "keep", "scores": scores, "source": "s", "url": "u",
            "crawl_date": "", "duplicate_of": None}


_COLLECTED: dict[str, list[dict]] = {}


def _collect(doc: dict, name: str) -> None:
    # A module-level function, so the in-process runner calls it on this module's dict (a bound
    # list.append would be pickled and append to a copy).
    _COLLECTED[name].append(doc)


def _run(transform, docs: list[dict], shuffle_seed: int) -> tuple[list[dict], list[dict]]:
    docs = list(docs)
    random.Random(shuffle_seed).shuffle(docs)
    _COLLECTED.update(kept=[], dropped=[])
    with BeamTestPipeline(runner="DirectRunner") as p:
        out = p | beam.Create(docs, reshuffle=True) | transform
        out[DOCS] | "k" >> beam.Map(_collect, "kept")
        out[DROPPED] | "d" >> beam.Map(_collect, "dropped")
    return _COLLECTED["kept"], _COLLECTED["dropped"]


def test_near_duplicates_drop_the_lower_quality_copy(texts):
    base = texts[0]
    docs = [
        _doc("a", base, quality=0.2),
        _doc("b", _edit(base, 0.005, 1), quality=0.9),  # best copy: survives
        _doc("c", _edit(base, 0.005, 2), quality=0.5),
        _doc("z", base[: len(base) // 3], quality=0.99),  # a third of the text: Jaccard ~0.33, not a dup
    ] + [_doc(f"other{i}", t, quality=0.5) for i, t in enumerate(texts[1:])]
    kept = sorted({"b", "z"} | {f"other{i}" for i in range(len(texts) - 1)})
    for seed in (0, 1):
        shuffled = random.Random(seed).sample(docs, len(docs))
        with BeamTestPipeline(runner="DirectRunner") as p:
            out = p | beam.Create(shuffled, reshuffle=True) | NearDedup(NearDedupConfig(), annotate_only=False)
            assert_that(out[DOCS] | "Kept" >> beam.Map(lambda d: d["id"]), equal_to(kept), label="kept")
            assert_that(out[DROPPED] | "Dropped" >> beam.Map(lambda d: (d["id"], d["decision"], d["duplicate_of"])),
                        equal_to([("a", "dedup:near", "b"), ("c", "dedup:near", "b")]), label="dropped")
            assert_that(out[ERRORS], equal_to([]), label="errors")


def test_without_quality_scores_the_smallest_id_survives(texts):
    docs = [_doc("m", _edit(texts[1], 0.01, 3)), _doc("k", texts[1]), _doc("x", _edit(texts[1], 0.01, 4))]
    kept, dropped = _run(NearDedup(NearDedupConfig(), annotate_only=False), docs, 2)
    assert [d["id"] for d in kept] == ["k"] and {d["duplicate_of"] for d in dropped} == {"k"}


def test_annotate_only_keeps_duplicates_with_their_decision(texts):
    docs = [_doc("k", texts[2]), _doc("m", _edit(texts[2], 0.01, 5))]
    kept, dropped = _run(NearDedup(NearDedupConfig(), annotate_only=True), docs, 0)
    assert dropped == []
    assert {d["id"]: d["decision"] for d in kept} == {"k": "keep", "m": "dedup:near"}


def test_exact_dedup_ignores_arrival_order(texts):
    docs = [dict(_doc(i, texts[3]), crawl_date=date) for i, date in (("p", "2024-02"), ("q", "2024-01"))]
    docs.append(dict(_doc("o", texts[3]), decision="c4:curly_bracket"))  # decided upstream: passes through
    for seed in (0, 1, 2):
        shuffled = random.Random(seed).sample(docs, len(docs))
        with BeamTestPipeline(runner="DirectRunner") as p:
            out = p | beam.Create(shuffled, reshuffle=True) | ExactDedup(
                ExactDedupConfig(order=["crawl_date", "url", "id"]), annotate_only=False)
            assert_that(out[DOCS] | "Kept" >> beam.Map(lambda d: (d["id"], d["decision"])),
                        equal_to([("o", "c4:curly_bracket"), ("q", "keep")]), label="kept")
            assert_that(out[DROPPED] | "Where" >> beam.Map(lambda d: {k: d[k] for k in ("id", "source", "url", "decision",
                                                                                          "duplicate_of")}),
                        equal_to([{"id": "p", "source": "s", "url": "u", "decision": "dedup:exact",
                                   "duplicate_of": "q"}]), label="dropped light")
            assert_that(out[ERRORS], equal_to([]), label="errors")


def test_exact_dedup_annotate_only_keeps_copies_whole(texts):
    docs = [_doc(i, texts[4] if i != "r" else texts[4].upper()) for i in ("r", "s", "t")]
    kept, dropped = _run(ExactDedup(ExactDedupConfig(order=["id"]), annotate_only=True), docs, 1)
    assert dropped == []
    assert {d["id"]: (d["decision"], d["duplicate_of"]) for d in kept} == {
        "r": ("keep", None), "s": ("dedup:exact", "r"), "t": ("dedup:exact", "r")}
    assert all(d["text"] for d in kept)  # written rows, not light records


def test_dedup_drops_are_counted_under_the_one_drop_namespace(texts):
    from apache_beam.metrics.metric import MetricsFilter

    docs = [_doc("k", texts[2]), _doc("m", _edit(texts[2], 0.01, 5)), _doc("n", texts[2])]
    for annotate in (False, True):
        p = BeamTestPipeline(runner="DirectRunner")
        exact = p | beam.Create(docs) | ExactDedup(ExactDedupConfig(order=["id"]), annotate_only=annotate)
        _ = exact[DOCS] | NearDedup(NearDedupConfig(), annotate_only=annotate)
        result = p.run()
        result.wait_until_finish()
        counters = {(c.key.metric.namespace, c.key.metric.name): c.committed
                    for c in result.metrics().query(MetricsFilter())["counters"]}
        assert counters[("drop", "dedup:exact")] == 1 and counters[("drop", "dedup:near")] == 1, counters
        assert not [key for key in counters if key[0] == "dedup" and key[1].startswith("dedup:")]


def _combine(fn, docs: list[dict], seed: int):
    """Run a CombineFn as a runner may: inputs split into bundles (pre-combined), then merged in any order."""
    rng = random.Random(seed)
    docs = rng.sample(docs, len(docs))
    cuts = sorted(rng.sample(range(1, len(docs)), rng.randint(0, len(docs) - 1)))
    bundles = [docs[a:b] for a, b in zip([0, *cuts], [*cuts, len(docs)])]
    accumulators = []
    for bundle in bundles:
        acc = fn.create_accumulator()
        for doc in bundle:
            acc = fn.add_input(acc, doc)
        accumulators.append(acc)
    rng.shuffle(accumulators)
    frozen = repr(accumulators[1:])
    merged = fn.merge_accumulators(accumulators)
    assert repr(accumulators[1:]) == frozen  # Beam allows mutating only the first accumulator
    return fn.extract_output(merged)


def test_first_copy_combine_does_not_depend_on_bundles_or_merge_order():
    from dedup.exact import order_key
    from dedup.transforms import _FirstCopy
    from schemas.packed import unpack

    docs = [dict(_doc(f"d{i:02d}", "same text"), crawl_date=f"2024-{i % 5:02d}") for i in range(23)]
    expected_first = min(docs, key=lambda d: order_key(d, ["crawl_date", "url", "id"]))["id"]  # plain sort
    for annotate in (False, True):
        fn = _FirstCopy(("crawl_date", "url", "id"), annotate)
        for seed in range(20):
            packed, beaten = _combine(fn, docs, seed)
            beaten = [unpack(b) for b in beaten] if annotate else beaten
            assert unpack(packed)["id"] == expected_first
            assert sorted(d["id"] for d in beaten) == sorted(d["id"] for d in docs if d["id"] != expected_first)
            assert all(("text" in d) == annotate for d in beaten)  # light records in filter mode


def test_rewrites_that_copy_the_corpus_or_each_other_are_marked(texts):
    """AgainstCorpus: a rewrite equal to a curated text is an exact copy of it, one a light edit of a
    curated text a near copy of it (the curated document is named, whatever the ids); among rewrites with
    no curated match, the first by id survives; a dropped curated document is not a reference."""
    corpus = [_doc("c1", texts[0]), _doc("c2", texts[1]), dict(_doc("c0", texts[2]), decision="gopher:x")]
    rewrites = [
        _doc("r-exact", texts[0].upper()),  # the same normalized text as c1
        _doc("a-near", _edit(texts[1], 0.01, 1)),  # a near copy of c2, with a smaller id than c2
        _doc("r2", _edit(texts[3], 0.01, 2)),
        _doc("r1", _edit(texts[3], 0.01, 3)),  # r1 and r2 copy each other: r1 (smaller id) survives
        _doc("r-new", texts[4]),
        _doc("r-dropped-corpus", texts[2]),  # c0 was dropped: no reference, kept
    ]
    for annotate_only, seed in ((False, 0), (False, 1), (True, 0)):
        _COLLECTED.update(kept=[], dropped=[])
        with BeamTestPipeline(runner="DirectRunner") as p:
            r = p | "R" >> beam.Create(random.Random(seed).sample(rewrites, len(rewrites)), reshuffle=True)
            c = p | "C" >> beam.Create(corpus, reshuffle=True)
            out = (r, c) | AgainstCorpus(True, NearDedupConfig(), annotate_only)
            out[DOCS] | "k" >> beam.Map(_collect, "kept")
            out[DROPPED] | "d" >> beam.Map(_collect, "dropped")
        marked = {(d["id"], d["decision"], d["duplicate_of"]) for d in _COLLECTED["kept"] + _COLLECTED["dropped"]}
        assert marked == {("r-exact", "dedup:exact", "c1"), ("a-near", "dedup:near", "c2"),
                          ("r2", "dedup:near", "r1"), ("r1", "keep", None), ("r-new", "keep", None),
                          ("r-dropped-corpus", "keep", None)}
        kept = {d["id"] for d in _COLLECTED["kept"]}
        assert kept == ({"r1", "r-new", "r-dropped-corpus"} | ({"r-exact", "a-near", "r2"} if annotate_only else set()))


def test_against_corpus_with_exact_only_leaves_near_copies(texts):
    corpus = [_doc("c1", texts[0])]
    rewrites = [_doc("r-near", _edit(texts[0], 0.01, 1)), _doc("r-exact", texts[0])]
    kept, dropped = _run_pair(AgainstCorpus(True, None, False), rewrites, corpus)
    assert [d["id"] for d in kept] == ["r-near"] and [(d["id"], d["decision"]) for d in dropped] == [
        ("r-exact", "dedup:exact")]


def _run_pair(transform, rewrites, corpus):
    _COLLECTED.update(kept=[], dropped=[])
    with BeamTestPipeline(runner="DirectRunner") as p:
        out = (p | "R" >> beam.Create(rewrites), p | "C" >> beam.Create(corpus)) | transform
        out[DOCS] | "k" >> beam.Map(_collect, "kept")
        out[DROPPED] | "d" >> beam.Map(_collect, "dropped")
    return _COLLECTED["kept"], _COLLECTED["dropped"]
