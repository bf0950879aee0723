"""Constraints that always hold in sampled rows, declared in the schema file under `constraints:`.

    constraints:
      - {type: range, column: age, min: 18, max: 99}
      - {type: inequality, low: checkin, high: checkout}          # checkout >= checkin (strict: true for >)
      - {type: combination, columns: [city, country]}             # only combinations that exist
      - {type: formula, column: total, expression: price * quantity}
      - {type: unique, columns: [order_id]}
      - {type: regex, column: code, pattern: "[A-Z]{3}-[0-9]{4}"}

Sampling enforces them by transformation where that keeps the learned distribution (a formula computes its
column; a range clips; an inequality swaps the pair of a row that breaks it) and by rejection otherwise
(combination, unique, regex, and anything a transformation could not fix): rows that break a constraint
are drawn again, and a constraint that (almost) no drawn row satisfies fails with its name. A null value
satisfies every constraint (as in SQL CHECK constraints). Formulas are parsed into a small arithmetic tree
(column names, numbers, + - * / // % **, abs/round/min/max), bounded in size and constants, and evaluated
in float64 (privsynth.augment.formula): a model file's constraints never run code. A row where a formula is
undefined (a data-dependent division by zero, an overflow) breaks the constraint and is drawn again. Regex
patterns run on RE2, linear in the value's length (a model file cannot make matching backtrack for ever).

A combination constraint without `allowed` learns the combinations seen at least `rare_category_threshold`
times in the training data (so a rare combination cannot single anyone out); DP fits need `allowed` given.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import re2
from pydantic import BaseModel, ConfigDict, Field, field_validator

from privsynth.augment.formula import evaluate, evaluate_formula, formula_names, parse_formula
from privsynth.errors import SchemaError

MAX_PATTERN = 1_000  # characters in a regex constraint's pattern


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def columns_used(self) -> list[str]:
        raise NotImplementedError


class RangeConstraint(_Base):
    type: Literal["range"]
    column: str
    min: float | str | None = None
    max: float | str | None = None

    def columns_used(self) -> list[str]:
        return [self.column]

    def describe(self) -> str:
        low, high = ("-inf" if self.min is None else self.min), ("inf" if self.max is None else self.max)
        return f"{low} <= {self.column} <= {high}"


class Inequality(_Base):
    type: Literal["inequality"]
    low: str
    high: str
    strict: bool = False

    def columns_used(self) -> list[str]:
        return [self.low, self.high]

    def describe(self) -> str:
        return f"{self.high} {'>' if self.strict else '>='} {self.low}"


class Combination(_Base):
    type: Literal["combination"]
    columns: Annotated[list[str], Field(min_length=2)]
    allowed: list[list[Any]] | None = None

    def columns_used(self) -> list[str]:
        return list(self.columns)

    def describe(self) -> str:
        return f"({', '.join(self.columns)}) is an allowed combination"


class Formula(_Base):
    type: Literal["formula"]
    column: str
    expression: str

    @field_validator("expression")
    @classmethod
    def _parses(cls, text: str) -> str:
        parse_formula(text)
        return text

    def columns_used(self) -> list[str]:
        return [self.column, *formula_names(self.expression)]

    def describe(self) -> str:
        return f"{self.column} = {self.expression}"


class Unique(_Base):
    type: Literal["unique"]
    columns: Annotated[list[str], Field(min_length=1)]

    def columns_used(self) -> list[str]:
        return list(self.columns)

    def describe(self) -> str:
        return f"({', '.join(self.columns)}) unique"


class Regex(_Base):
    type: Literal["regex"]
    column: str
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, text: str) -> str:
        compiled_pattern(text)
        return text

    def columns_used(self) -> list[str]:
        return [self.column]

    def describe(self) -> str:
        return f"{self.column} matches {self.pattern!r}"


def compiled_pattern(text: str):
    """A regex constraint's pattern compiled with RE2, whose matching takes time linear in the value's length
    whatever the pattern (a model file is untrusted: `(a+)+` must not hang a sample). Patterns RE2 cannot
    run in linear time (backreferences, lookahead, lookbehind) are refused with RE2's reason."""
    if len(text) > MAX_PATTERN:
        raise ValueError(f"a pattern of {len(text):,} characters: at most {MAX_PATTERN:,} are allowed")
    return _re2(text)


@functools.lru_cache(maxsize=256)
def _re2(text: str):
    options = re2.Options()
    options.log_errors = False  # the error is raised as ours, not logged to stderr
    try:
        return re2.compile(text, options)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ValueError(
            f"pattern {text!r} is not a regular expression that runs in linear time ({reason}): "
            "backreferences and lookaround are not supported"
        ) from None


Constraint = Annotated[
    RangeConstraint | Inequality | Combination | Formula | Unique | Regex, Field(discriminator="type")
]


# ------------------------------------------------------------------------------------- checking columns
def check_columns(constraints: list, names: list[str]) -> None:
    """Every column a constraint names exists; a formula's own column is learned or computed. One error
    lists every problem."""
    problems = []
    for i, c in enumerate(constraints):
        for name in c.columns_used():
            if name not in names:
                problems.append(f"constraints[{i}] ({c.type}): no column {name!r}")
        if isinstance(c, Combination | Unique | Inequality) and len(set(c.columns_used())) < len(c.columns_used()):
            problems.append(f"constraints[{i}] ({c.type}): a column is named twice")
    if problems:
        raise SchemaError(problems)


def learn_combinations(frame: pd.DataFrame, constraints: list, k: int) -> list:
    """Combination constraints without `allowed` get the combinations seen >= k times in `frame`."""
    out = []
    for c in constraints:
        if isinstance(c, Combination) and c.allowed is None:
            counts = frame[c.columns].dropna().astype(object).value_counts()
            allowed = [[_plain(v) for v in combo] for combo, count in counts.items() if count >= k]
            if not allowed:
                raise SchemaError(f"combination constraint on {c.columns}: no combination is seen {k}+ times")
            c = c.model_copy(update={"allowed": allowed})
        out.append(c)
    return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# ------------------------------------------------------------------------------------------ enforcement
def transform(frame: pd.DataFrame, constraints: list, kinds: dict[str, str], formats: dict[str, str | None]) -> None:
    """Fix in place what a transformation can fix: formulas computed, ranges clipped, broken inequalities
    swapped (the pair's values trade places, so both columns keep their learned values)."""
    for c in constraints:
        if isinstance(c, Formula):
            values = evaluate_formula(c.expression, frame)
            if kinds.get(c.column) == "integer":
                values = np.round(values)
            frame[c.column] = _like(frame[c.column], values)
        elif isinstance(c, RangeConstraint) and kinds.get(c.column) in ("numeric", "integer"):
            numbers = pd.to_numeric(frame[c.column], errors="coerce").to_numpy(dtype="float64")
            low, high = (-np.inf if c.min is None else float(c.min)), (np.inf if c.max is None else float(c.max))
            clipped = np.clip(numbers, low, high)
            if kinds.get(c.column) == "integer":
                clipped = np.where(np.isnan(clipped), np.nan, np.ceil(clipped - 1e-9))
                clipped = np.minimum(clipped, np.inf if c.max is None else np.floor(float(c.max)))
            frame[c.column] = _like(frame[c.column], clipped)
        elif isinstance(c, Inequality) and not c.strict:
            low, high = _ordered(frame, c.low, kinds, formats), _ordered(frame, c.high, kinds, formats)
            swap = np.flatnonzero(low > high)
            if swap.size:
                a, b = frame[c.low].to_numpy(copy=True), frame[c.high].to_numpy(copy=True)
                if kinds.get(c.low) == kinds.get(c.high) and frame[c.low].dtype == frame[c.high].dtype:
                    a[swap], b[swap] = b[swap], a[swap]
                    frame[c.low], frame[c.high] = a, b


def violations(
    frame: pd.DataFrame, constraints: list, kinds: dict[str, str], formats: dict[str, str | None]
) -> dict[str, np.ndarray]:
    """{constraint description: boolean mask of rows that break it} (only constraints some row breaks)."""
    out = {}
    for c in constraints:
        bad = _broken(frame, c, kinds, formats)
        if bad.any():
            out[c.describe()] = bad
    return out


def _broken(frame: pd.DataFrame, c, kinds: dict[str, str], formats: dict[str, str | None]) -> np.ndarray:
    if isinstance(c, RangeConstraint):
        values = _ordered(frame, c.column, kinds, formats)
        lo = -np.inf if c.min is None else _bound(c.min, c.column, kinds, formats)
        hi = np.inf if c.max is None else _bound(c.max, c.column, kinds, formats)
        return ~np.isnan(values) & ((values < lo) | (values > hi))
    if isinstance(c, Inequality):
        low, high = _ordered(frame, c.low, kinds, formats), _ordered(frame, c.high, kinds, formats)
        with np.errstate(invalid="ignore"):
            return (high <= low) if c.strict else (high < low)
    if isinstance(c, Combination):
        rows = frame[c.columns]
        present = rows.notna().all(axis=1).to_numpy()
        allowed = pd.DataFrame([list(map(str, combo)) for combo in c.allowed or []], columns=c.columns)
        keys = rows.astype(str).reset_index(drop=True)
        found = keys.merge(allowed.drop_duplicates().assign(_ok=1.0), on=list(c.columns), how="left")["_ok"]
        return present & found.isna().to_numpy()
    if isinstance(c, Formula):  # undefined rows (division by zero, overflow) break it: they are drawn again
        result = evaluate(c.expression, frame)
        got = pd.to_numeric(frame[c.column], errors="coerce").to_numpy(dtype="float64")
        both = ~np.isnan(result.values) & ~np.isnan(got)
        return result.undefined | (both & ~np.isclose(got, result.values, rtol=1e-9, atol=1e-9))
    if isinstance(c, Unique):
        rows = frame[c.columns]
        return (rows.duplicated(keep="first") & rows.notna().all(axis=1)).to_numpy()
    if isinstance(c, Regex):  # RE2: linear time per value, each distinct value matched once
        values = frame[c.column]
        present = values.notna().to_numpy(dtype=bool)
        codes, uniques = pd.factorize(values[present].astype(str))
        pattern = compiled_pattern(c.pattern)
        fits = np.array([pattern.fullmatch(u) is not None for u in uniques], dtype=bool)
        out = np.zeros(len(values), dtype=bool)
        out[present] = ~fits[codes] if len(uniques) else False
        return out
    raise TypeError(type(c))


def _ordered(frame: pd.DataFrame, name: str, kinds: dict[str, str], formats: dict[str, str | None]) -> np.ndarray:
    """A column as float64 that orders like its values: numbers as they are, dates as seconds."""
    from privsynth import dates

    if kinds.get(name) == "datetime":
        return np.asarray(dates.to_seconds(frame[name], formats.get(name)), dtype="float64")
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64")


def _bound(value, name: str, kinds: dict[str, str], formats: dict[str, str | None]) -> float:
    if kinds.get(name) == "datetime":  # ISO text; an aware bound is compared in UTC, as aware columns are
        try:
            stamp = pd.Timestamp(str(value))
        except ValueError:
            raise ValueError(f"{value!r} is not a date") from None
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return (stamp - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)
    return float(value)


def _like(column: pd.Series, values: np.ndarray) -> pd.Series:
    """`values` in the column's dtype where it can hold them (integers stay integers; nulls stay null)."""
    series = pd.Series(values, index=column.index)
    if pd.api.types.is_integer_dtype(column.dtype) and not np.isnan(values).any():
        return series.astype(column.dtype)
    if isinstance(column.dtype, pd.Int64Dtype | pd.Int32Dtype | pd.Int16Dtype | pd.Int8Dtype):
        return series.round().astype(column.dtype)
    return series
