"""Public domains: what a differentially private fit may know about the columns without looking at the data.

Under DP, schema inference itself would leak (observed min/max, the categories present, null rates, even
which column is a unique key), so a DP fit takes every column's facts from the user's schema file, which
the user vouches is public knowledge: `kind`; `min`/`max` for numbers and dates; `categories` for
categorical columns (booleans default to false/true); `nullable` (default true). `public_schema` builds
the Schema from that file alone and lists every missing declaration in one error.

`PublicEncoder` turns a table into cells of that public domain, one discrete variable per column:
- numbers and dates: values clipped to [min, max], then `bins` equal-width cells (an integer column with
  at most `bins` values in its range gets one cell per value);
- categories: the declared list, in its order; a value not declared counts as null when the column is
  nullable, else as the first category (the encoding stays a fixed function of each record);
- a nullable column has one more cell, null.
Decoding draws a number uniformly within its cell and rounds it as the schema says. Everything here is a
function of the schema file, so encoding spends no privacy budget and the model stores no data values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from privsynth import dates
from privsynth.errors import SchemaError
from privsynth.schema import LEARNED_KINDS, Column, Schema, SchemaFile, Settings, text_names
from privsynth.transforms.encoder import ColumnCodec, Encoded, _raw, restore_categories, restore_numbers
from privsynth.transforms.numeric import finish

DEFAULT_BINS = 32


def _bound(value, kind: str) -> float:
    return dates.from_iso(value) if kind == "datetime" and isinstance(value, str) else float(value)


def public_schema(frame: pd.DataFrame, file: SchemaFile | None) -> Schema:
    """The Schema of `frame` built from the schema file alone (only names and pandas dtypes come from the
    frame: the table's shape, not its values). Raises SchemaError listing every missing declaration."""
    frame = text_names(frame)
    given = {c.name: c for c in (file.columns if file else [])}
    settings = Settings(**(file.model_dump(include=set(Settings.model_fields)) if file else {}))
    problems = [f"column {n!r} in the schema file is not in the data" for n in given if n not in frame.columns]
    columns = []
    for name in frame.columns:
        entry = given.get(name)
        if entry is None or entry.kind is None:
            problems.append(f"column {name!r}: state its kind (and public domain) in the schema file")
            continue
        stated = entry.model_dump(exclude_none=True, exclude={"name", "kind"})
        if "value" in entry.model_fields_set:
            stated["value"] = entry.value
        stated.setdefault("dtype", str(frame[name].dtype))
        stated.setdefault("nullable", entry.kind in LEARNED_KINDS)
        kind, policy = entry.kind, stated.get("policy", "keep")
        if kind == "identifier" and policy == "keep":
            stated["policy"] = "fake" if entry.pii else "surrogate"
        if kind in ("numeric", "integer", "datetime") and policy == "keep" and (entry.min is None or entry.max is None):
            problems.append(f"column {name!r}: give its public min and max")
        if kind == "categorical" and policy == "keep" and not entry.categories:
            problems.append(f"column {name!r}: list its public categories")
        if kind == "boolean" and not entry.categories:
            stated["categories"] = [False, True]
        if kind == "text" and policy != "drop":
            problems.append(f"column {name!r}: free text cannot be synthesised under DP; set policy: drop")
        if kind == "empty":
            problems.append(f"column {name!r}: kind empty is data-dependent; use constant with a value, or drop")
        try:
            columns.append(Column(name=name, kind=kind, **stated))
        except ValueError as exc:
            problems.append(f"column {name!r}: {exc}")
    try:
        from privsynth.augment.constraints import check_columns

        check_columns(settings.constraints, [c.name for c in columns])
    except SchemaError as exc:
        problems += exc.problems
    problems += [
        f"constraints[{i}]: list the allowed combinations of {c.columns} (learning them would read the data)"
        for i, c in enumerate(settings.constraints)
        if c.type == "combination" and c.allowed is None
    ]
    if problems:
        lead = "a differentially private fit takes every column's facts from a public schema file, not the data"
        raise SchemaError([lead, *problems])
    return Schema(columns=columns, **settings.model_dump())


def _cells(column: Column, bins: int) -> dict:
    """A column's public cells: {"edges": upper edges} for numbers/dates, {"categories": [...]} else."""
    if column.kind in ("categorical", "boolean"):
        return {"categories": list(column.categories or [])}
    lo, hi = _bound(column.min, column.kind), _bound(column.max, column.kind)
    if column.kind == "integer" and hi - lo + 1 <= bins:
        values = np.arange(np.ceil(lo), np.floor(hi) + 1)
        return {"edges": list(values + 0.5), "lo": float(values[0] - 0.5), "integer_cells": True}
    return {"edges": list(np.linspace(lo, hi, bins + 1)[1:]), "lo": lo}


class PublicEncoder:
    """Learned columns <-> cells of their public domain (see the module docstring). Same interface as
    `transforms.encoder.Encoder`, so a Model samples, saves and loads either."""

    kind = "public-domain"
    default_bins = DEFAULT_BINS

    def __init__(self, codecs: list[ColumnCodec], bins: int):
        self.codecs = codecs
        self.bins = bins

    @classmethod
    def fit(cls, schema: Schema, bins: int = DEFAULT_BINS) -> PublicEncoder:
        """From the schema alone: there is no data argument on purpose."""
        codecs = []
        for column in schema.columns:
            if column.learned:
                params = _cells(column, bins)
                transform = "categorical" if "categories" in params else "numeric"
                codecs.append(ColumnCodec(column.name, transform, params, {}, column.nullable))
        return cls(codecs, bins)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.codecs)

    @property
    def cardinality(self) -> tuple[int, ...]:
        return tuple(_values(c) + int(c.nullable) for c in self.codecs)

    @property
    def levels(self) -> None:
        return None

    def encode(self, frame: pd.DataFrame, schema: Schema, rng: np.random.Generator, fill: bool = True) -> Encoded:
        """Cell codes (float64). Absent columns are NaN (free); without `fill`, nulls stay NaN (free) too."""
        frame = text_names(frame)
        n = len(frame)
        cols = []
        for codec in self.codecs:
            if codec.name not in frame.columns:
                cols.append(np.full(n, np.nan))
                continue
            raw = _raw(frame[codec.name], schema[codec.name])
            size = _values(codec)
            if codec.transform == "categorical":
                cats = pd.Index(codec.params["categories"], dtype=object)
                codes = pd.Categorical(pd.Series(raw, dtype=object), categories=cats).codes.astype("float64")
                unknown = codes < 0
            else:
                x = np.asarray(raw, dtype="float64")
                edges = np.asarray(codec.params["edges"])
                codes = np.minimum(np.searchsorted(edges, x, side="left"), size - 1).astype("float64")
                unknown = np.isnan(x)
            if not fill:
                codes[unknown] = np.nan
            else:
                codes[unknown] = size if codec.nullable else 0
            cols.append(codes)
        values = np.column_stack(cols) if cols else np.empty((n, 0))
        return Encoded(self.names, self.cardinality, values)

    def decode(
        self, data: Encoded, schema: Schema, rng: np.random.Generator, fixed: Encoded | None = None
    ) -> dict[str, pd.Series]:
        out: dict[str, pd.Series] = {}
        for j, codec in enumerate(self.codecs):
            column = schema[codec.name]
            size = _values(codec)
            codes = np.clip(np.nan_to_num(data.values[:, j], nan=0).astype("int64"), 0, size + int(codec.nullable) - 1)
            missing = codes == size
            cell = np.minimum(codes, size - 1)
            if codec.transform == "categorical":
                table = np.asarray(codec.params["categories"] + [None], dtype=object)
                out[codec.name] = restore_categories(table[np.where(missing, size, cell)], column)
                continue
            upper = np.asarray(codec.params["edges"])
            lower = np.concatenate([[codec.params["lo"]], upper[:-1]])
            if codec.params.get("integer_cells"):
                x = upper[cell] - 0.5
            else:
                x = lower[cell] + rng.random(len(cell)) * (upper[cell] - lower[cell])
            lo, hi = _bound(column.min, column.kind), _bound(column.max, column.kind)
            x = finish(x, lo, hi, column.precision if column.kind != "datetime" else None)
            x[missing] = np.nan
            out[codec.name] = restore_numbers(x, column)
        return out

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        columns = [
            {"name": c.name, "transform": c.transform, "params": c.params, "nullable": c.nullable} for c in self.codecs
        ]
        return {"kind": self.kind, "bins": self.bins, "columns": columns}, {}

    @classmethod
    def from_state(cls, params: dict, arrays: dict[str, np.ndarray]) -> PublicEncoder:
        codecs = [ColumnCodec(p["name"], p["transform"], p["params"], {}, p["nullable"]) for p in params["columns"]]
        return cls(codecs, int(params["bins"]))


def _values(codec: ColumnCodec) -> int:
    """Cells holding values (the null cell, if any, comes after them)."""
    return len(codec.params["categories"] if codec.transform == "categorical" else codec.params["edges"])
