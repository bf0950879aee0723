"""Robustness scenarios: a table made harder on purpose, step by step, seeded and recorded.

    steps:
      - {type: noise, columns: [balance], scale: 50}                 # + N(0, 50)
      - {type: noise, columns: [income], relative: true, scale: 0.05} # x (1 + N(0, 0.05))
      - {type: missing, columns: [income], rate: 0.1}                 # MCAR
      - {type: missing, columns: [balance], rate: 0.3, when: {column: student, equals: "Yes"}}  # MAR
      - {type: outliers, columns: [balance], rate: 0.01, factor: 10}
      - {type: drift, column: student, shares: {"Yes": 0.5}}
      - {type: shift, column: income, add: 5000, multiply: 1.0}
      - {type: duplicates, rate: 0.02}
      - {type: disorder, rate: 0.05}
      # event tables (histories per entity):
      - {type: drop_events, rate: 0.1, entity: card_id}              # lost events; first ones kept
      - {type: irregular_sampling, column: ts, scale: 600, entity: card_id}  # times +- 10 min, re-sorted
      # sensor noise is a noise step on the readings

Rates are exact, not expected: a missing step at rate 0.1 on 1,000 eligible rows nulls exactly 100 values
(chosen at random among those not yet null, so on a complete column the measured rate is the requested one), an
outlier step moves exactly round(rate x rows) values, a drift step sets exactly round(share x rows) rows to
the value. `when` restricts a missing step to the rows where another column equals a value (missing at
random given that column). Each step's effect is counted in the returned record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from privsynth.errors import ParameterError


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Rate = Annotated[float, Field(ge=0, le=1)]


class Noise(_Step):
    type: Literal["noise"]
    columns: Annotated[list[str], Field(min_length=1)]
    scale: Annotated[float, Field(ge=0)]
    relative: bool = False


class When(_Step):
    column: str
    equals: Any


class Missing(_Step):
    type: Literal["missing"]
    columns: Annotated[list[str], Field(min_length=1)]
    rate: Rate
    when: When | None = None


class Outliers(_Step):
    type: Literal["outliers"]
    columns: Annotated[list[str], Field(min_length=1)]
    rate: Rate
    factor: Annotated[float, Field(gt=0)] = 10.0


class Drift(_Step):
    type: Literal["drift"]
    column: str
    shares: dict[str, Rate]


class Shift(_Step):
    type: Literal["shift"]
    column: str
    add: float = 0.0
    multiply: float = 1.0


class Duplicates(_Step):
    type: Literal["duplicates"]
    rate: Rate


class Disorder(_Step):
    type: Literal["disorder"]
    rate: Rate


class DropEvents(_Step):
    """Event tables: exactly round(rate x eligible rows) events lost; with `entity`, each entity's first event
    is kept (`keep_first`), so histories thin out but no entity vanishes."""

    type: Literal["drop_events"]
    rate: Rate
    entity: str | None = None
    keep_first: bool = True


class IrregularSampling(_Step):
    """Event tables: every time moved by uniform(-scale, +scale) (seconds for dates, units for numbers), so a
    regular grid becomes irregular; with `entity`, each history is re-sorted by its new times."""

    type: Literal["irregular_sampling"]
    column: str
    scale: Annotated[float, Field(gt=0)]
    entity: str | None = None


Step = Annotated[
    Noise | Missing | Outliers | Drift | Shift | Duplicates | Disorder | DropEvents | IrregularSampling,
    Field(discriminator="type"),
]


class Scenario(_Step):
    steps: Annotated[list[Step], Field(min_length=1)]


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario YAML; errors name the file, the line and the field (e.g. `line 7: steps[1].rate`)."""
    from privsynth.augment.yamlfile import load

    return load(path, Scenario, tagged="steps")


def perturb(frame: pd.DataFrame, scenario: Scenario | dict, seed: int = 0) -> tuple[pd.DataFrame, list[dict]]:
    """A perturbed copy of `frame` (never modified) and one record per step of what it changed."""
    scenario = scenario if isinstance(scenario, Scenario) else Scenario.model_validate(scenario)
    _check_columns(frame, scenario)
    rng = np.random.default_rng(seed)
    out = frame.copy()
    records = []
    for i, step in enumerate(scenario.steps):
        out, changed = _apply(out, step, rng)
        records.append({"step": i, **step.model_dump(), "changed": changed})
    return out, records


def _check_columns(frame: pd.DataFrame, scenario: Scenario) -> None:
    problems = []
    for i, step in enumerate(scenario.steps):
        named = [*list(getattr(step, "columns", None) or []), getattr(step, "column", None) or ""]
        named.append(getattr(step, "entity", None) or "")
        if isinstance(step, Missing) and step.when is not None:
            named.append(step.when.column)
        for name in filter(None, named):
            if name not in frame.columns:
                problems.append(f"steps[{i}] ({step.type}): no column {name!r}")
            elif isinstance(step, Noise | Outliers | Shift) and not pd.api.types.is_numeric_dtype(frame[name]):
                problems.append(f"steps[{i}] ({step.type}): column {name!r} is not numeric")
    if problems:
        raise ParameterError("; ".join(problems))


def _exact(rng: np.random.Generator, candidates: np.ndarray, rate: float, total: int) -> np.ndarray:
    """round(rate * total) positions drawn without replacement from `candidates` (all of them at most)."""
    k = min(round(rate * total), candidates.size)
    return rng.choice(candidates, size=k, replace=False) if k else np.array([], dtype=int)


def _apply(frame: pd.DataFrame, step, rng: np.random.Generator) -> tuple[pd.DataFrame, int]:
    n = len(frame)
    if isinstance(step, Noise):
        changed = 0
        for name in step.columns:
            values = frame[name].to_numpy(dtype="float64", na_value=np.nan)
            noise = rng.normal(0.0, step.scale, n)
            values = values * (1 + noise) if step.relative else values + noise
            frame[name] = _cast(frame[name], values)
            changed += int((~np.isnan(values)).sum())
        return frame, changed
    if isinstance(step, Missing):
        eligible = np.ones(n, dtype=bool)
        if step.when is not None:
            eligible = (frame[step.when.column].astype(str) == str(step.when.equals)).to_numpy()
        changed = 0
        for name in step.columns:
            column = frame[name].copy()
            present = np.flatnonzero(eligible & column.notna().to_numpy())
            chosen = _exact(rng, present, step.rate, int(eligible.sum()))
            if column.dtype.kind in "iub":
                column = column.astype("Float64" if column.dtype.kind != "b" else "boolean")
            column.iloc[chosen] = None
            frame[name] = column
            changed += len(chosen)
        return frame, changed
    if isinstance(step, Outliers):
        changed = 0
        for name in step.columns:
            values = frame[name].to_numpy(dtype="float64", na_value=np.nan)
            present = np.flatnonzero(~np.isnan(values))
            chosen = _exact(rng, present, step.rate, present.size)
            median = np.nanmedian(values)
            spread = np.subtract(*np.nanpercentile(values, [75, 25])) or np.nanstd(values) or 1.0
            sign = rng.choice([-1.0, 1.0], size=chosen.size)
            values[chosen] = median + sign * step.factor * spread * (1 + rng.random(chosen.size))
            frame[name] = _cast(frame[name], values)
            changed += len(chosen)
        return frame, changed
    if isinstance(step, Drift):
        if sum(step.shares.values()) > 1 + 1e-9:
            raise ParameterError(f"drift shares of {step.column!r} add up to more than 1")
        column = frame[step.column].astype(object).copy()
        by_text = {str(v): v for v in column.dropna().unique()}
        order = rng.permutation(n)
        start, changed = 0, 0
        for text, share in step.shares.items():
            k = round(share * n)
            value = by_text.get(text, text)
            changed += int((column.iloc[order[start : start + k]].astype(str) != text).sum())
            column.iloc[order[start : start + k]] = value
            start += k
        rest = order[start:]  # the other rows keep only values that are not targeted
        targeted = column.iloc[rest].astype(str).isin(step.shares.keys()).to_numpy()
        others = column[~column.astype(str).isin(step.shares.keys())].dropna()
        if targeted.any() and not others.empty:
            column.iloc[rest[targeted]] = rng.choice(others.to_numpy(dtype=object), size=int(targeted.sum()))
            changed += int(targeted.sum())
        try:
            frame[step.column] = column.astype(frame[step.column].dtype)
        except (TypeError, ValueError):
            frame[step.column] = column
        return frame, changed
    if isinstance(step, Shift):
        values = frame[step.column].to_numpy(dtype="float64", na_value=np.nan) * step.multiply + step.add
        frame[step.column] = _cast(frame[step.column], values)
        return frame, int((~np.isnan(values)).sum())
    if isinstance(step, Duplicates):
        chosen = np.sort(_exact(rng, np.arange(n), step.rate, n))
        at = rng.integers(0, n + 1, chosen.size) - 0.5  # each copy goes just before a random position
        keys = np.concatenate([np.arange(n, dtype="float64"), at])
        order = np.concatenate([np.arange(n), chosen])[np.argsort(keys, kind="stable")]
        return frame.iloc[order].reset_index(drop=True), len(chosen)
    if isinstance(step, Disorder):
        chosen = np.sort(_exact(rng, np.arange(n), step.rate, n))
        order = np.arange(n)
        moved = chosen.copy()
        while chosen.size > 1 and np.array_equal(moved, chosen):
            moved = rng.permutation(chosen)  # a derangement would be stricter; any change of place counts
        order[chosen] = moved
        return frame.iloc[order].reset_index(drop=True), int((order != np.arange(n)).sum())
    if isinstance(step, DropEvents):
        eligible = np.arange(n)
        if step.entity is not None and step.keep_first:
            eligible = np.flatnonzero(frame[step.entity].duplicated().to_numpy())
        dropped = _exact(rng, eligible, step.rate, n)
        keep = np.ones(n, dtype=bool)
        keep[dropped] = False
        return frame.iloc[np.flatnonzero(keep)].reset_index(drop=True), len(dropped)
    if isinstance(step, IrregularSampling):
        return _irregular(frame, step, rng)
    raise TypeError(type(step))


def _irregular(frame: pd.DataFrame, step: IrregularSampling, rng: np.random.Generator) -> tuple[pd.DataFrame, int]:
    """Times jittered in their own representation (numbers, datetimes, or date strings in their format)."""
    from privsynth import dates

    column = frame[step.column]
    try:
        seconds, spec = dates.as_seconds(column)
    except ValueError:
        raise ParameterError(f"irregular_sampling: column {step.column!r} holds neither numbers nor dates") from None
    values = seconds + rng.uniform(-step.scale, step.scale, len(frame))
    if spec["kind"] == "number":
        frame[step.column] = _cast(column, values)
    else:
        frame[step.column] = dates.restore(spec, values).set_axis(frame.index)
    changed = int((~np.isnan(values)).sum())
    if step.entity is not None:  # histories stay in chronological order
        order = pd.DataFrame({"e": frame[step.entity].to_numpy(), "t": values, "i": np.arange(len(frame))})
        first_seen = order.groupby("e", sort=False).ngroup()
        order = order.assign(g=first_seen).sort_values(["g", "t", "i"], kind="stable")
        frame = frame.iloc[order["i"].to_numpy()].reset_index(drop=True)
    return frame, changed


def _cast(column: pd.Series, values: np.ndarray) -> pd.Series:
    """Float results back in the column's type: integers rounded (nullable when nulls appear)."""
    series = pd.Series(values, index=column.index)
    if column.dtype.kind in "iu":
        rounded = series.round()
        return rounded.astype(column.dtype) if not rounded.isna().any() else rounded.astype("Int64")
    return series
