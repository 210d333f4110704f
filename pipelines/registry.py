"""Every stage of a run, in the default order, and what derives from that one list.

Each package declares its own stages (``filters/registry.py``, ``dedup/registry.py``; pipelines' own two,
``read`` and ``extract``, are declared below), and this module puts them in order. From ``STAGES`` come:

* the schema's ``scores`` struct (``SCORE_FIELDS``, ``DOCUMENT_SCHEMA``, ``SYNTHETIC_SCHEMA``);
* recipe validation: every rule parsed against its stage's scores, every selection against all scores
  (``check_recipe``, called by ``pipelines/recipe.py``);
* the dataset card's recipe and rule tables (``pipelines/card.py``);
* the pipeline graph: the enabled stages in this order, consecutive per-document stages batched into one
  ``Curate`` (``stage_transforms``, called by ``pipelines/pipeline.py``).

``tests/pipelines/test_registry.py`` fails when any of these disagrees with the list.
"""

from __future__ import annotations

from typing import Any, Iterator

from dedup.registry import EXACT_DEDUP, NEAR_DEDUP
from filters.registry import DOCUMENT_STAGES, PERPLEXITY_SELECT, PII, URL
from pipelines.extract import ExtractConfig
from pipelines.readers import ReadConfig
from pipelines.tokenize import TokenizeConfig
from schemas import document_schema, synthetic_schema
from schemas.stage import StageSpec


def _read(cfg: ReadConfig, job: Any):
    from pipelines.transforms import Read

    return Read(job.input_format, job.columns, cfg, job.annotate_only, job.spread_records, job.progress)


def _extract(cfg: ExtractConfig, job: Any):
    from pipelines.transforms import ExtractText

    return ExtractText(cfg, job.annotate_only, job.progress)


def _tokenize(cfg: TokenizeConfig, job: Any):
    from pipelines.transforms import Tokenize

    return Tokenize(cfg, job.annotate_only)


def _tokenize_card(cfg: TokenizeConfig, recipe: Any) -> str:
    return (f"`token_count` of every kept document (annotate-only: every document with text) under "
            f"`{cfg.tokenizer}` (text only: no BOS or EOS)")


def _extract_card(cfg: ExtractConfig, recipe: Any) -> str:
    settings = "" if cfg.engine != "trafilatura" else f"{', fast' if cfg.fast else ''}, title/date: {cfg.metadata}"
    return f"{cfg.engine} (timeout {cfg.timeout_s:g} s, max {cfg.max_html_bytes:,} bytes of HTML{settings})"


READ = StageSpec(name="read", section="read", config=ReadConfig, transform=_read)
EXTRACT = StageSpec(name="extract", section="extract", config=ExtractConfig, transform=_extract,
                    card_label="extraction", card=_extract_card)
#: The last stage: the tokens a trainer will see of the final text (after PII), counted per kept document.
TOKENIZE = StageSpec(name="tokenize", section="tokenize", config=TokenizeConfig, transform=_tokenize,
                     card_label="tokens", card=_tokenize_card)

#: The default order. Exact copies go before the perplexity cut-offs (CCNet's order: the quantiles
#: describe distinct texts, and copies are combined away before anything waits for the whole corpus).
STAGES: tuple[StageSpec, ...] = (
    READ,
    URL,  # RefinedWeb's and FineWeb's first step: only the URL is read, so a page it drops is never parsed
    EXTRACT,
    *DOCUMENT_STAGES,  # language → Gopher → C4 → FineWeb → RefinedWeb → decontamination → quality → perplexity
    EXACT_DEDUP,
    PERPLEXITY_SELECT,
    NEAR_DEDUP,
    PII,  # FineWeb's order: personal data replaced last, in the text that is written (a second Curate)
    TOKENIZE,
)

#: Every score a stage can write, by stage: the ``scores`` struct of both schemas.
SCORE_FIELDS: dict[str, tuple[str, ...]] = {spec.name: spec.scores for spec in STAGES if spec.scores}
DOCUMENT_SCHEMA = document_schema(SCORE_FIELDS)
SYNTHETIC_SCHEMA = synthetic_schema(SCORE_FIELDS)


def stage(name: str) -> StageSpec:
    """The stage called ``name``; an unknown name lists the known ones."""
    for spec in STAGES:
        if spec.name == name:
            return spec
    raise KeyError(f"no stage {name!r}; stages: {', '.join(s.name for s in STAGES)}")


def section(recipe: Any, path: str) -> Any:
    """The recipe section at a dotted ``path`` (``dedup.near``)."""
    node = recipe
    for part in path.split("."):
        node = getattr(node, part)
    return node


def enabled_stages(recipe: Any, stages: tuple[StageSpec, ...] = STAGES) -> list[tuple[StageSpec, Any]]:
    """(stage, its section) for every stage the recipe turns on, in the order of ``stages``."""
    pairs = [(spec, section(recipe, spec.section)) for spec in stages]
    return [(spec, cfg) for spec, cfg in pairs if spec.enabled(cfg)]


def label(spec: StageSpec) -> str:
    """The Beam label of a corpus stage: ``near_dedup`` → ``NearDedup``."""
    return "".join(part.capitalize() for part in spec.name.split("_"))


def stage_transforms(job: Any, stages: tuple[StageSpec, ...] = STAGES) -> Iterator[tuple[str, Any]]:
    """(label, PTransform) of each step of the graph: the enabled stages in order, runs of consecutive
    per-document stages as one ``Curate`` (one batch, one pass over the documents). The run of
    per-document stages that follows extraction is ``Curate``; any other run (the URL filter before
    extraction, a text correction after dedup) is named after its stages: ``Curate(url)``, ``Curate(pii)``."""
    from filters.transforms import Curate

    batch: list[tuple[StageSpec, Any]] = []
    extracted = named_main = False

    def curate() -> tuple[str, Any]:
        nonlocal batch, named_main
        main = extracted and not named_main
        named_main = named_main or main
        name = "Curate" if main else f"Curate({'+'.join(spec.name for spec, _ in batch)})"
        step = (name, Curate(tuple(batch), job.annotate_only))
        batch = []
        return step

    for spec, cfg in enabled_stages(job.recipe, stages):
        if spec.per_document:
            batch.append((spec, cfg))
            continue
        if batch:
            yield curate()
        extracted = extracted or spec.name == EXTRACT.name
        yield label(spec), spec.transform(cfg, job)
    if batch:
        yield curate()


def synthetic_checks(recipe: Any, stages: tuple[StageSpec, ...] = STAGES) -> tuple[list, list]:
    """The enabled stages that check synthetic documents too (``StageSpec.checks_synthetic``), as
    ``(StageSpec, section)`` pairs split where the corpus deduplicates: (before dedup: language and
    heuristics; after: PII, which corrects the text that is written)."""
    names = [spec.name for spec in stages]
    cut = names.index(EXACT_DEDUP.name)
    enabled = [(spec, cfg) for spec, cfg in enabled_stages(recipe, stages) if spec.checks_synthetic]
    return ([(s, c) for s, c in enabled if names.index(s.name) < cut],
            [(s, c) for s, c in enabled if names.index(s.name) > cut])


def check_recipe(recipe: Any) -> None:
    """Parse every stage's rules against its scores, and the synthesis selection against all scores; token
    shards need the tokenize stage; raises ValueError naming the section and the rule."""
    for spec in STAGES:
        if spec.rules is None:
            continue
        try:
            spec.rules(section(recipe, spec.section))
        except ValueError as err:  # "<stage>.rules.<rule>: ..." → "<section>.rules.<rule>: ..."
            message = str(err)
            if message.startswith(spec.name + "."):
                message = spec.section + message[len(spec.name):]
            raise ValueError(message) from None
    if recipe.output.token_formats and not recipe.tokenize.enabled:
        raise ValueError(f"output.formats: {', '.join(recipe.output.token_formats)} need tokenize.enabled: true")
    if recipe.synth.select:
        from synth.config import parse_selection

        try:
            parse_selection(recipe.synth.select, SCORE_FIELDS)
        except ValueError as err:
            raise ValueError(f"synth.select: {err}") from None
