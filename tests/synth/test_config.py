"""The recipe's synth section: validation that names what is wrong, selection semantics, rule overrides,
and the MagaConfig / backend it turns into."""

from __future__ import annotations

import math
import pickle

import pytest
from pydantic import ValidationError

from synth import maga
from synth.backends import DEFAULT_GGUF, OpenAIBackend, TransformersBackend
from synth.config import SynthConfig, merge_rules, parse_selection
from synth.maga import pairs_schema


def _error(**settings) -> str:
    with pytest.raises(ValidationError) as info:
        SynthConfig(**settings)
    return str(info.value)


def test_defaults_are_maga_defaults_and_off():
    config = SynthConfig()
    assert not config.enabled and config.backend == "local" and config.model is None
    ours, theirs = config.to_maga_config(), maga.MagaConfig()
    assert ours.rules == theirs.rules and ours.n_pairs == theirs.n_pairs == 5
    assert ours.pairs_params == theirs.pairs_params and ours.rewrite_params == theirs.rewrite_params
    assert ours.max_source_chars == theirs.max_source_chars and ours.min_pair_words == theirs.min_pair_words
    assert str(config.selection()) == "quality.score >= 0.5"


@pytest.mark.parametrize(
    "select, named",
    [
        ("quality.score >> 0.5", "cannot parse 'score >> 0.5'"),
        ("score >= 0.5", "write '<stage>.<score> <op> <number>'"),
        ("perplexity.perplexity <= lots", "cannot parse"),
    ],
)
def test_a_malformed_select_rule_is_an_error_that_names_it(select, named):
    message = _error(select=select)
    assert "select" in message and named in message


@pytest.mark.parametrize(
    "select, named",
    [
        ("qualty.score >= 0.5", "unknown stage 'qualty'"),
        ("quality.scor >= 0.5", "unknown score 'scor' for stage 'quality'; known scores: score"),
    ],
)
def test_a_select_rule_over_a_score_no_stage_writes_is_a_recipe_error(select, named):
    # Which stages write which scores is the registry's knowledge (pipelines/registry.py): the recipe
    # checks the selection against it.
    from pipelines.recipe import RecipeError, load_recipe

    with pytest.raises(RecipeError, match=r"^recipe \S+: synth\.select: ") as info:
        load_recipe(overrides={"synth.select": select})
    assert named in str(info.value)


def test_selection_needs_the_score_to_be_present():
    rule = parse_selection("quality.score >= 0.5")
    assert rule.selects({"scores": {"quality": {"score": 0.5}}})
    assert not rule.selects({"scores": {"quality": {"score": 0.49}}})
    # Unlike a filter rule, a missing or NaN score does not pass: the quality stage may be off.
    assert not rule.selects({"scores": {"quality": None}}) and not rule.selects({"scores": None})
    assert not rule.selects({"scores": {"quality": {"score": math.nan}}}) and not rule.selects({})
    assert parse_selection("gopher_quality.word_count < 100").selects(
        {"scores": {"gopher_quality": {"word_count": 99.0}}}
    )
    assert SynthConfig(select=None).selection() is None and SynthConfig(select="").selection() is None


def test_rule_overrides_replace_one_check_in_place():
    merged = merge_rules({"length_ratio": "length_ratio <= 2", "truncated": [], "extra": "words >= 20"})
    checks = [check for check, _ in merged]
    assert "truncated" not in checks and checks[-1] == "extra"
    assert [r for c, r in merged if c == "length_ratio"] == ["length_ratio <= 2"]
    assert checks.index("length_ratio") == 3  # where the defaults had it: after empty, refusal, echo
    rules = SynthConfig(rules={"keyword_coverage": ["keyword_coverage >= 0.5"]}).to_maga_config().rules
    assert [str(r) for r in rules if r.reason == "synth:keyword_coverage"] == ["keyword_coverage >= 0.5"]
    assert len(rules) == len(maga.DEFAULT_RULES)
    message = _error(rules={"coverage": "coverage >= 0.5"})
    assert "synth.rules.coverage: unknown score 'coverage'" in message


def test_backend_settings_are_checked_together():
    assert "synth.url: the openai backend needs" in _error(backend="openai", model="m")
    assert "synth.model: the openai backend needs" in _error(backend="openai", url="http://127.0.0.1:8000/v1")
    assert "synth.url is for backend: openai" in _error(url="http://127.0.0.1:8000/v1")
    assert "a cloud path must be a .gguf file" in _error(model="gs://bucket/models/qwen")
    assert "never the key itself" in _error(api_key_env="sk-live-1234")
    assert "no user:password@" in _error(backend="openai", model="m", url="https://me:sk-live@vllm.example/v1")
    assert SynthConfig(backend="openai", model="m", url="http://10.0.0.5:8000/v1?x=a@b").url  # only the host part
    assert "extra_forbidden" in _error(temprature=0.5)
    assert "greater than or equal to 1" in _error(batch_size=0)
    assert "the llamacpp backend runs .gguf files" in _error(backend="llamacpp", model="/models/My-LM/")
    assert "synth.url is for backend: openai; the llamacpp backend" in _error(backend="llamacpp", url="http://h/v1")


def test_make_backend_builds_what_the_config_says_without_loading(monkeypatch):
    local = SynthConfig(model="/models/My-LM/", num_threads=1, batch_size=3).make_backend()
    assert isinstance(local, TransformersBackend) and not local.loaded
    assert local.model == "My-LM" == SynthConfig(model="/models/My-LM/").model_name and local.batch_size == 3
    assert SynthConfig().model_name == DEFAULT_GGUF  # known without the model installed

    monkeypatch.setenv("TEST_SYNTH_KEY", "secret-value")
    config = SynthConfig(
        backend="openai",
        url="http://127.0.0.1:8000/v1",
        model="Qwen/Qwen2.5-7B-Instruct",
        api_key_env="TEST_SYNTH_KEY",
        concurrency=16,
        timeout_s=30,
        max_retries=1,
    )
    remote = config.make_backend()
    assert isinstance(remote, OpenAIBackend) and remote.url == "http://127.0.0.1:8000/v1/chat/completions"
    assert (remote.model, remote.concurrency, remote.timeout_s, remote.max_retries) == (config.model, 16, 30, 1)
    assert remote._api_key == "secret-value" and "secret-value" not in config.model_dump_json()
    assert (remote.name, remote.model) == (config.backend_name, config.model_name)
    monkeypatch.delenv("TEST_SYNTH_KEY")
    with pytest.raises(RuntimeError, match="TEST_SYNTH_KEY is not set"):
        config.make_backend()


def test_the_llamacpp_backend_is_built_without_loading(llamacpp_lm):
    config = SynthConfig(backend="llamacpp", model=str(llamacpp_lm), num_threads=1, batch_size=3, device="cpu")
    backend = config.make_backend()
    assert type(backend).__name__ == "LlamaCppBackend" and not backend.loaded
    assert (backend.name, backend.model) == (config.backend_name, config.model_name) == ("llamacpp", llamacpp_lm.name)
    assert (backend.num_threads, backend.batch_size) == (1, 3)
    assert SynthConfig(backend="llamacpp").make_backend().model == DEFAULT_GGUF
    label, count = config.token_counter(backend)  # tokens in and out counted by the model's own tokenizer
    assert label == llamacpp_lm.name and count("one two three") == backend.count_tokens("one two three") > 0


def test_the_default_backend_is_the_embedded_model(local_lm):
    default = SynthConfig().make_backend()
    assert not default.loaded
    assert default.model == DEFAULT_GGUF == SynthConfig().model_name and default.name == SynthConfig().backend_name


def test_sampling_settings_reach_both_stages_and_annotate_only_judges_everything():
    config = SynthConfig(temperature=0.2, top_p=0.5, seed=7, pairs_max_tokens=64, rewrite_max_tokens=99, judge=True)
    maga_config = config.to_maga_config()
    assert maga_config.pairs_params.as_dict() == {
        "max_tokens": 64,
        "temperature": 0.2,
        "top_p": 0.5,
        "seed": 7,
        "stop": [],
        "json_schema": pairs_schema(config.n_pairs, 64),  # stage (a) is structured; the rewrites are free text
    }
    assert "json_schema" not in maga_config.rewrite_params.as_dict()
    assert maga_config.rewrite_params.max_tokens == 99 and maga_config.judge and not maga_config.judge_all
    assert config.to_maga_config(annotate_only=True).judge_all
    assert not SynthConfig().to_maga_config(annotate_only=True).judge_all  # no judge, nothing to judge


def test_config_is_frozen_and_pickles_for_the_workers():
    config = SynthConfig(enabled=True, select="perplexity.perplexity <= 500", max_documents=10)
    with pytest.raises(ValidationError):
        config.enabled = False
    clone = pickle.loads(pickle.dumps(config))
    assert clone == config and str(clone.selection()) == "perplexity.perplexity <= 500"
