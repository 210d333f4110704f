"""The stages filters/ declares, each once: language ID, the heuristics in the order RefinedWeb and FineWeb
apply them, the quality classifier, perplexity, and the corpus-level perplexity selection.

A declaration says everything the rest of the house needs (``schemas.stage.StageSpec``): the scores a
stage writes (the schema's ``scores.<stage>`` struct; the functions' own tests check they return exactly
these), its recipe section and how its rules parse, how it scores, and its line in the dataset card.
``pipelines/registry.py`` puts these in the pipeline's order with the other packages' stages.
"""

from __future__ import annotations

from typing import Any, Callable

from filters import heuristics
from filters.config import HeuristicConfig, LanguageConfig, PerplexityConfig, QualityConfig
from filters.decide import Rule, parse_rule
from filters.stages import (
    c4_scorer,
    correcting,
    language_scorer,
    perplexity_scorer,
    quality_scorer,
    text_scores,
)
from schemas.stage import StageSpec


class RulesOf:
    """A section's ``rules`` (name -> ``"<score> <op> <number>"``) parsed against the stage's scores;
    an error names the stage, the rule and the scores it may use."""

    def __init__(self, stage: str, scores: tuple[str, ...]):
        self.stage, self.scores = stage, scores

    def __call__(self, cfg: Any) -> tuple[Rule, ...]:
        return tuple(parse_rule(self.stage, name, expr, self.scores) for name, expr in cfg.rules.items())


def _rules_text(rules: tuple[Rule, ...]) -> str:
    return ", ".join(f"`{r}`" for r in rules)


# -------------------------------------------------------------------------------------------- language

LANGUAGE_SCORES = ("score",)


def _language_rules(cfg: LanguageConfig) -> tuple[Rule, ...]:
    return (parse_rule("language", "low_score", f"score >= {cfg.min_score}", LANGUAGE_SCORES),)


def _language_card(cfg: LanguageConfig, recipe: Any) -> str:
    return f"keep {', '.join(cfg.keep) or 'all'} with fastText lid.176 score ≥ {cfg.min_score:g}"


LANGUAGE = StageSpec(
    name="language", section="language", config=LanguageConfig, scores=LANGUAGE_SCORES,
    rules=_language_rules, scorer=language_scorer, card_label="language", card=_language_card,
)

# ------------------------------------------------------------------------------------------ heuristics


def _heuristic(name: str, scores: tuple[str, ...], scorer: Callable[[Any], Any]) -> StageSpec:
    return StageSpec(name=name, section=f"heuristics.{name}", config=HeuristicConfig, scores=scores,
                     rules=RulesOf(name, scores), scorer=scorer, rules_in_card=True)


GOPHER_REPETITION = _heuristic(
    "gopher_repetition",
    ("dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac", "top_2gram_char_frac",
     "top_3gram_char_frac", "top_4gram_char_frac", "dup_5gram_char_frac", "dup_6gram_char_frac",
     "dup_7gram_char_frac", "dup_8gram_char_frac", "dup_9gram_char_frac", "dup_10gram_char_frac"),
    text_scores(heuristics.gopher_repetition),
)
GOPHER_QUALITY = _heuristic(
    "gopher_quality",
    ("word_count", "mean_word_length", "hash_word_ratio", "ellipsis_word_ratio", "bullet_line_ratio",
     "ellipsis_line_ratio", "alpha_word_ratio", "stop_word_count"),
    text_scores(heuristics.gopher_quality),
)
C4 = _heuristic(
    "c4",
    ("lines_removed_frac", "words_removed_frac", "sentence_count", "lorem_ipsum", "curly_bracket", "bad_words"),
    c4_scorer,
)
FINEWEB = _heuristic(
    "fineweb",
    ("line_punct_ratio", "dup_line_char_frac", "short_line_ratio", "newline_word_ratio"),
    text_scores(heuristics.fineweb),
)
REFINEDWEB = _heuristic(
    "refinedweb",
    ("removed_word_frac", "lines_removed"),
    correcting(heuristics.refinedweb_lines),
)

# -------------------------------------------------------------------------------------- model stages

QUALITY_SCORES = ("score",)  # P(high quality) from the UltraClean-style fastText classifier


def _quality_card(cfg: QualityConfig, recipe: Any) -> str:
    rules = QUALITY.rules(cfg)
    return ("fastText " + (cfg.model or "quality_en.ftz (shipped)") + ", score = P(high quality)"
            + ("; rules: " + _rules_text(rules) if rules else "; annotate only"))


QUALITY = StageSpec(
    name="quality", section="quality", config=QualityConfig, scores=QUALITY_SCORES,
    rules=RulesOf("quality", QUALITY_SCORES), scorer=quality_scorer, card_label="quality model", card=_quality_card,
)

PERPLEXITY_SCORES = ("perplexity",)  # CCNet document perplexity under the KenLM reference model


def _cutoffs(cfg: PerplexityConfig, recipe: Any) -> str:
    if cfg.bucket_cutoffs:
        return "perplexity " + " / ".join(f"{c:g}" for c in cfg.bucket_cutoffs)
    corpus = "this corpus's distinct texts (after exact dedup)" if recipe.dedup.exact.enabled else "this corpus"
    return "percentiles " + " / ".join(f"{p:g}" for p in cfg.bucket_percentiles) + " of " + corpus


def _perplexity_card(cfg: PerplexityConfig, recipe: Any) -> str:
    band = f"; keeps the {cfg.select} band at rate {cfg.select_rate:g}" if cfg.select != "none" else ""
    return "KenLM " + (cfg.model or "kenlm_en_wiki.binary (shipped)") + f", CCNet buckets at {_cutoffs(cfg, recipe)}" + band


PERPLEXITY = StageSpec(
    name="perplexity", section="perplexity", config=PerplexityConfig, scores=PERPLEXITY_SCORES,
    rules=RulesOf("perplexity", PERPLEXITY_SCORES), scorer=perplexity_scorer,
    card_label="perplexity", card=_perplexity_card,
)


def _perplexity_select(cfg: PerplexityConfig, job: Any):
    from filters.transforms import PerplexitySelect

    return PerplexitySelect(cfg, job.annotate_only)


#: The second pass of the perplexity section: CCNet buckets and the optional band over the corpus's
#: distribution of the scores the ``perplexity`` stage wrote (drop reason ``perplexity:band``).
PERPLEXITY_SELECT = StageSpec(
    name="perplexity_select", section="perplexity", config=PerplexityConfig, transform=_perplexity_select,
)

#: The per-document stages, in the order they run (cheap rules first, models on the survivors).
DOCUMENT_STAGES: tuple[StageSpec, ...] = (
    LANGUAGE, GOPHER_REPETITION, GOPHER_QUALITY, C4, FINEWEB, REFINEDWEB, QUALITY, PERPLEXITY,
)
