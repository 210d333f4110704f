"""Corpus quantiles of a positive score (perplexity), computed so the result cannot depend on parallelism.

Beam's ApproximateQuantiles merges compacted buffers in whatever order bundles arrive, so at scale its
answer can differ between two runs of the same input, and with it every selection decision. A fixed
histogram over log10(value) merges by addition, which commutes: the quantiles are a pure function of the
multiset of values. With 0.001-wide log10 bins the value returned is within 0.23% of the exact quantile,
far below the noise of any perplexity threshold, at 72 kB per accumulator.
"""

from __future__ import annotations

import math

import numpy as np

LOG10_MIN = -3.0   # 0.001: below any real perplexity
LOG10_MAX = 7.0    # 10 million: above the perplexity of pure noise under a word n-gram model
BIN_WIDTH = 0.001
BINS = int(round((LOG10_MAX - LOG10_MIN) / BIN_WIDTH))


def empty() -> np.ndarray:
    return np.zeros(BINS, dtype=np.int64)


def bin_of(value: float) -> int:
    """Values outside the range land in the first or last bin; NaN and non-positive values are not binned."""
    position = (math.log10(value) - LOG10_MIN) / BIN_WIDTH
    return min(BINS - 1, max(0, int(position)))


def add(histogram: np.ndarray, value: float) -> np.ndarray:
    if value > 0 and math.isfinite(value):
        histogram[bin_of(value)] += 1
    return histogram


def quantile(histogram: np.ndarray, q: float) -> float:
    """Smallest bin upper edge with at least a share ``q`` of the values at or below it."""
    total = int(histogram.sum())
    if total == 0:
        return math.nan
    rank = max(1, math.ceil(q * total))
    index = int(np.searchsorted(np.cumsum(histogram), rank))
    return 10 ** (LOG10_MIN + (index + 1) * BIN_WIDTH)


def percentiles(histogram: np.ndarray) -> list[float]:
    """The 0th..100th percentiles (101 values), the form a side input carries."""
    return [quantile(histogram, p / 100) for p in range(101)]
