"""One registry: the schema, the recipe, the card and the graph all follow the list of declared stages.

Each test fails when one of them disagrees with ``pipelines.registry.STAGES``: a stage whose scorer
writes other scores than it declares, a section the recipe lacks, a card row missing or out of order,
a rule the recipe accepts against scores its stage does not write, a graph in another order.
"""

from __future__ import annotations

import apache_beam as beam
import pytest
from pydantic import BaseModel

from filters.stages import bind, run_stages
from pipelines import card
from pipelines.pipeline import Job
from pipelines.recipe import Recipe, RecipeError, load_recipe
from pipelines.registry import (
    DOCUMENT_SCHEMA,
    SCORE_FIELDS,
    STAGES,
    SYNTHETIC_SCHEMA,
    enabled_stages,
    label,
    section,
    stage,
    stage_transforms,
    synthetic_checks,
)
from schemas import SCHEMA_VERSION

#: The hash of the shipped default recipe, changed on purpose only: 63b8e293c36e1c52 until the stages of
#: issue 13 (URL filter, decontamination section, PII step) joined it, 1d83af6b3da6a45f until the tokenize
#: section did (issue 14), d7dd257ce8e79c16 until it got ``eos`` (token shards, issue 14), c075cce840337b26
#: until extraction took title and date the light way (issue 15), 387c89406ae51efb until perplexity named its
#: SentencePiece model (CCNet's pair, issue 16), 5654e1fbe56cddae until quality got a backend and an encoder
#: (issue 16), 82786f688286bd17 until output got its ``report`` switch (issue 17), 0bee9e034b5cb2c4 until
#: synth got its pair catalogue, retry rounds, rewrite budget and smoke-test excerpt size (issue 18);
#: moving the sections into their packages (issue 12) kept it.
DEFAULT_RECIPE_HASH = "e443d54bf9270adc"

#: The ``scores`` struct of each schema version, as ``stage.score`` in column order: a stage that adds,
#: drops or moves a score changes the Parquet schema, so it bumps ``SCHEMA_VERSION`` and adds a line here.
SCORES_OF_SCHEMA = {
    "1.1.0": (
        "language.score gopher_repetition.dup_line_frac gopher_repetition.dup_para_frac "
        "gopher_repetition.dup_line_char_frac gopher_repetition.dup_para_char_frac "
        "gopher_repetition.top_2gram_char_frac gopher_repetition.top_3gram_char_frac "
        "gopher_repetition.top_4gram_char_frac gopher_repetition.dup_5gram_char_frac "
        "gopher_repetition.dup_6gram_char_frac gopher_repetition.dup_7gram_char_frac "
        "gopher_repetition.dup_8gram_char_frac gopher_repetition.dup_9gram_char_frac "
        "gopher_repetition.dup_10gram_char_frac gopher_quality.word_count gopher_quality.mean_word_length "
        "gopher_quality.hash_word_ratio gopher_quality.ellipsis_word_ratio gopher_quality.bullet_line_ratio "
        "gopher_quality.ellipsis_line_ratio gopher_quality.alpha_word_ratio gopher_quality.stop_word_count "
        "c4.lines_removed_frac c4.words_removed_frac c4.sentence_count c4.lorem_ipsum c4.curly_bracket "
        "c4.bad_words fineweb.line_punct_ratio fineweb.dup_line_char_frac fineweb.short_line_ratio "
        "fineweb.newline_word_ratio refinedweb.removed_word_frac refinedweb.lines_removed quality.score "
        "perplexity.perplexity"
    ),
}
SCORES_OF_SCHEMA["1.2.0"] = SCORES_OF_SCHEMA["1.1.0"] + " pii.emails pii.ips pii.phones"
SCORES_OF_SCHEMA["1.3.0"] = ("url.blocklist_domain url.blocklist_url url.banned_words url.soft_banned_words "
                             "url.banned_subwords url.excluded_domain "
                             + SCORES_OF_SCHEMA["1.2.0"].replace(" quality.score",
                                                                 " decontamination.ngrams decontamination.set quality.score"))
SCORES_OF_SCHEMA["1.4.0"] = SCORES_OF_SCHEMA["1.3.0"]  # 1.4 added a column (token_count), no score

_NOT_STAGES = {"name", "description", "license", "max_error_rate", "synth", "output"}


def _stage_sections(model: type[BaseModel], prefix: str = "") -> set[str]:
    """The recipe's stage sections: a section whose fields are all sections is a group (heuristics, dedup)."""
    found = set()
    for name, field in model.model_fields.items():
        if not prefix and name in _NOT_STAGES:
            continue
        typ = field.annotation
        members = getattr(typ, "model_fields", {})
        if members and all(isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)
                           for f in members.values()):
            found |= _stage_sections(typ, f"{prefix}{name}.")
        else:
            found.add(prefix + name)
    return found


def test_names_are_unique_and_every_section_holds_its_declared_config():
    names = [spec.name for spec in STAGES]
    assert len(names) == len(set(names))
    recipe = load_recipe()
    for spec in STAGES:
        assert isinstance(section(recipe, spec.section), spec.config), spec.name
        assert stage(spec.name) is spec
    with pytest.raises(KeyError, match="stages: read, url, extract"):
        stage("gopher")


def test_every_stage_section_of_the_recipe_belongs_to_a_stage():
    assert _stage_sections(Recipe) == {spec.section for spec in STAGES}


def test_the_default_recipe_hash_is_unchanged():
    assert load_recipe().hash == DEFAULT_RECIPE_HASH


def test_the_scores_struct_is_the_one_of_its_schema_version():
    layout = " ".join(f"{stage}.{score}" for stage, scores in SCORE_FIELDS.items() for score in scores)
    assert layout == SCORES_OF_SCHEMA[SCHEMA_VERSION]
    assert DOCUMENT_SCHEMA.metadata[b"schema_version"].decode() == SCHEMA_VERSION


def test_the_schemas_scores_are_the_declared_scores_in_stage_order():
    scores = DOCUMENT_SCHEMA.field("scores").type
    assert [f.name for f in scores] == [spec.name for spec in STAGES if spec.scores]
    for spec in STAGES:
        if spec.scores:
            assert [f.name for f in scores.field(spec.name).type] == list(spec.scores)
    assert SYNTHETIC_SCHEMA.field("scores").type == scores
    assert SCORE_FIELDS == {spec.name: spec.scores for spec in STAGES if spec.scores}


def test_every_document_stage_writes_exactly_its_declared_scores(mini_jsonl_rows):
    recipe = load_recipe()
    stages = [bind(spec, section(recipe, spec.section)) for spec in STAGES if spec.per_document]
    docs = [{"text": row["text"], "url": row.get("url") or "https://example.com/page", "scores": None,
             "language": None, "language_score": None} for row in mini_jsonl_rows[:5]]
    run_stages(docs, stages, annotate_only=True)  # every stage scores every document
    for doc in docs:
        for spec in STAGES:
            if spec.per_document:
                assert set(doc["scores"][spec.name]) == set(spec.scores), spec.name


@pytest.mark.parametrize("spec", [s for s in STAGES if s.rules is not None and s.name != "language"],
                         ids=lambda s: s.name)
def test_a_rule_over_a_score_its_stage_does_not_write_is_refused_naming_the_section(spec):
    with pytest.raises(RecipeError, match=rf"^recipe \S+: {spec.section}\.rules\.bogus: unknown score 'no_such_score'"):
        load_recipe(overrides={f"{spec.section}.rules": {"bogus": "no_such_score >= 1"}})
    other = next(s for s in STAGES if s.scores and not set(s.scores) & set(spec.scores))
    with pytest.raises(RecipeError, match=rf"^recipe \S+: {spec.section}\.rules\.borrowed: .*; known scores: "
                                          rf"{', '.join(spec.scores)}$"):
        load_recipe(overrides={f"{spec.section}.rules": {"borrowed": f"{other.scores[0]} >= 1"}})


def test_the_card_tables_list_the_stages_in_order():
    recipe = load_recipe(overrides={"heuristics.fineweb.enabled": False, "dedup.near.enabled": False})
    labels = [row.split(" | ")[0].lstrip("| ") for row in card.recipe_rows(recipe)]
    assert labels == [spec.card_label for spec in STAGES if spec.card_label]
    assert card.recipe_rows(recipe)[labels.index("near dedup")] == "| near dedup | off |"
    rule_stages = [row.split(" | ")[0].lstrip("| ") for row in card.rule_rows(recipe)]
    assert rule_stages == [spec.name for spec in STAGES if spec.rules_in_card and spec.name != "fineweb"]
    assert "`word_count >= 50` (min_words)" in card.rule_rows(recipe)[rule_stages.index("gopher_quality")]


def _job(recipe) -> Job:
    return Job(inputs=["x.warc.gz"], output="out", recipe=recipe)


def test_the_graph_is_the_enabled_stages_in_order_with_document_stages_batched():
    recipe = load_recipe()
    steps = list(stage_transforms(_job(recipe)))
    corpus = [label(spec) for spec, _ in enabled_stages(recipe) if not spec.per_document]
    assert [name for name, _ in steps] == (corpus[:1] + ["Curate(url)"] + corpus[1:2] + ["Curate"] + corpus[2:-1]
                                           + ["Curate(pii)"] + corpus[-1:])
    assert [name for name, _ in steps] == ["Read", "Curate(url)", "Extract", "Curate", "ExactDedup",
                                           "PerplexitySelect", "NearDedup", "Curate(pii)", "Tokenize"]
    curate = steps[3][1]
    assert [spec.name for spec, _ in curate.stages] == [spec.name for spec in STAGES if spec.per_document
                                                        and spec.name not in ("url", "decontamination", "pii")]
    assert [spec.name for spec, _ in steps[1][1].stages] == ["url"]
    assert [spec.name for spec, _ in steps[-2][1].stages] == ["pii"]
    assert all(isinstance(transform, beam.PTransform) for _, transform in steps)


def test_document_stages_after_a_corpus_stage_are_a_second_batch():
    order = (stage("read"), stage("extract"), stage("language"), stage("exact_dedup"), stage("gopher_quality"),
             stage("c4"), stage("near_dedup"))
    steps = list(stage_transforms(_job(load_recipe()), order))
    assert [name for name, _ in steps] == ["Read", "Extract", "Curate", "ExactDedup", "Curate(gopher_quality+c4)",
                                           "NearDedup"]
    assert [spec.name for spec, _ in steps[4][1].stages] == ["gopher_quality", "c4"]


def test_a_disabled_stage_leaves_the_graph_and_the_batch():
    recipe = load_recipe(overrides={"dedup.exact.enabled": False, "perplexity.enabled": False,
                                    "heuristics.c4.enabled": False})
    steps = dict(stage_transforms(_job(recipe)))
    assert list(steps) == ["Read", "Curate(url)", "Extract", "Curate", "NearDedup", "Curate(pii)", "Tokenize"]
    assert "c4" not in [spec.name for spec, _ in steps["Curate"].stages]


def test_rewrites_go_through_the_stages_that_judge_any_text():
    before, after = synthetic_checks(load_recipe())
    names = [spec.name for spec, _ in before]
    heuristics = [spec.name for spec in STAGES if spec.section.startswith("heuristics.")]
    assert names == ["language", *heuristics]  # in stage order, every heuristic (a new one too)
    assert [spec.name for spec, _ in after] == ["pii"]
    assert not {"url", "decontamination", "quality", "perplexity"} & set(names)
    before, _ = synthetic_checks(load_recipe(overrides={"heuristics.c4.enabled": False}))
    assert "c4" not in [spec.name for spec, _ in before]
