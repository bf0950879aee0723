"""The mechanisms that measure a table's metadata under differential privacy (see `privacy.metadata`).

Each is a small function with its privacy cost stated in zCDP, the accountant's currency:
- `noisy_counts`: the Gaussian mechanism on a histogram over public cells, where each record falls in
  exactly one cell (L2 sensitivity 1): rho = 1 / (2 sigma^2).
- `bounds_from_counts`: a low and a high quantile read off noisy counts over public bins (post-processing of
  `noisy_counts`; OpenDP's `make_quantiles_from_counts` does the same). Bounds take two histograms: one over
  public coarse bins (decades of numbers, years of dates) finds the range the values occupy (the bins whose
  noisy count is significant), one over fine public bins inside it (25% steps, months) places the quantiles.
  The exponential mechanism over one wide public grid (Smith 2011) was tried first and dropped: for a 1%
  quantile every candidate beyond the data scores within 1% of the rows of the best, and thousands of such
  candidates outweigh it (CPS1988's row numbers, 1..28,155, came out with a maximum of 5.3e14 at epsilon 0.3).
- `thresholded_histogram`: the Gaussian mechanism on the counts of the values present in the data, releasing
  only the values whose noisy count passes `threshold` (Gaussian thresholding; Rogers 2023, OpenDP's
  `make_gaussian_threshold`). Where both neighbours hold a value it is the Gaussian mechanism; a value only
  one person holds gets through with probability P(1 + N(0, sigma^2) > threshold): the release is
  delta-approximately rho-zCDP with rho = 1 / (2 sigma^2) and delta = that probability. `threshold_for`
  sets the threshold from the delta allowed.
All noise comes from OS entropy (a `numpy.random.Generator` seeded by `SeedSequence()`), never the user's seed.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

GRID_MANTISSAS = np.array([1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0])  # steps of at most 25%
GRID_DECADES = range(-6, 16)  # 1e-6 .. 8e15


def secret_rng() -> np.random.Generator:
    """A generator seeded from OS entropy: DP noise is never reproducible from a user's seed."""
    return np.random.default_rng(np.random.SeedSequence())


def numeric_grid(integer: bool = False) -> np.ndarray:
    """Public fine bin edges of numbers: 0 and +-m x 10^k for m in 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 and k in
    -6..15 (each at most 25% from the next: finer bins would each hold fewer rows than the noise blurs);
    rounded to integers for integer columns."""
    positive = (GRID_MANTISSAS[None, :] * 10.0 ** np.array(GRID_DECADES)[:, None]).ravel()
    grid = np.unique(np.concatenate([-positive, [0.0], positive]))
    return np.unique(np.round(grid)) if integer else grid


def gaussian_rho(sigma: float) -> float:
    """zCDP of a sensitivity-1 Gaussian measurement: rho = 1 / (2 sigma^2)."""
    return 1.0 / (2.0 * sigma**2)


def sigma_for(rho: float) -> float:
    """The Gaussian noise scale that costs `rho` at sensitivity 1."""
    return math.sqrt(1.0 / (2.0 * rho))


def noisy_counts(counts: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Counts over public cells plus N(0, sigma^2) each (each record in exactly one cell)."""
    counts = np.asarray(counts, dtype=np.float64)
    return counts + rng.normal(0.0, sigma, counts.shape)


def decade_edges() -> np.ndarray:
    """Public coarse bins of numbers: -1e16 .. -1e-6, 0, 1e-6 .. 1e16 (a bin per sign and decade)."""
    positive = 10.0 ** np.arange(-6, 17)
    return np.concatenate([-positive[::-1], [0.0], positive])


def year_edges() -> np.ndarray:
    """Public coarse bins of dates: every 1 January from 1800 to 2200, in seconds."""
    years = np.arange(1800, 2201).astype(str).astype("datetime64[s]")
    return years.astype("int64").astype(np.float64)


def fine_edges(low: float, high: float, kind: str) -> np.ndarray:
    """Public fine bins between two coarse edges: the numeric grid (integers for integer columns), or months."""
    if kind == "datetime":
        start, end = np.array([low, high]).astype("datetime64[s]").astype("datetime64[M]")
        months = np.arange(start, end + np.timedelta64(1, "M"))  # month starts, both ends included
        return months.astype("datetime64[s]").astype("int64").astype(np.float64)
    grid = numeric_grid(kind == "integer")
    inside = grid[(grid > low) & (grid < high)]
    return np.unique(np.concatenate([[low], inside, [high]]))


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """How many values fall in each bin [e_i, e_i+1) (values outside the edges count in the end bins)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    return np.bincount(index, minlength=len(edges) - 1).astype(np.float64)


def occupied(noisy: np.ndarray, edges: np.ndarray, sigma: float, significant: float) -> tuple[float, float]:
    """The span of the bins whose noisy count exceeds `significant` sds (the largest bin when none does)."""
    present = np.flatnonzero(noisy > significant * sigma)
    first, last = (present[0], present[-1]) if present.size else (int(np.argmax(noisy)),) * 2
    return float(edges[first]), float(edges[last + 1])


def bounds_from_counts(
    noisy: np.ndarray, edges: np.ndarray, alpha: float, sigma: float, significant: float
) -> tuple[float, float]:
    """The left edge of the bin where the noisy count from the left first reaches alpha of the noisy total,
    and the right edge of the bin where the count from the right does. A running count over k bins carries
    k bins' noise, so it must also pass `significant` sds of that, significant * sigma * sqrt(k): noise alone
    in empty bins at the ends does not set a bound."""
    k = np.arange(1, noisy.size + 1)
    need = np.maximum(alpha * float(noisy.sum()), significant * sigma * np.sqrt(k))

    def first(running: np.ndarray) -> int:
        passed = running >= need
        return int(np.argmax(passed)) if passed.any() else 0

    low, high = first(np.cumsum(noisy)), noisy.size - 1 - first(np.cumsum(noisy[::-1]))
    if high < low:
        low, high = high, low
    return float(edges[low]), float(edges[high + 1])


def threshold_for(sigma: float, delta: float) -> float:
    """The count a value's noisy count must pass so that a value held by one person is released with
    probability at most delta: 1 + sigma * Phi^-1(1 - delta)."""
    return 1.0 + sigma * float(norm.isf(delta))


def threshold_delta(sigma: float, threshold: float) -> float:
    """The probability that a value held by one person passes `threshold`: P(1 + N(0, sigma^2) > threshold)."""
    return float(norm.sf((threshold - 1.0) / sigma))


def thresholded_histogram(counts: dict, sigma: float, threshold: float, rng: np.random.Generator) -> dict:
    """{value: noisy count} for the values present whose count plus N(0, sigma^2) passes `threshold`."""
    keys = list(counts)
    noisy = noisy_counts(np.array([counts[k] for k in keys], dtype=np.float64), sigma, rng)
    return {k: float(c) for k, c in zip(keys, noisy, strict=True) if c > threshold}
