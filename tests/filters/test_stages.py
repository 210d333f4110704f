"""annotate → decide on real text: filter mode stops at the first drop, annotate-only runs everything."""

from __future__ import annotations

import pytest

from filters.config import LanguageConfig
from filters.registry import C4, FINEWEB, GOPHER_QUALITY, GOPHER_REPETITION, LANGUAGE, REFINEDWEB
from filters.stages import bind, run_stages
from pipelines.recipe import load_recipe

# Opening of the gold text of readability-test-pages/wikipedia (Apache-2.0 test page, CC BY-SA text).
ENGLISH = (
    "Mozilla is a free-software community, created in 1998 by members of Netscape. The Mozilla community uses, "
    "develops, spreads and supports Mozilla products, thereby promoting exclusively free software and open "
    "standards, with only minor exceptions. The community is supported institutionally by the Mozilla "
    "Foundation and its tax-paying subsidiary, the Mozilla Corporation.\n"
    "Mozilla produces many products such as the Firefox web browser, Thunderbird e-mail client, Firefox "
    "Mobile web browser, Firefox OS mobile operating system, Bugzilla bug tracking system and other projects. "
    "It has been described as having a goal to be a part of the web that the company believes should be "
    "available to all people."
)
GERMAN = (
    "Auch in diesem Jahr wollen wir Sie entführen. In eine andere Zeit, in die Zeit unserer Großväter und "
    "Urgroßväter. Damals war nicht alles besser, damals war vieles anders und das wollen wir Ihnen zeigen."
)


@pytest.fixture(scope="module")
def stages():
    recipe = load_recipe()
    heuristics = [GOPHER_REPETITION, GOPHER_QUALITY, C4, FINEWEB, REFINEDWEB]
    return [bind(LANGUAGE, LanguageConfig(keep=["en"], min_score=0.65))] + [
        bind(spec, recipe.section(spec.section)) for spec in heuristics]


def _doc(text: str) -> dict:
    return {"text": text, "scores": None, "language": None, "language_score": None}


def test_clean_english_prose_is_kept_with_every_score(stages):
    doc = _doc(ENGLISH)
    assert run_stages([doc], stages, annotate_only=False) == [None]
    assert doc["language"] == "en" and doc["language_score"] > 0.9
    assert all(doc["scores"][s.name] is not None for s in stages)


def test_filter_mode_stops_at_the_first_drop(stages):
    doc = _doc(GERMAN)
    assert run_stages([doc], stages, annotate_only=False) == ["language:not_kept"]
    assert doc["scores"]["language"] is not None and doc["scores"]["gopher_quality"] is None


def test_annotate_only_scores_every_stage_and_reports_the_first_reason(stages):
    doc = _doc(GERMAN)
    assert run_stages([doc], stages, annotate_only=True) == ["language:not_kept"]
    assert all(doc["scores"][s.name] is not None for s in stages)
    # The German text is also too short for Gopher: a later reason exists but the first one wins.
    assert doc["scores"]["gopher_quality"]["word_count"] < 50


def test_a_batch_gives_the_same_decisions_as_documents_one_by_one(stages):
    texts = [ENGLISH, GERMAN, ENGLISH[:200], ""]
    alone = [run_stages([_doc(t)], stages, annotate_only=False)[0] for t in texts]
    batch = [_doc(t) for t in texts]
    assert run_stages(batch, stages, annotate_only=False) == alone
    assert alone[0] is None and alone[1] == "language:not_kept"
