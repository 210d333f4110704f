"""A --synth run whose backend cannot run stops before it reads anything, saying what fixes it."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from contextlib import contextmanager

import pytest

from pipelines.run import main
from synth.config import SynthConfig
from synth.preflight import SynthUnavailable, check, models_url


@contextmanager
def models_server(status: int, body: dict):
    """A loopback HTTP server answering GET /v1/models with ``status`` and ``body``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            payload = json.dumps(body).encode()
            self.send_response(status if self.path == "/v1/models" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed on leaving: nothing listens there


def test_models_url_from_any_base():
    assert models_url("http://h:8000") == models_url("http://h:8000/v1/") == "http://h:8000/v1/models"
    assert models_url("http://h:8000/v1/chat/completions") == "http://h:8000/v1/models"


def test_the_embedded_model_is_found_without_loading_it(local_lm):
    started = time.monotonic()
    assert check(SynthConfig()) == f"local model {local_lm}"
    assert time.monotonic() - started < 2  # looks for files and packages, loads nothing


def test_the_llamacpp_backend_needs_its_package_not_torch(llamacpp_lm, monkeypatch):
    assert check(SynthConfig(backend="llamacpp")) == f"local model {llamacpp_lm} (llama.cpp)"
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else find_spec(name, *a))
    with pytest.raises(SynthUnavailable, match=r"needs llama-cpp-python, not installed: pip install 'webcurate\[llamacpp\]'"):
        check(SynthConfig(backend="llamacpp"))
    assert check(SynthConfig()).startswith("local model")  # the transformers backend does not need it


def test_a_missing_local_model_names_the_setting(tmp_path):
    with pytest.raises(SynthUnavailable, match=r"synth.model: .*nope.gguf does not exist"):
        check(SynthConfig(model=str(tmp_path / "nope.gguf")))


def test_a_server_that_does_not_answer_or_serves_another_model():
    with pytest.raises(SynthUnavailable, match="does not answer.*vllm serve m"):
        check(SynthConfig(backend="openai", url=f"http://127.0.0.1:{_dead_port()}/v1", model="m"), timeout_s=2)
    with models_server(200, {"data": [{"id": "Qwen2.5-7B"}, {"id": "Llama-3.1-8B"}]}) as url:
        with pytest.raises(SynthUnavailable, match="serves Qwen2.5-7B, Llama-3.1-8B, not m"):
            check(SynthConfig(backend="openai", url=url, model="m"))
        assert check(SynthConfig(backend="openai", url=url, model="Qwen2.5-7B")) == f"server {url} serving Qwen2.5-7B"
    with models_server(401, {"error": "no"}) as url:
        with pytest.raises(SynthUnavailable, match="refused the key"):
            check(SynthConfig(backend="openai", url=url, model="m"))


def test_a_run_stops_before_reading_when_synthesis_cannot_run(data_dir, tmp_path, capsys):
    out = tmp_path / "out"
    started = time.monotonic()
    with pytest.raises(SystemExit) as stopped:
        main(["--input", str(data_dir / "mini.warc.gz"), "--output", str(out), "--synth",
              "--set", "synth.backend=openai", "--set", f"synth.url=http://127.0.0.1:{_dead_port()}/v1",
              "--set", "synth.model=m"])
    assert "does not answer" in str(stopped.value.code) and "fix synth.url" in str(stopped.value.code)
    assert not out.exists() and time.monotonic() - started < 30  # nothing read, nothing written
