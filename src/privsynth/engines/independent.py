"""`independent`: every variable from its own marginal. The privacy and quality floor.

Continuous variables are uniform scores already, so a fresh uniform draw decodes to the column's
marginal; discrete variables are drawn from their code frequencies. Nothing joint is learned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from privsynth.engines.base import code_frequencies, register, with_fixed
from privsynth.transforms.encoder import Encoded


@dataclass(frozen=True)
class FittedIndependent:
    names: tuple[str, ...]
    cardinality: tuple[int, ...]
    frequencies: tuple[np.ndarray, ...]  # per discrete variable; empty for continuous ones

    def sample(self, n: int, rng: np.random.Generator, fixed: Encoded | None = None) -> Encoded:
        out = np.empty((n, len(self.names)))
        for j, (k, freq) in enumerate(zip(self.cardinality, self.frequencies, strict=True)):
            out[:, j] = rng.random(n) if k == 0 else rng.choice(k, size=n, p=freq)
        return Encoded(self.names, self.cardinality, with_fixed(out, fixed))

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        arrays = {f"freq/{j}": f for j, f in enumerate(self.frequencies) if f.size}
        return {"names": list(self.names), "cardinality": list(self.cardinality)}, arrays

    @classmethod
    def from_state(cls, params: dict, arrays: dict[str, np.ndarray]) -> FittedIndependent:
        freqs = tuple(arrays.get(f"freq/{j}", np.empty(0)) for j in range(len(params["names"])))
        return cls(tuple(params["names"]), tuple(params["cardinality"]), freqs)


@register
@dataclass(frozen=True, kw_only=True)
class Independent:
    name: ClassVar[str] = "independent"
    fitted: ClassVar[type] = FittedIndependent

    def fit(self, data: Encoded, rng: np.random.Generator) -> FittedIndependent:
        freqs = tuple(
            code_frequencies(data.values[:, j], k) if k else np.empty(0) for j, k in enumerate(data.cardinality)
        )
        return FittedIndependent(data.names, data.cardinality, freqs)
