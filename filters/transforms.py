"""Beam wrappers of the filter stages: Curate (the per-document stages on batches, models shared by every
thread of a worker process) and PerplexitySelect (CCNet buckets and bands over the corpus)."""

from __future__ import annotations

import logging
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.shared import Shared

from filters import quantiles
from filters.config import PerplexityConfig
from filters.stages import Stage, bind, run_stages
from schemas.outcomes import DROPPED, KEEP, is_kept, to_score
from schemas.packed import pack, unpack
from schemas.routing import outputs, route, split_kept

log = logging.getLogger(__name__)


class Curate(beam.PTransform):
    """The per-document stages, in order, on batches of extracted documents: each stage scores a batch
    in one call (``beam.BatchElements``), its rules set ``decision``.

    ``stages``: ``(StageSpec, its recipe section)`` pairs, enabled ones only (``pipelines/registry.py``).
    """

    def __init__(self, stages: tuple[tuple[Any, Any], ...], annotate_only: bool):
        super().__init__()
        self.stages = tuple(stages)
        self.annotate_only = annotate_only

    def expand(self, docs):
        scored = (
            docs
            | "Batch" >> beam.BatchElements(min_batch_size=16, max_batch_size=256)
            | "Score" >> beam.ParDo(CurateFn(self.stages, self.annotate_only)).with_outputs(DROPPED, main="docs")
        )
        return outputs(scored.docs, scored[DROPPED])


class LoadedStages:
    """The runnable stages of one CurateFn, models loaded: one per worker process (``Shared`` needs an
    object it can hold a weak reference to; fastText and KenLM models are not)."""

    def __init__(self, stages: list[Stage]):
        self.stages = stages


class CurateFn(beam.DoFn):
    """Scores batches and routes every document it decides (``schemas.routing.route``).

    In annotate-only mode a document an earlier stage already decided is scored too when an earlier
    Curate scored it (a later Curate, such as the PII step after dedup, must correct every row that is
    written); its decision stays the first one. Documents dropped at read or extract have no text to score.

    Models are loaded once per worker *process*, not per DoFn instance: the Dataflow SDK harness runs a
    DoFn instance per thread (a dozen or more on a worker), and a user's 1 GB quality model must not be
    loaded a dozen times. ``Shared`` hands every instance deserialized from this DoFn the same
    ``LoadedStages`` (lid.176, the quality model, KenLM or the neural LM), which must be safe to call from
    several threads (``filters/stages.py``). Beam keeps one shared object alive between bundles at a time,
    so a process that also runs RunInference (the synthesis branch) may reload them once that has run.
    """

    def __init__(self, stages: tuple[tuple[Any, Any], ...], annotate_only: bool):
        self.specs = stages
        self.annotate_only = annotate_only
        self.models = Shared()
        self.loaded: LoadedStages | None = None
        self.kept = Metrics.counter("curate", "kept")
        self.seen = 0

    def setup(self):
        self.loaded = self.models.acquire(lambda: LoadedStages([bind(spec, cfg) for spec, cfg in self.specs]))

    def process(self, batch: list[dict]):
        todo = []
        for doc in batch:
            if to_score(doc, self.annotate_only):
                todo.append(dict(doc))
            else:  # dropped before any stage scored it (read, extract): nothing to score
                yield doc
        reasons = run_stages(todo, self.loaded.stages, self.annotate_only)
        for doc, reason in zip(todo, reasons):
            if not is_kept(doc):  # annotate-only: decided by an earlier stage, scored here like any row
                yield doc
                continue
            doc["decision"] = reason or KEEP
            if reason is None:
                self.kept.inc()
            yield route(doc, self.annotate_only)
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

    def __init__(self, config: PerplexityConfig, annotate_only: bool):
        super().__init__()
        self.config = config
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
        # Every document waits for the histogram: packed while it waits (schemas/packed.py).
        selected = (
            (kept, copies)
            | "WithCopies" >> beam.Flatten()
            | "Pack" >> beam.Map(pack)
            | "Bucket" >> beam.ParDo(_Select(self.config, self.annotate_only), beam.pvalue.AsSingleton(histogram))
            .with_outputs(DROPPED, main="docs")
        )
        return outputs((selected.docs, decided) | "Merge" >> beam.Flatten(), selected[DROPPED])


class _Select(beam.DoFn):
    def __init__(self, config: PerplexityConfig, annotate_only: bool):
        self.config = config
        self.annotate_only = annotate_only

    def process(self, packed: bytes, histogram):
        from filters.perplexity import band_bounds, ccnet_bucket, perplexity_band

        doc = unpack(packed)

        def quantile_of(q: float) -> float:
            return quantiles.quantile(histogram, q)

        cfg = self.config
        ppl = doc["scores"]["perplexity"]["perplexity"]
        doc = dict(doc, ccnet_bucket=ccnet_bucket(ppl, cfg.cutoffs(quantile_of)))
        if doc.get("decision") == "dedup:exact":  # an annotated copy: bucketed, already decided
            yield doc
            return
        if cfg.select != "none" and not perplexity_band(ppl, *band_bounds(quantile_of, cfg.select, cfg.select_rate)):
            doc["decision"] = "perplexity:band"
        yield route(doc, self.annotate_only)
