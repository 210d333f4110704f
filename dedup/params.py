"""LSHBloom parameters: bands and rows, per-filter false-positive rate, Bloom filter sizes.

The formulas, from LSHBloom (Khan et al., arXiv 2411.04257) and datasketch:

- A pair with Jaccard s shares at least one band of r rows out of b with probability
  ``1 - (1 - s^r)^b``. (b, r) minimize ``w_fp * FP + w_fn * FN`` with FP the area under that curve
  below the threshold and FN the area above it over the threshold, as datasketch's
  ``_optimal_param`` does. The integrands are polynomials of degree r*b <= num_perm, so Gauss-Legendre
  quadrature with num_perm/2 + 1 nodes integrates them exactly: no scipy.
- A document is a duplicate if any of its b band keys hits its band's Bloom filter, so a per-filter
  false-positive rate p gives ``p_eff = 1 - (1 - p)^b``; from a target p_eff, ``p = 1 - (1 - p_eff)^(1/b)``.
- A Bloom filter for n keys at rate p needs ``m = -n ln p / (ln 2)^2`` bits and ``k = (m / n) ln 2``
  hash functions; the index is b of them. n is the capacity: every document the index will see over
  its whole life (later crawls are deduplicated against it and extend it), not this run's count.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

THRESHOLD = 0.8
P_EFFECTIVE = 1e-5
WEIGHTS = (0.5, 0.5)


def collision_probability(s: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """Probability that two documents with Jaccard s share at least one band."""
    return 1.0 - (1.0 - np.asarray(s, dtype=float) ** rows) ** bands


@lru_cache(maxsize=64)
def _nodes(degree: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(degree // 2 + 1)


def _integral(f, lo: float, hi: float, degree: int) -> float:
    """Exact (to rounding) integral of a polynomial of at most ``degree + 1`` on [lo, hi]."""
    x, w = _nodes(degree)
    half = (hi - lo) / 2.0
    return float(half * np.dot(w, f(half * x + (hi + lo) / 2.0)))


def false_positive_area(threshold: float, bands: int, rows: int) -> float:
    """Integral over s in [0, threshold] of the collision probability (datasketch's FP)."""
    return _integral(lambda s: collision_probability(s, bands, rows), 0.0, threshold, bands * rows)


def false_negative_area(threshold: float, bands: int, rows: int) -> float:
    """Integral over s in [threshold, 1] of the miss probability (datasketch's FN)."""
    return _integral(lambda s: 1.0 - collision_probability(s, bands, rows), threshold, 1.0, bands * rows)


@lru_cache(maxsize=256)
def optimal_bands_rows(
    threshold: float = THRESHOLD, num_perm: int = 128, weights: tuple[float, float] = WEIGHTS
) -> tuple[int, int]:
    """(b, r) with b*r <= num_perm minimizing w_fp*FP + w_fn*FN, in datasketch's order (b, then r)
    with its tie-break (the first minimum)."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    w_fp, w_fn = weights
    pairs = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)], dtype=float)
    bands, rows = pairs[:, :1], pairs[:, 1:]
    x, w = _nodes(num_perm)  # exact for every pair: degree b*r <= num_perm

    def area(lo: float, hi: float, miss: bool) -> np.ndarray:
        s = (hi - lo) / 2.0 * x + (hi + lo) / 2.0
        hit = 1.0 - (1.0 - s**rows) ** bands
        return (hi - lo) / 2.0 * ((1.0 - hit) if miss else hit) @ w

    error = w_fp * area(0.0, threshold, False) + w_fn * area(threshold, 1.0, True)
    best = int(np.argmin(error))
    return int(pairs[best, 0]), int(pairs[best, 1])


def per_filter_fp(p_effective: float, bands: int) -> float:
    """Per-band Bloom false-positive rate p giving a document-level rate p_eff: 1 - (1 - p_eff)^(1/b)."""
    if not 0.0 < p_effective < 1.0:
        raise ValueError(f"p_effective must be in (0, 1), got {p_effective}")
    return -math.expm1(math.log1p(-p_effective) / bands)


def effective_fp(p: float, bands: int) -> float:
    """Document-level false-positive rate of b filters at rate p each: 1 - (1 - p)^b."""
    return -math.expm1(bands * math.log1p(-p))


def bloom_bits(capacity: int, p: float) -> int:
    """Bits of one Bloom filter for ``capacity`` keys at rate p, -n ln p / (ln 2)^2, rounded up to bytes."""
    if capacity < 1:
        raise ValueError(f"capacity must be >= 1, got {capacity}")
    bits = math.ceil(-capacity * math.log(p) / math.log(2) ** 2)
    return -(-bits // 8) * 8


def bloom_hashes(bits: int, capacity: int) -> int:
    """Number of hash functions k = round((m / n) ln 2), at least 1."""
    return max(1, round(bits / capacity * math.log(2)))


def bloom_fp(bits: int, hashes: int, keys: int) -> float:
    """Expected false-positive rate of a Bloom filter holding ``keys`` keys: (1 - e^(-k n / m))^k."""
    return (1.0 - math.exp(-hashes * keys / bits)) ** hashes


def index_bits(capacity: int, p: float, bands: int) -> float:
    """The paper's memory formula m = b * (-n ln p) / (ln 2)^2 bits (before rounding to bytes)."""
    return bands * (-capacity * math.log(p)) / math.log(2) ** 2


@dataclass(frozen=True)
class LSHParams:
    """Everything that decides whether two documents collide in an index; compared on load."""

    bands: int
    rows: int
    num_perm: int = 128
    ngram: int = 5
    seed: int = 1
    p_effective: float = P_EFFECTIVE
    threshold: float | None = THRESHOLD

    def __post_init__(self) -> None:
        if self.bands < 1 or self.rows < 1:
            raise ValueError(f"bands and rows must be >= 1, got b={self.bands} r={self.rows}")
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"b*r = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        per_filter_fp(self.p_effective, self.bands)  # validates p_effective

    @classmethod
    def for_threshold(
        cls,
        threshold: float = THRESHOLD,
        num_perm: int = 128,
        p_effective: float = P_EFFECTIVE,
        weights: tuple[float, float] = WEIGHTS,
        **kwargs,
    ) -> LSHParams:
        """Bands and rows chosen from the Jaccard threshold (datasketch's weighted FP+FN)."""
        bands, rows = optimal_bands_rows(threshold, num_perm, tuple(weights))
        return cls(bands=bands, rows=rows, num_perm=num_perm, p_effective=p_effective, threshold=threshold, **kwargs)

    @property
    def p(self) -> float:
        """Per-band Bloom filter false-positive rate."""
        return per_filter_fp(self.p_effective, self.bands)

    def filter_bits(self, capacity: int) -> int:
        return bloom_bits(capacity, self.p)

    def filter_hashes(self, capacity: int) -> int:
        return bloom_hashes(self.filter_bits(capacity), capacity)

    def memory_bytes(self, capacity: int) -> int:
        """Bytes of bit arrays of an index for ``capacity`` documents (what the files hold, plus headers)."""
        return self.bands * self.filter_bits(capacity) // 8

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self, capacity: int) -> str:
        """One line to print before a run: the formula's memory next to the parameters."""
        m = index_bits(capacity, self.p, self.bands)
        return (
            f"LSHBloom: threshold={self.threshold} num_perm={self.num_perm} b={self.bands} r={self.rows} "
            f"p_eff={self.p_effective:g} p={self.p:.3g} k={self.filter_hashes(capacity)} n={capacity:,} -> "
            f"m = b*(-n ln p)/(ln 2)^2 = {m:,.0f} bits = {m / 8 / 2**20:,.1f} MiB "
            f"({m / capacity / 8:.1f} bytes/document)"
        )
