"""Training: AdamW on the summed cross-entropy of every token under per-row orders, a validation split
with early stopping on its loss (the best weights are kept), `max_epochs` and `max_time` limits.

Deterministic for a seed on CPU: the split, the batches, the orders and the initial weights all come from
generators seeded from the caller's numpy Generator.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from privsynth.engines.argn.network import ARGN
from privsynth.engines.argn.tokens import auto_bins


@dataclass(frozen=True)
class Size:
    dim: int
    hidden: int
    batch: int
    bins: int


def auto_size(rows: int) -> Size:
    """Model size from the data size: small data gets a small model (less to memorise, faster)."""
    if rows < 5_000:
        dim, hidden = 32, 64
    elif rows < 50_000:
        dim, hidden = 64, 128
    else:
        dim, hidden = 96, 192
    batch = int(min(1024, max(64, 2 ** round(math.log2(max(rows, 1) / 40)))))
    return Size(dim, hidden, batch, auto_bins(rows))


def random_ranks(rows: int, tokens: int, generator: torch.Generator) -> torch.Tensor:
    """(rows, tokens) ranks in the orders sampling uses: a random set of k tokens first (the conditioned ones,
    in random order), then the others in table order, with k uniform in 0..tokens (k = 0: the unconditional
    order). Every head learns its token given any set of given tokens plus the tokens before it in the
    table, the contexts sampling meets, instead of given any of the 2^tokens subsets."""
    rank = torch.rand(rows, tokens, generator=generator).argsort(dim=1).argsort(dim=1)
    k = torch.randint(0, tokens + 1, (rows, 1), generator=generator)
    key = torch.where(rank < k, rank, tokens + torch.arange(tokens))
    return key.argsort(dim=1).argsort(dim=1)


def _loss(net: ARGN, tokens: torch.Tensor, rank: torch.Tensor) -> torch.Tensor:
    """Summed cross-entropy of every token, per row."""
    cross_entropy = torch.nn.functional.cross_entropy
    total = sum(cross_entropy(logits, tokens[:, t], reduction="sum") for t, logits in enumerate(net(tokens, rank)))
    return total / len(tokens)


def _validation_loss(net: ARGN, tokens: torch.Tensor, rank: torch.Tensor, chunk: int = 4096) -> float:
    """The loss over the validation rows in chunks (bounded memory), per row."""
    total = sum(float(_loss(net, tokens[i : i + chunk], rank[i : i + chunk])) * len(tokens[i : i + chunk])
                for i in range(0, len(tokens), chunk))  # fmt: skip
    return total / len(tokens)


def train(
    tokens: np.ndarray,
    vocab: list[int],
    size: Size,
    rng: np.random.Generator,
    *,
    max_epochs: int,
    max_time: float | None,
    learning_rate: float,
    dropout: float,
    patience: int,
    progress: Callable[[str], None] | None = None,
) -> tuple[ARGN, dict]:
    """Fit the network to (rows, tokens) int64 tokens; returns it with its best weights and a training log."""
    seed = int(rng.integers(2**62))
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    net = ARGN(vocab, size.dim, size.hidden, dropout)
    data = torch.from_numpy(tokens)
    order = torch.randperm(len(data), generator=generator)
    n_val = min(max(len(data) // 10, 1), 20_000) if len(data) >= 20 else 0
    val, fit = data[order[:n_val]], data[order[n_val:]]
    val_rank = random_ranks(len(val), len(vocab), generator)
    with torch.no_grad():  # every head starts at its token's marginal: the first epochs learn dependence
        for t, layer in enumerate(net.out):
            counts = torch.bincount(fit[:, t], minlength=vocab[t]).double() + 0.5
            layer.bias.copy_((counts / counts.sum()).log())
    optimiser = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=1e-4, fused=True)  # one kernel
    # halve the step size whenever the validation loss stalls: late epochs refine instead of jittering
    schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.5, patience=1, threshold=1e-4)
    started, best, best_state, stale, log = time.perf_counter(), math.inf, None, 0, []
    stopped = "max_epochs"
    for epoch in range(1, max_epochs + 1):
        net.train()
        total = 0.0
        for batch in torch.randperm(len(fit), generator=generator).split(size.batch):
            rows = fit[batch]
            loss = _loss(net, rows, random_ranks(len(rows), len(vocab), generator))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(rows)
        net.eval()
        with torch.no_grad():
            val_loss = _validation_loss(net, val, val_rank) if n_val else total / max(len(fit), 1)
        schedule.step(val_loss)
        log.append({"epoch": epoch, "train_loss": round(total / max(len(fit), 1), 5), "val_loss": round(val_loss, 5)})
        if val_loss < best - 1e-4:
            best, stale = val_loss, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
        elapsed = time.perf_counter() - started
        if progress is not None:
            eta = elapsed / epoch * (max_epochs - epoch)
            if max_time is not None:
                eta = min(eta, max(max_time - elapsed, 0.0))
            progress(f"argn epoch {epoch}/{max_epochs} · val loss {val_loss:.4f} (best {best:.4f}) · ETA ≤ {eta:.0f} s")
        if stale >= patience:
            stopped = "early stopping"
            break
        if max_time is not None and elapsed >= max_time:
            stopped = "max_time"
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    summary = {
        "epochs": len(log),
        "stopped_by": stopped,
        "best_val_loss": round(best, 5),
        "validation_rows": n_val,
        "history": log,
    }
    return net, summary
