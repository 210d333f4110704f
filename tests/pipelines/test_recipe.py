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


def test_a_recipe_with_a_base_gives_only_what_differs(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text("base: default\nname: child\nlanguage: {min_score: 0.8}\n"
                     "heuristics: {c4: {rules: {min_sentences: sentence_count >= 5}}}\n", encoding="utf-8")
    recipe, default = load_recipe(child), load_recipe()
    assert recipe.name == "child" and recipe.language.min_score == 0.8 and recipe.language.keep == ["en"]
    # a mapping merges key by key, rules too: one threshold changes, the other rules and settings stay
    assert recipe.heuristics.c4.rules == {**default.heuristics.c4.rules, "min_sentences": "sentence_count >= 5"}
    assert recipe.heuristics.c4.options == default.heuristics.c4.options
    assert recipe.heuristics.gopher_quality == default.heuristics.gopher_quality
    grandchild = tmp_path / "grandchild.yaml"
    grandchild.write_text("base: child.yaml\nname: grandchild\n", encoding="utf-8")
    assert load_recipe(grandchild).language.min_score == 0.8
    (tmp_path / "orphan.yaml").write_text("base: missing.yaml\n", encoding="utf-8")
    with pytest.raises(RecipeError, match="base 'missing.yaml'"):
        load_recipe(tmp_path / "orphan.yaml")
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\n", encoding="utf-8")
    with pytest.raises(RecipeError, match="already based on"):
        load_recipe(tmp_path / "loop.yaml")


def test_the_decontamination_example_is_the_default_recipe_plus_decontamination():
    from pipelines.recipe import DEFAULT_RECIPE

    example = load_recipe(DEFAULT_RECIPE.parent / "decontaminate.yaml").model_dump()
    default = load_recipe().model_dump()
    assert example.pop("decontamination")["enabled"] and not default.pop("decontamination")["enabled"]
    for key in ("name", "description"):
        example.pop(key), default.pop(key)
    assert example == default


def test_decontamination_needs_its_files():
    with pytest.raises(RecipeError, match=r"decontamination: .*enabled without files"):
        load_recipe(overrides={"decontamination.enabled": True})
