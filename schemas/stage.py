"""How a stage declares itself: once, with everything the rest of the house derives from it.

A ``StageSpec`` names the stage, where its settings live in the recipe and their pydantic model, the
scores it writes, what the dataset card says about it, and how it runs: a *document* stage scores
batches of documents inside ``Curate`` (``scorer``), a *corpus* stage is a Beam transform over the whole
collection (``transform``). The packages declare their stages (``filters/registry.py``,
``dedup/registry.py``); ``pipelines/registry.py`` lists them in the default order, and from that one list
come the schema's ``scores`` struct, recipe validation, the card's tables and the pipeline graph
(``docs/ARCHITECTURE.md`` walks through adding a stage).

The type lives in the floor so every package can declare stages without importing another; it holds no
stage itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

#: ``(stage's config, whole recipe) -> text``: the stage's line in the dataset card.
CardText = Callable[[Any, Any], str]


@dataclass(frozen=True)
class StageSpec:
    """One stage of the pipeline, declared once.

    ``name`` is the key of its scores (``scores.<name>.<score>``) and the ``<stage>`` of the drop reasons
    its rules produce (``<stage>:<rule>``). ``section`` is the dotted path of its settings in the recipe
    (``heuristics.c4``), ``config`` the pydantic model there, owned by the stage's package. Two specs may
    share a section (a model stage that scores per document and selects over the corpus).
    """

    name: str
    section: str
    config: type
    scores: tuple[str, ...] = ()
    #: its config -> its parsed rules (``filters.decide.Rule``); raises, naming the rule, on a bad one.
    rules: Callable[[Any], tuple] | None = None
    #: document stage: its config -> a ``filters.stages.Scoring`` (models loaded; ``filters.stages.bind``
    #: makes the runnable stage of it and the rules); runs inside Curate.
    scorer: Callable[[Any], Any] | None = None
    #: corpus stage: (its config, the run's ``Job``) -> a PTransform with outputs docs / dropped / errors.
    transform: Callable[[Any, Any], Any] | None = None
    #: row label and text of its line in the card's recipe table (None: no line there).
    card_label: str | None = None
    card: CardText | None = None
    #: whether a stage with ``rules`` in its config shows them in the card's rule table.
    rules_in_card: bool = False
    #: whether it changes the text it scores (C4's and RefinedWeb's line edits, PII): its settings decide
    #: what the later stages see, so ``pipelines.redecide`` cannot switch it on or off from stored scores.
    corrects_text: bool = False
    #: whether synthetic documents (the synthesis branch's rewrites) go through it too: the stages that
    #: judge any text (language, repetition and quality heuristics, PII), not those that judge a crawled
    #: page (URL) or rank it against the crawl (perplexity buckets, the quality model's threshold).
    checks_synthetic: bool = False

    def __post_init__(self) -> None:
        if (self.scorer is None) == (self.transform is None):
            raise ValueError(f"stage {self.name}: give exactly one of scorer (per document) or transform (corpus)")
        if (self.card_label is None) != (self.card is None):
            raise ValueError(f"stage {self.name}: a line in the card needs both card_label and card")
        if self.rules_in_card and self.rules is None:
            raise ValueError(f"stage {self.name}: rules_in_card needs rules")

    @property
    def per_document(self) -> bool:
        return self.scorer is not None

    def enabled(self, cfg: Any) -> bool:
        """Sections without an ``enabled`` switch (language, read, extract) always run."""
        return bool(getattr(cfg, "enabled", True))
