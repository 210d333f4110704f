"""The recipe: one validated YAML file that says how a dataset is made.

The shipped default lives in ``pipelines/recipes/default.yaml``. A user recipe is read with safe YAML
and validated by pydantic with ``extra="forbid"``, so a misspelt key is an error that names the key,
not a silently ignored setting. Each section is owned by the package it configures (``read`` and
``extract``: pipelines/readers and extract.py; ``url``, ``language``, ``heuristics``, ``decontamination``,
``quality``, ``perplexity``, ``pii``: filters/config.py; ``dedup``: dedup/config.py; ``synth``:
synth/config.py; ``tokenize``: tokenize.py; ``output``: write.py); this
module composes them, loads, validates and hashes. The resolved recipe is written next to the output
and hashed into every row (``recipe_hash``), so a dataset always says exactly how it was made.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dedup.config import DedupConfig
from filters.config import (
    DecontaminationConfig,
    HeuristicsConfig,
    LanguageConfig,
    PerplexityConfig,
    PiiConfig,
    QualityConfig,
    UrlConfig,
)
from pipelines.extract import ExtractConfig
from pipelines.readers import ReadConfig
from pipelines.tokenize import TokenizeConfig
from pipelines.write import OutputConfig
from synth.config import SynthConfig

DEFAULT_RECIPE = Path(__file__).parent / "recipes" / "default.yaml"


class Recipe(BaseModel):
    """The sections, each owned by the package it configures, in the order ``recipe.yaml`` shows them.

    Field by field validation is the sections' own; what needs several sections (every rule against
    its stage's scores, the synthesis selection against every score) is ``pipelines.registry.check_recipe``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))

    name: str = "default"
    description: str = ""
    license: str = "other"
    max_error_rate: float = Field(0.05, ge=0, le=1, description="the run fails when errors / read exceeds this")
    read: ReadConfig = ReadConfig()
    url: UrlConfig = UrlConfig()
    extract: ExtractConfig = ExtractConfig()
    language: LanguageConfig = LanguageConfig()
    heuristics: HeuristicsConfig = HeuristicsConfig()
    decontamination: DecontaminationConfig = DecontaminationConfig()
    quality: QualityConfig = QualityConfig()
    perplexity: PerplexityConfig = PerplexityConfig()
    dedup: DedupConfig = DedupConfig()
    pii: PiiConfig = PiiConfig()
    tokenize: TokenizeConfig = TokenizeConfig()
    synth: SynthConfig = SynthConfig()
    output: OutputConfig = OutputConfig()

    @model_validator(mode="after")
    def _stages_agree(self) -> "Recipe":  # rules against their stage's scores: the registry knows both
        from pipelines.registry import check_recipe

        check_recipe(self)
        return self

    def section(self, path: str) -> Any:
        """The section at a dotted ``path`` (``heuristics.c4``)."""
        from pipelines.registry import section

        return section(self, path)

    def rules(self, stage: str) -> tuple:
        """The parsed rules of stage ``stage`` (``filters.decide.Rule``), in recipe order."""
        from pipelines.registry import stage as declared

        spec = declared(stage)
        return spec.rules(self.section(spec.section)) if spec.rules else ()

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
    if "base" in raw:
        raw = _with_base(raw, source)
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    try:
        return Recipe.model_validate(raw)
    except ValidationError as err:
        raise RecipeError(f"recipe {source}: {'; '.join(_problem(e) for e in err.errors())}") from None


def _with_base(raw: dict, source: Path, seen: tuple[Path, ...] = ()) -> dict:
    """A recipe that names a ``base`` (``default``, or a recipe file relative to this one) gives only what
    differs: its sections are merged over the base's, key by key (a list or a value replaces the base's)."""
    base = raw.pop("base")
    path = DEFAULT_RECIPE if base == "default" else (source.parent / str(base))
    seen = (*seen, source.resolve())
    if path.resolve() in seen:
        raise RecipeError(f"recipe {source}: base {base!r} is a recipe that this one is already based on")
    try:
        inherited = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise RecipeError(f"recipe {source}: base {base!r}: {err}") from None
    if not isinstance(inherited, dict):
        raise RecipeError(f"recipe {path}: the top level must be a mapping of sections")
    if "base" in inherited:
        inherited = _with_base(inherited, path, seen)
    return _merge(inherited, raw)


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def _problem(error: dict) -> str:
    """One validation error as ``section.key: message``. The checks across sections (``check_recipe``) run
    on the whole recipe and name their section in the message themselves; they run once every section
    is valid on its own, so a recipe with both kinds of mistakes shows the second kind after the first
    is fixed."""
    where = ".".join(str(p) for p in error["loc"])
    if where:
        return f"{where}: {error['msg']}"
    return error["msg"].removeprefix("Value error, ")


def _set_dotted(tree: dict, dotted: str, value: object) -> None:
    node = tree
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise RecipeError(f"override {dotted}: {key} is not a section")
    node[leaf] = value
