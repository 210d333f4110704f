"""Beam wrapper of the annotate → decide stages: models load once per worker, drops are counted."""

from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.metrics import Metrics

from filters.stages import heuristic_stages, language_stage, parse_word_list, run_stages

DROPPED = "dropped"
log = logging.getLogger(__name__)


def light(doc: dict) -> dict:
    """What a dropped document still needs downstream: enough to count it and to say where it was."""
    return {"id": doc["id"], "source": doc["source"], "url": doc.get("url"), "decision": doc["decision"]}


class Curate(beam.DoFn):
    """Language ID + heuristic stages on batches of extracted documents (``beam.BatchElements`` upstream,
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
        self.stages = [language_stage(load_model(), lang.keep, lang.min_score)] + heuristic_stages(self.recipe, bad_words)

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
