"""Beam wrappers for deduplication."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from dedup.exact import pick_first, text_key
from filters.transforms import DROPPED, light, split_kept


class ExactDedup(beam.PTransform):
    """Group documents by normalized-text hash; keep the first of each group by a stated order.

    Output: main = kept documents (plus, in annotate-only mode, duplicates marked ``dedup:exact``);
    tagged ``dropped`` = duplicates (filter mode). Documents already dropped by an earlier stage
    (annotate-only mode) pass through untouched and take no part in the grouping.
    """

    def __init__(self, order: list[str], annotate_only: bool):
        super().__init__()
        self.order = tuple(order)
        self.annotate_only = annotate_only

    def expand(self, docs):
        kept, decided = split_kept(docs)
        grouped = (
            kept
            | "KeyByText" >> beam.Map(lambda d: (text_key(d["text"] or ""), d))
            | "GroupByText" >> beam.GroupByKey()
            | "KeepFirst" >> beam.ParDo(_KeepFirst(self.order, self.annotate_only)).with_outputs(DROPPED, main="kept")
        )
        return {"kept": (grouped.kept, decided) | "MergeUndecided" >> beam.Flatten(), DROPPED: grouped[DROPPED]}


class _KeepFirst(beam.DoFn):
    def __init__(self, order: tuple[str, ...], annotate_only: bool):
        self.order = order
        self.annotate_only = annotate_only
        self.dropped = Metrics.counter("dedup", "dedup:exact")

    def process(self, element):
        _, group = element
        first, duplicates = pick_first(list(group), self.order)
        yield first
        for dup in duplicates:
            dup = dict(dup, decision="dedup:exact", duplicate_of=first["id"])
            self.dropped.inc()
            if self.annotate_only:
                yield dup
            else:
                yield beam.pvalue.TaggedOutput(DROPPED, light(dup))


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
    """

    def __init__(self, cfg, annotate_only: bool):
        super().__init__()
        self.cfg = cfg
        self.annotate_only = annotate_only

    def expand(self, docs):
        kept, decided = split_kept(docs)
        keyed = (
            kept
            | "Batch" >> beam.BatchElements(min_batch_size=16, max_batch_size=256)
            | "BandKeys" >> beam.ParDo(_BandKeys(self.cfg))
        )
        hits = (
            keyed
            | "GroupByBandKey" >> beam.GroupByKey()
            | "LaterCopies" >> beam.FlatMap(_later_copies)
        )
        joined = (
            {"doc": kept | "ById" >> beam.Map(lambda d: (d["id"], d)), "hit": hits}
            | "JoinHits" >> beam.CoGroupByKey()
            | "Decide" >> beam.ParDo(_MarkNear(self.annotate_only)).with_outputs(DROPPED, main="kept")
        )
        return {"kept": (joined.kept, decided) | "MergeUndecided" >> beam.Flatten(), DROPPED: joined[DROPPED]}


def order_of(doc: dict) -> tuple[float, str]:
    """Stated order of near-dedup: best quality first, then id."""
    quality = (doc.get("scores") or {}).get("quality") or {}
    return (-(quality.get("score") or 0.0), doc["id"])


class _BandKeys(beam.DoFn):
    def __init__(self, cfg):
        self.cfg = cfg
        self.params = None

    def setup(self):
        from dedup.params import LSHParams

        self.params = LSHParams.for_threshold(self.cfg.threshold, self.cfg.num_perm, ngram=self.cfg.ngram)

    def process(self, batch: list[dict]):
        from dedup.lshbloom import band_keys
        from dedup.minhash import signatures

        p = self.params
        keys = band_keys(signatures([d["text"] or "" for d in batch], p.num_perm, p.ngram, p.seed), p.bands, p.rows)
        for doc, row in zip(batch, keys):
            order = order_of(doc)
            for band, key in enumerate(row.tolist()):
                yield (band, key), order


def _later_copies(element):
    """Within one (band, key) group: every document after the first (by order) collides with the first."""
    _, orders = element
    orders = sorted(orders)
    first_id = orders[0][1]
    for order in orders[1:]:
        yield order[1], (orders[0], first_id)


class _MarkNear(beam.DoFn):
    def __init__(self, annotate_only: bool):
        self.annotate_only = annotate_only
        self.dropped = Metrics.counter("dedup", "dedup:near")

    def process(self, element):
        _, grouped = element
        (doc,) = grouped["doc"]
        hits = sorted(grouped["hit"])
        if not hits:
            yield doc
            return
        doc = dict(doc, decision="dedup:near", duplicate_of=hits[0][1])
        self.dropped.inc()
        yield doc if self.annotate_only else beam.pvalue.TaggedOutput(DROPPED, light(doc))
