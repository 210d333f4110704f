"""The llama.cpp backend, on the embedded SmolLM2 GGUF: the tokens it sends, per-prompt budgets, shared
prefixes prefilled once, seeds, JSON-schema grammars, and failures that stay one prompt's."""

from __future__ import annotations

import json
import pickle

import pytest

from synth import maga
from synth.backends import SamplingParams, make_backend
from synth.llamacpp import LlamaCppBackend, json_schema_grammar, prefix_parents, strict_json_gbnf

PROMPTS = [
    "Write one sentence about the sea.",
    "Name three colours.",
    "What is 2+2? Answer briefly.",
    "Explain in two sentences why the sky is blue.",
]


@pytest.fixture(scope="module")
def backend(llamacpp_lm) -> LlamaCppBackend:
    return LlamaCppBackend(llamacpp_lm, batch_size=4, num_threads=1).load()


def test_each_prompt_copies_the_longest_prefix_it_shares_with_an_earlier_one():
    assert prefix_parents([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3, 6, 7], [9, 9]]) == [(None, 0), (0, 2), (0, 3), (None, 0)]
    assert prefix_parents([[1, 2, 3], [1, 2, 3]]) == [(None, 0), (0, 2)]  # its last token is each one's own


def test_json_strings_cannot_hold_control_characters():
    loose = 'char ::= [^"\\\\] | "\\\\" (["\\\\/bfnrt])'
    assert strict_json_gbnf(loose) == 'char ::= [^"\\\\\\x7F\\x00-\\x1F] | "\\\\" (["\\\\/bfnrt])'
    with pytest.raises(ValueError, match="JSON grammar changed"):
        strict_json_gbnf('char ::= [a-z]')


def test_the_pairs_schema_becomes_a_strict_grammar(llamacpp_lm):
    grammar = json_schema_grammar(maga.pairs_schema(3, 200))
    assert "\\x00-\\x1F" in grammar and "root ::=" in grammar and "genre" in grammar and "audience" in grammar


def test_prompts_are_the_tokens_transformers_sends(backend, llamacpp_lm):
    pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(llamacpp_lm.parent, gguf_file=llamacpp_lm.name, local_files_only=True)
    prompt = "Rewrite this: the cat sat on the mat.\nÜber café – naïve “quotes”."
    ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                        tokenize=True)
    assert backend.encode(prompt) == list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)
    assert backend.count_tokens(prompt) == len(tokenizer(prompt, add_special_tokens=False)["input_ids"])


def test_each_prompt_stops_at_its_own_budget(backend):
    greedy = SamplingParams(max_tokens=24)
    budgets = [24, 5, 24, 3]
    together = backend.generate(PROMPTS, greedy, max_tokens=budgets)
    assert all(g.ok for g in together)
    assert [g.completion_tokens for g in together][1::2] == [5, 3]
    assert [g.finish_reason for g in together][1::2] == ["length", "length"]
    assert all(g.completion_tokens <= b for g, b in zip(together, budgets))
    assert [g.text for g in backend.generate(PROMPTS, greedy, max_tokens=budgets)] == [g.text for g in together]


def test_prompts_sharing_a_document_prefill_it_once(backend):
    """One document's rewrites share its tokens' cells; each still writes its own text, the same every time."""
    document = ("The albedo of a surface is the fraction of sunlight it reflects. Fresh snow reflects most of the "
                "light that falls on it, while oceans and forests absorb most of it. ") * 3
    prompts = [f"{document}\nRewrite the text above for {who}." for who in ("children", "engineers", "poets")]
    sampled = SamplingParams(max_tokens=24, temperature=0.7, seed=3)
    before = backend.prefilled_tokens, backend.prompt_tokens
    texts = [g.text for g in backend.generate(prompts, sampled)]
    prefilled, sent = backend.prefilled_tokens - before[0], backend.prompt_tokens - before[1]
    first = len(backend.encode(prompts[0]))
    assert sent == sum(len(backend.encode(p)) for p in prompts) and first <= prefilled < first + 30
    assert len(set(texts)) == 3 and texts == [g.text for g in backend.generate(prompts, sampled)]


def test_sampling_follows_the_seed(backend):
    sampled = SamplingParams(max_tokens=20, temperature=0.9, top_p=0.95, seed=7)
    first = [g.text for g in backend.generate(PROMPTS, sampled)]
    assert first == [g.text for g in backend.generate(PROMPTS, sampled)]
    other = [g.text for g in backend.generate(PROMPTS, SamplingParams(max_tokens=20, temperature=0.9, top_p=0.95,
                                                                      seed=8))]
    assert other != first


def test_a_json_schema_reply_always_parses(backend):
    schema = maga.pairs_schema(3, 120)  # fields short enough for any tokenization of them to fit 400 tokens
    replies = backend.generate(PROMPTS[:3], SamplingParams(max_tokens=400, temperature=0.7, seed=1,
                                                           json_schema=schema))
    bounds = json.loads(schema)["items"]["properties"]["genre"]
    for reply in replies:
        pairs = json.loads(reply.text)
        assert reply.finish_reason == "stop" and len(pairs) == 3
        for pair in pairs:
            assert set(pair) == {"genre", "audience"}
            assert all(bounds["minLength"] <= len(v) <= bounds["maxLength"] for v in pair.values())
            assert not any(c < " " for v in pair.values() for c in v)


def test_a_stop_string_ends_the_reply(backend):
    prompt = "Count from 1 to 30."
    [free] = backend.generate([prompt], SamplingParams(max_tokens=60))
    stop = free.text[len(free.text) // 2 :][:3]  # a string the greedy reply reaches half-way through
    [stopped] = backend.generate([prompt], SamplingParams(max_tokens=60, stop=(stop,)))
    assert stopped.finish_reason == "stop" and stopped.text == free.text[: free.text.find(stop)]
    assert stopped.completion_tokens < free.completion_tokens


def test_a_prompt_too_long_is_that_prompts_error_only(backend):
    long = "word " * (backend.context_length() + 10)
    results = backend.generate([long, PROMPTS[2]], SamplingParams(max_tokens=8))
    assert results[0].error.startswith("prompt too long") and not results[0].ok
    assert results[1].ok and results[1].text


def test_a_broken_model_file_is_an_error_not_a_crash(tmp_path):
    with pytest.raises(ValueError, match=r"runs \.gguf files"):
        LlamaCppBackend(tmp_path / "model.safetensors")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf")
    pytest.importorskip("llama_cpp")
    results = LlamaCppBackend(broken).generate(PROMPTS[:2], SamplingParams(max_tokens=4))
    assert [r.ok for r in results] == [False, False] and results[0].error.startswith("model load failed")
    with pytest.raises(Exception):
        LlamaCppBackend(broken).load()


def test_it_pickles_without_its_model_and_reloads_where_it_lands(backend, llamacpp_lm):
    copy = pickle.loads(pickle.dumps(backend))
    assert not copy.loaded and copy.model == llamacpp_lm.name
    greedy = SamplingParams(max_tokens=8)
    assert copy.generate(PROMPTS[:1], greedy)[0].text == backend.generate(PROMPTS[:1], greedy)[0].text


def test_make_backend_builds_it_for_the_llamacpp_engine(llamacpp_lm):
    built = make_backend(str(llamacpp_lm), engine="llamacpp", batch_size=2, num_threads=1, model_name="m")
    assert isinstance(built, LlamaCppBackend) and (built.name, built.model, built.batch_size) == ("llamacpp", "m", 2)
    with pytest.raises(ValueError, match="unknown in-process engine"):
        make_backend(str(llamacpp_lm), engine="vllm")


def test_maga_reformulates_a_document_through_it(backend):
    doc = {"id": "doc-1", "text": (
        "The albedo of a surface is the fraction of sunlight it reflects. Fresh snow reflects most of the "
        "light that falls on it, while oceans and forests absorb most of it. Because ice reflects sunlight, "
        "melting ice exposes darker water that absorbs more heat, which melts more ice.")}
    config = maga.MagaConfig(n_pairs=2, pairs_params=SamplingParams(max_tokens=200, temperature=0.7, seed=0),
                             rewrite_params=SamplingParams(max_tokens=120, temperature=0.7, seed=0),
                             catalogue="catalogue_v1", retry_rounds=0)
    [result] = maga.reformulate([doc], backend, config)
    assert result.pairs.error is None and len(result.pairs.pairs) == len(result.rewrites) == 2
    assert result.pairs.repair == "none"  # the grammar held the reply to the schema
    for rewrite in result.rewrites:
        assert rewrite.error is None and rewrite.provenance["backend"] == "llamacpp"
        assert 0 < rewrite.generated_tokens <= rewrite.max_tokens <= 120
