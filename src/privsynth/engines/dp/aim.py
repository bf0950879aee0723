"""`aim`: adaptive, workload-aware DP synthesis (McKenna, Mullins, Sheldon & Miklau 2022).

The workload is every 2-way marginal. With the budget as rho-zCDP and T = 16 d rounds planned, AIM first
measures every 1-way marginal, then repeatedly (a) picks, with the exponential mechanism, the candidate
marginal (a workload pair or a single column) whose current estimate is worst, net of the noise a
measurement would add (score w * (||x - x_hat||_1 - sqrt(2/pi) sigma cells), sensitivity max w), among those
that keep the graphical model under a size that grows with the budget used, (b) measures it with the
Gaussian mechanism (90% of each round's budget), (c) refits the model (private-pgm, warm-started). When a
measurement barely changes the estimate, sigma halves for the next rounds. The last round spends exactly
what is left. Sampling is post-processing of the fitted model.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from privsynth.engines.base import register
from privsynth.engines.dp import graphical as g
from privsynth.engines.dp.mst import DpParams, exponential_mechanism
from privsynth.privacy.accountant import Accountant, exponential_rho, gaussian_rho
from privsynth.transforms.encoder import Encoded

ROUND_ITERS = 100  # estimation steps per round (warm-started); the final fit runs g.ESTIMATION_ITERS


def candidates(attrs: list[str]) -> dict[tuple, float]:
    """Workload (all pairs, weight 1) and its downward closure, each candidate r weighted by its overlap with
    the workload, sum over pairs s of |r & s| (the paper's w_r): a single column scores d - 1, a pair 2(d - 1)."""
    pairs = list(itertools.combinations(attrs, 2))
    return {r: float(sum(len(set(r) & set(s)) for s in pairs)) for r in [*((a,) for a in attrs), *pairs]}


@register
@dataclass(frozen=True, kw_only=True)
class Aim(DpParams):
    """Parameters: `epsilon`, `delta` (the whole fit's budget), `bins` (cells of a number or date column),
    `max_model_size` (megabytes of model parameters; bounds memory and time), `rounds` (0 = 16 x columns)."""

    name: ClassVar[str] = "aim"
    fitted: ClassVar[type] = g.FittedGraphical
    differentially_private: ClassVar[bool] = True
    max_model_size: float = 20.0
    rounds: int = 0

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
        lib, attrs, domain, dataset = g.as_dataset(data)
        secret = g.secret_rng()  # `rng` (the user's seed) is deliberately unused: noise is never seeded
        accountant = accountant if accountant is not None else Accountant(self.epsilon, self.delta)
        rho, prior = accountant.rho_left, accountant.rho_spent
        workload = candidates(attrs)
        answers = {cl: np.asarray(dataset.project(cl).datavector(), dtype=np.float64) for cl in workload}
        rounds = self.rounds or 16 * len(attrs)
        sigma = np.sqrt(rounds / (2 * 0.9 * rho))
        epsilon = np.sqrt(8 * 0.1 * rho / rounds)

        step("aim: measuring 1-way marginals")
        measurements = [g.measure(answers[(a,)], sigma, (a,), secret) for a in attrs]
        accountant.spend_rho("gaussian", f"{len(attrs)} one-way marginals", len(attrs) * gaussian_rho(sigma))
        used = accountant.rho_spent - prior
        model = g.estimate(domain, measurements, iters=g.ESTIMATION_ITERS)
        picked, last = 0, False
        while not last:
            if rho - used < 2 * (gaussian_rho(sigma) + exponential_rho(epsilon)):
                remaining = rho - used  # one last round spends exactly what is left
                sigma, epsilon, last = np.sqrt(1 / (2 * 0.9 * remaining)), np.sqrt(8 * 0.1 * remaining), True
            used += gaussian_rho(sigma) + exponential_rho(epsilon)
            allowed = self.max_model_size * used / rho
            free = {tuple(sorted(c)) for cl in model.cliques for r in (1, 2) for c in itertools.combinations(cl, r)}
            pool = [
                cl
                for cl in workload
                if tuple(sorted(cl)) in free
                or lib.junction_tree.hypothetical_model_size(domain, [*model.cliques, cl]) <= allowed
            ]
            estimates = _marginals(lib, model, pool)
            bias = np.sqrt(2 / np.pi) * sigma
            scores = np.array(
                [workload[cl] * (np.abs(answers[cl] - estimates[cl]).sum() - bias * answers[cl].size) for cl in pool]
            )
            sensitivity = max(workload[cl] for cl in pool)
            chosen = pool[exponential_mechanism(scores / sensitivity, epsilon, secret)]
            accountant.spend_rho("exponential", f"round {picked + 1}: choose a marginal", exponential_rho(epsilon))
            measurements.append(g.measure(answers[chosen], sigma, chosen, secret))
            accountant.spend_rho("gaussian", f"round {picked + 1}: measure it", gaussian_rho(sigma), sigma=sigma)
            before = np.asarray(model.project(chosen).datavector())
            model = g.estimate(domain, g.pooled(measurements), iters=ROUND_ITERS, warm_start=model)
            after = np.asarray(model.project(chosen).datavector())
            picked += 1
            step(f"aim: round {picked}, budget used {used / rho:.0%}")
            if not last and np.abs(after - before).sum() <= np.sqrt(2 / np.pi) * sigma * answers[chosen].size:
                sigma, epsilon = sigma / 2, epsilon * 2  # the estimate is good at this noise: measure finer
        accountant.check()
        step("aim: final estimation")
        model = g.estimate(domain, g.pooled(measurements), iters=g.ESTIMATION_ITERS, warm_start=model)
        order, parents, tables = g.conditional_tables(model, attrs)
        record = accountant.record()
        record["spends"] = _summary(record["spends"], picked)
        return g.FittedGraphical(data.names, data.cardinality, order, parents, tables, (None,) * len(attrs), record)


def _marginals(lib, model, cliques: list[tuple]) -> dict[tuple, np.ndarray]:
    """The model's marginals on many cliques: variable elimination as numpy einsum contractions over the
    exponentiated potentials (each shifted by its max: constants cancel in the normalisation). Eager JAX
    elimination cost ~70 ms a query in dispatch alone; this is ~1 ms for the small models AIM keeps."""
    attrs = list(model.domain.attributes)
    if len(attrs) > 52:  # einsum has 52 index letters
        return {cl: np.asarray(model.project(cl).datavector(), dtype=np.float64) for cl in cliques}
    letter = {a: chr(ord("a") + i) if i < 26 else chr(ord("A") + i - 26) for i, a in enumerate(attrs)}
    factors, subscripts = [], []
    for clique in model.potentials.cliques:
        log_table = np.asarray(model.potentials[clique].values, dtype=np.float64)
        factors.append(np.exp(log_table - log_table.max()))
        subscripts.append("".join(letter[a] for a in clique))
    total = float(model.total)
    out = {}
    for cl in cliques:
        spec = ",".join(subscripts) + "->" + "".join(letter[a] for a in cl)
        joint = np.einsum(spec, *factors, optimize="greedy")
        out[cl] = (joint / joint.sum() * total).ravel()
    return out


def _summary(spends: list[dict], rounds: int) -> list[dict]:
    """Per-round spends folded into three lines (1-way measurements, selections, round measurements)."""
    selections = [s for s in spends if s["what"].endswith("choose a marginal")]
    measures = [s for s in spends if s["what"].endswith("measure it")]
    folded = [s for s in spends if s not in selections and s not in measures]  # metadata, 1-way marginals
    for what, group, mechanism in (("selections", selections, "exponential"), ("measurements", measures, "gaussian")):
        folded.append(
            {
                "mechanism": mechanism,
                "what": f"{rounds} adaptive marginal {what}",
                "rho": sum(s["rho"] for s in group),
                "share": sum(s.get("share", 0.0) for s in group),
            }
        )
    return folded
