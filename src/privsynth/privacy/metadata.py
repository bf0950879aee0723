"""A DP fit's column facts measured under differential privacy, for what the public schema file leaves out.

`privsynth fit DATA --engine mst --epsilon E --metadata-epsilon EM` (`ps.fit(..., epsilon=E,
metadata_epsilon=EM)`), SmartNoise's `preprocessor_eps`: part of the fit's budget pays for the metadata
instead of a hand-written schema. EM is inside E: the metadata alone is (EM, delta)-DP, the whole release
(metadata + model) is (E, delta)-DP, composed in zCDP by one accountant (the engine spends what is left).

Public, never measured: the column names and the frame's shape. Everything else about a column the schema
file does not state is measured, each column with an equal share of EM's zCDP budget:
- kind, nullability, date format and decimals: a noisy histogram of value shapes (the Gaussian mechanism;
  each value has exactly one shape: missing, boolean, datetime (a datetime dtype), a number with 0-4 or
  more decimals, a digit code (leading zero or dashes), text, or a date in one of `dates.STRING_FORMATS`).
  Significant means a noisy count over SIGNIFICANT noise sds. The kind is the group of significant shapes
  with the largest noisy count (numbers, dates, booleans, else categorical; numbers with a significant
  count of digit codes are categorical); a number with no significant decimal shape is an integer, else
  its precision is the most decimals seen significantly (none past 4). A third of the column's share
  when its values are measured too.
  The kind decided, every value is read by its own shape, a per-record function: values of another kind
  (text in a number column, dates in another format) are read as missing.
- numbers' and dates' bounds: the 1% and 99% quantiles read off two noisy histograms over public bins
  (decades, then 25% steps inside the occupied decades; years 1800-2200, then months), see `mechanisms`;
  values outside the bounds are clipped;
- categories: the values whose noisy count passes a threshold set so that a value held by one person is
  released with probability at most delta_threshold / (columns that may be thresholded), THRESHOLD_SHARE of
  the fit's delta in all (Gaussian thresholding); rarer values are treated as missing;
- nullability: a noisy count of what will be missing (missing values; values of another kind; values of
  categories not released) over NULLABLE_SDS noise sds, a lower bar than SIGNIFICANT: a column called
  nullable by noise gets a null cell the model learns to be near empty, a missed one turns its missing
  values into the first category or cell.
A column where nothing rises over the noise, or no category passes the threshold, is
dropped (say it in the schema file to keep it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from privsynth import dates
from privsynth.errors import ParameterError
from privsynth.privacy import mechanisms as mech
from privsynth.privacy.accountant import Accountant, epsilon_of_rho, rho_for
from privsynth.privacy.shapes import DATES, DECIMALS, INDEX, NUMBERS, SHAPES, kept_as, parses, shapes
from privsynth.schema import LEARNED_KINDS, ColumnOverride, SchemaFile

QUANTILES = (0.01, 0.99)
SIGNIFICANT = 3.0  # noise sds a noisy count must exceed to count as present
THRESHOLD_SHARE = 0.1  # of the fit's delta, for releasing categories by threshold
SHAPE_SHARE = 1 / 3  # of a column's share, for its shapes when its values are measured too
NULLABLE_SDS = 2.0  # a missed null costs more than a spare null cell: a lower bar than SIGNIFICANT


@dataclass
class Measured:
    """A schema file completed under DP, the frame read as those kinds, and the manifest's summary."""

    file: SchemaFile
    frame: pd.DataFrame
    record: dict = field(default_factory=dict)


def _plan(frame: pd.DataFrame, file: SchemaFile | None) -> dict[str, tuple[bool, bool, bool]]:
    """Per column to measure: (shapes, values, may be thresholded), from the schema file and names alone."""
    given = {c.name: c for c in (file.columns if file else [])}
    plan = {}
    for name in frame.columns:
        entry = given.get(name)
        kind = entry.kind if entry else None
        if entry is not None and (entry.policy not in (None, "keep") or kind not in (None, *LEARNED_KINDS)):
            continue
        native_date = pd.api.types.is_datetime64_any_dtype(frame[name])
        shapes = (
            kind is None
            or entry.nullable is None
            or (kind == "datetime" and not native_date and not entry.datetime_format)
        )
        if kind is None:
            values = True
        elif kind in ("numeric", "integer", "datetime"):
            values = entry.min is None or entry.max is None
        else:
            values = kind == "categorical" and not entry.categories
        if shapes or values:
            plan[name] = (shapes, values, values and kind in (None, "categorical"))
    return plan


def threshold_delta(frame: pd.DataFrame, file: SchemaFile | None, delta: float) -> float:
    """The delta set aside for thresholded categories (0 when no column may need them): known before fitting."""
    return THRESHOLD_SHARE * delta if any(t for _s, _v, t in _plan(frame, file).values()) else 0.0


def _kind(noisy: np.ndarray, sigma: float) -> tuple[str | None, str | None, int | None]:
    """(kind, date format, precision) from a column's noisy shape counts; kind None when nothing is present."""
    present = noisy > SIGNIFICANT * sigma
    counted = np.where(present, noisy, 0.0)  # shapes under the noise count nothing (their noise would add up)
    groups = {
        "number": counted[NUMBERS].sum(),
        "datetime": counted[DATES].sum(),
        "boolean": counted[INDEX["boolean"]],
        "categorical": counted[INDEX["code"]] + counted[INDEX["text"]],
    }
    kind = max(groups, key=groups.__getitem__)
    if not groups[kind] > 0:
        return None, None, None
    decimals = [p for p in range(DECIMALS + 1) if present[INDEX[f"number:{p}"]]]
    if kind == "number":
        if present[INDEX["code"]] and not any(present[INDEX[f"number:{p}"]] for p in range(1, DECIMALS + 1)):
            return "categorical", None, None  # codes: digits with leading zeros or dashes among plain digits
        if present[INDEX["number:more"]]:
            return "numeric", None, None
        return ("numeric", None, max(decimals)) if max(decimals, default=0) > 0 else ("integer", None, 0)
    if kind == "datetime":
        best = max(DATES, key=lambda i: noisy[i])
        return "datetime", None if SHAPES[best] == "datetime" else SHAPES[best][len("date:") :], None
    return kind, None, None


def _kept(kind: str, shape: np.ndarray, series: pd.Series, fmt: str | None) -> np.ndarray:
    """Which values are read as the column's kind (the rest are missing)."""
    if kind in ("numeric", "integer"):
        return np.isin(shape, NUMBERS)
    if kind == "boolean":
        return shape == INDEX["boolean"]
    if kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(series):
            return shape == INDEX["datetime"]
        ok = np.zeros(len(series), dtype=bool)
        text = series.map(lambda v: v.strip() if isinstance(v, str) else None)
        has = text.notna().to_numpy(dtype=bool)
        if fmt and has.any():
            ok[has] = parses(text[has].astype(str), fmt)
        return ok
    return shape != INDEX["missing"]


def _read_as(kind: str, series: pd.Series, kept: np.ndarray) -> pd.Series:
    """The column's values as its kind, the others missing."""
    if kind in ("numeric", "integer"):
        return pd.to_numeric(series.where(kept), errors="coerce").astype("float64")
    if kind == "datetime" and pd.api.types.is_datetime64_any_dtype(series):
        return series.where(kept)
    values = series.astype(object).where(kept, None)
    return values.map(lambda v: v.strip() if isinstance(v, str) else v) if kind == "datetime" else values


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


class _Column:
    """One column's measurement: its plan, share of the budget, and what it found."""

    def __init__(self, name: str, entry: ColumnOverride | None, plan: tuple[bool, bool, bool], rho: float):
        self.name, self.entry = name, entry
        self.shapes, self.values, self.thresholded = plan
        share = SHAPE_SHARE if (self.shapes and self.values) else 1.0
        self.rho_shapes = rho * share if self.shapes else 0.0
        self.rho_values = rho - self.rho_shapes if self.values else 0.0
        self.facts: dict = {}
        self.measured: list[str] = []
        self.unknown: list[tuple[float, float]] = []  # noisy counts of what will be missing, with their sds


def measure(
    frame: pd.DataFrame,
    file: SchemaFile | None,
    epsilon: float,
    accountant: Accountant,
    progress=None,
) -> Measured:
    """Measure under DP what `file` leaves out (see the module doc), booking each spend in `accountant` (the
    whole release's: its epsilon and delta are the fit's)."""
    step = progress or (lambda _m: None)
    if not (isinstance(epsilon, int | float) and 0 < epsilon < accountant.epsilon):
        raise ParameterError(
            f"metadata epsilon must be positive and less than the fit's epsilon {accountant.epsilon:g}, got {epsilon!r}"
        )
    file = file or SchemaFile()
    given = {c.name: c for c in file.columns}
    plan = _plan(frame, file)
    reserved = threshold_delta(frame, file, accountant.delta)
    rho = rho_for(epsilon, accountant.delta - reserved)
    candidates = sum(t for _s, _v, t in plan.values())
    delta_each = reserved / candidates if candidates else 0.0
    columns = [_Column(n, given.get(n), p, rho / len(plan)) for n, p in plan.items()]
    secret = mech.secret_rng()
    spent = {"shapes": 0.0, "bounds": 0.0, "threshold": 0.0, "delta": 0.0}
    frame = frame.copy()
    for column in columns:
        step(f"measuring column {column.name!r} under DP")
        _measure_column(column, frame, delta_each, secret, spent)
    if spent["shapes"]:
        accountant.spend_rho(
            "gaussian",
            f"value shapes of {sum(c.shapes for c in columns)} columns (kind, nulls, format, decimals)",
            spent["shapes"],
            stage="metadata",
        )
    if spent["bounds"]:
        accountant.spend_rho(
            "gaussian",
            f"bounds: histograms over public bins, {QUANTILES[0]:.0%} and {QUANTILES[1]:.0%} quantiles",
            spent["bounds"],
            stage="metadata",
        )
    if spent["threshold"]:
        accountant.spend_rho(
            "gaussian-threshold",
            "categories over a noisy-count threshold",
            spent["threshold"],
            delta_approx=spent["delta"],
            stage="metadata",
        )
    if reserved > spent["delta"]:  # set aside before measuring (the engine's budget was set from it): booked
        accountant.spend_rho(
            "none",
            "delta set aside for thresholds, unused",
            0.0,
            delta_approx=reserved - spent["delta"],
            stage="metadata",
        )
    entries = []
    for name in frame.columns:
        found = next((c for c in columns if c.name == name), None)
        entries.append(
            ColumnOverride(name=name, **found.facts)
            if found is not None
            else given.get(name) or ColumnOverride(name=name)
        )
    total = spent["shapes"] + spent["bounds"] + spent["threshold"]
    record = {
        "epsilon": epsilon,
        "inside": "the fit's epsilon: metadata and model together are (epsilon, delta)-DP",
        "delta_threshold": reserved,
        "rho_budget": rho,
        "rho_spent": total,
        "epsilon_alone": epsilon_of_rho(total, accountant.delta - reserved) if total else 0.0,
        "quantiles": list(QUANTILES),
        "measured": {c.name: c.measured for c in columns},
        "from_schema_file": [n for n in frame.columns if n not in plan],
    }
    return Measured(file.model_copy(update={"columns": entries}), frame, record)


def _measure_column(column: _Column, frame: pd.DataFrame, delta_each: float, secret, spent: dict) -> None:
    name, entry = column.name, column.entry
    series = frame[name]
    stated = entry.model_dump(exclude_none=True, exclude={"name"}) if entry is not None else {}
    shape = shapes(series)
    kind, fmt, precision = stated.get("kind"), stated.get("datetime_format"), stated.get("precision")
    noisy, sigma = None, 0.0
    if column.shapes:
        sigma = mech.sigma_for(column.rho_shapes)
        noisy = mech.noisy_counts(np.bincount(shape, minlength=len(SHAPES)), sigma, secret)
        spent["shapes"] += column.rho_shapes
        found_kind, found_fmt, found_precision = _kind(noisy, sigma)
        if kind is None:
            column.measured.append("kind")
            if found_kind is None:
                missing = noisy[INDEX["missing"]] > SIGNIFICANT * sigma
                column.facts = (
                    {"kind": "constant", "value": None, "nullable": True}
                    if missing
                    else {
                        "kind": "text",
                        "policy": "drop",
                        "note": "under DP no kind of value rose above the noise: dropped",
                    }
                )
                column.measured.append("nothing above the noise")
                frame[name] = series.astype(object).where(series.isna(), None) if missing else series
                return
            kind, fmt = found_kind, fmt or found_fmt
            precision = precision if precision is not None else found_precision
        if kind == "datetime" and fmt is None and not pd.api.types.is_datetime64_any_dtype(series):
            fmt = SHAPES[max(DATES[1:], key=lambda i: noisy[i])][len("date:") :]
            column.measured.append("date format")
        if kind == "numeric" and precision is None and found_kind == "numeric":
            precision = found_precision
    kept = _kept(kind, shape, series, fmt)
    frame[name] = _read_as(kind, series, kept)
    facts = {**stated, "kind": kind}
    if fmt:
        facts["datetime_format"] = fmt
        if fmt.endswith("Z") or dates.has_offset(fmt):
            facts.setdefault("timezone", "UTC")
    if precision is not None and kind in ("numeric", "integer"):
        facts["precision"] = 0 if kind == "integer" else precision
    if noisy is not None:  # what will be missing: missing values; present shapes not read as the kind
        present = noisy > SIGNIFICANT * sigma
        off = [i for i in range(len(SHAPES)) if i != INDEX["missing"] and present[i] and not kept_as(kind, i)]
        column.unknown.append((float(noisy[INDEX["missing"]]), sigma))
        if off:
            column.unknown.append((float(noisy[off].sum()), sigma * math.sqrt(len(off))))
    if column.values and kind in ("numeric", "integer", "datetime"):
        _bounds(column, facts, frame[name], kind, fmt, secret, spent)
    elif column.values and kind == "categorical":
        _categories(column, facts, frame[name], noisy, sigma, delta_each, secret, spent)
        if facts.get("policy") == "drop":
            column.facts = facts
            return
    if "nullable" not in stated:
        facts["nullable"] = any(count > NULLABLE_SDS * sd for count, sd in column.unknown)
        column.measured.append("nullable")
    facts.setdefault("dtype", _dtype(kind, facts.get("nullable", True), series))
    column.facts = facts


def _bounds(column: _Column, facts: dict, values: pd.Series, kind: str, fmt, secret, spent: dict) -> None:
    """The bounds the schema file leaves out: the range's coarse bins, then quantiles over fine bins (a third and
    two thirds of the column's values budget; see `mechanisms`)."""
    numbers = dates.to_seconds(values, fmt) if kind == "datetime" else values.to_numpy("float64", na_value=np.nan)
    coarse = mech.year_edges() if kind == "datetime" else mech.decade_edges()
    sigma1, sigma2 = mech.sigma_for(column.rho_values / 3), mech.sigma_for(2 * column.rho_values / 3)
    noisy = mech.noisy_counts(mech.bin_counts(numbers, coarse), sigma1, secret)
    fine = mech.fine_edges(*mech.occupied(noisy, coarse, sigma1, SIGNIFICANT), kind)
    noisy = mech.noisy_counts(mech.bin_counts(numbers, fine), sigma2, secret)
    low, high = mech.bounds_from_counts(noisy, fine, QUANTILES[0], sigma2, SIGNIFICANT)
    spent["bounds"] += column.rho_values
    high -= 1 if kind == "integer" and high - 1 >= low else (1 if kind == "datetime" else 0)  # the bin's last value

    def stated(key):
        value = facts.get(key)
        return dates.from_iso(value) if kind == "datetime" and isinstance(value, str) else value

    measured = [key for key in ("min", "max") if facts.get(key) is None]
    low = low if "min" in measured else stated("min")
    high = high if "max" in measured else stated("max")
    if low > high:  # a measured bound beyond a stated one
        low, high = (high, high) if "min" in measured else (low, low)
    for key, value in (("min", low), ("max", high)):
        if key in measured:
            facts[key] = dates.iso(value) if kind == "datetime" else (int(value) if kind == "integer" else value)
    column.measured.append("bounds")


def _categories(column, facts, values: pd.Series, noisy_shapes, sigma_shapes, delta_each, secret, spent) -> None:
    """The categories whose noisy count passes the threshold (see the module doc)."""
    sigma = mech.sigma_for(column.rho_values)
    threshold = mech.threshold_for(sigma, delta_each)
    counts = values.dropna().value_counts().to_dict()
    released = mech.thresholded_histogram(counts, sigma, threshold, secret)
    spent["threshold"] += column.rho_values
    spent["delta"] += delta_each
    column.measured.append("categories")
    if not released:
        facts.update(
            policy="drop",
            note=f"under DP no value's noisy count passed the threshold {threshold:.0f}: dropped "
            "(rare values, an identifier or free text; state it in the schema file to keep it)",
        )
        return
    ordered = sorted(released, key=released.__getitem__, reverse=True)
    facts["categories"] = [_plain(v) for v in ordered]
    if noisy_shapes is not None:  # what did not pass is read as missing: add its noisy count
        present = [
            i for i in range(len(SHAPES)) if i != INDEX["missing"] and noisy_shapes[i] > SIGNIFICANT * sigma_shapes
        ]
        sd = math.sqrt(len(present) * sigma_shapes**2 + len(released) * sigma**2)
        column.unknown.append((float(noisy_shapes[present].sum() - sum(released.values())), sd))


def _dtype(kind: str, nullable: bool, series: pd.Series) -> str:
    """The output dtype of a measured column, from its kind (the frame's dtype is read off the values)."""
    if kind == "datetime" and pd.api.types.is_datetime64_any_dtype(series):
        return dates.dtype_name(series)
    if kind == "integer":
        return "float64" if nullable else "int64"
    return {"numeric": "float64", "boolean": "bool"}.get(kind, "object")
