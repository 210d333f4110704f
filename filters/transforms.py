"""Beam wrapper of the annotate → decide stages: models load once per worker, drops are counted."""

from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.metrics import Metrics

from filters import quantiles
from filters.stages import heuristic_stages, language_stage, model_stages, parse_word_list, run_stages
from pipelines.packed import pack, unpack

DROPPED = "dropped"
log = logging.getLogger(__name__)


def light(doc: dict) -> dict:
    """What a dropped document still needs downstream: enough to count it and to say where it was."""
    return {"id": doc["id"], "source": doc["source"], "url": doc.get("url"), "decision": doc["decision"],
            "duplicate_of": doc.get("duplicate_of")}


def split_kept(docs):
    """(documents still kept, documents already dropped). Corpus-level stages (selection, dedup) work on
    the first; the second only exists in annotate-only mode and passes through untouched."""
    parts = docs | "SplitKept" >> beam.Partition(lambda d, _: 0 if d.get("decision") in (None, "keep") else 1, 2)
    return parts[0], parts[1]


class Curate(beam.DoFn):
    """Language ID + heuristic + model stages on batches of extracted documents (``beam.BatchElements`` upstream,
    so model stages predict many documents per call); sets ``decision``, bumps a counter per reason."""

    def __init__(self, recipe, annotate_only: bool):
        self.recipe = recipe
        self.annotate_only = annotate_only
        self.stages = None
        self.kept = Metrics.counter("curate", "kept")
        self.seen = 0

    def setup(self):
        from apache_beam.io.filesystems import FileSystems

        from filters.langid import load_model

        bad_words = frozenset()
        path = self.recipe.heuristics.c4.bad_words_file
        if path and self.recipe.heuristics.c4.enabled:
            with FileSystems.open(path) as handle:
                bad_words = parse_word_list(handle.read().decode("utf-8"))
        lang = self.recipe.language
        self.stages = (
            [language_stage(load_model(), lang.keep, lang.min_score)]
            + heuristic_stages(self.recipe, bad_words)
            + model_stages(self.recipe)
        )

    def process(self, batch: list[dict]):
        todo = []
        for doc in batch:
            if doc.get("decision"):  # dropped upstream; reaches here only in annotate-only mode
                yield doc
            else:
                todo.append(dict(doc))
        reasons = run_stages(todo, self.stages, self.annotate_only)
        for doc, reason in zip(todo, reasons):
            doc["decision"] = reason or "keep"
            if reason is None:
                self.kept.inc()
                yield doc
                continue
            Metrics.counter("drop", reason).inc()
            if self.annotate_only:
                yield doc
            else:
                yield beam.pvalue.TaggedOutput(DROPPED, light(doc))
        self.seen += len(todo)
        if self.seen // 500 > (self.seen - len(todo)) // 500:
            log.info("curate: %d documents scored by this worker", self.seen)


class PerplexityHistogram(beam.CombineFn):
    """Histogram of log10 perplexity: merges by addition, so the quantiles ignore bundling and order."""

    def create_accumulator(self):
        return quantiles.empty()

    def add_input(self, histogram, value):
        return quantiles.add(histogram, value)

    def merge_accumulators(self, histograms):
        histograms = list(histograms)
        total = histograms[0].copy()
        for other in histograms[1:]:
            total += other
        return total

    def extract_output(self, histogram):
        return histogram


class PerplexitySelect(beam.PTransform):
    """Second pass over the corpus: CCNet bucket of every kept document, and the optional band selection.

    The first pass (the ``perplexity`` stage in Curate) scored each document; this one reads the corpus
    distribution of those scores (a histogram side input) and applies the recipe's cut-offs to it.
    Documents already dropped (annotate-only mode) pass through and take no part in the quantiles.
    """

    def __init__(self, cfg, annotate_only: bool):
        super().__init__()
        self.cfg = cfg
        self.annotate_only = annotate_only

    def expand(self, docs):
        kept, decided = split_kept(docs)
        histogram = (
            kept
            | "Perplexities" >> beam.Map(lambda d: d["scores"]["perplexity"]["perplexity"])
            | "Histogram" >> beam.CombineGlobally(PerplexityHistogram())
        )
        # Annotate-only: the copies exact dedup (which runs first) marked passed every earlier stage, so
        # they get their bucket like any other score, but stay out of the quantiles and the band.
        copies, decided = decided | "SplitCopies" >> beam.Partition(
            lambda d, _: 0 if d.get("decision") == "dedup:exact" else 1, 2)
        # Every document waits for the histogram: packed while it waits (pipelines/packed.py).
        selected = (
            (kept, copies)
            | "WithCopies" >> beam.Flatten()
            | "Pack" >> beam.Map(pack)
            | "Bucket" >> beam.ParDo(_Select(self.cfg, self.annotate_only), beam.pvalue.AsSingleton(histogram))
            .with_outputs(DROPPED, main="docs")
        )
        return {"docs": (selected.docs, decided) | "Merge" >> beam.Flatten(), DROPPED: selected[DROPPED]}


class _Select(beam.DoFn):
    def __init__(self, cfg, annotate_only: bool):
        self.cfg = cfg
        self.annotate_only = annotate_only

    def process(self, packed: bytes, histogram):
        from filters.perplexity import band_bounds, ccnet_bucket, perplexity_band

        doc = unpack(packed)

        def quantile_of(q: float) -> float:
            return quantiles.quantile(histogram, q)

        cfg = self.cfg
        ppl = doc["scores"]["perplexity"]["perplexity"]
        cutoffs = cfg.bucket_cutoffs or tuple(quantile_of(p / 100) for p in cfg.bucket_percentiles)
        doc = dict(doc, ccnet_bucket=ccnet_bucket(ppl, cutoffs))
        if doc.get("decision") == "dedup:exact":  # an annotated copy: bucketed, already decided
            yield doc
            return
        if cfg.select != "none" and not perplexity_band(ppl, *band_bounds(quantile_of, cfg.select, cfg.select_rate)):
            doc["decision"] = "perplexity:band"
            Metrics.counter("drop", "perplexity:band").inc()
            yield doc if self.annotate_only else beam.pvalue.TaggedOutput(DROPPED, light(doc))
            return
        yield doc
