"""`mst`: differentially private synthesis from a maximum spanning tree of noisy 2-way marginals.

McKenna, Miklau & Sheldon (2021), the winner of the 2018 NIST DP synthetic-data challenge, generalised:
with the budget as rho-zCDP, one third measures every 1-way marginal (Gaussian mechanism), one third picks
d - 1 pairs with the exponential mechanism, scoring each pair by how badly the 1-way model predicts it
(L1 error, sensitivity 1), so that they form a spanning tree (Kruskal), and one third measures those pairs.
private-pgm (`mbi`) fits a graphical model to all the noisy marginals; sampling is post-processing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from privsynth.engines.base import register
from privsynth.engines.dp import graphical as g
from privsynth.privacy.accountant import Accountant, exponential_rho, gaussian_rho
from privsynth.transforms.encoder import Encoded


def exponential_mechanism(scores: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
    """Index drawn with probability proportional to exp(epsilon * score / 2) (score sensitivity 1)."""
    logits = 0.5 * epsilon * (scores - scores.max())
    p = np.exp(logits)
    return int(rng.choice(scores.size, p=p / p.sum()))


def spanning_tree(scores: dict[tuple, float], attrs: list[str], epsilon: float, rng) -> list[tuple]:
    """d - 1 edges joining every attribute, each picked by the exponential mechanism among the pairs that
    join two components (Kruskal with private choices)."""
    component = {a: i for i, a in enumerate(attrs)}
    edges = []
    for _ in range(len(attrs) - 1):
        candidates = [e for e in scores if component[e[0]] != component[e[1]]]
        pick = candidates[exponential_mechanism(np.array([scores[e] for e in candidates]), epsilon, rng)]
        edges.append(pick)
        old, new = component[pick[1]], component[pick[0]]
        component = {a: (new if c == old else c) for a, c in component.items()}
    return edges


@dataclass(frozen=True, kw_only=True)
class DpParams:
    """Parameters every DP engine takes: the (epsilon, delta) budget of this fit."""

    epsilon: float = 1.0
    delta: float = 1e-6
    bins: int = 32  # cells of a number or date column between its public min and max

    def __post_init__(self):
        if not (isinstance(self.epsilon, int | float) and 0 < self.epsilon < float("inf")):
            raise ValueError("epsilon must be a positive finite number")
        if not 0 < self.delta < 1:
            raise ValueError("delta must be in (0, 1); keep it well below 1 / rows")
        if not isinstance(self.bins, int) or self.bins < 2:
            raise ValueError("bins must be an integer of at least 2")


@register
@dataclass(frozen=True, kw_only=True)
class Mst(DpParams):
    """Parameters: `epsilon`, `delta` (the whole fit's budget; delta well below 1 / rows), `bins` (cells of
    a number or date column between its public bounds)."""

    name: ClassVar[str] = "mst"
    fitted: ClassVar[type] = g.FittedGraphical
    differentially_private: ClassVar[bool] = True

    def fit(
        self,
        data: Encoded,
        rng: np.random.Generator,
        progress: Callable[[str], None] | None = None,
        accountant: Accountant | None = None,
    ):
        """`accountant`: the release's, when spends came before this fit (metadata measured under DP): the fit
        spends what it has left of the budget, and its record lists every spend."""
        step = progress or (lambda _m: None)
        lib, attrs, full, dataset = g.as_dataset(data)
        secret = g.secret_rng()  # `rng` (the user's seed) is deliberately unused: noise is never seeded
        accountant = accountant if accountant is not None else Accountant(self.epsilon, self.delta)
        rho = accountant.rho_left
        d = len(attrs)
        share = rho / 3 if d > 1 else rho

        step("mst: measuring 1-way marginals")
        sigma1 = np.sqrt(d / (2 * share))  # d marginals, each record in every one: L2 sensitivity sqrt(d)
        oneway = [g.measure(_counts(dataset, (a,)), sigma1, (a,), secret) for a in attrs]
        accountant.spend_rho("gaussian", f"{d} one-way marginals", gaussian_rho(sigma1, np.sqrt(d)), sigma=sigma1)
        mappings = [g.compression(np.asarray(m.noisy_measurement), sigma1) for m in oneway]
        compress = {a: mp for a, mp in zip(attrs, mappings, strict=True) if mp.size > mp.max() + 1}
        domain = lib.Domain(attrs, [int(mp.max()) + 1 for mp in mappings])
        dataset = dataset.compress(compress) if compress else dataset
        measurements = [m.compress(compress, full) if m.clique[0] in compress else m for m in oneway]

        if d > 1:
            step("mst: choosing the tree of pairs")
            model = g.estimate(domain, measurements, iters=g.ESTIMATION_ITERS)
            scores = {}
            for pair in itertools.combinations(attrs, 2):
                estimate = np.asarray(model.project(pair).datavector())
                scores[pair] = float(np.abs(_counts(dataset, pair) - estimate).sum())
            epsilon_pick = np.sqrt(8 * share / (d - 1))
            tree = spanning_tree(scores, attrs, epsilon_pick, secret)
            accountant.spend_rho(
                "exponential", f"{d - 1} pair selections", (d - 1) * exponential_rho(epsilon_pick), epsilon=epsilon_pick
            )
            step("mst: measuring the tree's 2-way marginals")
            sigma2 = np.sqrt((d - 1) / (2 * share))
            measurements += [g.measure(_counts(dataset, pair), sigma2, pair, secret) for pair in tree]
            accountant.spend_rho(
                "gaussian", f"{d - 1} two-way marginals", gaussian_rho(sigma2, np.sqrt(d - 1)), sigma=sigma2
            )
        accountant.check()
        step("mst: estimating the graphical model")
        model = g.estimate(domain, measurements, iters=g.ESTIMATION_ITERS)
        order, parents, tables = g.conditional_tables(model, attrs)
        full_mappings = tuple(compress.get(a) for a in attrs)
        return g.FittedGraphical(
            data.names, data.cardinality, order, parents, tables, full_mappings, accountant.record()
        )


def _counts(dataset, clique: tuple) -> np.ndarray:
    return np.asarray(dataset.project(clique).datavector(), dtype=np.float64)
