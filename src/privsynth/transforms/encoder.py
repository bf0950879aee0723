"""The table <-> Encoded bridge: one transform per learned column, plus missingness as variables.

Every learned column becomes a value variable (continuous u in (0, 1), or discrete codes) and, when the
column has nulls, a binary `<name>::missing` variable. Engines therefore model which columns are missing
together (null patterns), not only each column's null rate. Value variables of missing cells hold a
random draw from the column's marginal so that they carry no signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from privsynth import dates
from privsynth.schema import Column, Schema
from privsynth.transforms import categorical, numeric

MISSING = "::missing"


@dataclass(frozen=True)
class Encoded:
    """An encoded table: `values[:, j]` is variable `names[j]`; `cardinality[j]` is 0 for a continuous
    uniform score in (0, 1), else the number of integer codes. In a `fixed` argument NaN means free."""

    names: tuple[str, ...]
    cardinality: tuple[int, ...]
    values: np.ndarray

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

    def __init__(self, codecs: list[ColumnCodec]):
        self.codecs = codecs

    @classmethod
    def fit(cls, frame: pd.DataFrame, schema: Schema) -> Encoder:
        codecs = []
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
        return cls(codecs)

    @property
    def names(self) -> tuple[str, ...]:
        out = []
        for c in self.codecs:
            out.append(c.name)
            if c.nullable:
                out.append(c.name + MISSING)
        return tuple(out)

    @property
    def cardinality(self) -> tuple[int, ...]:
        out = []
        for c in self.codecs:
            out.append(c.cardinality)
            if c.nullable:
                out.append(2)
        return tuple(out)

    def encode(self, frame: pd.DataFrame, schema: Schema, rng: np.random.Generator, fill: bool = True) -> Encoded:
        """Encode the columns of `frame` (absent columns become NaN = free). With `fill`, value variables
        of missing cells are filled with draws from the marginal (for fitting); else they stay NaN."""
        n = len(frame)
        cols = []
        for codec in self.codecs:
            if codec.name not in frame.columns:
                cols.append(np.full(n, np.nan))
                if codec.nullable:
                    cols.append(np.full(n, np.nan))
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
            if codec.nullable:
                cols.append(missing.astype("float64"))
        values = np.column_stack(cols) if cols else np.empty((n, 0))
        return Encoded(self.names, self.cardinality, values)

    def decode(self, data: Encoded, schema: Schema, rng: np.random.Generator) -> dict[str, pd.Series]:
        """Columns in their original representation (dtype, format, precision, range) from `data`."""
        out: dict[str, pd.Series] = {}
        position = {name: j for j, name in enumerate(data.names)}
        for codec in self.codecs:
            column = schema[codec.name]
            values = data.values[:, position[codec.name]]
            missing = (
                data.values[:, position[codec.name + MISSING]] > 0.5 if codec.nullable else np.zeros(data.n, bool)
            )
            if codec.transform == "numeric":
                x = numeric.decode(values, codec.params, codec.arrays)
                x = numeric.finish(
                    x, _bound(column.min, column), _bound(column.max, column),
                    column.precision if column.kind != "datetime" else None, codec.params.get("step"),
                )
                x[missing] = np.nan
                out[codec.name] = restore_numbers(x, column)
            else:
                x = categorical.decode(values, codec.params, codec.arrays, rng)
                x[missing] = None
                out[codec.name] = restore_categories(x, column)
        return out

    def state(self) -> tuple[list[dict], dict[str, np.ndarray]]:
        params, arrays = [], {}
        for i, c in enumerate(self.codecs):
            params.append({"name": c.name, "transform": c.transform, "params": c.params, "nullable": c.nullable})
            for key, value in c.arrays.items():
                arrays[f"encoder/{i}/{key}"] = value
        return params, arrays

    @classmethod
    def from_state(cls, params: list[dict], arrays: dict[str, np.ndarray]) -> Encoder:
        codecs = []
        for i, p in enumerate(params):
            prefix = f"encoder/{i}/"
            own = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            codecs.append(ColumnCodec(p["name"], p["transform"], p["params"], own, p["nullable"]))
        return cls(codecs)


def restore_numbers(x: np.ndarray, column: Column) -> pd.Series:
    """Numbers (or seconds) back in the column's dtype: integers stay integers, nulls allowed."""
    missing = np.isnan(x)
    dtype = column.dtype
    if column.kind == "datetime":
        return dates.from_seconds(x, column.datetime_format, dtype, column.timezone)
    if pd.api.types.is_integer_dtype(dtype) or (column.kind == "integer" and "float" in dtype):
        if missing.any() or "float" in dtype:
            return pd.Series(x).round().astype("Int64")
        return pd.Series(np.round(x).astype(dtype))
    if pd.api.types.is_float_dtype(dtype):
        return pd.Series(x.astype(dtype))
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
