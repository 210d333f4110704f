"""``transformers serve`` on loopback: a real OpenAI-compatible server for a local model folder.

The synthesis tests and benchmark talk to it through ``OpenAIBackend`` exactly as a user talks to vLLM or
llama.cpp's server. It serves exported Hugging Face folders (``TransformersBackend.export``), not GGUF
files: transformers 5.23's serve cannot read the architecture of a GGUF-converted config.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def transformers_serve(model_dir: Path, log_path: Path, timeout_s: float = 180) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start the server on 127.0.0.1 (offline, one torch thread); yield (base URL ending in /v1, process).

    Readiness is checked on /health (/v1/models needs a Hugging Face cache). Raises RuntimeError with the
    server log's tail when it exits or does not come up in ``timeout_s``; stops it on exit.
    """
    import httpx

    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(model_dir),
           "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--log-level", "info"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"transformers serve did not come up:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1", proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
