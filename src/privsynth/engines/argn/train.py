"""Training: AdamW on the summed cross-entropy of every token under per-row orders, a validation split
with early stopping on its loss (the best weights are kept), `max_epochs` and `max_time` limits. The log
says why training stopped (converged: `patience` epochs without improvement; max_epochs; max_time, then
with the seconds it took and whether the validation loss was still falling) and the loss curve.

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


def epoch_seconds(rows: int, vocab: list[int], size: Size) -> float:
    """Estimated seconds of one epoch (training plus validation) on a 2-core machine at rest: per batch of b
    rows, per token t, 2.75e-4 + b (7.0e-11 dim hidden + 8.7e-11 hidden vocab_t + 1.14e-9 tokens dim) CPU
    seconds (fitted within a factor of 2 to timed steps over dim/hidden 32/64..96/192, batches 64..1024,
    5..20 tokens, vocabularies 16..200), two threads 1.6 times faster than one, validation 5% on top.
    A function of the data's shape only, so that a choice made from it is the same on every machine."""
    batches = math.ceil(max(rows, 1) * 0.9 / size.batch)
    tokens = len(vocab)
    per_row = sum(7.0e-11 * size.dim * size.hidden + 8.7e-11 * size.hidden * v + 1.14e-9 * tokens * size.dim
                  for v in vocab)  # fmt: skip
    per_batch = 2.75e-4 * tokens + size.batch * per_row
    return batches * per_batch / 1.6 * 1.05


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
    """Fit the network to (rows, tokens) int64 tokens; returns it with its best weights and a training log.

    The clock is read before every batch, and a batch starts only if it and the validation pass after it
    (timed on the previous epoch, estimated before the first) end within `max_time`: a limit is kept to
    within about one batch, not overshot by a whole epoch. An epoch cut short is validated and logged with
    the share of its batches that ran."""
    started = time.perf_counter()  # the limit covers the set-up too
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
    clock = _Clock(max_time, n_val, started)
    best, best_state, stale, log = math.inf, None, 0, []
    stopped = "max_epochs"
    for epoch in range(1, max_epochs + 1):
        net.train()
        total, seen = 0.0, 0
        batches = torch.randperm(len(fit), generator=generator).split(size.batch)
        for index, batch in enumerate(batches):
            if index and clock.out_of_time(len(batch)):
                stopped = "max_time"
                break
            batch_started = time.perf_counter()
            rows = fit[batch]
            loss = _loss(net, rows, random_ranks(len(rows), len(vocab), generator))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(rows)
            seen += len(rows)
            clock.trained(len(rows), time.perf_counter() - batch_started)
        net.eval()
        val_started = time.perf_counter()
        with torch.no_grad():
            val_loss = _validation_loss(net, val, val_rank) if n_val else total / max(seen, 1)
        clock.validated(time.perf_counter() - val_started)
        entry = {"epoch": epoch, "train_loss": round(total / max(seen, 1), 5), "val_loss": round(val_loss, 5)}
        if seen < len(fit):
            entry["share"] = round(seen / len(fit), 4)  # the epoch was cut short by max_time
        log.append(entry)
        if val_loss < best - 1e-4:
            best, stale = val_loss, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
        if progress is not None:
            progress(f"argn epoch {epoch}/{max_epochs} · val loss {val_loss:.4f} (best {best:.4f}) · "
                     f"ETA ≤ {clock.eta(epoch, max_epochs):.0f} s")  # fmt: skip
        if stopped == "max_time":
            break
        schedule.step(val_loss)
        if stale >= patience:
            stopped = "converged"
            break
        if clock.out_of_time(size.batch):
            stopped = "max_time"
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    summary = {
        "epochs": len(log),
        "max_epochs": max_epochs,
        "stopped_by": stopped,
        "best_val_loss": round(best, 5),
        "validation_rows": n_val,
        "history": log,
    }
    if stopped == "max_time":  # the run depended on the clock anyway: its timing is part of the record
        summary.update(max_time=max_time, seconds=round(clock.elapsed(), 2), still_improving=stale <= 1)
    return net, summary


class _Clock:
    """Time spent against `max_time`: per training row (from the batches so far) and per validation pass
    (the last one measured; before the first, estimated as a forward pass over the validation rows at half
    the cost of a training row, which also runs backward and the optimiser)."""

    def __init__(self, max_time: float | None, validation_rows: int, started: float):
        self.max_time, self.validation_rows, self.started = max_time, validation_rows, started
        self.rows, self.train_seconds, self.validation_seconds = 0, 0.0, None
        self.epoch_seconds: list[float] = []
        self.epoch_started = self.started

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def trained(self, rows: int, seconds: float) -> None:
        self.rows += rows
        self.train_seconds += seconds

    def validated(self, seconds: float) -> None:
        self.validation_seconds = seconds
        now = time.perf_counter()
        self.epoch_seconds.append(now - self.epoch_started)
        self.epoch_started = now

    def out_of_time(self, next_rows: int) -> bool:
        """Whether a batch of `next_rows` rows plus a validation pass would end past `max_time`."""
        if self.max_time is None:
            return False
        per_row = self.train_seconds / max(self.rows, 1)
        validation = self.validation_seconds
        if validation is None:
            validation = 0.5 * per_row * self.validation_rows
        return self.elapsed() + per_row * next_rows + validation > self.max_time

    def eta(self, epoch: int, max_epochs: int) -> float:
        eta = sum(self.epoch_seconds) / max(epoch, 1) * (max_epochs - epoch)
        if self.max_time is not None:
            eta = min(eta, max(self.max_time - self.elapsed(), 0.0))
        return eta
