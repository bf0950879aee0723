"""What sampling may be asked to hold: exact values (fixed inside the engine), numeric or date ranges
(`Range`, met by rejection as the last step) and target shares for rebalancing.

Command-line forms: `--condition col=value`, `--condition "amount>1000"` (also >=, <, <=, and
`--condition "amount=100..500"` for a closed range), `--rebalance col=value:0.3`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from privsynth.errors import ParameterError


@dataclass(frozen=True)
class Range:
    """low <= value <= high (either end open when None; `strict` ends exclude the bound)."""

    low: float | str | None = None
    high: float | str | None = None
    low_strict: bool = False
    high_strict: bool = False
    shown: str | None = field(default=None, compare=False)  # the range as the user wrote it, for messages

    def __post_init__(self):
        if self.low is None and self.high is None:
            raise ParameterError("a range needs a low or a high end")

    def holds(self, values: np.ndarray) -> np.ndarray:
        """Which of `values` (float64, dates as seconds) lie in the range; null never does."""
        ok = ~np.isnan(values)
        with np.errstate(invalid="ignore"):
            if self.low is not None:
                ok &= values > self._low if self.low_strict else values >= self._low
            if self.high is not None:
                ok &= values < self._high if self.high_strict else values <= self._high
        return ok

    def resolved(self, to_number) -> Range:
        """A copy whose ends are numbers (dates converted by `to_number`) that still reads as the user wrote
        it: a note about a date range says `date > 2017-12-01`, not the seconds it is compared in."""
        return Range(
            None if self.low is None else to_number(self.low),
            None if self.high is None else to_number(self.high),
            self.low_strict,
            self.high_strict,
            shown=str(self),
        )

    @property
    def _low(self) -> float:
        return float(self.low)  # type: ignore[arg-type]

    @property
    def _high(self) -> float:
        return float(self.high)  # type: ignore[arg-type]

    def __str__(self) -> str:
        if self.shown is not None:
            return self.shown
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_strict else '>='} {self.low}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_strict else '<='} {self.high}")
        return " and ".join(parts)


_COMPARISON = re.compile(r"^\s*(?P<name>[^<>=]+?)\s*(?P<op>>=|<=|>|<)\s*(?P<value>.+?)\s*$")


def parse_condition(text: str) -> tuple[str, Any]:
    """'col=value' -> (col, 'value'); 'col>10' -> (col, Range(10, strict)); 'col=1..5' -> (col, Range(1, 5))."""
    match = _COMPARISON.match(text)
    if match and "=" not in text.split(match["op"])[0]:
        name, op, value = match["name"], match["op"], match["value"]
        if op.startswith(">"):
            return name, Range(low=_number_or_text(value), low_strict=op == ">")
        return name, Range(high=_number_or_text(value), high_strict=op == "<")
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ParameterError(f"--condition takes COLUMN=VALUE, COLUMN>X, COLUMN<=X or COLUMN=LOW..HIGH, got {text!r}")
    low, dots, high = value.partition("..")
    if dots and low.strip() and high.strip():
        return name.strip(), Range(low=_number_or_text(low), high=_number_or_text(high))
    return name.strip(), value


def parse_rebalance(text: str) -> tuple[str, str, float]:
    """'col=value:share' -> (col, value, share) with 0 < share < 1."""
    name, sep, rest = text.partition("=")
    value, colon, share = rest.rpartition(":")
    try:
        number = float(share)
    except ValueError:
        number = float("nan")
    if not sep or not colon or not name or not value or not 0 < number < 1:
        raise ParameterError(f"--rebalance takes COLUMN=VALUE:SHARE with 0 < SHARE < 1, got {text!r}")
    return name, value, number


def _number_or_text(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value.strip()


def split(conditions: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Range]]:
    """Conditions -> (exact values, ranges)."""
    exact = {k: v for k, v in conditions.items() if not isinstance(v, Range)}
    return exact, {k: v for k, v in conditions.items() if isinstance(v, Range)}


def rebalanced_values(
    n: int, targets: dict[str, dict[Any, float]], shares: dict[str, pd.Series], rng: np.random.Generator
) -> pd.DataFrame:
    """Per-row values of the rebalanced columns: exactly round(n * share) rows take each targeted value and
    the other rows take the column's other values in the proportions the model itself gives them (`shares`,
    from an unconditional pilot sample), so only the requested shares move. Rows are shuffled."""
    out = {}
    for name, wanted in targets.items():
        total = sum(wanted.values())
        if total >= 1 + 1e-9:
            raise ParameterError(f"rebalance shares of {name!r} add up to {total:g}: they must stay below 1")
        counts = {value: round(n * share) for value, share in wanted.items()}
        rest = n - sum(counts.values())
        others = shares[name].drop(labels=list(wanted), errors="ignore")
        others = others[others > 0]
        if rest > 0 and others.empty:
            raise ParameterError(f"the model gives {name!r} no other value to fill the remaining {rest} rows")
        values: list[Any] = [v for v, c in counts.items() for _ in range(c)]
        if rest > 0:
            values += list(
                rng.choice(np.asarray(others.index, dtype=object), size=rest, p=(others / others.sum()).to_numpy())
            )
        column = np.empty(n, dtype=object)
        column[:] = values
        out[name] = column[rng.permutation(n)]
    return pd.DataFrame(out)
