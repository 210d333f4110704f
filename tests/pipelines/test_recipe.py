from __future__ import annotations

import pytest

from pipelines.recipe import RecipeError, load_recipe


def test_default_recipe_has_the_published_thresholds():
    recipe = load_recipe()
    assert recipe.language.keep == ["en"] and recipe.language.min_score == 0.65
    rules = {r.name: str(r) for r in recipe.rules("gopher_quality")}
    assert rules["min_words"] == "word_count >= 50" and rules["max_words"] == "word_count <= 100000"
    assert rules["stop_words"] == "stop_word_count >= 2"
    rep = {r.name: r.threshold for r in recipe.rules("gopher_repetition")}
    assert rep["dup_10gram"] == 0.10 and rep["top_2gram"] == 0.20 and rep["dup_lines"] == 0.30
    c4 = recipe.heuristics.c4
    assert c4.options["min_words_per_line"] == 5 and c4.options["drop_no_terminal_punct"] is False
    assert {r.name: r.threshold for r in recipe.rules("c4")}["min_sentences"] == 3
    fw = {r.name: (r.op, r.threshold) for r in recipe.rules("fineweb")}
    assert fw == {"line_punct": (">", 0.12), "dup_line_chars": ("<", 0.1), "short_lines": ("<", 0.67)}
    assert {r.name: r.threshold for r in recipe.rules("refinedweb")}["removed_words"] == 0.05


def test_hash_is_stable_and_changes_with_content():
    assert load_recipe().hash == load_recipe().hash
    assert load_recipe(overrides={"language.min_score": 0.8}).hash != load_recipe().hash


def test_overrides_win(tmp_path):
    recipe = load_recipe(overrides={"extract.engine": "resiliparse", "language.keep": ["de", "fr"]})
    assert recipe.extract.engine == "resiliparse" and recipe.language.keep == ["de", "fr"]


def test_misspelt_key_is_named(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("extract:\n  engin: resiliparse\n")
    with pytest.raises(RecipeError, match=r"extract\.engin.*[Ee]xtra"):
        load_recipe(path)


def test_bad_rule_is_named(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("heuristics:\n  fineweb:\n    rules:\n      x: line_punct_ratio >> 3\n")
    with pytest.raises(RecipeError, match=r"^recipe \S+r\.yaml: heuristics\.fineweb\.rules\.x: cannot parse"):
        load_recipe(path)


def test_unsafe_yaml_is_refused(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(path)


def test_resolved_recipe_round_trips(tmp_path):
    recipe = load_recipe(overrides={"output.formats": ["parquet", "arrow"]})
    path = tmp_path / "resolved.yaml"
    path.write_text(recipe.to_yaml())
    assert load_recipe(path) == recipe and load_recipe(path).hash == recipe.hash
