"""Numbers <-> uniform scores through the empirical distribution (a probability integral transform).

Continuous mode keeps a grid of quantiles, each pooled over at least `k` rows so that no single record
is stored; encode maps a value to its CDF level (uniform within ties, so spikes such as many zeros
survive), decode interpolates the quantile function, clips to the column's range and rounds to its
precision. Discrete mode (few distinct values, e.g. small integers) keeps the value frequencies and
maps through the step CDF, so decoded values are exactly the observed ones in their proportions; a value
seen fewer than k times is merged into the nearest frequent one, as rare categories are. Merging is only
right while the rare values are a sliver of the column: when they hold more than RARE_SHARE_MAX of the rows
(small data, e.g. 59 histories' lengths spread over 2-20, where only 15 and 16 were seen 5 times) the column
is learned in continuous mode instead, whose pooled quantile cells keep its shape under the same k rule.
"""

from __future__ import annotations

import numpy as np

MAX_GRID = 2048
DISCRETE_MAX_DISTINCT = 100
RARE_SHARE_MAX = 0.05  # discrete mode only while values seen fewer than k times hold at most this share


def fit(x: np.ndarray, *, k: int = 5, discrete_max: int = DISCRETE_MAX_DISTINCT) -> tuple[dict, dict]:
    """Learn the marginal of the finite values of `x` (NaN ignored). Returns (params, arrays)."""
    x = np.asarray(x, dtype="float64")
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise ValueError("no values to learn from")
    support, counts = np.unique(x, return_counts=True)
    frequent = counts >= k
    if support.size <= discrete_max and counts[~frequent].sum() <= RARE_SHARE_MAX * x.size:
        # a value seen fewer than k times is not stored: its rows count for the nearest frequent value
        kept = support[frequent]
        nearest = np.abs(support[:, None] - kept[None, :]).argmin(axis=1)
        merged = np.bincount(nearest, weights=counts, minlength=kept.size)
        cdf = np.cumsum(merged) / merged.sum()
        return {"mode": "discrete", "rare_merged": int((~frequent).sum())}, {"support": kept, "cdf": cdf}
    levels = int(np.clip(x.size // max(k, 1), 2, MAX_GRID)) + 1
    probs = np.linspace(0.0, 1.0, levels)
    grid = np.quantile(x, probs)
    return {"mode": "continuous"}, {"grid": grid}


def encode(x: np.ndarray, params: dict, arrays: dict, rng: np.random.Generator) -> np.ndarray:
    """u in (0, 1) for each value: F(x) with ties spread uniformly over their CDF step (NaN stays NaN)."""
    x = np.asarray(x, dtype="float64")
    u = np.full(x.shape, np.nan)
    ok = np.isfinite(x)
    xs = x[ok]
    noise = rng.random(xs.size)
    if params["mode"] == "discrete":
        support, cdf = arrays["support"], arrays["cdf"]
        idx = np.clip(np.searchsorted(support, xs), 0, support.size - 1)
        # values between support points go to the nearer one
        left = np.clip(idx - 1, 0, support.size - 1)
        idx = np.where(np.abs(support[left] - xs) < np.abs(support[idx] - xs), left, idx)
        lo = np.where(idx > 0, cdf[np.maximum(idx - 1, 0)], 0.0)
        u[ok] = lo + noise * (cdf[idx] - lo)
    else:
        grid = arrays["grid"]
        probs = np.linspace(0.0, 1.0, grid.size)
        lo = np.searchsorted(grid, xs, side="left")
        hi = np.searchsorted(grid, xs, side="right")
        plain = np.interp(xs, grid, probs)
        tied = hi - lo > 1
        p_lo = probs[np.clip(lo, 0, grid.size - 1)]
        p_hi = probs[np.clip(hi - 1, 0, grid.size - 1)]
        u[ok] = np.where(tied, p_lo + noise * (p_hi - p_lo), plain)
    return np.clip(u, 1e-12, 1 - 1e-12)


def decode(u: np.ndarray, params: dict, arrays: dict) -> np.ndarray:
    """Values for uniform scores u: the (step or interpolated) quantile function F^-1(u)."""
    u = np.asarray(u, dtype="float64")
    if params["mode"] == "discrete":
        idx = np.searchsorted(arrays["cdf"], u, side="left")
        return arrays["support"][np.clip(idx, 0, arrays["support"].size - 1)]
    grid = arrays["grid"]
    # the grid sits at equally spaced levels, so the interval index is arithmetic, not a search
    position = np.clip(u, 0.0, 1.0) * (grid.size - 1)
    nearest = np.rint(position)
    position = np.where(np.abs(position - nearest) < 1e-9, nearest, position)  # grid points come back exactly
    index = np.minimum(position.astype(np.int64), grid.size - 2)
    step = np.diff(grid)
    return grid[index] + (position - index) * step[index]


def finish(x: np.ndarray, lo: float | None, hi: float | None, precision: int | None, step: float | None = None):
    """Clip to [lo, hi] and round to `precision` decimals or to a multiple of `step` (NaN kept)."""
    x = np.asarray(x, dtype="float64")
    if lo is not None or hi is not None:
        x = np.clip(x, -np.inf if lo is None else lo, np.inf if hi is None else hi)
    if step:
        x = np.round(x / step) * step
    elif precision is not None:
        x = np.round(x, precision)
    return x
