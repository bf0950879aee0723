"""Encoded variables <-> discrete tokens, the alphabet argn's network speaks: one token per variable.

A discrete variable (codes 0..k-1; categories are already rare-protected by the encoder) is its code, with a
vocabulary of k. A continuous variable is a uniform score u in (0, 1), the column's empirical CDF, so
equal-width cells of u are quantile bins of the column: its token is the bin b = floor(u * bins). Decoding
places u uniformly within the bin (the within-bin position): since u is the CDF, its distribution inside a
bin is uniform by construction, so the column's marginal is kept exactly and only dependence finer than one
quantile bin is not modelled. The numeric transform then maps u back to values on its privacy-pooled grid.
A free (unknown) value is token -1.
"""

from __future__ import annotations

import math

import numpy as np

MAX_BINS = 64
MIN_BINS = 16
_EPS = 1e-9


def auto_bins(rows: int) -> int:
    """Quantile bins for continuous variables: about 100 rows per bin, a power of two in [16, 64]."""
    return int(min(MAX_BINS, max(MIN_BINS, 2 ** round(math.log2(max(rows, 1) / 100)))))


def vocab(cardinality: tuple[int, ...] | list[int], bins: int) -> list[int]:
    return [int(k) if k else bins for k in cardinality]


def to_tokens(values: np.ndarray, cardinality: tuple[int, ...], bins: int) -> np.ndarray:
    """(n, variables) encoded values -> (n, variables) int64 tokens; NaN (free) -> -1."""
    known = ~np.isnan(values)
    filled = np.where(known, values, 0.0)
    continuous = np.array([k == 0 for k in cardinality], dtype=bool)
    tokens = np.where(continuous, np.clip(np.floor(filled * bins), 0, bins - 1), filled).astype(np.int64)
    return np.where(known, tokens, -1)


def from_tokens(tokens: np.ndarray, cardinality: tuple[int, ...], bins: int, rng: np.random.Generator) -> np.ndarray:
    """(n, variables) tokens -> values; continuous scores drawn uniformly within their bin."""
    out = tokens.astype(np.float64)
    for j, k in enumerate(cardinality):
        if k == 0:
            out[:, j] = np.clip((tokens[:, j] + rng.random(len(tokens))) / bins, _EPS, 1 - _EPS)
    return out
