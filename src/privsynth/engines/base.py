"""The engine protocol and registry.

An engine is a frozen dataclass of parameters (validated at construction, never mutated) whose `fit`
returns a Fitted object: no "not fitted yet" state can exist. A Fitted samples encoded rows, optionally
with some variables fixed, and exports its learned state as JSON-able params plus numpy arrays.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Protocol, Self, runtime_checkable

import numpy as np

from privsynth.errors import ParameterError
from privsynth.transforms.encoder import Encoded


@runtime_checkable
class Fitted(Protocol):
    def sample(self, n: int, rng: np.random.Generator, fixed: Encoded | None = None) -> Encoded:
        """`n` encoded rows. Where `fixed.values` is not NaN, that value is kept and the rest is drawn
        from the conditional distribution given it."""

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON-able params, arrays): everything needed to rebuild this object, and nothing else."""

    @classmethod
    def from_state(cls, params: dict, arrays: dict[str, np.ndarray]) -> Self: ...


class Engine(Protocol):
    name: ClassVar[str]

    def fit(self, data: Encoded, rng: np.random.Generator) -> Fitted: ...


ENGINES: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: make an engine available by its `name`."""
    ENGINES[cls.name] = cls
    return cls


def make(name: str, **params) -> Engine:
    """Build a registered engine from plain keyword parameters, with a clear error for bad ones."""
    if name not in ENGINES:
        raise ParameterError(f"unknown engine {name!r}: choose one of {', '.join(sorted(ENGINES))}")
    cls = ENGINES[name]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ParameterError(
            f"engine {name!r} has no parameter {', '.join(map(repr, unknown))}"
            + (f" (it takes: {', '.join(sorted(known))})" if known else " (it takes none)")
        )
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"engine {name!r}: {exc}") from None


def fitted_class(name: str) -> type:
    return ENGINES[name].fitted


def params_of(engine: Engine) -> dict:
    return dataclasses.asdict(engine)  # type: ignore[call-overload]


def code_frequencies(codes: np.ndarray, k: int) -> np.ndarray:
    """Relative frequencies of integer codes 0..k-1 (float64, sums to 1)."""
    counts = np.bincount(codes.astype("int64"), minlength=k).astype("float64")
    return counts / counts.sum()


def with_fixed(out: np.ndarray, fixed: Encoded | None) -> np.ndarray:
    """Overwrite `out` with the non-NaN entries of `fixed` (shapes must agree)."""
    if fixed is None:
        return out
    mask = ~np.isnan(fixed.values)
    out[mask] = fixed.values[mask]
    return out
