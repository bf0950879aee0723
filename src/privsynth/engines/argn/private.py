"""DP-SGD training of argn (Abadi et al. 2016), calibrated and accounted with Opacus' Rényi accountant.

Each step takes a Poisson sample of the rows (each row in with probability q = batch / rows), computes
every sampled row's gradient (torch.func: vmap of grad), clips each to L2 norm `max_grad_norm` (C), sums
them, adds N(0, (sigma C)^2) to every coordinate and divides by the expected batch size. The noise
multiplier sigma is the smallest that keeps `steps` such steps within (epsilon, delta): Opacus'
`get_noise_multiplier`; the spend is Opacus' `compute_rdp` curve, recorded in privsynth's accountant.
What plain training does with the data and DP-SGD must not:
- no validation split and no early stopping on its loss (that choice would see private rows unprotected):
  every planned epoch runs (max_time may cut them short; the steps actually taken are what is recorded);
- no output biases initialised from the token counts (a marginal, measured without noise): they start at 0;
- the Poisson samples and the noise come from OS entropy, never from the user's seed.
The model's gradient noise is per step, so DP-SGD needs many rows per step to learn: it is meant for
tables of tens of thousands of rows; on small tables the marginal engines (mst, aim) do better.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch

from privsynth.engines.argn.network import ARGN
from privsynth.engines.argn.train import Size, random_ranks
from privsynth.privacy.accountant import ORDERS, Accountant


def noise_multiplier(epsilon: float, delta: float, sample_rate: float, steps: int) -> float:
    """The smallest noise multiplier (to 0.01 in epsilon) that keeps `steps` steps within budget (Opacus)."""
    import warnings

    from opacus.accountants.utils import get_noise_multiplier

    with warnings.catch_warnings():  # its search tries tiny multipliers whose optimal order is off its grid
        warnings.simplefilter("ignore", UserWarning)
        return float(
            get_noise_multiplier(
                target_epsilon=epsilon, target_delta=delta, sample_rate=sample_rate, steps=steps, accountant="rdp"
            )
        )


def noise_multiplier_after(accountant: Accountant, sample_rate: float, steps: int) -> float:
    """The smallest noise multiplier (to 0.01 in epsilon, as Opacus') that keeps the spends already in
    `accountant` (e.g. metadata measured under DP) plus `steps` steps within its budget: bisection on the
    composed Rényi curve, which decreases as the multiplier grows."""
    target = accountant.epsilon
    low, high = 0.0, 10.0
    while accountant.spent(renyi_curve(sample_rate, high, steps)) > target:
        low, high = high, 2 * high
        if high > 1e6:
            raise ValueError("the budget left after the earlier spends is too small for any DP-SGD step")
    while accountant.spent(renyi_curve(sample_rate, high, steps)) < target - 0.01 and high - low > 1e-4:
        middle = (low + high) / 2
        if accountant.spent(renyi_curve(sample_rate, middle, steps)) > target:
            low = middle
        else:
            high = middle
    return high


def renyi_curve(sample_rate: float, sigma: float, steps: int) -> np.ndarray:
    """The subsampled Gaussian mechanism's Rényi DP after `steps` steps, at the accountant's ORDERS (Opacus)."""
    from opacus.accountants.analysis.rdp import compute_rdp

    return np.asarray(compute_rdp(q=sample_rate, noise_multiplier=sigma, steps=steps, orders=list(ORDERS)))


def train_private(
    tokens: np.ndarray,
    vocab: list[int],
    size: Size,
    *,
    epochs: int,
    max_time: float | None,
    learning_rate: float,
    max_grad_norm: float,
    accountant: Accountant,
    progress: Callable[[str], None] | None = None,
    groups: np.ndarray | None = None,
) -> tuple[ARGN, dict]:
    """`groups` (optional, one integer per row): the privacy unit is a group of rows (an entity's whole
    history): groups are Poisson-sampled and each group's summed gradient is clipped, so adding or removing
    one group changes the noisy sum by at most the clip, as one row does without groups."""
    from torch.func import functional_call, grad, vmap

    secret = torch.Generator().manual_seed(int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> 1))
    torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=secret)))
    data = torch.from_numpy(tokens)
    members = None if groups is None else _members(groups, len(data))
    units = len(data) if members is None else len(members)
    # rows: `batch` rows per step; groups: as many rows per step but at least 64 groups (each group's gradient is
    # clipped to C as a whole, so a step of a few long histories would be mostly noise)
    rate = min(size.batch / units, 1.0) if members is None else min(1.0, max(size.batch / len(data), 64 / units))
    planned = epochs * max(1, math.ceil(1 / rate))
    if accountant.spends:  # earlier spends of the same release: the steps get what they left
        sigma = noise_multiplier_after(accountant, rate, planned)
    else:
        sigma = noise_multiplier(accountant.epsilon, accountant.delta, rate, planned)
    net = ARGN(vocab, size.dim, size.hidden, dropout=0.0)
    optimiser = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=0.0)
    names = [n for n, _ in net.named_parameters()]

    def row_loss(params, row, rank):
        logits = functional_call(net, params, (row[None], rank[None]))
        cross_entropy = torch.nn.functional.cross_entropy
        return sum(cross_entropy(lg, row[t : t + 1], reduction="sum") for t, lg in enumerate(logits))

    per_row = vmap(grad(row_loss), in_dims=(None, 0, 0))
    started, taken, log = time.perf_counter(), 0, []
    expected = rate * units
    for step in range(planned):
        chosen = torch.nonzero(torch.rand(units, generator=secret) < rate).flatten().numpy()
        params = {n: p.detach() for n, p in net.named_parameters()}
        summed = {n: torch.zeros_like(p) for n, p in params.items()}
        for rows, owner in _parts(chosen, members, 256):  # bounded memory: per-row gradients of ~256 rows at once
            batch = data[torch.from_numpy(rows)]
            grads = per_row(params, batch, random_ranks(len(batch), len(vocab), secret))
            if owner is not None:  # one summed gradient per group: the unit that is clipped
                units_here = int(owner.max()) + 1
                grads = {n: torch.zeros((units_here, *g.shape[1:])).index_add_(0, owner, g) for n, g in grads.items()}
            norms = torch.sqrt(sum(grads[n].flatten(1).pow(2).sum(1) for n in names))
            factor = (max_grad_norm / (norms + 1e-12)).clamp(max=1.0)
            for n in names:
                summed[n] += torch.einsum("b,b...->...", factor, grads[n])
        for n, p in net.named_parameters():
            noise = torch.normal(0.0, sigma * max_grad_norm, size=p.shape, generator=secret)
            p.grad = (summed[n] + noise) / expected
        optimiser.step()
        taken = step + 1
        if taken % max(1, math.ceil(1 / rate)) == 0:
            epoch = taken // max(1, math.ceil(1 / rate))
            log.append({"epoch": epoch, "steps": taken})
            if progress is not None:
                progress(f"argn DP-SGD epoch {epoch}/{epochs} (noise multiplier {sigma:.2f})")
        if max_time is not None and time.perf_counter() - started >= max_time:
            break
    accountant.spend_curve(
        "dp-sgd",
        f"{taken} noisy gradient steps (Poisson rate {rate:.4g}, clip {max_grad_norm:g})",
        renyi_curve(rate, sigma, taken),
        noise_multiplier=sigma,
        sample_rate=rate,
        steps=taken,
        max_grad_norm=max_grad_norm,
    )
    accountant.check()
    net.eval()
    summary = {
        "epochs": len(log),
        "steps": taken,
        "planned_steps": planned,
        "stopped_by": "max_time" if taken < planned else "epochs",
        "noise_multiplier": sigma,
        "history": log,
    }
    return net, summary


def _members(groups: np.ndarray, rows: int) -> list[np.ndarray]:
    """The rows of each group (the privacy units)."""
    groups = np.asarray(groups, dtype=np.int64)
    if len(groups) != rows or (groups < 0).any():
        raise ValueError("groups must give a non-negative integer per row")
    order = np.argsort(groups, kind="stable")
    counts = np.bincount(groups)
    return [part for part in np.split(order, np.cumsum(counts)[:-1]) if len(part)]


def _parts(chosen: np.ndarray, members: list[np.ndarray] | None, rows: int):
    """(row indices, owning unit of each row within the part, or None when units are rows) of the chosen
    units, in consecutive parts of about `rows` rows; a group is never split."""
    if len(chosen) == 0:
        return []
    if members is None:
        return [(part, None) for part in np.array_split(chosen, math.ceil(len(chosen) / rows))]
    parts, current, size = [], [], 0
    for unit in chosen.tolist():
        current.append(unit)
        size += len(members[unit])
        if size >= rows:
            parts.append(current)
            current, size = [], 0
    parts += [current] if current else []
    return [
        (
            np.concatenate([members[u] for u in part]),
            torch.from_numpy(np.repeat(np.arange(len(part)), [len(members[u]) for u in part])),
        )
        for part in parts
    ]
