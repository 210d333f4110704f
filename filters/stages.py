"""The annotate → decide sequence for a batch of documents, as plain Python.

A ``Stage`` scores documents (possibly correcting their text, as C4 and RefinedWeb do line by line) and
its rules decide. ``run_stages`` applies the stages in recipe order, stage by stage over the batch (so a
model stage predicts a whole batch in one call), and returns each document's first drop reason. In
filter mode a dropped document leaves the batch (no point scoring it further); in annotate-only mode
every stage runs on every document, so every row carries every score and the decision it *would* get.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Callable

from filters import heuristics
from filters.decide import Rule, decide, parse_rule
from filters.langid import identify
from schemas import SCORE_FIELDS

Scorer = Callable[[dict], dict[str, float]]
BatchScorer = Callable[[list[dict]], list[dict[str, float]]]


@dataclass(frozen=True)
class Stage:
    name: str
    annotate: Scorer  # reads doc["text"]; may replace it (line-level corrections); returns scores
    rules: tuple[Rule, ...] = ()
    check: Callable[[dict], str | None] | None = field(default=None)  # non-numeric rules (language label)
    annotate_batch: BatchScorer | None = field(default=None)  # models: one call for many documents

    def score(self, docs: list[dict]) -> list[dict[str, float]]:
        if self.annotate_batch is not None:
            return self.annotate_batch(docs)
        return [self.annotate(doc) for doc in docs]

    def decide(self, scores: dict[str, float], doc: dict) -> str | None:
        if self.check is not None:
            reason = self.check(doc)
            if reason:
                return reason
        return decide(scores, self.rules)


def run_stages(docs: list[dict], stages: list[Stage], annotate_only: bool) -> list[str | None]:
    """Annotate ``docs`` in place; return, per document, None to keep or its first drop reason."""
    reasons: list[str | None] = [None] * len(docs)
    for doc in docs:
        if doc.get("scores") is None:
            doc["scores"] = {name: None for name in SCORE_FIELDS}
    for stage in stages:
        active = [i for i in range(len(docs)) if annotate_only or reasons[i] is None]
        if not active:
            break
        for i, scores in zip(active, stage.score([docs[i] for i in active])):
            docs[i]["scores"][stage.name] = scores
            reason = stage.decide(scores, docs[i])
            if reason and reasons[i] is None:
                reasons[i] = reason
    return reasons


# ----------------------------------------------------------------------------------------- stage builders


def _scores_only(fn: Callable[[str], dict[str, float]]) -> Scorer:
    return lambda doc: fn(doc["text"] or "")


def _correcting(fn: Callable[[str], tuple[str, dict[str, float]]]) -> Scorer:
    def annotate(doc: dict) -> dict[str, float]:
        text, scores = fn(doc["text"] or "")
        doc["text"] = text
        return scores

    return annotate


def _c4(doc: dict, options: dict, bad_words: frozenset[str]) -> dict[str, float]:
    original = doc["text"] or ""
    text, scores = heuristics.c4_lines(original, **options)
    scores["bad_words"] = heuristics.c4_bad_words(original, bad_words) if bad_words else 0.0
    doc["text"] = text
    return scores


def language_stage(model, keep: list[str], min_score: float) -> Stage:
    keep_set = frozenset(keep)

    def annotate(doc: dict) -> dict[str, float]:
        label, score = identify(model, doc["text"] or "")
        doc["language"], doc["language_score"] = label, score
        return {"score": score}

    def check(doc: dict) -> str | None:
        return "language:not_kept" if keep_set and doc["language"] not in keep_set else None

    rule = parse_rule("language", "low_score", f"score >= {min_score}", SCORE_FIELDS["language"])
    return Stage("language", annotate, (rule,), check)


def heuristic_stages(recipe, bad_words: frozenset[str] = frozenset()) -> list[Stage]:
    """Heuristic stages in the order RefinedWeb and FineWeb apply them; disabled ones are left out."""
    h = recipe.heuristics
    scorers: dict[str, Scorer] = {
        "gopher_repetition": _scores_only(heuristics.gopher_repetition),
        "gopher_quality": _scores_only(heuristics.gopher_quality),
        "c4": partial(_c4, options=dict(h.c4.options), bad_words=bad_words),
        "fineweb": _scores_only(heuristics.fineweb),
        "refinedweb": _correcting(heuristics.refinedweb_lines),
    }
    return [Stage(name, scorer, h.rules(name)) for name, scorer in scorers.items() if h.stage(name).enabled]


def quality_stage(model, rules: tuple[Rule, ...]) -> Stage:
    """fastText P(high quality), predicted for the whole batch in one call."""
    from filters.quality import predict_batch

    def annotate_batch(docs: list[dict]) -> list[dict[str, float]]:
        return [{"score": p} for p in predict_batch(model, [doc["text"] or "" for doc in docs])]

    return Stage("quality", lambda doc: annotate_batch([doc])[0], rules, annotate_batch=annotate_batch)


def perplexity_stage(model, rules: tuple[Rule, ...], backend: str = "kenlm") -> Stage:
    """Document perplexity under the reference model: KenLM (CCNet formula, per word) or a small causal LM
    (exp of the mean token NLL, batched). Corpus buckets and bands are decided later (filters/transforms)."""
    if backend == "neural":
        from filters.neural_perplexity import doc_perplexities

        def annotate_batch(docs: list[dict]) -> list[dict[str, float]]:
            return [{"perplexity": p} for p in doc_perplexities(model, [doc["text"] or "" for doc in docs])]
    else:
        from filters.perplexity import doc_perplexity

        def annotate_batch(docs: list[dict]) -> list[dict[str, float]]:
            return [{"perplexity": doc_perplexity(model, doc["text"] or "")} for doc in docs]

    return Stage("perplexity", lambda doc: annotate_batch([doc])[0], rules, annotate_batch=annotate_batch)


def model_stages(recipe) -> list[Stage]:
    """The learned-signal stages the recipe enables, after the cheap heuristics (scored only on survivors)."""
    stages = []
    if recipe.quality.enabled:
        from filters import quality

        stages.append(quality_stage(quality.load_model(recipe.quality.model),
                                    recipe.quality.parsed_rules()))
    if recipe.perplexity.enabled:
        cfg = recipe.perplexity
        if cfg.backend == "neural":
            from filters.neural_perplexity import load_model
        else:
            from filters.perplexity import load_model
        stages.append(perplexity_stage(load_model(cfg.model), cfg.parsed_rules(), cfg.backend))
    return stages


def parse_word_list(text: str) -> frozenset[str]:
    """One word or phrase per line, '#' comments allowed, compared lowercased."""
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )
