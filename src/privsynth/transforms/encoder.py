"""The table <-> Encoded bridge: one transform per learned column, plus missingness as one variable.

Every learned column becomes a value variable (continuous u in (0, 1), or discrete codes). When columns
have nulls, one more discrete variable `::missing` holds the row's null pattern (which of the nullable
columns are missing together), so engines keep joint missingness, not only each column's null rate.
A pattern seen in fewer than k rows is merged into the nearest frequent pattern (rare protection, as for
categories). Value variables of missing cells hold a random draw from the column's marginal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from privsynth import dates
from privsynth.schema import Column, Schema, text_names
from privsynth.transforms import categorical, numeric

MISSING = "::missing"


@dataclass(frozen=True)
class Encoded:
    """An encoded table: `values[:, j]` is variable `names[j]`; `cardinality[j]` is 0 for a continuous
    uniform score in (0, 1), else the number of integer codes. In a `fixed` argument NaN means free.
    `levels[j]`, when given, says a continuous variable takes few distinct values (a number column in the
    numeric transform's discrete mode): the CDF level at the top of each value's step, so an engine may treat
    the variable as discrete (u in [levels[i-1], levels[i]) is value i). Engines may ignore it."""

    names: tuple[str, ...]
    cardinality: tuple[int, ...]
    values: np.ndarray
    levels: tuple[np.ndarray | None, ...] | None = None

    @property
    def n(self) -> int:
        return int(self.values.shape[0])


@dataclass(frozen=True)
class ColumnCodec:
    """A learned column's transform state: which transform, its JSON params and its arrays."""

    name: str
    transform: str  # "numeric" | "categorical"
    params: dict
    arrays: dict
    nullable: bool

    @property
    def cardinality(self) -> int:
        return categorical.cardinality(self.params) if self.transform == "categorical" else 0


def _raw(series: pd.Series, column: Column) -> np.ndarray:
    """A column's values as the array its transform takes (float64 with NaN, or object with None)."""
    if column.kind == "datetime":
        return dates.to_seconds(series, column.datetime_format)
    if column.kind in ("numeric", "integer"):
        return pd.to_numeric(series, errors="raise").to_numpy(dtype="float64", na_value=np.nan)
    return series.astype(object).where(series.notna(), None).to_numpy(dtype=object)


def _bound(value, column: Column) -> float | None:
    if value is None:
        return None
    return dates.from_iso(value) if column.kind == "datetime" else float(value)


class Encoder:
    """Fitted transforms for the learned columns of a schema."""

    def __init__(self, codecs: list[ColumnCodec], patterns: np.ndarray | None = None):
        self.codecs = codecs
        self.patterns = patterns  # (n_patterns, n_nullable) bool, most frequent first; None if no nulls

    @property
    def nullable(self) -> list[ColumnCodec]:
        return [c for c in self.codecs if c.nullable]

    @classmethod
    def fit(cls, frame: pd.DataFrame, schema: Schema) -> Encoder:
        frame = text_names(frame)
        codecs, masks = [], []
        for column in schema.columns:
            if not column.learned:
                continue
            raw = _raw(frame[column.name], column)
            try:
                if column.kind in ("categorical", "boolean"):
                    params, arrays = categorical.fit(
                        raw, k=schema.rare_category_threshold, marker=schema.rare_category_marker
                    )
                else:
                    params, arrays = numeric.fit(raw, k=schema.rare_category_threshold)
                    if column.kind == "datetime":
                        params["step"] = dates.resolution(raw)
            except ValueError as exc:
                from privsynth.errors import SchemaError

                raise SchemaError(f"column {column.name!r}: {exc}") from None
            transform = "categorical" if column.kind in ("categorical", "boolean") else "numeric"
            nullable = bool(pd.isna(raw).any())
            codecs.append(ColumnCodec(column.name, transform, params, arrays, nullable))
            if nullable:
                masks.append(pd.isna(raw))
        patterns = _frequent_patterns(np.column_stack(masks), schema.rare_category_threshold) if masks else None
        return cls(codecs, patterns)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.codecs) + ((MISSING,) if self.patterns is not None else ())

    @property
    def cardinality(self) -> tuple[int, ...]:
        extra = (len(self.patterns),) if self.patterns is not None else ()
        return tuple(c.cardinality for c in self.codecs) + extra

    @property
    def levels(self) -> tuple[np.ndarray | None, ...]:
        """Per variable, the CDF levels of a number column in discrete mode (see `Encoded`), else None."""
        steps = tuple(
            c.arrays["cdf"] if c.transform == "numeric" and c.params.get("mode") == "discrete" else None
            for c in self.codecs
        )
        return steps + ((None,) if self.patterns is not None else ())

    def encode(self, frame: pd.DataFrame, schema: Schema, rng: np.random.Generator, fill: bool = True) -> Encoded:
        """Encode the columns of `frame` (absent columns become NaN = free). With `fill`, value variables
        of missing cells get draws from the marginal and the null pattern is encoded (for fitting); without
        it they stay NaN and the pattern is left free (for conditions)."""
        frame = text_names(frame)
        n = len(frame)
        cols, masks = [], []
        for codec in self.codecs:
            if codec.name not in frame.columns:
                cols.append(np.full(n, np.nan))
                masks.append(np.zeros(n, bool))
                continue
            raw = _raw(frame[codec.name], schema[codec.name])
            if codec.transform == "numeric":
                values = numeric.encode(raw, codec.params, codec.arrays, rng)
            else:
                values = categorical.encode(raw, codec.params)
            missing = np.isnan(values)
            if fill and missing.any():
                if codec.transform == "numeric":
                    values[missing] = rng.random(int(missing.sum()))
                else:
                    weights = codec.arrays["counts"] / codec.arrays["counts"].sum()
                    values[missing] = rng.choice(len(weights), size=int(missing.sum()), p=weights)
            cols.append(values)
            masks.append(missing)
        if self.patterns is not None:
            if fill:
                nullable = [m for m, c in zip(masks, self.codecs, strict=True) if c.nullable]
                cols.append(_nearest_pattern(np.column_stack(nullable), self.patterns).astype("float64"))
            else:
                cols.append(np.full(n, np.nan))
        values = np.column_stack(cols) if cols else np.empty((n, 0))
        return Encoded(self.names, self.cardinality, values, self.levels)

    def decode(
        self, data: Encoded, schema: Schema, rng: np.random.Generator, fixed: Encoded | None = None
    ) -> dict[str, pd.Series]:
        """Columns in their original representation (dtype, format, precision, range) from `data`.
        Cells that `fixed` pins are never made missing by the sampled null pattern."""
        out: dict[str, pd.Series] = {}
        missing_of = self._missing(data)
        for j, codec in enumerate(self.codecs):
            column = schema[codec.name]
            values = data.values[:, j]
            missing = missing_of.get(codec.name, np.zeros(data.n, bool))
            if fixed is not None:
                missing = missing & np.isnan(fixed.values[:, j])
            if codec.transform == "numeric":
                x = numeric.decode(values, codec.params, codec.arrays)
                x = numeric.finish(
                    x,
                    _bound(column.min, column),
                    _bound(column.max, column),
                    column.precision if column.kind != "datetime" else None,
                    codec.params.get("step"),
                )
                x[missing] = np.nan
                out[codec.name] = restore_numbers(x, column)
            else:
                x = categorical.decode(values, codec.params, codec.arrays, rng)
                x[missing] = None
                out[codec.name] = restore_categories(x, column)
        return out

    def _missing(self, data: Encoded) -> dict[str, np.ndarray]:
        if self.patterns is None:
            return {}
        codes = np.clip(data.values[:, len(self.codecs)].astype("int64"), 0, len(self.patterns) - 1)
        rows = self.patterns[codes]
        return {c.name: rows[:, i] for i, c in enumerate(self.nullable)}

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        columns, arrays = [], {}
        for i, c in enumerate(self.codecs):
            columns.append({"name": c.name, "transform": c.transform, "params": c.params, "nullable": c.nullable})
            for key, value in c.arrays.items():
                arrays[f"encoder/{i}/{key}"] = value
        if self.patterns is not None:
            arrays["encoder/missing_patterns"] = self.patterns
        return {"columns": columns}, arrays

    @classmethod
    def from_state(cls, params: dict, arrays: dict[str, np.ndarray]) -> Encoder:
        codecs = []
        for i, p in enumerate(params["columns"]):
            prefix = f"encoder/{i}/"
            own = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            codecs.append(ColumnCodec(p["name"], p["transform"], p["params"], own, p["nullable"]))
        return cls(codecs, arrays.get("encoder/missing_patterns"))


def _frequent_patterns(masks: np.ndarray, k: int) -> np.ndarray:
    """Null patterns (rows of `masks`) seen at least k times, most frequent first; the all-present
    pattern is always kept so that rare patterns have somewhere to go."""
    patterns, counts = np.unique(masks, axis=0, return_counts=True)
    order = np.lexsort((np.arange(len(counts)), -counts))
    patterns, counts = patterns[order], counts[order]
    keep = counts >= k
    none = ~patterns.any(axis=1)
    keep |= none
    frequent = patterns[keep]
    if not none.any():
        frequent = np.vstack([frequent, np.zeros((1, masks.shape[1]), bool)])
    return frequent.astype(bool)


def _nearest_pattern(masks: np.ndarray, patterns: np.ndarray) -> np.ndarray:
    """Index of the frequent pattern closest (Hamming distance, then frequency) to each row's pattern."""
    distance = (masks[:, None, :] != patterns[None, :, :]).sum(axis=2) if len(masks) <= 200_000 else None
    if distance is not None:
        return distance.argmin(axis=1)
    return np.concatenate(
        [_nearest_pattern(chunk, patterns) for chunk in np.array_split(masks, len(masks) // 100_000 + 1)]
    )


def restore_numbers(x: np.ndarray, column: Column) -> pd.Series:
    """Numbers (or seconds) back in the column's dtype: integers stay integers, nulls allowed.
    (A CSV writer then prints whole-number float columns as integers: see `io.write`.)"""
    missing = np.isnan(x)
    dtype = column.dtype
    if column.kind == "datetime":
        return dates.from_seconds(x, column.datetime_format, dtype, column.timezone)
    if pd.api.types.is_float_dtype(dtype):  # integers with nulls stay float64, as pandas read them
        return pd.Series((np.round(x) if column.kind == "integer" else x).astype(dtype))
    if pd.api.types.is_integer_dtype(dtype):
        if missing.any():
            return pd.Series(x).round().astype("Int64" if dtype.startswith("int") else dtype)
        return pd.Series(np.round(x).astype(dtype))
    # numbers that were stored as text
    places = column.precision or 0
    text = pd.Series([None if m else f"{v:.{places}f}" for v, m in zip(x, missing, strict=True)], dtype=object)
    return text if dtype == "object" else text.astype(dtype)


def restore_categories(x: np.ndarray, column: Column) -> pd.Series:
    """Category values back in the column's dtype (bool, category, string, numbers)."""
    series = pd.Series(x, dtype=object)
    dtype = column.dtype
    if column.kind == "boolean" or dtype == "bool":
        return series.astype("boolean") if series.isna().any() else series.astype(bool)
    if dtype == "object":
        return series
    try:
        if pd.api.types.is_integer_dtype(dtype) and series.isna().any():
            return series.astype("Int64")
        return series.astype(dtype)
    except (TypeError, ValueError):
        return series
