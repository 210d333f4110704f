"""The recipe's ``synth:`` section: which kept documents are reformulated, by which backend, how.

Validated like every other recipe section (``extra="forbid"``, frozen), so a misspelt key, a selection
rule over a score that does not exist, or a check rule ``synth.maga`` does not know is an error that
names it before any model is loaded. Everything that shapes the output (selection, model, sampling,
thresholds) lives here and therefore in ``recipe.yaml`` and the recipe hash; the API key does not: only
the *name* of the environment variable that holds it.

The server URL is a recipe setting (``--set synth.url=...``), not an environment variable: where the
data came from belongs in the resolved recipe written beside the dataset.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

from pydantic import Field, field_validator, model_validator

from filters.decide import Rule, parse_rule
from schemas.config import StrictConfig

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SELECT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\s*(.*)$")


@dataclass(frozen=True)
class Selection:
    """``stage.score <op> number`` over a kept document's ``scores``.

    Unlike a filter rule, a missing or NaN score does *not* pass: a filter abstains because missing
    evidence is no reason to drop, but selection spends model time, so a document is only expanded when
    it is shown to meet the bar (e.g. ``quality.score`` is absent when the quality stage is off).
    """

    stage: str
    rule: Rule

    def selects(self, doc: Mapping[str, Any]) -> bool:
        stage_scores = (doc.get("scores") or {}).get(self.stage) or {}
        value = stage_scores.get(self.rule.score)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return self.rule.keeps({self.rule.score: value})

    def __str__(self) -> str:
        return f"{self.stage}.{self.rule}"


def parse_selection(expression: str, score_fields: Mapping[str, tuple[str, ...]] | None = None) -> Selection:
    """Parse ``"quality.score >= 0.5"``; errors name the expression, the bad stage or score and what exists.

    ``score_fields`` (stage -> scores; the stage registry's, which this package does not import) checks
    that the score exists; without it only the form is checked (the recipe checks the rest)."""
    match = _SELECT.match(str(expression))
    if not match:
        raise ValueError(
            f"cannot parse {expression!r}; write '<stage>.<score> <op> <number>', e.g. 'quality.score >= 0.5'"
        )
    stage, score, rest = match.groups()
    if score_fields is not None and stage not in score_fields:
        raise ValueError(f"unknown stage {stage!r} in {expression!r}; known stages: {', '.join(score_fields)}")
    known = score_fields[stage] if score_fields is not None else (score,)
    try:
        rule = parse_rule(stage, "select", f"{score} {rest}", known)
    except ValueError as err:
        detail = str(err).split(": ", 1)[1]  # drop parse_rule's "<stage>.rules.select:" prefix
        raise ValueError(f"in {expression!r}: {detail}") from None
    return Selection(stage, rule)


def merge_rules(overrides: Mapping[str, str | list[str]]) -> list[tuple[str, str]]:
    """maga's default check rules with ``overrides`` applied per check: a check named here gets exactly
    these rules (``[]`` turns it off), in the default check's place; unknown check names come last."""
    from synth.maga import DEFAULT_RULES

    def listed(value: str | list[str]) -> list[str]:
        return [value] if isinstance(value, str) else list(value)

    merged: list[tuple[str, str]] = []
    placed: set[str] = set()
    for check, rule in DEFAULT_RULES:
        if check not in overrides:
            merged.append((check, rule))
        elif check not in placed:
            merged.extend((check, r) for r in listed(overrides[check]))
            placed.add(check)
    for check, value in overrides.items():
        if check not in placed:
            merged.extend((check, r) for r in listed(value))
    return merged


class SynthConfig(StrictConfig):
    """MAGA genre–audience reformulation of selected kept documents (``synth/README.md``).

    Defaults run out of the box: the embedded SmolLM2-135M GGUF in-process (a smoke-test model).
    ``backend: llamacpp`` runs a GGUF through llama.cpp instead of transformers (faster on CPU; needs
    ``webcurate[llamacpp]``). Real runs point ``backend: openai`` at a vLLM / SGLang server, or give
    ``model`` a path to a bigger local model for GPU workers.
    """

    enabled: bool = False
    select: str | None = Field(
        "quality.score >= 0.5", description="'<stage>.<score> <op> <number>' over kept documents; null = all"
    )
    max_documents: int | None = Field(None, gt=0, description="cap: the documents with the smallest id hash")
    backend: Literal["local", "llamacpp", "openai"] = Field(
        "local", description="local: transformers in-process; llamacpp: llama.cpp in-process (GGUF only); "
        "openai: an OpenAI-compatible server",
    )
    model: str | None = Field(
        None,
        description="local: a model folder or .gguf (null = embedded SmolLM2); llamacpp: a .gguf (null = "
        "embedded SmolLM2); openai: the model name the server serves",
    )
    url: str | None = Field(None, description="openai: the server's base URL, e.g. http://10.0.0.5:8000/v1")
    api_key_env: str | None = Field(None, description="openai: name of the environment variable holding the key")
    concurrency: int = Field(8, ge=1, description="openai: requests in flight per worker process")
    timeout_s: float = Field(300.0, gt=0, description="openai: read timeout per request")
    max_retries: int = Field(3, ge=0, description="openai: retries of a failed request (backoff with jitter)")
    device: str | None = Field(
        None, description="local: cpu, cuda, cuda:1 ... (null = cuda when present); llamacpp: cuda offloads every "
        "layer (a CUDA build), else CPU")
    num_threads: int | None = Field(
        None, ge=1, description="local: torch threads; llamacpp: llama.cpp threads (null = half the cores); "
        "fewer is faster on a shared CPU")
    tokenizer: str | None = Field(
        None,
        description="for token counts: a tokenizer folder or .gguf; null = the local model's own (openai: words only)",
    )
    batch_size: int = Field(8, ge=1, description="documents per backend call (local: also prompts per forward)")
    n_pairs: int = Field(5, ge=1, le=20)
    min_pair_words: int = Field(4, ge=1, description="a genre or audience with fewer words is unusable")
    pair_catalogue: str | None = Field(
        "catalogue_v1",
        description="genre x audience catalogue (synth/prompts/<name>.json) that fills the places the model's "
        "own pairs leave; null: a document without usable pairs is dropped (synth:json, synth:pairs)",
    )
    judge: bool = False
    rules: dict[str, str | list[str]] = Field(
        {}, description="check -> rule(s), replacing maga's default for that check"
    )
    pairs_max_tokens: int = Field(1024, ge=1)
    rewrite_max_tokens: int = Field(2048, ge=1)
    retry_rounds: int = Field(
        1, ge=0, description="rounds of fresh catalogue pairs for a document whose rewrites all failed a check"
    )
    rewrite_budget: float | None = Field(
        1.5, gt=0,
        description="a rewrite's token budget as a multiple of its source's tokens (within rewrite_max_tokens); "
        "a rewrite that reaches it is cut to its last sentence. null: rewrite_max_tokens for every rewrite",
    )
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(0.9, gt=0, le=1)
    seed: int = 0
    max_source_chars: int = Field(8000, ge=100, description="the part of a document shown to the model")

    @field_validator("select")
    @classmethod
    def _select_parses(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            parse_selection(value)
        return value or None

    @field_validator("pair_catalogue")
    @classmethod
    def _catalogue_exists(cls, value: str | None) -> str | None:
        if value is not None:
            from synth.maga import PROMPTS_DIR, load_catalogue

            if not (PROMPTS_DIR / f"{value}.json").is_file():
                shipped = sorted(p.stem for p in PROMPTS_DIR.glob("catalogue_*.json"))
                raise ValueError(f"no catalogue {value!r} in synth/prompts; shipped: {', '.join(shipped)}")
            load_catalogue(value)  # a malformed file fails here, naming itself
        return value

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError("name an environment variable (e.g. VLLM_API_KEY), never the key itself")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "SynthConfig":
        self.maga_rules()  # raises "synth.rules.<check>: ..." naming the check
        if self.backend == "openai":
            if not self.url or not self.url.startswith(("http://", "https://")):
                raise ValueError("synth.url: the openai backend needs the server's http(s) base URL")
            if "@" in self.url.split("://", 1)[1].split("/", 1)[0]:
                # The URL lands in recipe.yaml and the card: credentials belong in api_key_env.
                raise ValueError("synth.url: no user:password@ in the URL; name the key's variable in synth.api_key_env")
            if not self.model:
                raise ValueError("synth.model: the openai backend needs the model name the server serves")
        else:
            if self.url:
                raise ValueError(f"synth.url is for backend: openai; the {self.backend} backend runs synth.model "
                                 "in-process")
            if self.model and "://" in self.model and not self.model.endswith(".gguf"):
                raise ValueError("synth.model: a cloud path must be a .gguf file (folders are read locally)")
            if self.backend == "llamacpp" and self.model and not self.model.lower().endswith(".gguf"):
                raise ValueError("synth.model: the llamacpp backend runs .gguf files; give one, or use backend: "
                                 "local for a model folder")
        return self

    # ------------------------------------------------------------------------------------- derived

    def selection(self) -> Selection | None:
        """The parsed ``select`` rule; None selects every kept document."""
        return parse_selection(self.select) if self.select else None

    def maga_rules(self) -> tuple[Rule, ...]:
        from synth.maga import parse_rules

        return parse_rules(merge_rules(self.rules))

    def to_maga_config(self, annotate_only: bool = False):
        """The ``synth.maga.MagaConfig`` these settings mean. ``annotate_only`` also judges rewrites that
        failed a check, so annotated rows carry every score."""
        from synth.backends import SamplingParams
        from synth.maga import MagaConfig

        def params(max_tokens: int) -> SamplingParams:
            return SamplingParams(max_tokens=max_tokens, temperature=self.temperature, top_p=self.top_p, seed=self.seed)

        return MagaConfig(
            n_pairs=self.n_pairs,
            min_pair_words=self.min_pair_words,
            judge=self.judge,
            judge_all=annotate_only and self.judge,
            pairs_params=params(self.pairs_max_tokens),
            rewrite_params=params(self.rewrite_max_tokens),
            max_source_chars=self.max_source_chars,
            rules=self.maga_rules(),
            catalogue=self.pair_catalogue,
            retry_rounds=self.retry_rounds,
            rewrite_budget=self.rewrite_budget,
        )

    @property
    def backend_name(self) -> str:
        """What ``make_backend().name`` will be, known without constructing or loading anything."""
        return {"openai": "openai", "llamacpp": "llamacpp"}.get(self.backend, "transformers")

    @property
    def model_name(self) -> str:
        """What ``make_backend().model`` will be (it goes into provenance and the synthetic ids)."""
        if self.backend == "openai":
            return str(self.model)
        if self.model:
            return self.model.rstrip("/").rsplit("/", 1)[-1]
        from synth.backends import DEFAULT_GGUF

        return DEFAULT_GGUF

    def api_key(self) -> str | None:
        """The key from ``api_key_env``, read where it is called (a worker), never stored in the recipe."""
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise RuntimeError(f"synth.api_key_env: environment variable {self.api_key_env} is not set on this worker")
        return key

    def make_backend(self):
        """An unloaded ``synth.backends`` Backend: ``OpenAIBackend`` for ``openai`` (reads the key from
        the environment now), ``TransformersBackend`` for ``local``, ``LlamaCppBackend`` for ``llamacpp``
        (a cloud .gguf is copied first)."""
        from synth.backends import make_backend

        if self.backend == "openai":
            return make_backend(
                self.url,
                served_model=self.model,
                api_key=self.api_key(),
                concurrency=self.concurrency,
                timeout_s=self.timeout_s,
                max_retries=self.max_retries,
            )
        model = self.model
        if model and "://" in model:
            from filters.model_files import local_copy

            model = str(local_copy(model))
        return make_backend(
            model,
            engine=self.backend_name,
            device=self.device,
            batch_size=self.batch_size,
            num_threads=self.num_threads,
            model_name=self.model_name,
        )

    def token_counter(self, backend: Any = None) -> tuple[str | None, Callable[[str], int] | None]:
        """What counts tokens in and out, and its label: ``tokenizer`` when set, else the in-process
        model's own (``backend.count_tokens``); (None, None) for a server without ``tokenizer`` (words
        only)."""
        if self.tokenizer:
            from transformers import AutoTokenizer

            from synth.backends import split_model_path

            directory, gguf_file = split_model_path(self.tokenizer)
            kwargs: dict[str, Any] = {"local_files_only": True}
            if gguf_file:
                kwargs["gguf_file"] = gguf_file
            tokenizer = AutoTokenizer.from_pretrained(directory, **kwargs)
            return Path(self.tokenizer).name, lambda text: len(
                tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])
        if backend is not None and self.backend != "openai" and hasattr(backend, "count_tokens"):
            return backend.model, backend.count_tokens
        return None, None
