"""A GGUF model run in-process by llama.cpp (llama-cpp-python): the fast CPU backend.

Why llama.cpp beside transformers: transformers dequantises a GGUF to float32 at load time (about 20 s
for the 135M default model, minutes for billions of parameters) and runs it through PyTorch; llama.cpp
runs the quantised weights as they are, loads in a fraction of a second and generates faster on CPU
(measured in ``bench/synth_backends.py``, figures in docs/BENCHMARKS.md).

Why the low-level API: llama-cpp-python's ``Llama`` object generates one sequence at a time. This
backend decodes a whole batch together, as llama.cpp's own ``batched`` example does: one context with a
sequence per prompt, all prompts prefilled in shared ``llama_decode`` calls, then one call per step for
every live sequence. A prompt that starts with the same tokens as an earlier prompt of its batch (the
same document for another genre and audience; a template's preamble) prefills only the rest: the shared
cells are copied from that prompt (``llama_memory_seq_cp`` in a unified KV cache, a copy of tags only).

Each sequence samples through its own sampler chain: ``[grammar] → greedy`` or
``[grammar] → temperature → top-p → dist(seed)``. As with transformers, the floating-point rounding of a
batched decode depends on the batch, so a sampled text can differ between a prompt alone and the same
prompt in a batch (measured: 2 or 3 of 5 at temperature 0.7, none greedy); the same batch gives the same
bytes every time, and the pipeline's batches are a function of its input (``DeterministicBatches``), so a
run reproduces whatever its parallelism (tests/pipelines/test_synth_run.py). The grammar is the request's JSON schema
converted to GBNF by llama-cpp-python, with the string rule tightened so that raw control characters,
which ``json.loads`` rejects, cannot be generated (``strict_json_gbnf``).

The chat template is the one in the GGUF's metadata (the same Jinja template transformers applies), so
both local backends send the model the same tokens for the same prompt.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from synth.backends import (
    Generation,
    InProcessBackend,
    LoadStats,
    SamplingParams,
    _truncate_at_stop,
    default_model_path,
)

log = logging.getLogger(__name__)

#: Tokens per ``llama_decode`` call while prefilling (also the context's micro-batch).
N_BATCH = 512
#: Sequences per context: llama.cpp's LLAMA_MAX_SEQ is 64 in older builds (256 now); more would not
#: help on a CPU, where a step's cost grows with the batch.
MAX_SEQUENCES = 64

_LOOSE_CHAR = 'char ::= [^"\\\\]'
_STRICT_CHAR = 'char ::= [^"\\\\\\x7F\\x00-\\x1F]'


def strict_json_gbnf(gbnf: str) -> str:
    """llama-cpp-python's JSON-schema converter lets raw control characters (newline, tab) into strings,
    which ``json.loads`` rejects; forbid them, as llama.cpp's own C++ converter does (measured: 2 of 4
    SmolLM2 replies did not parse before this, all parse after)."""
    if _LOOSE_CHAR not in gbnf:
        raise ValueError("llama-cpp-python's JSON grammar changed: its string rule is not " + _LOOSE_CHAR)
    return gbnf.replace(_LOOSE_CHAR, _STRICT_CHAR)


def json_schema_grammar(schema: str) -> str:
    """The GBNF grammar of a JSON schema (given as JSON text), strings without control characters."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return strict_json_gbnf(json_schema_to_gbnf(schema))


#: ggml's log levels (ggml.h: NONE, DEBUG, INFO, WARN, ERROR, CONT); llama-cpp-python 0.3.36 maps an older
#: enum and prints llama.cpp's warnings to stderr whatever its verbosity.
_GGML_LEVELS = {1: logging.DEBUG, 2: logging.DEBUG, 3: logging.WARNING, 4: logging.ERROR}
#: Warnings that do not apply here: in a unified KV cache the context holds every sequence of a batch, so it
#: may exceed the training context while each sequence's positions stay within it (checked per prompt).
_FALSE_ALARMS = ("possible training context overflow",)
_log_callback = None  # the ctypes callback must outlive every call into llama.cpp


def route_llama_logs() -> None:
    """Send llama.cpp's log lines to this module's logger, at their own levels (info and debug as debug)."""
    global _log_callback
    if _log_callback is not None:
        return
    import llama_cpp

    last = [logging.DEBUG]

    def forward(level: int, text: bytes, _user_data) -> None:
        level = last[0] if level == 5 else _GGML_LEVELS.get(level, logging.DEBUG)
        last[0] = level
        message = text.decode("utf-8", errors="replace").rstrip()
        if message:
            log.log(logging.DEBUG if any(a in message for a in _FALSE_ALARMS) else level, "llama.cpp: %s", message)

    _log_callback = llama_cpp.llama_log_callback(forward)
    llama_cpp.llama_log_set(_log_callback, None)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n, limit = 0, min(len(a), len(b))
    while n < limit and a[n] == b[n]:
        n += 1
    return n


def prefix_parents(encoded: Sequence[Sequence[int]]) -> list[tuple[int | None, int]]:
    """For each prompt, the earlier prompt of the batch it shares the longest prefix with, and how many
    tokens (each prompt keeps at least its last token to itself: its logits start its generation);
    ``(None, 0)`` when it shares nothing. MAGA's rewrite prompts put the document first, so the rewrites of
    one document for several pairs share all but their last lines: their document is prefilled once."""
    parents: list[tuple[int | None, int]] = []
    for i, ids in enumerate(encoded):
        best: tuple[int | None, int] = (None, 0)
        for j in range(i):
            shared = min(common_prefix(ids, encoded[j]), len(ids) - 1)
            if shared > best[1]:
                best = (j, shared)
        parents.append(best)
    return parents


class LlamaCppBackend(InProcessBackend):
    """A ``.gguf`` model run by llama.cpp in-process, ``batch_size`` prompts decoded together.

    ``model_path``: a GGUF file (None: the embedded SmolLM2-135M). ``batch_size``: prompts per context
    (at most ``MAX_SEQUENCES``). ``num_threads``: llama.cpp's threads
    for both prefill and generation (default: half the cores, llama.cpp's own default; on a shared CPU
    fewer is often faster). ``device``: ``cuda...`` offloads every layer to the GPU (a CUDA build of
    llama-cpp-python), anything else runs on the CPU.

    Like every backend, ``load()`` raises on a wrong path or a broken file (call it to fail fast);
    ``generate`` never raises: a prompt longer than the context or a failed decode becomes an error
    Generation for the prompts it concerns.
    """

    name = "llamacpp"
    _transient = ("_model", "_formatter")

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        batch_size: int = 8,
        num_threads: int | None = None,
        device: str | None = None,
        model_name: str | None = None,
    ) -> None:
        path = Path(model_path) if model_path is not None else default_model_path()
        if path.suffix.lower() != ".gguf":
            raise ValueError(f"the llamacpp backend runs .gguf files, not {path}")
        self.model_path = path
        self.model = model_name or path.name
        self.batch_size = min(max(1, batch_size), MAX_SEQUENCES)
        self.num_threads = num_threads or max(1, (os.cpu_count() or 2) // 2)
        self.device = device
        self.load_stats = LoadStats()
        #: Tokens prefilled and prompt tokens sent, since construction: their ratio is what prefix sharing saved.
        self.prefilled_tokens = self.prompt_tokens = 0
        self._model = None
        self._formatter = None
        self._grammars: dict[str, str] = {}
        self._lock = threading.RLock()

    # ----------------------------------------------------------------------------------------- loading

    def _load(self) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        if not self.model_path.is_file():
            raise FileNotFoundError(f"{self.model_path} does not exist")
        route_llama_logs()
        t0 = time.perf_counter()
        on_gpu = bool(self.device and self.device.startswith("cuda"))
        # The high-level object loads the weights once and gives the tokenizer and metadata; generation
        # runs in contexts of our own (_Batch), so its own context is kept tiny.
        llm = Llama(model_path=str(self.model_path), n_ctx=64, n_batch=64, n_threads=self.num_threads,
                    n_threads_batch=self.num_threads, n_gpu_layers=-1 if on_gpu else 0, verbose=False)
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            llm.close()
            raise ValueError(f"{self.model_path.name} has no chat template in its metadata "
                             "(tokenizer.chat_template); MAGA sends chat messages")
        eos, bos = llm.token_eos(), llm.token_bos()
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
        )
        self._model = llm
        self.load_stats = LoadStats(model_s=time.perf_counter() - t0, device="cuda" if on_gpu else "cpu",
                                    dtype=_file_type(llm))

    # ------------------------------------------------------------------------------------------ tokens

    def context_length(self) -> int:
        import llama_cpp

        return int(llama_cpp.llama_model_n_ctx_train(self.load()._model.model))

    def encode(self, prompt: str) -> list[int]:
        """The prompt as one user message through the GGUF's chat template, ready for generation."""
        llm = self.load()._model
        formatted = self._formatter(messages=[{"role": "user", "content": prompt}])
        return llm.tokenize(formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under the model's tokenizer (no special tokens): what a budget is made of."""
        return len(self.load()._model.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def grammar(self, schema: str) -> str:
        if schema not in self._grammars:
            self._grammars[schema] = json_schema_grammar(schema)
        return self._grammars[schema]

    # -------------------------------------------------------------------------------------- generation

    def _order(self, encoded: Mapping[int, list[int]]) -> list[int]:
        # In token order, so that prompts with a common prefix (one document's rewrites) share a batch, and
        # with it their prefill and, having the same budget, their decode steps.
        return sorted(encoded, key=lambda i: encoded[i])

    def _generate_batch(self, batch: list[list[int]], params: SamplingParams, budgets: list[int]) -> list[Generation]:
        grammar = self.grammar(params.json_schema) if params.json_schema else None
        run = _Batch(self._model, self.num_threads, batch, budgets, params, grammar)
        outputs = run.run()
        self.prompt_tokens += sum(len(ids) for ids in batch)
        self.prefilled_tokens += run.prefilled
        return outputs


def _file_type(llm: Any) -> str:
    """The GGUF's weight type in words (``general.file_type`` is llama.cpp's LLAMA_FTYPE enum)."""
    names = {"0": "F32", "1": "F16", "2": "Q4_0", "3": "Q4_1", "7": "Q8_0", "8": "Q5_0", "9": "Q5_1",
             "15": "Q4_K_M", "17": "Q5_K_M", "18": "Q6_K", "32": "BF16"}
    value = str(llm.metadata.get("general.file_type", ""))
    return names.get(value, value)


class _Batch:
    """One batch of prompts through one llama.cpp context, sized to it, freed at the end.

    A fresh context per batch costs milliseconds and leaves nothing behind between batches (no KV cells,
    no sampler state). The KV cache is unified: ``n_ctx`` is the total of the batch's cells, each shared
    prefix counted once, whatever the spread of prompt lengths.
    """

    def __init__(self, llm: Any, threads: int, encoded: list[list[int]], budgets: list[int],
                 params: SamplingParams, grammar: str | None) -> None:
        self.llm, self.encoded, self.budgets, self.params, self.grammar = llm, encoded, budgets, params, grammar
        self.threads = threads
        self.parents = prefix_parents(encoded)
        self.prefilled = sum(len(ids) - shared for ids, (_, shared) in zip(encoded, self.parents))

    def run(self) -> list[Generation]:
        import llama_cpp

        n = len(self.encoded)
        cells = self.prefilled + sum(self.budgets)
        cp = llama_cpp.llama_context_default_params()
        cp.n_ctx = cells + 256  # llama.cpp pads the cache to 256 cells; room for that
        cp.n_batch = cp.n_ubatch = N_BATCH
        cp.n_seq_max = n
        cp.kv_unified = True
        cp.n_threads = cp.n_threads_batch = self.threads  # the default batch threads are all cores
        cp.no_perf = True
        ctx = llama_cpp.llama_init_from_model(self.llm.model, cp)
        if not ctx:
            raise RuntimeError(f"llama.cpp could not create a context of {cp.n_ctx} cells")
        batch = llama_cpp.llama_batch_init(max(N_BATCH, n), 0, 1)
        samplers: list = []
        try:
            samplers += [self._sampler() for _ in range(n)]
            return self._decode_all(llama_cpp, ctx, batch, samplers)
        finally:
            for sampler in samplers:
                llama_cpp.llama_sampler_free(sampler)
            llama_cpp.llama_batch_free(batch)
            llama_cpp.llama_free(ctx)

    def _sampler(self):
        import llama_cpp

        params = self.params
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        if self.grammar is not None:
            grammar = llama_cpp.llama_sampler_init_grammar(self.llm._model.vocab, self.grammar.encode(), b"root")
            if not grammar:
                llama_cpp.llama_sampler_free(chain)
                raise ValueError("llama.cpp rejected the JSON schema's grammar")
            llama_cpp.llama_sampler_chain_add(chain, grammar)
        if params.temperature <= 0:
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())
        else:  # temperature before top-p, as transformers and the OpenAI API apply them
            seed = llama_cpp.LLAMA_DEFAULT_SEED if params.seed is None else params.seed & 0xFFFFFFFF
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_temp(params.temperature))
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_p(params.top_p, 1))
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_dist(seed))
        return chain

    def _decode_all(self, llama_cpp, ctx, batch, samplers) -> list[Generation]:
        encoded, budgets, stop = self.encoded, self.budgets, self.params.stop
        vocab = self.llm._model.vocab
        n = len(encoded)
        tokens: list[list[int]] = [[] for _ in range(n)]
        finish = ["length"] * n
        done = [b <= 0 for b in budgets]
        position = [len(ids) for ids in encoded]

        def decode(items: list[tuple[int, int, int, bool]]) -> None:  # (token, position, sequence, logits?)
            for k, (token, pos, seq, logits) in enumerate(items):
                batch.token[k], batch.pos[k], batch.n_seq_id[k], batch.logits[k] = token, pos, 1, logits
                batch.seq_id[k][0] = seq
            batch.n_tokens = len(items)
            code = llama_cpp.llama_decode(ctx, batch)
            if code != 0:
                raise RuntimeError(f"llama_decode returned {code}")

        def take(seq: int, row: int) -> None:  # sample sequence seq's next token from batch row ``row``
            token = llama_cpp.llama_sampler_sample(samplers[seq], ctx, row)
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                done[seq], finish[seq] = True, "stop"
                return
            tokens[seq].append(token)
            if stop and _truncate_at_stop(self._text(tokens[seq]), stop)[1]:
                done[seq], finish[seq] = True, "stop"
            elif len(tokens[seq]) >= budgets[seq]:
                done[seq] = True

        # Prefill in rounds: prompts that share nothing, then those that copy a prefix from a prompt of the
        # previous round (a parent always comes before its children), and so on.
        depth: list[int] = []
        for parent, _ in self.parents:
            depth.append(0 if parent is None else depth[parent] + 1)
        memory = llama_cpp.llama_get_memory(ctx)
        for level in range(max(depth) + 1):
            items = []
            for seq, ids in enumerate(encoded):
                if depth[seq] != level:
                    continue
                parent, shared = self.parents[seq]
                if parent is not None:
                    llama_cpp.llama_memory_seq_cp(memory, parent, seq, 0, shared)
                items += [(token, pos, seq, pos == len(ids) - 1) for pos, token in enumerate(ids) if pos >= shared]
            for start in range(0, len(items), N_BATCH):
                chunk = items[start : start + N_BATCH]
                decode(chunk)
                for row, (_, _, seq, logits) in enumerate(chunk):
                    if logits and not done[seq]:
                        take(seq, row)
        while live := [seq for seq in range(n) if not done[seq]]:
            decode([(tokens[seq][-1], position[seq] + len(tokens[seq]) - 1, seq, True) for seq in live])
            for row, seq in enumerate(live):
                take(seq, row)
        results = []
        for seq in range(n):
            text, _ = _truncate_at_stop(self._text(tokens[seq]), stop)
            results.append(Generation(text=text, finish_reason=finish[seq], prompt_tokens=len(encoded[seq]),
                                      completion_tokens=len(tokens[seq])))
        return results

    def _text(self, tokens: list[int]) -> str:
        return self.llm.detokenize(tokens).decode("utf-8", errors="replace")
