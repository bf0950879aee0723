"""`argn`: an any-order autoregressive neural generator (in the spirit of MOSTLY AI's TabularARGN).

Every encoded variable becomes discrete tokens (`tokens`), a PyTorch network predicts each token from any
subset of the others (`network`), trained with random column orders, validation-based early stopping and
time/epoch limits (`train`), and rows are drawn token by token with the conditioned columns first
(`sample`). The learned state is the network's weights (float32 arrays) plus JSON; loading runs no code.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from privsynth.engines.argn import tokens as tok
from privsynth.engines.argn.sample import sample_tokens, sampling_order
from privsynth.engines.argn.train import Size, auto_size, epoch_seconds, train
from privsynth.engines.base import register, with_fixed
from privsynth.engines.training import time_note
from privsynth.errors import UndertrainedWarning
from privsynth.transforms.encoder import Encoded


def _network(params: dict, arrays: dict[str, np.ndarray]):
    import torch

    from privsynth.engines.argn.network import ARGN

    net = ARGN(list(params["vocab"]), params["dim"], params["hidden"])
    net.load_state_dict({k.removeprefix("net/"): torch.from_numpy(v.copy()) for k, v in arrays.items()})
    net.eval()
    return net


@dataclass(frozen=True)
class FittedArgn:
    names: tuple[str, ...]
    cardinality: tuple[int, ...]
    size: Size
    temperature: float
    training: dict
    weights: dict[str, np.ndarray]
    edges: tuple[np.ndarray | None, ...]  # per variable: its token cells in u (see tokens), None if discrete
    privacy: dict = field(default_factory=dict)  # the accountant's record when trained with DP-SGD

    @property
    def vocab(self) -> list[int]:
        return tok.vocab(self.cardinality, self.edges)

    def sample(self, n: int, rng: np.random.Generator, fixed: Encoded | None = None) -> Encoded:
        import torch

        given = np.full((n, len(self.names)), np.nan) if fixed is None else fixed.values
        start = tok.to_tokens(given, self.edges)
        net = _network(self._params(), self.weights)
        with _threads(torch):
            drawn = sample_tokens(net, start, sampling_order(start), self.temperature, rng)
        values = tok.from_tokens(drawn, self.edges, rng)
        return Encoded(self.names, self.cardinality, with_fixed(values, fixed))

    def _params(self) -> dict:
        return {"vocab": self.vocab, "dim": self.size.dim, "hidden": self.size.hidden}

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        params = {
            "names": list(self.names),
            "cardinality": list(self.cardinality),
            "size": dataclasses.asdict(self.size),
            "temperature": self.temperature,
            "training": self.training,
            "privacy": self.privacy,
        }
        cells = {f"edges/{j}": e for j, e in enumerate(self.edges) if e is not None}
        return params, {**self.weights, **cells}

    @classmethod
    def from_state(cls, params: dict, arrays: dict[str, np.ndarray]) -> FittedArgn:
        return cls(
            tuple(params["names"]),
            tuple(params["cardinality"]),
            Size(**params["size"]),
            float(params["temperature"]),
            params["training"],
            {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items() if k.startswith("net/")},
            tuple(
                np.asarray(arrays[f"edges/{j}"], dtype=np.float64) if f"edges/{j}" in arrays else None
                for j in range(len(params["names"]))
            ),
            params.get("privacy", {}),
        )


def threads() -> int:
    """Threads for torch: OMP_NUM_THREADS when the user set it (e.g. one per worker when several processes
    share the cores), else every core this process may use (torch's own default can be lower)."""
    wanted = os.environ.get("OMP_NUM_THREADS", "")
    if wanted.isdigit() and int(wanted) > 0:
        return int(wanted)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class _threads:
    """Use `threads()` threads for torch while inside, then restore."""

    def __init__(self, torch):
        self.torch = torch

    def __enter__(self):
        self.before = self.torch.get_num_threads()
        self.torch.set_num_threads(threads())

    def __exit__(self, *exc):
        self.torch.set_num_threads(self.before)


@register
@dataclass(frozen=True, kw_only=True)
class Argn:
    """Parameters: `max_epochs` and `max_time` (seconds, None = no limit) bound training (a run stopped by
    max_time depends on the machine's speed); `patience` epochs without validation improvement stop it;
    `dim`/`hidden`/`batch_size`/`bins` (quantile bins of continuous columns) 0 = chosen from the data size;
    `temperature` scales sampling (1 = as learned). With `epsilon` set, training is DP-SGD (see `private`):
    `dp_epochs` epochs (all run), per-row gradients clipped to `max_grad_norm`, (epsilon, delta)-DP."""

    name: ClassVar[str] = "argn"
    max_epochs: int = 100
    max_time: float | None = 600.0
    patience: int = 5
    learning_rate: float = 1e-3
    dropout: float = 0.1
    dim: int = 0
    hidden: int = 0
    batch_size: int = 0
    bins: int = 0
    temperature: float = 1.0
    epsilon: float | None = None
    delta: float = 1e-6
    dp_epochs: int = 20
    max_grad_norm: float = 1.0
    fitted: ClassVar[type] = FittedArgn

    @property
    def differentially_private(self) -> bool:
        return self.epsilon is not None

    def __post_init__(self):
        if self.max_epochs < 1 or self.patience < 1:
            raise ValueError("max_epochs and patience must be at least 1")
        if self.max_time is not None and self.max_time <= 0:
            raise ValueError("max_time must be positive (seconds) or None")
        if not 0 < self.learning_rate < 1 or not 0 <= self.dropout < 1 or self.temperature <= 0:
            raise ValueError("learning_rate must be in (0, 1), dropout in [0, 1), temperature > 0")
        if min(self.dim, self.hidden, self.batch_size, self.bins) < 0 or self.bins == 1:
            raise ValueError("dim, hidden, batch_size and bins must be 0 (automatic) or positive (bins >= 2)")
        if self.epsilon is not None:
            if not (isinstance(self.epsilon, int | float) and 0 < self.epsilon < float("inf")):
                raise ValueError("epsilon must be a positive finite number")
            if not 0 < self.delta < 1 or self.dp_epochs < 1 or not self.max_grad_norm > 0:
                raise ValueError("delta must be in (0, 1), dp_epochs at least 1, max_grad_norm positive")

    def fit(
        self,
        data: Encoded,
        rng: np.random.Generator,
        progress: Callable[[str], None] | None = None,
        groups: np.ndarray | None = None,
        accountant=None,
    ) -> FittedArgn:
        """`groups` (DP-SGD only): one integer per row; each group of rows (an entity's history) is one privacy
        unit instead of each row. `accountant` (DP-SGD only): the release's, when spends came before this fit
        (metadata measured under DP): the noise is set so that the whole release stays within its budget."""
        import torch

        size, edges = self._layout(data)
        tokens = tok.to_tokens(data.values, edges)
        if self.epsilon is not None:
            return self._fit_private(data, tokens, size, edges, progress, groups, accountant)
        if groups is not None or accountant is not None:
            raise ValueError("groups of rows are privacy units of DP-SGD only (set epsilon)")
        with _threads(torch):
            net, log = train(
                tokens,
                tok.vocab(data.cardinality, edges),
                size,
                rng,
                max_epochs=self.max_epochs,
                max_time=self.max_time,
                learning_rate=self.learning_rate,
                dropout=self.dropout,
                patience=self.patience,
                progress=progress,
            )
        note = time_note(log)
        if note is not None:
            warnings.warn(note, UndertrainedWarning, stacklevel=2)
        weights = {f"net/{k}": v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}
        return FittedArgn(data.names, data.cardinality, size, self.temperature, log, weights, edges)

    def _layout(self, data: Encoded) -> tuple[Size, tuple]:
        """The network's size and each variable's token cells, from the data's size and encoding."""
        auto = auto_size(data.n)
        size = Size(
            self.dim or auto.dim, self.hidden or auto.hidden, self.batch_size or auto.batch, self.bins or auto.bins
        )
        return size, tuple(tok.cell_edges(data.cardinality, size.bins, data.levels))

    def epoch_seconds(self, data: Encoded) -> float:
        """Estimated seconds of one training epoch on `data` (see `train.epoch_seconds`)."""
        size, edges = self._layout(data)
        return epoch_seconds(data.n, tok.vocab(data.cardinality, edges), size)

    def _fit_private(
        self, data: Encoded, tokens: np.ndarray, size: Size, edges, progress, groups, accountant=None
    ) -> FittedArgn:
        import torch

        from privsynth.engines.argn.private import train_private
        from privsynth.privacy.accountant import Accountant

        if any(e is not None for e in edges):
            raise ValueError("DP-SGD needs a public, discrete encoding (fit through privsynth.fit with a schema)")
        accountant = accountant if accountant is not None else Accountant(float(self.epsilon), self.delta)
        with _threads(torch):
            net, log = train_private(
                tokens,
                tok.vocab(data.cardinality, edges),
                size,
                epochs=self.dp_epochs,
                max_time=self.max_time,
                learning_rate=self.learning_rate,
                max_grad_norm=self.max_grad_norm,
                accountant=accountant,
                progress=progress,
                groups=groups,
            )
        weights = {f"net/{k}": v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}
        return FittedArgn(
            data.names, data.cardinality, size, self.temperature, log, weights, edges, accountant.record()
        )
