"""Beam wrappers for deduplication."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.metrics import Metrics

from dedup.config import ExactDedupConfig, NearDedupConfig
from dedup.exact import order_key, text_key
from schemas.outcomes import DOCS, DROPPED, is_kept, light
from schemas.packed import by_id, pack, unpack
from schemas.routing import outputs, route, split_kept


class ExactDedup(beam.PTransform):
    """Group documents by normalized-text hash; keep the first of each group by a stated order.

    Outputs (the stage contract): ``docs`` = kept documents (plus, in annotate-only mode, duplicates marked
    ``dedup:exact``); ``dropped`` = duplicates (filter mode); ``errors`` empty. Documents already dropped
    by an earlier stage (annotate-only mode) pass through untouched and take no part in the grouping.

    The grouping is a combine (``_FirstCopy``), not a GroupByKey: runners lift a combine, pre-combining
    on the worker that produced the copies (Beam's combiner lifting), so of the copies of a text in one
    bundle only the first, packed, and (filter mode) light records of the others reach the shuffle.
    Crawls repeat pages (mirrors, recrawls, boilerplate pages), and each copy shuffled is text the local
    runner holds in memory and Dataflow bills.
    """

    def __init__(self, config: ExactDedupConfig, annotate_only: bool):
        super().__init__()
        self.order = tuple(config.order)
        self.annotate_only = annotate_only

    def expand(self, docs):
        kept, decided = split_kept(docs)
        grouped = (
            kept
            | "KeyByText" >> beam.Map(lambda d: (text_key(d["text"] or ""), d))
            | "FirstCopy" >> beam.CombinePerKey(_FirstCopy(self.order, self.annotate_only))
            | "KeepFirst" >> beam.ParDo(_KeepFirst(self.annotate_only)).with_outputs(DROPPED, main=DOCS)
        )
        return outputs((grouped[DOCS], decided) | "MergeUndecided" >> beam.Flatten(), grouped[DROPPED])


class _FirstCopy(beam.CombineFn):
    """Copies of one text → [order key, packed first copy, its light record, the copies it beat].

    A beaten copy is kept as its light record (filter mode: all that a drop needs downstream; a copy
    arriving after the first is never packed) or packed whole (annotate-only mode writes it). The first
    copy is the minimum of a total order, so any split into bundles and any merge order give the same
    result. Accumulators are extended in place where Beam allows it, so a group of n copies costs O(n).
    """

    def __init__(self, order: tuple[str, ...], annotate_only: bool):
        self.order = order
        self.annotate_only = annotate_only

    def create_accumulator(self):
        return None

    def add_input(self, acc, doc):
        key = order_key(doc, self.order)
        if acc is not None and not key < acc[0]:  # a later copy: keep only what a beaten copy needs
            acc[3].append(pack(doc) if self.annotate_only else light(doc))
            return acc
        first = [key, pack(doc), light(doc), []]
        if acc is None:
            return first
        self._absorb(acc, first)
        return acc

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        merged = next(accumulators, None)  # Beam lets us mutate the first accumulator, and only it
        for acc in accumulators:
            if acc is None:
                continue
            if merged is None:
                merged = [acc[0], acc[1], acc[2], list(acc[3])]  # not the first: copied, not mutated
            else:
                self._absorb(merged, acc)
        return merged

    def extract_output(self, acc):
        _, packed, _, beaten = acc
        return packed, beaten

    def _absorb(self, acc, other) -> None:
        """Merge ``other`` into ``acc`` (mutated; ``other`` is not)."""
        loser = other
        if other[0] < acc[0]:
            loser = acc[:3]
            acc[:3] = other[:3]
        acc[3].append(loser[1] if self.annotate_only else loser[2])
        acc[3].extend(other[3])


class _KeepFirst(beam.DoFn):
    def __init__(self, annotate_only: bool):
        self.annotate_only = annotate_only

    def process(self, element):
        _, (packed, beaten) = element
        first = unpack(packed)
        yield first
        for dup in beaten:  # packed whole (annotate-only) or a light record (filter mode)
            dup = unpack(dup) if self.annotate_only else dup
            yield route(dict(dup, decision="dedup:exact", duplicate_of=first["id"]), self.annotate_only)


class NearDedup(beam.PTransform):
    """MinHash LSH near-duplicate removal whose result cannot depend on parallelism.

    Each kept document gets a MinHash signature and b band keys. Every (band, key) is a group key: a
    document is a near-duplicate (``dedup:near``) when one of its band keys is shared with a document
    *earlier in the stated order* — quality score descending, then id, so the best copy survives —, and
    ``duplicate_of`` names the earliest such document. A group's verdict depends only on the set of
    documents in it, so bundling and worker count cannot change any decision. The difference from
    sequential query-then-insert LSHBloom: a document near an earlier document that was itself dropped
    is dropped too (+0.09% drops on the 100k benchmark corpus). Only band keys and ids are shuffled
    (~9 × 24 bytes per document), never text. See docs/ARCHITECTURE.md for the design at crawl scale.

    With an ``index`` plan (``--dedup_against``, dedup/cross_run.py), band keys are also grouped by
    (band, shard) of the persisted LSHBloom index: each group reads one filter of the earlier runs and
    flags the documents it already holds (``dedup:near`` without ``duplicate_of``); the band keys of the
    documents kept are then added to a new generation of the index, committed in one last step.
    Outputs: the stage contract's ``docs``, ``dropped``, ``errors`` (empty), and with a plan ``index``, the
    commit step's summary.
    """

    def __init__(self, config: NearDedupConfig, annotate_only: bool, index=None):
        super().__init__()
        self.config = config
        self.annotate_only = annotate_only
        self.index = index

    def expand(self, docs):
        kept, decided = split_kept(docs)
        keyed = (
            kept
            | "Batch" >> beam.BatchElements(min_batch_size=16, max_batch_size=256)
            | "BandKeys" >> beam.ParDo(_BandKeys(self.config, with_doc_keys=self.index is not None)).with_outputs(
                _DOC_KEYS, main="bands"
            )
        )
        hits = (
            keyed.bands
            | "GroupByBandKey" >> beam.GroupByKey()
            | "LaterCopies" >> beam.FlatMap(_later_copies)
        )
        join = {"doc": kept | "ById" >> beam.Map(by_id), "hit": hits}
        if self.index is not None:
            index_hits = (
                keyed[_DOC_KEYS]
                | "ByFilter" >> beam.FlatMap(_by_filter, self.index.spec.shards)
                | "GroupByFilter" >> beam.GroupByKey()
                | "QueryIndex" >> beam.ParDo(_QueryIndex(self.index))
            )
            join["hit"] = (hits, index_hits) | "AllHits" >> beam.Flatten()
            join["keys"] = keyed[_DOC_KEYS]
        joined = (
            join
            | "JoinHits" >> beam.CoGroupByKey()
            | "Decide" >> beam.ParDo(_MarkNear(self.annotate_only, self.index)).with_outputs(
                DROPPED, _INSERT, main=DOCS
            )
        )
        out = outputs((joined[DOCS], decided) | "MergeUndecided" >> beam.Flatten(), joined[DROPPED])
        if self.index is not None:
            out["index"] = joined[_INSERT] | "ExtendIndex" >> _ExtendIndex(self.index)
        return out


_DOC_KEYS = "doc_keys"
_INSERT = "insert"
_CHUNK = 65_536  # keys per Bloom filter call: bounded memory however large a (band, shard) group is


def order_of(doc: dict) -> tuple[float, str]:
    """Stated order of near-dedup: best quality first, then id."""
    quality = (doc.get("scores") or {}).get("quality") or {}
    return (-(quality.get("score") or 0.0), doc["id"])


class _BandKeys(beam.DoFn):
    def __init__(self, config: NearDedupConfig, with_doc_keys: bool = False):
        self.config = config
        self.with_doc_keys = with_doc_keys
        self.params = None

    def setup(self):
        self.params = self.config.lsh_params()

    def process(self, batch: list[dict]):
        from dedup.lshbloom import band_keys
        from dedup.minhash import signatures

        p = self.params
        keys = band_keys(signatures([d["text"] or "" for d in batch], p.num_perm, p.ngram, p.seed), p.bands, p.rows)
        for doc, row in zip(batch, keys):
            order = order_of(doc)
            row = row.tolist()
            for band, key in enumerate(row):
                yield (band, key), order
            if self.with_doc_keys:
                yield beam.pvalue.TaggedOutput(_DOC_KEYS, (doc["id"], row))


def _later_copies(element):
    """Within one (band, key) group: every document after the first (by order) collides with the first."""
    _, orders = element
    orders = sorted(orders)
    first_id = orders[0][1]
    for order in orders[1:]:
        yield order[1], ("run", orders[0], first_id)


def _by_filter(element, shards: int):
    """(id, band keys) → ((band, shard), (key, id)): the index filter each key must meet."""
    from dedup.lshbloom import shard_of

    doc_id, row = element
    for band, (key, shard) in enumerate(zip(row, shard_of(np.array(row, dtype=np.uint64), shards).tolist())):
        yield (band, shard), (key, doc_id)


def _chunks(pairs, size: int = _CHUNK):
    """(keys as uint64 array, ids) in chunks of ``size`` from an iterable of (key, id)."""
    keys, ids = [], []
    for key, doc_id in pairs:
        keys.append(key)
        ids.append(doc_id)
        if len(keys) == size:
            yield np.array(keys, dtype=np.uint64), ids
            keys, ids = [], []
    if keys:
        yield np.array(keys, dtype=np.uint64), ids


class _QueryIndex(beam.DoFn):
    """One (band, shard) of the earlier runs' index: which of these documents does it already hold?"""

    def __init__(self, index):
        self.index = index
        self.hits = Metrics.counter("dedup", "dedup:near_index_hits")

    def process(self, element):
        from dedup.cross_run import load_base

        (band, shard), pairs = element
        bloom = load_base(self.index, band, shard)
        if bloom is None:
            return
        for keys, ids in _chunks(pairs):
            for doc_id, hit in zip(ids, bloom.contains(keys).tolist()):
                if hit:
                    self.hits.inc()
                    yield doc_id, ("index", None, None)


class _MarkNear(beam.DoFn):
    def __init__(self, annotate_only: bool, index=None):
        self.annotate_only = annotate_only
        self.index = index

    def process(self, element):
        doc_id, grouped = element
        (packed,) = grouped["doc"]
        doc = unpack(packed)
        hits = list(grouped["hit"])
        if not hits:
            yield doc
            if self.index is not None:
                from dedup.lshbloom import shard_of

                (row,) = grouped["keys"]
                shards = shard_of(np.array(row, dtype=np.uint64), self.index.spec.shards).tolist()
                for band, (key, shard) in enumerate(zip(row, shards)):
                    yield beam.pvalue.TaggedOutput(_INSERT, ((band, shard), key))
            return
        # An earlier document of this run is named; a hit in the index of earlier runs has no id to name.
        in_run = sorted((order, first) for kind, order, first in hits if kind == "run")
        yield route(dict(doc, decision="dedup:near", duplicate_of=in_run[0][1] if in_run else None),
                    self.annotate_only)


class _ExtendIndex(beam.PTransform):
    """Kept documents' band keys → the new generation's filters (one per (band, shard)) → commit."""

    def __init__(self, index):
        super().__init__()
        self.index = index

    def expand(self, inserts):
        index = self.index
        # One marker per filter, so a filter that gets no new key is still carried into the new generation.
        markers = (
            inserts.pipeline
            | "Cells" >> beam.Create(index.cells())
            | "Markers" >> beam.Map(lambda cell: (cell, None))
        )
        entries = (
            (inserts, markers)
            | "WithMarkers" >> beam.Flatten()
            | "GroupByFilter" >> beam.GroupByKey()
            | "WriteFilter" >> beam.Map(_write_filter, index)
        )
        return (
            inserts.pipeline
            | "Once" >> beam.Create([None])
            | "Commit" >> beam.Map(lambda _, entries: _commit(index, entries), beam.pvalue.AsList(entries))
        )


def _write_filter(element, index):
    from dedup.cross_run import write_cell

    (band, shard), keys = element
    return write_cell(index, band, shard, (chunk for chunk, _ in _chunks((k, None) for k in keys if k is not None)))


def _commit(index, entries):
    from dedup.cross_run import commit

    return commit(index, entries)


#: The keys an annotate-only run stores for every document with text (``dedup_keys/``), so that
#: ``pipelines.redecide`` can redo both dedup stages over any other set of survivors: the keys are of the
#: text dedup saw, before the PII step replaced anything in the text that is written.
KEYS_SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("text_key", pa.string()),
                         pa.field("band_keys", pa.list_(pa.uint64()))])


class DedupKeys(beam.PTransform):
    """Documents as they reach dedup → one KEYS_SCHEMA row each (those with text): the exact-dedup text key,
    and the near-dedup band keys under ``near``'s parameters (null when near dedup is off)."""

    def __init__(self, near: NearDedupConfig | None):
        super().__init__()
        self.near = near

    def expand(self, docs):
        return (
            docs
            | "WithText" >> beam.Filter(lambda d: bool(d.get("text")))
            | "Batch" >> beam.BatchElements(min_batch_size=16, max_batch_size=256)
            | "Keys" >> beam.ParDo(_Keys(self.near))
        )


class _Keys(beam.DoFn):
    def __init__(self, near: NearDedupConfig | None):
        self.near = near
        self.params = None

    def setup(self):
        self.params = self.near.lsh_params() if self.near is not None else None

    def process(self, batch: list[dict]):
        from dedup.lshbloom import band_keys
        from dedup.minhash import signatures

        texts = [d["text"] for d in batch]
        bands = [None] * len(batch)
        if self.params is not None:
            p = self.params
            bands = band_keys(signatures(texts, p.num_perm, p.ngram, p.seed), p.bands, p.rows).tolist()
        for doc, text, row in zip(batch, texts, bands):
            yield {"id": doc["id"], "text_key": text_key(text), "band_keys": row}


class AgainstCorpus(beam.PTransform):
    """Synthetic documents → the same, with exact and near copies marked: a rewrite that shares its
    normalized text (``dedup:exact``) or a MinHash band key (``dedup:near``) with a curated document (its
    own source included) is a copy of that document; among rewrites that share a key and no curated
    document, every one but the first by id is a copy of the first. ``duplicate_of`` names the document
    copied (the smallest id of the curated ones where there are several). Exact is decided first.

    Applied with ``(rewrites, corpus)``: ``corpus`` is the curated documents that are kept. Both sides are
    keyed by ``DedupKeys`` (documents without text have no keys). Only keys and ids are shuffled; the
    corpus side sends one text key and b band keys per document, never text. The
    verdict of a key group depends only on the set of ids in it, so bundling cannot change it.
    Outputs: the stage contract's ``docs`` (rewrites, annotate-only: copies marked too), ``dropped``,
    ``errors`` (empty).
    """

    _CORPUS, _SYNTHETIC = 0, 1

    def __init__(self, exact: bool, near: NearDedupConfig | None, annotate_only: bool):
        super().__init__()
        self.exact = exact
        self.near = near
        self.annotate_only = annotate_only

    def expand(self, pcolls):
        rewrites, corpus = pcolls
        kept, decided = split_kept(rewrites, "SplitKeptRewrites")
        corpus = corpus | "CorpusKept" >> beam.Filter(is_kept)
        keys = (
            (corpus | "CorpusKeys" >> DedupKeys(self.near)
             | "CorpusSide" >> beam.FlatMap(_side_keys, self._CORPUS, self.exact),
             kept | "RewriteKeys" >> DedupKeys(self.near)
             | "RewriteSide" >> beam.FlatMap(_side_keys, self._SYNTHETIC, self.exact))
            | "AllKeys" >> beam.Flatten()
        )
        hits = keys | "GroupByKey" >> beam.GroupByKey() | "Copies" >> beam.FlatMap(_copies_in_group)
        joined = (
            {"doc": kept | "ById" >> beam.Map(by_id), "hit": hits}
            | "JoinHits" >> beam.CoGroupByKey()
            | "Decide" >> beam.ParDo(_MarkCopy(self.annotate_only)).with_outputs(DROPPED, main=DOCS)
        )
        return outputs((joined[DOCS], decided) | "MergeUndecided" >> beam.Flatten(), joined[DROPPED])


def _side_keys(row: dict, side: int, exact: bool):
    """A ``DedupKeys`` row → ((kind, key), (side, id)) for its text key (``exact``) and each band key."""
    value = (side, str(row["id"]))
    if exact:
        yield ("dedup:exact", row["text_key"]), value
    for band, key in enumerate(row["band_keys"] or ()):
        yield ("dedup:near", band, key), value


def _copies_in_group(element):
    """One key's (side, id)s → (rewrite id, (reason, id it copies)) for each rewrite that is a copy."""
    key, members = element
    members = sorted(set(members))
    first_side, first_id = members[0]
    for side, doc_id in members[1:] if first_side == AgainstCorpus._SYNTHETIC else members:
        if side == AgainstCorpus._SYNTHETIC:
            yield doc_id, (key[0], first_id)


class _MarkCopy(beam.DoFn):
    def __init__(self, annotate_only: bool):
        self.annotate_only = annotate_only

    def process(self, element):
        _, grouped = element
        (packed,) = grouped["doc"]
        doc = unpack(packed)
        hits = sorted(set(grouped["hit"]))  # "dedup:exact" sorts before "dedup:near"
        if not hits:
            yield doc
            return
        reason, first = hits[0]
        yield route(dict(doc, decision=reason, duplicate_of=first), self.annotate_only)
