"""MAGA's pure logic: prompts, JSON repair, pairs, checks, rules, provenance, and both stages driven by a
scripted backend (no model here; real generation is in test_backends.py)."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synth import maga
from synth.backends import Backend, Generation, SamplingParams
from synth.maga import MagaConfig, Pair

SOURCE = (
    "Photosynthesis is the process by which green plants turn light into chemical energy. "
    "Chlorophyll in the leaves absorbs sunlight, and the plant combines carbon dioxide from the air "
    "with water from the soil to make glucose. Oxygen is released as a by-product. Farmers care about "
    "photosynthesis because crop yields depend on how efficiently leaves capture light, and researchers "
    "are breeding wheat and rice varieties whose chlorophyll captures more sunlight."
)
GOOD_REWRITE = (
    "Dear students, today we look at how a plant feeds itself. Inside each leaf, chlorophyll catches "
    "sunlight. With that energy the plant joins carbon dioxide taken from the air and water drawn from "
    "the soil, and builds glucose, its fuel; oxygen escapes as a by-product. This is photosynthesis, the "
    "process that turns light into chemical energy in green plants. It matters to farmers: crop yields "
    "rise when leaves capture light efficiently, so researchers breed wheat and rice whose chlorophyll "
    "captures more of it."
)
PAIRS = [
    {
        "genre": "A friendly letter to a class. It explains one idea step by step.",
        "audience": "Pupils aged 12. They are curious but know no chemistry.",
    },
    {
        "genre": "A farming trade-magazine column. Practical and short.",
        "audience": "Farmers in their fifties. They doubt that lab science helps them.",
    },
    {
        "genre": "A quiz with answers. Each question tests one fact.",
        "audience": "Adult learners preparing an exam. They want to check what they know.",
    },
]


class Scripted:
    """A Backend whose answers are functions of the prompt; records every call."""

    name = "scripted"
    model = "scripted-lm"

    def __init__(self, pairs=None, rewrite=None, judge=None):
        self.pairs = pairs or (lambda prompt, n: Generation(text=json.dumps(PAIRS), finish_reason="stop"))
        self.rewrite = rewrite or (lambda prompt: Generation(text=GOOD_REWRITE, finish_reason="stop"))
        self.judge = judge or (lambda prompt: Generation(text="Score: 4", finish_reason="stop"))
        self.calls: list[tuple[list[str], SamplingParams]] = []
        self.pair_calls = 0

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        self.calls.append((list(prompts), params))
        out = []
        for p in prompts:
            if p.startswith("You are grading"):
                out.append(self.judge(p))
            elif "Rewrite the text above" in p or p.startswith("Rewrite the document"):
                out.append(self.rewrite(p))
            else:
                self.pair_calls += 1
                out.append(self.pairs(p, self.pair_calls))
        return out


def test_scripted_backend_satisfies_the_protocol():
    assert isinstance(Scripted(), Backend)


# ----------------------------------------------------------------------------------------- templates


@pytest.mark.parametrize(
    "name, placeholders",
    [
        ("pairs_v1", {"n", "document"}),
        ("pairs_v2", {"n", "document"}),
        ("pairs_reask_v1", {"n"}),
        ("rewrite_v1", {"genre", "audience", "document"}),
        ("rewrite_v2", {"genre", "audience", "document"}),
        ("judge_v1", {"genre", "audience", "document", "rewrite"}),
    ],
)
def test_shipped_prompts_load_with_their_hash_and_placeholders(name, placeholders):
    t = maga.load_prompt(name)
    assert t.placeholders == placeholders
    assert t.sha256 == hashlib.sha256((maga.PROMPTS_DIR / f"{name}.txt").read_bytes()).hexdigest()


def test_render_substitutes_once_and_requires_every_placeholder():
    t = maga.load_prompt("rewrite_v1")
    out = t.render(genre="A poem.", audience="Poets.", document="text with {{genre}} inside")
    assert "A poem." in out and "text with {{genre}} inside" in out  # the document is not re-substituted
    with pytest.raises(KeyError, match="audience"):
        t.render(genre="x", document="y")


@pytest.mark.parametrize("name", ["pairs_v1", "pairs_v2"])
def test_pairs_prompt_states_the_papers_constraints(name):
    text = maga.load_prompt(name).render(n=5, document="D")
    for phrase in ("exactly 5", "2 to 3 sentences", "2 sentences", "text-only", "uninterested", "sceptical", "JSON"):
        assert phrase in text


def test_pairs_v2_shows_an_example_that_passes_the_pair_checks():
    text = maga.load_prompt("pairs_v2").text
    example = json.loads(text.split("two good pairs are\n", 1)[1].split("\n", 1)[0])
    pairs = maga.pairs_from_json(example)
    assert len(pairs) == 2 and all(maga.pair_problem(p) is None for p in pairs)
    assert maga.load_prompt("pairs_v2").example_pairs() == pairs and maga.load_prompt("pairs_v1").example_pairs() == []


def test_a_proposal_that_copies_the_prompts_example_is_replaced():
    example = maga.load_prompt("pairs_v2").example_pairs()[1]
    copied = Pair(example.genre, "First-year university students of biology.")  # seen from SmolLM2
    reply = json.dumps([{"genre": copied.genre, "audience": copied.audience}, PAIRS[0]])
    [outcome] = maga.propose_pairs([DOC], Scripted(pairs=lambda p, n: Generation(text=reply)), MagaConfig(n_pairs=2))
    assert outcome.counts["example"] == 1 and outcome.pairs[0] == Pair(**PAIRS[0])
    assert outcome.pairs[1].origin == "catalogue"
    # what SmolLM2 wrote for an article on atomic time: the example's genre, reworded
    smol = Pair("A lecture handout for a biology class. It gives a good balance of facts and makes it easy to "
                "understand. It is a lecture handout.", "first-year university students of biology.")
    assert maga.select_pairs([smol], 1, examples=maga.load_prompt("pairs_v2").example_pairs())[1]["example"] == 1


# ---------------------------------------------------------------------------------------- JSON repair


@pytest.mark.parametrize(
    "raw, expected",
    [
        ('```json\n[{"genre": "g", "audience": "a"}]\n```', [{"genre": "g", "audience": "a"}]),
        (
            'Sure! Here they are:\n[{"genre": "g", "audience": "a"},]\nHope this helps.',
            [{"genre": "g", "audience": "a"}],
        ),
        (
            '[{"genre": "g", "audience": "a",}, {"genre": "h", "audience": "b",},]',
            [{"genre": "g", "audience": "a"}, {"genre": "h", "audience": "b"}],
        ),
        (
            '{"genre": "g", "audience": "a"},\n{"genre": "h", "audience": "b"}',
            [{"genre": "g", "audience": "a"}, {"genre": "h", "audience": "b"}],
        ),
        ('[{"genre": "a list, ] like this", "audience": "x}"}]', [{"genre": "a list, ] like this", "audience": "x}"}]),
        ('[{"genre": "say \\"hi\\", ]", "audience": "a"}]', [{"genre": 'say "hi", ]', "audience": "a"}]),
    ],
)
def test_repair_json_recovers_common_llm_damage(raw, expected):
    assert json.loads(maga.repair_json(raw)) == expected


@pytest.mark.parametrize(
    "raw", ["no json here", '[{"genre": "cut off', '```json\n[{"genre": "a", "audience": ', "[}", ""]
)
def test_repair_json_gives_up_on_what_only_the_lm_can_fix(raw):
    assert maga.repair_json(raw) is None


def test_parse_pairs_skips_prose_brackets_and_salvages_a_cut_off_list():
    assert maga.parse_pairs('Here are [2] ideas: [{"genre": "g", "audience": "a"}]') == ([Pair("g", "a")], "local")
    cut = '[{"genre": "g", "audience": "a"}, {"genre": "h", "audience": "b"}, {"genre": "cut o'
    assert maga.parse_pairs(cut) == ([Pair("g", "a"), Pair("h", "b")], "local")


def test_parse_pairs_says_how_it_got_them():
    assert maga.parse_pairs(json.dumps(PAIRS)) == ([Pair(**p) for p in PAIRS], "none")
    assert maga.parse_pairs("```\n" + json.dumps(PAIRS) + "\n```")[1] == "local"
    assert maga.parse_pairs(json.dumps({"pairs": PAIRS}))[1] == "none"
    assert maga.parse_pairs('[{"Genre": "g", "Audience ": "a"}]') == ([Pair("g", "a")], "none")
    assert maga.parse_pairs(
        '[{"genre": {"name": "Essay", "description": "Long."}, "audience": ["Kids.", "Curious."]}]'
    ) == (
        [Pair("Essay Long.", "Kids. Curious.")],
        "none",
    )
    assert maga.parse_pairs('["essay", "poem"]') is None  # valid JSON, wrong shape
    assert maga.parse_pairs('[{"genre": "only a genre"}]') is None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('[]{}",: \\abc\n`')), max_size=60))
def test_repair_and_parse_never_raise(text):
    repaired = maga.repair_json(text)
    if repaired is not None:
        assert isinstance(repaired, str)
    maga.parse_pairs(text)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=30).filter(lambda t: "`" not in t),
            st.text(max_size=30).filter(lambda t: "`" not in t),
        ),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from(["```json\n{}\n```", "Here you go: {}", "{}\nThanks!"]),
)
def test_fenced_or_wrapped_lists_with_trailing_commas_round_trip(pairs, wrapper):
    body = "[" + ", ".join(json.dumps({"genre": g, "audience": a}) for g, a in pairs) + ",]"
    parsed = maga.parse_pairs(wrapper.replace("{}", body))
    assert parsed is not None
    assert parsed[0] == [Pair(" ".join(g.split()), " ".join(a.split())) for g, a in pairs]


# --------------------------------------------------------------------------------------------- pairs


@pytest.mark.parametrize(
    "genre, audience, problem",
    [
        ("A YouTube video script with jokes.", "Teens.", "non_text"),
        ("A comic strip about cells.", "Kids.", "non_text"),
        ("A picture book for toddlers.", "Parents.", "non_text"),
        ("  ", "Teens.", "empty"),
        ("An essay.", "", "empty"),
        ("A formal encyclopedia entry. Neutral tone.", "Retired engineers. They read to stay sharp.", None),
        ("Technology", "Businesses", "too_short"),
        (
            "A short list of scenarios explained in the document.",
            "A short list of the scenarios explained in this document.",
            "same_text",
        ),
    ],
)
def test_pair_problem(genre, audience, problem):
    assert maga.pair_problem(Pair(genre, audience)) == problem


def test_dedup_drops_near_identical_pairs_but_keeps_a_new_audience():
    a = Pair("A blog post for beginners. Friendly tone.", "Young adults learning to cook. They want quick meals.")
    rephrased = Pair(
        "A friendly blog post for beginners.", "Young adults who are learning to cook and want quick meals."
    )
    new_audience = Pair("A blog post for beginners. Friendly tone.", "Retired chefs. They are sceptical of shortcuts.")
    kept, dups = maga.dedup_pairs([a, rephrased, a, new_audience])
    assert kept == [a, new_audience] and dups == 2


def test_select_pairs_caps_at_n_and_counts_what_it_set_aside():
    proposed = [Pair(**p) for p in PAIRS] + [Pair("A video essay.", "Gamers."), Pair(**PAIRS[0])]
    kept, counts = maga.select_pairs(proposed, n=2)
    assert kept == [Pair(**PAIRS[0]), Pair(**PAIRS[1])]
    assert counts.pop("example") == 0.0
    assert counts == {
        "proposed": 5.0,
        "empty": 0.0,
        "non_text": 1.0,
        "too_short": 0.0,
        "same_text": 0.0,
        "duplicates": 1.0,
        "kept": 2.0,
    }


# -------------------------------------------------------------------------------------------- checks


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Sure!\nDear pupils, ...", ("Dear pupils, ...", True)),
        ("Here is the rewritten article:\n\nFarmers know ...", ("Farmers know ...", True)),
        (
            "Here is a new version of the document that explains certificates.\nA certificate ...",
            ("A certificate ...", True),
        ),
        ("Here\u2019s the quiz:\n1. What ...", ("1. What ...", True)),
        ("Here is what we found in the field this summer.\nWheat ...", None),
        ("Sure, I can book the table for you, said the waiter.\nHe smiled.", None),
        ("Dear pupils, ...", None),
    ],
)
def test_strip_preamble(text, expected):
    assert maga.strip_preamble(text) == (expected or (text, False))


def test_scores_are_taken_after_the_preamble_is_stripped():
    [result] = maga.reformulate(
        [DOC],
        Scripted(
            rewrite=lambda p: Generation(
                text="Sure! Here is the rewritten text:\n" + GOOD_REWRITE, finish_reason="stop"
            )
        ),
        MagaConfig(n_pairs=1),
    )
    rw = result.rewrites[0]
    assert rw.text == GOOD_REWRITE and rw.scores["preamble"] == 1.0 and rw.outcome == "keep"


def test_truncated_follows_the_finish_reason():
    assert maga.truncated("length") == 1.0
    assert maga.truncated("stop") == maga.truncated(None) == 0.0


@pytest.mark.parametrize(
    "text, flagged",
    [
        ("I'm sorry, but I can't help with rewriting this document.", 1.0),
        ("I cannot fulfil this request.", 1.0),
        ("Sure! I\u2019m unable to do that.", 1.0),
        ("Here is the text. As an AI language model I have no opinions.", 1.0),
        ("Dear customer, I'm sorry to hear that your order was late.", 0.0),
        ('"I\'m sorry," said the farmer, looking at the wheat.', 0.0),
        (GOOD_REWRITE, 0.0),
    ],
)
def test_refusal(text, flagged):
    assert maga.refusal(text) == flagged


def test_echo_measures_parroted_instructions_not_shared_vocabulary():
    t = maga.load_prompt("rewrite_v1")
    parroted = "Keep all of the document's information: its facts, numbers, names and steps. Dear pupils..."
    assert maga.echo(parroted, t) >= 12
    assert maga.echo(GOOD_REWRITE, t) < 8
    assert maga.echo("", t) == 0.0
    pair = Pair(**PAIRS[0])
    parroted_pair = f"Genre: {pair.genre}\nAudience: {pair.audience}\n\nDear pupils, ..."
    assert maga.echo(parroted_pair, t) < 8 <= maga.echo(parroted_pair, t, pair)
    assert maga.echo(GOOD_REWRITE, t, pair) < 8


def test_length_ratio_keyword_coverage_and_copy():
    assert maga.length_ratio("one two three four", "a b") == 0.5
    assert math.isnan(maga.length_ratio("", "a b"))
    assert maga.keyword_coverage(SOURCE, SOURCE) == 1.0
    assert maga.keyword_coverage(SOURCE, GOOD_REWRITE) >= 0.7
    assert maga.keyword_coverage(SOURCE, "A recipe for lemon cake with butter and eggs.") == 0.0
    assert math.isnan(maga.keyword_coverage("the and of", "anything"))
    assert maga.source_copy(SOURCE, SOURCE) == 1.0
    assert maga.source_copy(SOURCE, GOOD_REWRITE) < 0.2


def test_keywords_are_stemmed_frequent_content_words_in_a_stable_order():
    kw = maga.top_keywords(SOURCE, k=5)
    assert kw == ["photosynthesi", "plant", "light", "chlorophyll", "leav"]  # count 2 each, first seen first
    assert "the" not in kw and len(kw) == 5
    assert maga.keyword_coverage("Photographs of plants", "a photograph of a plant") == 1.0


@pytest.mark.parametrize(
    "text, score",
    [
        ("Score: 4", 4.0),
        ("score=2.", 2.0),
        ("I would give it a 5 overall", 5.0),
        ("Great!", math.nan),
        ("Score: 9", math.nan),
    ],
)
def test_parse_judge(text, score):
    got = maga.parse_judge(text)
    assert got == score or (math.isnan(got) and math.isnan(score))


def test_default_rules_name_the_check_and_abstain_on_nan():
    rules = maga.parse_rules(maga.DEFAULT_RULES)
    assert {r.reason for r in rules} == {
        "synth:empty",
        "synth:refusal",
        "synth:echo",
        "synth:length_ratio",
        "synth:keyword_coverage",
        "synth:source_copy",
        "synth:judge",
    }
    good = maga.rewrite_scores(
        SOURCE, Generation(text=GOOD_REWRITE, finish_reason="stop"), maga.load_prompt("rewrite_v1")
    )
    assert set(good) == set(maga.SYNTH_SCORES)
    assert maga.decide(good, rules) is None  # judge is NaN: abstains
    assert maga.decide({**good, "judge": 2.0}, rules) == "synth:judge"
    assert maga.decide({**good, "length_ratio": 5.0}, rules) == "synth:length_ratio"
    assert maga.decide({**good, "truncated": 1.0}, rules) is None  # reaching the budget is not a failure
    assert maga.decide({**good, "echo": 9.0, "refusal": 1.0}, rules) == "synth:refusal"  # first in order


def test_rules_from_a_mapping_and_errors_that_name_the_check():
    rules = maga.parse_rules(
        {"keyword_coverage": "keyword_coverage >= 0.5", "length_ratio": ["length_ratio > 0.1", "length_ratio < 2"]}
    )
    assert [str(r) for r in rules] == ["keyword_coverage >= 0.5", "length_ratio > 0.1", "length_ratio < 2"]
    with pytest.raises(ValueError, match=r"synth\.rules\.coverage: unknown score 'coverage'"):
        maga.parse_rules({"coverage": "coverage >= 0.5"})


def test_prepare_source_cuts_at_a_boundary():
    text = ("word " * 50 + "\n\n") * 10
    cut, truncated = maga.prepare_source(text, 600)
    assert truncated and len(cut) <= 600 and cut.endswith("word")
    assert maga.prepare_source("short", 600) == ("short", False)


# ------------------------------------------------------------------------------ stages with a script

DOC = {"id": "doc-1", "text": SOURCE}


def test_the_pairs_schema_fits_the_token_budget():
    roomy, tight = json.loads(maga.pairs_schema(5, 2048)), json.loads(maga.pairs_schema(5, 400))
    assert roomy["minItems"] == roomy["maxItems"] == 5 and roomy["items"]["required"] == ["genre", "audience"]
    assert roomy["items"]["properties"]["genre"]["maxLength"] == maga.PAIR_FIELD_CHARS[1]
    longest = tight["items"]["properties"]["audience"]["maxLength"]
    assert longest < maga.PAIR_FIELD_CHARS[1] and (5 * (2 * longest / 3 + 16)) <= 400  # 3 chars a token at least


def test_stage_a_valid_json_needs_no_repair():
    backend = Scripted()
    [outcome] = maga.propose_pairs([DOC], backend, MagaConfig(n_pairs=3))
    assert outcome.repair == "none" and outcome.reason is None and outcome.pairs == [Pair(**p) for p in PAIRS]
    prompt, params = backend.calls[0][0][0], backend.calls[0][1]
    assert "exactly 3 objects" in prompt and SOURCE in prompt and params == MagaConfig(n_pairs=3).pairs_params
    assert params.json_schema == maga.pairs_schema(3, params.max_tokens)  # asked under the schema: exactly 3
    assert MagaConfig(structured_pairs=False).pairs_params.json_schema is None


def test_stage_a_local_repair_then_reask_then_json_drop():
    fenced = Scripted(pairs=lambda p, n: Generation(text="```json\n" + json.dumps(PAIRS)[:-1] + ",]\n```"))
    assert maga.propose_pairs([DOC], fenced)[0].repair == "local"
    assert fenced.pair_calls == 1  # no re-ask needed

    second_time = Scripted(pairs=lambda p, n: Generation(text="Genre: essay" if n == 1 else json.dumps(PAIRS)))
    [outcome] = maga.propose_pairs([DOC], second_time)
    # the model's 3 pairs first, then 2 from the catalogue to make the 5 asked for
    assert outcome.repair == "reask" and [p.origin for p in outcome.pairs] == ["model"] * 3 + ["catalogue"] * 2
    assert outcome.pairs[:3] == [Pair(**p) for p in PAIRS] and outcome.counts["catalogue"] == 2
    reask_prompt = second_time.calls[1][0][0]
    assert reask_prompt.startswith(second_time.calls[0][0][0]) and "could not be read as JSON" in reask_prompt

    never = Scripted(pairs=lambda p, n: Generation(text='[{"genre": "cut'))
    [outcome] = maga.propose_pairs([DOC], never, MagaConfig(catalogue=None))
    assert outcome.reason == "synth:json" and outcome.repair == "failed" and never.pair_calls == 2
    [outcome] = maga.propose_pairs([DOC], never)  # with the catalogue (the default) the document still gets pairs
    assert outcome.reason is None and outcome.repair == "failed" and [p.origin for p in outcome.pairs] == ["catalogue"] * 5


def test_stage_a_errors_and_empty_pair_lists():
    down = Scripted(pairs=lambda p, n: Generation(error="gave up after 4 attempts: ConnectError"))
    [outcome] = maga.propose_pairs([DOC], down)
    assert (
        outcome.error.startswith("gave up") and outcome.reason is None and down.pair_calls == 1
    )  # no re-ask of a dead backend

    visual = Scripted(pairs=lambda p, n: Generation(text='[{"genre": "A comic.", "audience": "Kids."}]'))
    [outcome] = maga.propose_pairs([DOC], visual, MagaConfig(catalogue=None))
    assert outcome.reason == "synth:pairs" and outcome.counts["non_text"] == 1
    [outcome] = maga.propose_pairs([DOC], visual)
    assert outcome.reason is None and outcome.counts["non_text"] == 1 and outcome.counts["catalogue"] == 5


def test_reformulate_end_to_end_with_provenance():
    backend = Scripted()
    config = MagaConfig(n_pairs=3)
    [result] = maga.reformulate([DOC], backend, config)
    assert len(result.rewrites) == 3 and [r.outcome for r in result.rewrites] == ["keep"] * 3
    assert len(backend.calls) == 2  # one batched call per stage
    rw = result.rewrites[1]
    assert rw.pair == Pair(**PAIRS[1]) and rw.text == GOOD_REWRITE and rw.pair_index == 1
    prompt = backend.calls[1][0][1]
    assert PAIRS[1]["genre"] in prompt and PAIRS[1]["audience"] in prompt and SOURCE in prompt
    prov = rw.provenance
    assert (
        prov["source_id"] == "doc-1" and prov["genre"] == PAIRS[1]["genre"] and prov["audience"] == PAIRS[1]["audience"]
    )
    assert prov["prompt_sha256"]["pairs"] == maga.load_prompt("pairs_v2").sha256
    assert prov["prompt_sha256"]["rewrite"] == maga.load_prompt("rewrite_v2").sha256
    assert prov["prompt_names"] == {"pairs": "pairs_v2", "reask": None, "rewrite": "rewrite_v2", "judge": None}
    assert prov["backend"] == "scripted" and prov["model"] == "scripted-lm" and prov["pairs_repair"] == "none"
    assert prov["pair_origin"] == "model" and prov["catalogue_sha256"] is None
    # the rewrite's budget: 1.5 x the source's tokens (a server-like backend: one token per 3 characters)
    budget = maga.rewrite_budget(math.ceil(len(SOURCE) / 3), 1.5, config.rewrite_params.max_tokens)
    assert rw.max_tokens == budget == prov["sampling"]["rewrite"]["max_tokens"] and prov["sampling"]["judge"] is None
    assert backend.calls[1][1].max_tokens == budget  # asked with that budget (one call per distinct budget)
    assert prov["scores"]["judge"] is None and prov["scores"]["keyword_coverage"] == rw.scores["keyword_coverage"]
    json.dumps(prov, allow_nan=False)  # NaN-free, serialisable
    ids = [r.id for r in result.rewrites]
    assert len(set(ids)) == 3 and ids == [r.id for r in maga.reformulate([DOC], Scripted(), config)[0].rewrites]


def test_reformulate_judges_through_the_same_backend():
    scores = iter(["Score: 5", "Score: 1", "no idea"])
    backend = Scripted(judge=lambda p: Generation(text=next(scores)))
    [result] = maga.reformulate([DOC], backend, MagaConfig(n_pairs=3, judge=True))
    assert [r.scores["judge"] for r in result.rewrites][:2] == [5.0, 1.0]
    assert math.isnan(result.rewrites[2].scores["judge"])
    assert [r.outcome for r in result.rewrites] == ["keep", "synth:judge", "keep"]
    assert result.rewrites[0].provenance["prompt_names"]["judge"] == "judge_v1"
    assert backend.calls[2][1] == MagaConfig().judge_params


def test_reformulate_turns_each_failure_into_its_own_outcome():
    answers = iter(
        [
            Generation(error="HTTP 500: boom"),
            Generation(text="I'm sorry, but I cannot rewrite this.", finish_reason="stop"),
            Generation(text=GOOD_REWRITE + " Then the leaves", finish_reason="length"),
        ]
    )
    backend = Scripted(rewrite=lambda p: next(answers, Generation(text=" \n", finish_reason="stop")))
    docs = [DOC, {"id": "blank", "text": "  \n "}, {"id": "doc-3", "text": SOURCE}]
    r1, r2, r3 = maga.reformulate(docs, backend, MagaConfig(n_pairs=3))
    # the one that reached its budget is cut back to its last whole sentence and kept
    assert [r.outcome for r in r1.rewrites] == ["synth:backend", "synth:refusal", "keep"]
    assert r1.rewrites[2].text == GOOD_REWRITE and r1.rewrites[2].scores["truncated"] == 1.0
    assert r1.rewrites[0].error == "HTTP 500: boom" and r1.rewrites[0].scores == {}
    assert r2.pairs.reason == "synth:empty" and not r2.rewrites and backend.pair_calls == 2  # never sent
    assert [r.outcome for r in r3.rewrites] == ["synth:empty"] * 6  # all failed: a retry round, failed too


def test_long_sources_are_cut_and_say_so():
    long_doc = {"id": "long", "text": (SOURCE + "\n\n") * 30}
    [result] = maga.reformulate([long_doc], Scripted(), MagaConfig(n_pairs=1, max_source_chars=1000))
    assert result.source_truncated and len(result.source_text) <= 1000
    assert result.rewrites[0].provenance["source_truncated"] is True
    assert result.rewrites[0].provenance["source_chars"] == len(result.source_text)


def test_a_backend_that_breaks_its_contract_only_produces_errors():
    class Raises:
        name, model = "broken", "broken"

        def generate(self, prompts, params):
            raise RuntimeError("CUDA error: device-side assert")

    class Miscounts(Scripted):
        def generate(self, prompts, params):
            return super().generate(prompts, params)[:-1]

    [result] = maga.reformulate([DOC], Raises())
    assert result.pairs.error == "backend raised RuntimeError: CUDA error: device-side assert"
    r1, r2 = maga.reformulate([DOC, {"id": "doc-2", "text": SOURCE}], Miscounts())
    assert r1.pairs.error == r2.pairs.error == "backend returned 1 results for 2 prompts"


# ----------------------------------------------------------------------- catalogue and rewrite budget


def test_catalogue_follows_mogas_rules_and_loads_with_its_hash():
    cat = maga.load_catalogue("catalogue_v1")
    assert cat.sha256 == hashlib.sha256((maga.PROMPTS_DIR / "catalogue_v1.json").read_bytes()).hexdigest()
    assert len(cat.genres) >= 12 and len(cat.audiences) >= 12 and len(cat.sceptical) >= 3
    pairs = [Pair(g, a) for g in cat.genres for a in cat.audiences]
    assert all(maga.pair_problem(p) is None for p in pairs)  # every combination passes the pair checks
    assert all(2 <= len([s for s in g.split(". ") if s]) <= 3 for g in cat.genres)  # 2-3 sentences
    assert all(len([s for s in a.split(". ") if s]) == 2 for a in cat.audiences)  # 2 sentences


def test_catalogue_pairs_are_a_function_of_the_document_and_distinct():
    cat = maga.load_catalogue("catalogue_v1")
    a = cat.pairs_for("doc-1", 5)
    assert a == cat.pairs_for("doc-1", 5) and a != cat.pairs_for("doc-2", 5) and a != cat.pairs_for("doc-1", 5, seed=1)
    assert len({p.genre for p in a}) == 5 and len({p.audience for p in a}) == 5
    assert all(p.origin == "catalogue" for p in a)
    assert any(cat.audiences.index(p.audience) in cat.sceptical for p in a)  # MAGA: one sceptical audience
    # over many documents every genre is used: the fallback spreads, it does not repeat one favourite
    used = {p.genre for i in range(200) for p in cat.pairs_for(f"d{i}", 2)}
    assert used == set(cat.genres)


def test_catalogue_skips_genres_the_model_already_chose():
    cat = maga.load_catalogue("catalogue_v1")
    taken = [Pair(cat.genres[0], "Readers who like numbers. They want the facts.")]
    for i in range(50):
        assert cat.genres[0] not in {p.genre for p in cat.pairs_for(f"d{i}", 4, taken)}


@pytest.mark.parametrize(
    "text, kept",
    [
        ("One. Two! Three? Four is cut", "One. Two! Three?"),
        ('He said "stop." Then he', 'He said "stop."'),
        ("no sentence end at all", ""),
        ("Version 2.5 is out. The next", "Version 2.5 is out."),
        ("Ends cleanly.", "Ends cleanly."),
    ],
)
def test_trim_to_sentence(text, kept):
    assert maga.trim_to_sentence(text) == kept


def test_rewrite_budget_is_proportional_within_floor_and_cap():
    assert maga.rewrite_budget(100, 1.5, 2048) == 150
    assert maga.rewrite_budget(10, 1.5, 2048) == 64  # floor
    assert maga.rewrite_budget(4000, 1.5, 2048) == 2048  # cap
    assert maga.rewrite_budget(10, 1.5, 32) == 32  # the cap wins over the floor


def test_budgets_reach_a_backend_that_takes_them_in_one_call():
    class Budgeted(Scripted):
        def generate(self, prompts, params, max_tokens=None):
            self.budgets = max_tokens
            return super().generate(prompts, params)

    backend = Budgeted()
    short, long = {"id": "s", "text": SOURCE}, {"id": "l", "text": " ".join([SOURCE] * 4)}
    results = maga.reformulate([short, long], backend, MagaConfig(n_pairs=1, catalogue=None))
    assert len(backend.calls) == 2 and backend.budgets == [r.rewrites[0].max_tokens for r in results]
    assert backend.budgets[1] > 3 * backend.budgets[0]


def test_no_budget_means_max_tokens_for_every_rewrite():
    backend = Scripted()
    [result] = maga.reformulate([DOC], backend, MagaConfig(n_pairs=1, rewrite_budget=None))
    assert result.rewrites[0].max_tokens == MagaConfig().rewrite_params.max_tokens == backend.calls[1][1].max_tokens


def test_a_rewrite_is_cut_where_it_starts_to_loop():
    loop = ("Albedo measures how much light a surface reflects. Fresh snow reflects most of it.\n\n"
            "The Laboratory is a leading institution. The Laboratory is a leading institution. Yes. Yes.")
    text, cut = maga.cut_at_repetition(loop)
    assert cut and text == ("Albedo measures how much light a surface reflects. Fresh snow reflects most of it.\n\n"
                            "The Laboratory is a leading institution.")
    assert maga.cut_at_repetition("Yes. Yes. No repeats here at all.") == ("Yes. Yes. No repeats here at all.", False)
    [result] = maga.reformulate([DOC], Scripted(rewrite=lambda p: Generation(
        text=GOOD_REWRITE + " " + GOOD_REWRITE, finish_reason="stop")), MagaConfig(n_pairs=1))
    rw = result.rewrites[0]
    assert rw.text == GOOD_REWRITE and rw.scores["looped"] == 1.0 and rw.outcome == "keep"


def test_a_loop_with_small_variations_is_cut_too():
    text = ("TAI is the basis for civil time. The Earth's rotation has been adjusted to match the Earth's rotation "
            "in the past. The Earth's rotation has been adjusted to match the Earth's rotation again.")
    cut, looped = maga.cut_at_repetition(text)
    assert looped and cut.endswith("in the past.") and "again" not in cut
    # a name repeated in new sentences is not a loop
    fine = ("International Atomic Time is kept by many clocks. International Atomic Time differs from UTC by "
            "whole seconds. Clocks at NPL contribute to International Atomic Time as well.")
    assert maga.cut_at_repetition(fine) == (fine, False)


def test_a_source_whose_rewrites_all_fail_gets_a_round_of_fresh_catalogue_pairs():
    answers = iter([Generation(text="I'm sorry, I cannot do that.", finish_reason="stop")] * 2)
    backend = Scripted(rewrite=lambda p: next(answers, Generation(text=GOOD_REWRITE, finish_reason="stop")))
    [result] = maga.reformulate([DOC], backend, MagaConfig(n_pairs=2))
    assert [rw.outcome for rw in result.rewrites] == ["synth:refusal"] * 2 + ["keep"] * 2
    assert [rw.pair_index for rw in result.rewrites] == [0, 1, 2, 3] and len(result.pairs.pairs) == 4
    assert [p.origin for p in result.pairs.pairs[2:]] == ["catalogue"] * 2 and result.pairs.counts["retried"] == 2
    first_genres = {p.genre for p in result.pairs.pairs[:2]}
    assert not first_genres & {p.genre for p in result.pairs.pairs[2:]}  # pairs it has not had
    assert len(backend.calls) == 3  # pairs, round 1, round 2
    [once] = maga.reformulate([DOC], Scripted(rewrite=lambda p: Generation(text="I'm sorry.", finish_reason="stop")),
                              MagaConfig(n_pairs=2, retry_rounds=0))
    assert len(once.rewrites) == 2
