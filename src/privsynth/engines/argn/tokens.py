"""Encoded variables <-> discrete tokens, the alphabet argn's network speaks: one token per variable.

A discrete variable (codes 0..k-1; categories are already rare-protected by the encoder) is its code, with a
vocabulary of k. A continuous variable is a uniform score u in (0, 1), the column's empirical CDF, cut into
cells by increasing upper edges (the last is 1): its token is the cell holding u.
- A number column with few distinct values (the encoder's discrete mode, e.g. 0/1 flags or ages) passes its
  CDF levels (`Encoded.levels`): one cell per value, so the token is the value itself and nothing is spent
  on noise inside a value's CDF step.
- Otherwise cells are equal-width in u, which are quantile bins of the column.
Decoding places u uniformly within the cell (the within-cell position): since u is the CDF, its
distribution inside a cell is uniform by construction, so the column's marginal is kept exactly and only
dependence finer than one quantile bin is not modelled. The numeric transform then maps u back to values on
its privacy-pooled grid. A free (unknown) value is token -1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

MAX_BINS = 64
MIN_BINS = 16
MAX_LEVELS = 128  # a discrete-mode column with more values than this is binned like a continuous one
_EPS = 1e-9


def auto_bins(rows: int) -> int:
    """Quantile bins for continuous variables: about 100 rows per bin, a power of two in [16, 64]."""
    return int(min(MAX_BINS, max(MIN_BINS, 2 ** round(math.log2(max(rows, 1) / 100)))))


def cell_edges(
    cardinality: Sequence[int], bins: int, levels: Sequence[np.ndarray | None] | None = None
) -> list[np.ndarray | None]:
    """Per variable: None for a discrete one, else the increasing upper edges of its cells in u (last 1.0)."""
    out: list[np.ndarray | None] = []
    for j, k in enumerate(cardinality):
        if k:
            out.append(None)
            continue
        steps = None if levels is None else levels[j]
        if steps is not None and 1 <= len(steps) <= MAX_LEVELS:
            edges = np.unique(np.clip(np.asarray(steps, dtype=np.float64), 0.0, 1.0))
            edges = edges[edges > 0]
            edges = np.append(edges[:-1], 1.0) if edges.size else np.array([1.0])
        else:
            edges = np.arange(1, bins + 1, dtype=np.float64) / bins
        out.append(edges)
    return out


def vocab(cardinality: Sequence[int], edges: Sequence[np.ndarray | None]) -> list[int]:
    return [int(k) if e is None else int(e.size) for k, e in zip(cardinality, edges, strict=True)]


def to_tokens(values: np.ndarray, edges: Sequence[np.ndarray | None]) -> np.ndarray:
    """(n, variables) encoded values -> (n, variables) int64 tokens; NaN (free) -> -1."""
    known = ~np.isnan(values)
    tokens = np.where(known, values, 0.0).astype(np.int64)
    for j, e in enumerate(edges):
        if e is not None:
            cell = np.searchsorted(e, np.where(known[:, j], values[:, j], 0.0), side="right")
            tokens[:, j] = np.minimum(cell, e.size - 1)
    return np.where(known, tokens, -1)


def from_tokens(tokens: np.ndarray, edges: Sequence[np.ndarray | None], rng: np.random.Generator) -> np.ndarray:
    """(n, variables) tokens -> values; continuous scores drawn uniformly within their cell."""
    out = tokens.astype(np.float64)
    for j, e in enumerate(edges):
        if e is not None:
            hi = e[tokens[:, j]]
            lo = np.where(tokens[:, j] > 0, e[np.maximum(tokens[:, j] - 1, 0)], 0.0)
            out[:, j] = np.clip(lo + rng.random(len(tokens)) * (hi - lo), _EPS, 1 - _EPS)
    return out
