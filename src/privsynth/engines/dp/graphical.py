"""What the marginal-based DP engines share: noisy marginals (Gaussian mechanism), domain compression,
estimation of a graphical model from them (private-pgm, pip `mbi`), and a fitted model that samples.

The estimated Markov random field is stored as conditional probability tables along its junction tree's
elimination order (JSON + float arrays, no pickle); sampling draws each variable given its already-drawn
neighbours with the caller's seeded generator (post-processing: it spends no budget and may be reproducible).
All noise and every private selection use `secret_rng()`, fresh OS entropy that is never stored or logged.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from privsynth.engines.base import with_fixed
from privsynth.transforms.encoder import Encoded

ESTIMATION_ITERS = 1000


def secret_rng() -> np.random.Generator:
    """A generator seeded from OS entropy: DP noise must never follow the user's seed."""
    return np.random.default_rng(np.random.SeedSequence())


def mbi():
    """Import private-pgm with float64 JAX (its estimators stall in float32 on large counts)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mbi as lib
    return lib


def names_of(data: Encoded) -> list[str]:
    """mbi attribute names: positional, so any column name (spaces, unicode, '::missing') is safe."""
    return [f"v{j}" for j in range(len(data.names))]


def as_dataset(data: Encoded):
    """(mbi, attribute names, Domain, Dataset) of an all-discrete encoded table (cells of a public domain)."""
    lib = mbi()
    attrs = names_of(data)
    codes = data.values.astype(np.int64)
    domain = lib.Domain(attrs, data.cardinality)
    return lib, attrs, domain, lib.Dataset({a: codes[:, j] for j, a in enumerate(attrs)}, domain)


def measure(counts: np.ndarray, sigma: float, clique: tuple, rng: np.random.Generator):
    """Gaussian mechanism on a marginal's counts (L2 sensitivity 1 under add/remove of one record)."""
    lib = mbi()
    noisy = counts + rng.normal(0.0, sigma, counts.size)
    return lib.LinearMeasurement(noisy, clique, sigma)


def pooled(measurements: list) -> list:
    """Measurements of the same clique pooled into one by inverse-variance weighting. Exact for private-pgm's
    squared-L2 loss (it changes only by a constant), and the estimator's compiled program then changes only
    when a new clique is measured, not every round (XLA compilation was ~70% of an AIM fit)."""
    lib = mbi()
    by_clique: dict[tuple, list] = {}
    for m in measurements:
        by_clique.setdefault(tuple(m.clique), []).append(m)
    out = []
    for clique, group in by_clique.items():
        if len(group) == 1:
            out.append(group[0])
            continue
        weights = np.array([1.0 / float(m.stddev) ** 2 for m in group])
        values = np.stack([np.asarray(m.noisy_measurement, dtype=np.float64) for m in group])
        out.append(lib.LinearMeasurement(weights @ values / weights.sum(), clique, float(weights.sum() ** -0.5)))
    return out


def compression(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """A 1-way marginal's cells whose noisy count is below 3 sigma merged into one cell (MST's rule):
    mapping[i] = new index of cell i. Post-processing of the noisy counts only."""
    keep = noisy >= 3 * sigma
    if (~keep).sum() < 2 or keep.sum() == 0:  # merging one cell (or every cell) changes nothing
        return np.arange(noisy.size)
    mapping = np.full(noisy.size, int(keep.sum()))
    mapping[keep] = np.arange(int(keep.sum()))
    return mapping


def estimate(domain, measurements, iters: int = ESTIMATION_ITERS, warm_start=None):
    """A Markov random field fitted to the noisy marginals by mirror descent (private-pgm)."""
    lib = mbi()
    return lib.estimation.MirrorDescent().estimate(domain, measurements, iters=iters, warm_start=warm_start)


@dataclass(frozen=True)
class FittedGraphical:
    """A graphical model as conditional tables: variable `order[i]` is drawn from `tables[i]` indexed by
    the values of `parents[i]`. `mappings[j]`, when present, maps variable j's original cells to the
    compressed cells the model uses; a merged cell decodes to one of its original cells, uniformly."""

    names: tuple[str, ...]
    cardinality: tuple[int, ...]
    order: tuple[int, ...]
    parents: tuple[tuple[int, ...], ...]
    tables: tuple[np.ndarray, ...]
    mappings: tuple[np.ndarray | None, ...]
    privacy: dict

    def sample(self, n: int, rng: np.random.Generator, fixed: Encoded | None = None) -> Encoded:
        """Forward sampling along `order`; with fixed values, exact conditional sampling (see `_conditioned`)."""
        cells = np.zeros((n, len(self.names)), dtype=np.int64)
        if fixed is not None and not np.isnan(fixed.values).all():
            self._conditioned(cells, fixed, rng)
        else:
            for var, parents, table in zip(self.order, self.parents, self.tables, strict=True):
                index = tuple(cells[:, p] for p in parents)
                cells[:, var] = _draw(table[index] if parents else np.broadcast_to(table, (n, table.size)), rng)
        out = np.empty((n, len(self.names)))
        for j, mapping in enumerate(self.mappings):
            out[:, j] = cells[:, j] if mapping is None else _expand(cells[:, j], mapping, rng)
        return Encoded(self.names, self.cardinality, with_fixed(out, fixed))

    def _conditioned(self, cells: np.ndarray, fixed: Encoded, rng: np.random.Generator) -> None:
        """Fill `cells` (model cells) with draws from the model given each row's fixed values, exactly:
        the conditional tables are factors of the joint, and for each pattern of fixed columns bucket
        elimination sums out the free variables (in reverse sampling order, so the junction tree keeps the
        buckets small) and then draws them forward from their buckets evaluated at the row's values. Fixed
        columns stay dimensions of the factors, so one pass serves every row sharing the pattern."""
        known = ~np.isnan(fixed.values)
        for j, mapping in enumerate(self.mappings):  # fixed original cells -> model (compressed) cells
            rows = known[:, j]
            values = fixed.values[rows, j].astype(np.int64)
            cells[rows, j] = values if mapping is None else mapping[values]
        factors = [((*p, v), t) for v, p, t in zip(self.order, self.parents, self.tables, strict=True)]
        patterns, inverse = np.unique(known, axis=0, return_inverse=True)
        for k, pattern in enumerate(patterns):
            rows = np.flatnonzero(inverse.ravel() == k)
            free = [v for v in self.order if not pattern[v]]
            for var, scope, bucket in _buckets(factors, free):
                index = tuple(slice(None) if u == var else cells[rows, u] for u in scope)
                probs = bucket[index]
                cells[rows, var] = _draw(np.broadcast_to(probs, (rows.size, probs.shape[-1])), rng)

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        params = {
            "names": list(self.names),
            "cardinality": list(self.cardinality),
            "order": list(self.order),
            "parents": [list(p) for p in self.parents],
            "privacy": self.privacy,
        }
        arrays = {f"table/{i}": t for i, t in enumerate(self.tables)}
        arrays.update({f"mapping/{j}": m for j, m in enumerate(self.mappings) if m is not None})
        return params, arrays

    @classmethod
    def from_state(cls, params: dict, arrays: dict[str, np.ndarray]) -> FittedGraphical:
        d = len(params["names"])
        return cls(
            tuple(params["names"]),
            tuple(params["cardinality"]),
            tuple(params["order"]),
            tuple(tuple(p) for p in params["parents"]),
            tuple(np.asarray(arrays[f"table/{i}"], dtype=np.float64) for i in range(len(params["order"]))),
            tuple(np.asarray(arrays[f"mapping/{j}"]) if f"mapping/{j}" in arrays else None for j in range(d)),
            params["privacy"],
        )


MAX_BUCKET_CELLS = 50_000_000  # ~400 MB of float64: beyond this, conditioning on that many columns is refused


def _draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One category per row from unnormalised probabilities (rows of zeros: uniform)."""
    cdf = np.cumsum(probs, axis=1)
    empty = cdf[:, -1] <= 0
    if empty.any():
        cdf[empty] = np.arange(1, probs.shape[1] + 1)
    u = rng.random(probs.shape[0])[:, None] * cdf[:, -1:]
    return np.minimum((u >= cdf).sum(axis=1), probs.shape[1] - 1)


def _buckets(factors: list[tuple[tuple[int, ...], np.ndarray]], free: list[int]) -> list:
    """Bucket elimination of the `free` variables, last first: [(var, scope, bucket)] in sampling order,
    where `bucket` (axes = `scope`, `var` last) is the product of the factors that held `var` when it was
    summed out; its other variables are fixed or drawn before `var`."""
    factors = list(factors)
    out = []
    for var in reversed(free):
        held = [f for f in factors if var in f[0]]
        factors = [f for f in factors if var not in f[0]]
        scope = (*dict.fromkeys(u for vars_, _ in held for u in vars_ if u != var), var)
        label = {u: i for i, u in enumerate(scope)}
        size = 1
        for u in scope:
            size *= next(t.shape[vars_.index(u)] for vars_, t in held if u in vars_)
        if size > MAX_BUCKET_CELLS:
            from privsynth.errors import ParameterError

            raise ParameterError(
                f"conditioning on these columns together needs a table of {size:,} cells: condition on fewer columns"
            )
        operands = [x for vars_, t in held for x in (t, [label[u] for u in vars_])]
        bucket = np.einsum(*operands, list(range(len(scope))), optimize="greedy")
        out.append((var, scope, bucket))
        factors.append((scope[:-1], bucket.sum(axis=-1)))
    return out[::-1]


def _expand(compressed: np.ndarray, mapping: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Compressed cells back to original cells; the merged cell becomes one of its members, uniformly."""
    merged = np.flatnonzero(mapping == mapping.max()) if mapping.max() < mapping.size - 1 else None
    kept = np.flatnonzero(mapping < mapping.max()) if merged is not None else np.arange(mapping.size)
    out = np.empty(compressed.size)
    if merged is None:
        return kept[compressed].astype(np.float64)
    is_merged = compressed == mapping.max()
    out[~is_merged] = kept[compressed[~is_merged]]
    out[is_merged] = rng.choice(merged, size=int(is_merged.sum()))
    return out


def conditional_tables(model, attrs: list[str]) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...], tuple]:
    """The MRF as (order, parents, tables) along its junction tree (each variable's already-drawn
    neighbours sit in one maximal clique, so each table is a sub-marginal of one clique)."""
    lib = mbi()
    jtree, elimination = lib.junction_tree.make_junction_tree(model.domain, [tuple(c) for c in model.cliques])
    cliques = [set(c) for c in jtree.nodes]
    index = {a: j for j, a in enumerate(attrs)}
    order, parents, tables, used = [], [], [], set()
    for attr in elimination[::-1]:
        near = set().union(*[c for c in cliques if attr in c]) & used
        given = tuple(sorted(near, key=index.get))
        marginal = np.asarray(model.project((*given, attr)).datavector(flatten=False), dtype=np.float64)
        marginal = np.clip(marginal, 0, None)
        total = marginal.sum(axis=-1, keepdims=True)
        k = marginal.shape[-1]
        table = np.where(total > 0, marginal / np.where(total > 0, total, 1), 1.0 / k)
        order.append(index[attr])
        parents.append(tuple(index[a] for a in given))
        tables.append(table)
        used.add(attr)
    return tuple(order), tuple(parents), tuple(tables)
