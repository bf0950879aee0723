"""What each column is: kind, dtype, nullability, bounds, precision, datetime format, identifier policy.

`Schema.infer(frame)` measures a DataFrame; `to_yaml` writes a file a user can edit; passing that file
back (`Schema.infer(frame, overrides=load_yaml(path))`) overrides whatever it states and infers the rest.
Validation collects every problem and raises one SchemaError listing them all.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from privsynth import dates, pii
from privsynth.augment.constraints import Constraint, check_columns
from privsynth.errors import SchemaError

Kind = Literal["numeric", "integer", "categorical", "boolean", "datetime", "identifier", "text", "constant", "empty"]
KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]
LEARNED_KINDS = ("numeric", "integer", "categorical", "boolean", "datetime")
Policy = Literal["keep", "fake", "surrogate", "drop"]
PiiKind = Literal["email", "phone", "person_name", "national_id", "credit_card", "ip_address", "street_address", "key"]
MAX_PRECISION = 10
Precision = Annotated[int, Field(ge=0, le=15)]


def _check_column(column):
    """Cross-field checks shared by schema columns and schema-file entries."""
    if column.dtype is not None:
        try:
            dtype = pd.api.types.pandas_dtype(column.dtype)
        except (TypeError, ValueError):
            raise ValueError(f"dtype {column.dtype!r} is not a pandas dtype (e.g. int64, float64, object)") from None
        if isinstance(dtype, np.dtype) and (dtype.kind in "SUV" or dtype.fields is not None):
            # fixed-width bytes, text or void: never inferred, and a width like V1000000000 allocates per row
            raise ValueError(f"dtype {column.dtype!r} is not supported (use object or string for text)")
    for bound in (column.min, column.max):
        if isinstance(bound, float) and not math.isfinite(bound):
            raise ValueError("min and max must be finite numbers")
        if isinstance(bound, int) and not -(2**63) < bound < 2**63:
            raise ValueError("min and max must lie within the 64-bit integer range")
    bounds = [b for b in (column.min, column.max) if b is not None]
    if column.kind in ("numeric", "integer") and any(isinstance(b, str) for b in bounds):
        raise ValueError("min and max of a numeric column must be numbers")
    if column.kind == "datetime":
        try:
            bounds = [dates.from_iso(b) if isinstance(b, str) else float(b) for b in bounds]
        except ValueError:
            raise ValueError("min and max of a datetime column must be ISO 8601 text, e.g. 2020-01-31") from None
    if len(bounds) == 2 and all(isinstance(b, int | float) for b in bounds) and bounds[0] > bounds[1]:
        raise ValueError(f"min ({column.min}) is greater than max ({column.max})")
    return column


class Column(BaseModel):
    """One column. `min`/`max` are numbers, or ISO 8601 text for datetimes. `categories` is only ever set
    by the user: the public list of a categorical column's values that differentially private fits need
    (inference never fills it: the categories seen in the data are not public)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Kind
    dtype: str
    nullable: bool = False
    min: int | float | str | None = None
    max: int | float | str | None = None
    precision: Precision | None = None
    datetime_format: str | None = None
    timezone: str | None = None
    value: Any = None
    categories: list | None = None
    pii: PiiKind | None = None
    policy: Policy = "keep"
    note: str | None = None
    problem: str | None = None  # what inference could not settle (e.g. mixed types): shown by describe

    _checked = model_validator(mode="after")(_check_column)

    @property
    def learned(self) -> bool:
        """True when an engine learns this column (identifiers, text and constants are not learned)."""
        return self.policy == "keep" and self.kind in LEARNED_KINDS


class ColumnOverride(BaseModel):
    """A column entry in a user's schema file: every field but the name is optional."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Kind | None = None
    dtype: str | None = None
    nullable: bool | None = None
    min: int | float | str | None = None
    max: int | float | str | None = None
    precision: Precision | None = None
    datetime_format: str | None = None
    timezone: str | None = None
    value: Any = None
    categories: list | None = None
    pii: PiiKind | None = None
    policy: Policy | None = None
    note: str | None = None

    _checked = model_validator(mode="after")(_check_column)


class Settings(BaseModel):
    """Table-wide settings of a schema file."""

    model_config = ConfigDict(extra="forbid")

    rare_category_threshold: Annotated[int, Field(ge=1)] = 5
    rare_category_marker: str | None = None
    max_categories: Annotated[int, Field(ge=1)] = 10_000
    constraints: list[Constraint] = []  # rules every sampled row obeys (privsynth.augment.constraints)


class History(BaseModel):
    """An event table's declaration (many rows per entity): the entity key and the time or order column.
    `privsynth fit EVENTS --schema FILE` then learns whole histories, as with --entity/--time. Differentially
    private history fits also need `max_events` (a public cap: longer histories are cut to their first
    max_events events) and take `constant` (the columns that never change within an entity) from here rather
    than from the data."""

    model_config = ConfigDict(extra="forbid")

    entity: str
    time: str
    max_events: Annotated[int, Field(ge=1)] | None = None
    constant: list[str] = []


class SchemaFile(Settings):
    version: int = 1
    history: History | None = None
    columns: list[ColumnOverride] = []


class Schema(Settings):
    """All columns of a table, in order, plus the table-wide settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    columns: list[Column]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def __getitem__(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @classmethod
    def infer(cls, frame: pd.DataFrame, overrides: SchemaFile | None = None, strict: bool = False) -> Schema:
        """Measure `frame`; what `overrides` states wins. A column whose values inference cannot settle
        (numbers mixed with other text) gets the kind that holds every value (categorical) and its
        `problem` says why; with `strict` such columns are errors instead. Raises SchemaError listing every
        problem (always for what the schema file states and the data contradict)."""
        overrides = overrides or SchemaFile()
        settings = Settings(**overrides.model_dump(include=set(Settings.model_fields)))
        given = {c.name: c for c in overrides.columns}
        problems = [_unknown(name, frame.columns) for name in given if name not in frame.columns]
        frame = text_names(frame)
        columns = []
        for name in frame.columns:
            try:
                columns.append(infer_column(str(name), frame[name], settings, given.get(str(name)), strict))
            except SchemaError as exc:
                problems.extend(exc.problems)
        if problems:
            raise SchemaError(problems)
        check_columns(settings.constraints, [c.name for c in columns])
        return cls(columns=columns, **settings.model_dump())

    def to_yaml(self) -> str:
        body = self.model_dump(exclude_none=True)
        if not body.get("constraints"):
            body.pop("constraints", None)
        body["columns"] = [
            {
                k: v
                for k, v in c.items()
                if not (k == "nullable" and v is False) and not (k == "policy" and v == "keep") and k != "problem"
            }
            for c in body["columns"]
        ]
        return yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


def text_names(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its column names as text (a new frame if any was not, e.g. from header=None)."""
    if all(isinstance(name, str) for name in frame.columns):
        return frame
    names = [str(name) for name in frame.columns]
    if len(set(names)) != len(names):
        raise SchemaError("column names must be distinct once written as text (e.g. 1 and '1' clash)")
    return frame.set_axis(names, axis=1)


def load_yaml(path: str | Path, columns: list | None = None) -> SchemaFile:
    """Read a schema file. Errors name the file and the field, e.g. `columns[2].kind`; given the data's
    `columns`, entries naming no data column are reported in the same error."""
    path = Path(path)
    if not path.exists():
        raise SchemaError(f"schema file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
        check_yaml_shape(text, path)
        raw = yaml.safe_load(text) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{path} is not valid YAML: {(str(exc).splitlines() or [''])[0]}") from None
    if not isinstance(raw, dict):
        raise SchemaError(f"{path} must hold a mapping with a 'columns' list")
    try:
        return SchemaFile.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{path}: {_location(err['loc'])}: {err['msg']}".replace("Value error, ", "") for err in exc.errors()
        ]
        if columns is not None and isinstance(raw.get("columns"), list):
            known = {str(c) for c in columns}
            named = [e.get("name") for e in raw["columns"] if isinstance(e, dict)]
            problems += [_unknown(name, columns) for name in named if name is not None and str(name) not in known]
        raise SchemaError(problems) from None


MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 1_000_000


def check_yaml_shape(text: str, path) -> None:
    """Refuse YAML that nests deeper than MAX_YAML_DEPTH or whose aliases expand to more than
    MAX_YAML_NODES values (a "billion laughs" file), from the parser's event stream: building the document
    would recurse past Python's limit or walk an exponential structure."""
    sizes: dict[str, int] = {}
    stack: list[list] = [[None, 0]]
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            stack.append([event.anchor, 1])
            if len(stack) > MAX_YAML_DEPTH + 1:
                raise SchemaError(f"{path} nests deeper than {MAX_YAML_DEPTH} levels")
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, size = stack.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
        elif isinstance(event, yaml.AliasEvent):
            anchor, size = None, sizes.get(event.anchor, 1)
        else:
            continue
        if anchor:
            sizes[anchor] = size
        stack[-1][1] += size
        if stack[-1][1] > MAX_YAML_NODES:
            raise SchemaError(f"{path} holds more than {MAX_YAML_NODES:,} values once its aliases are expanded")


def _unknown(name, columns) -> str:
    return f"column {name!r} in the schema file is not in the data (columns: {', '.join(map(str, columns))})"


def _location(loc: tuple) -> str:
    """A pydantic error location as a path a user recognises, e.g. `columns[2].kind`."""
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")


# ---------------------------------------------------------------- inference of one column


def _decimals(values: np.ndarray) -> int | None:
    """Fewest decimal places (<= MAX_PRECISION) at which rounding gives back every value exactly (values
    parsed from decimal text round-trip this way); None when none does (then output is not rounded)."""
    finite = values[np.isfinite(values)]
    if finite.size > 100_000:
        finite = finite[:: finite.size // 100_000]
    for places in range(MAX_PRECISION + 1):
        if np.array_equal(np.round(finite, places), finite):
            return places
    return None


def _number(x: Any) -> float | int:
    value = float(x)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _kind_from_data(
    name: str, series: pd.Series, settings: Settings, strict: bool = False
) -> tuple[str, str | None, dict]:
    """(kind, note, extras) inferred from the values alone. extras may hold datetime_format / pii / problem.
    The note says which rule decided and why.

    Text columns are judged on their distinct values weighted by their counts, so a million-row column
    of twenty categories costs one hashing pass, not a million string operations."""
    values = series.dropna()
    if values.empty:
        return "empty", "every value is missing", {}
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime", None, {}
    counts = values.value_counts(sort=False)
    n_distinct = len(counts)
    if pd.api.types.is_bool_dtype(series) or counts.index.map(type).isin([bool, np.bool_]).all():
        return "boolean", None, {}
    if n_distinct == 1:
        return "constant", "a single value", {}
    if pd.api.types.is_numeric_dtype(series):
        return _numeric_kind(name, values, n_distinct, len(series))
    text = pd.Series(counts.index.astype(str), index=counts.index)
    weights = counts.to_numpy(dtype="float64") / counts.sum()
    fmt = dates.guess_format(text)  # dates first: "2017-02-25" must not pass for a phone number
    if fmt is not None:
        return "datetime", f"text dates in format {fmt}", {"datetime_format": fmt}
    unique = n_distinct == len(series) and len(series) >= 20
    found = pii.detect(name, text)  # before numbers: card numbers and phones are digit strings
    if found:
        kind, reason = found
        if kind in pii.WEAK_KINDS and not pii.named(kind, name):
            what = kind.replace("_", " ")
            if unique:
                return (
                    "identifier",
                    f"key by uniqueness: every value is distinct; {reason}, but the column name does not say {what}",
                    _KEY,
                )
            if pii.counter_share(text) >= 0.9:
                return (
                    "identifier",
                    f"key by counters: values count up within shared prefixes; {reason}, "
                    f"but the column name does not say {what}",
                    _KEY,
                )
        decided = "the column name and content" if pii.named(kind, name) else "content"
        also = "; every value is distinct too: replacements stay distinct" if unique else ""
        return "identifier", f"{kind.replace('_', ' ')} by {decided}: {reason}{also}", {"pii": kind, "policy": "fake"}
    codes = _codes(text)
    is_number = pd.to_numeric(text, errors="coerce").notna().to_numpy()
    parsed = float(weights[is_number].sum())
    if is_number.all() and codes is None:
        return _numeric_kind(name, pd.to_numeric(values.astype(str)), n_distinct, len(series))
    problem = None
    if parsed >= 0.9 and codes is None:
        bad_values = set(text[~is_number])
        as_text = values.astype(str)
        bad = as_text[as_text.isin(bad_values)]
        where = bad.index[0] + 2 if isinstance(bad.index[0], int | np.integer) else bad.index[0]  # CSV line
        problem = (
            f"column {name!r} mixes types: {len(bad)} of {len(values)} values are not numbers "
            f"(e.g. {bad.iloc[0]!r} in row {where})"
        )
        if strict:
            raise SchemaError(f"{problem}; fix those values or declare `kind: categorical` for it in a schema file")
    kind, note, extras = _text_kind(text, counts, weights, settings, unique)
    if codes is not None:
        note = f"{codes}: {kind}, not numbers" + (f"; {note}" if note else "")
    if problem is not None:
        extras = {**extras, "problem": f"{problem}: read as {kind} text (declare its kind in a schema file)"}
    return kind, note, extras


_KEY = {"pii": "key", "policy": "surrogate"}
_CODE = re.compile(r"^[0-9]+([ -][0-9]+)*$")


def _codes(text: pd.Series) -> str | None:
    """What makes digit text codes rather than numbers (postal codes, account numbers): digit groups joined
    by dashes or spaces in some values (ZIP+4 `98115-4820`), or leading zeros (`02134`); None otherwise."""
    if text.empty or not text.str.fullmatch(_CODE).all():
        return None
    joined = int(text.str.contains(r"[ -]").sum())
    zeros = int(text.str.match(r"0[0-9]").sum())
    if not joined and not zeros:
        return None
    widths = sorted(set(text.str.len()))
    said = [f"{joined} joined by dashes or spaces"] if joined else []
    said += [f"{zeros} with leading zeros"] if zeros else []
    shape = f"width {widths[0]}" if len(widths) == 1 else f"widths {widths[0]}-{widths[-1]}"
    return f"codes by layout: digit text ({', '.join(said)}; {shape})"


def _text_kind(text, counts, weights, settings, unique) -> tuple[str, str | None, dict]:
    """Kind of a text column that is neither dates, personal data nor numbers: key, free text, rare values
    (identifier) or categorical."""
    n_distinct = len(counts)
    lengths = text.str.len().to_numpy()
    spaced = text.str.contains(" ", regex=False).to_numpy()
    if unique and lengths.max() <= 64 and not spaced.any():
        return "identifier", "key by uniqueness: every value is distinct", dict(_KEY)
    long_text = float(weights @ lengths) > 20 and float(weights @ spaced) > 0.5
    if n_distinct > settings.max_categories or (n_distinct > 0.5 * counts.sum() and long_text):
        return (
            "text",
            (
                f"{n_distinct} distinct values: treated as free text, which is not learned "
                "(placeholder text of similar length is generated)"
            ),
            {},
        )
    if counts.max() < settings.rare_category_threshold:
        return (
            "identifier",
            (
                f"key by rarity: every value occurs fewer than {settings.rare_category_threshold} times, so none "
                "can be reproduced without revealing rare values"
            ),
            dict(_KEY),
        )
    return "categorical", None, {}


def _numeric_kind(name: str, values: pd.Series, n_distinct: int, n_rows: int) -> tuple[str, str | None, dict]:
    floats = values.to_numpy(dtype="float64")
    integral = bool(np.all(np.isfinite(floats)) and np.all(floats == np.round(floats)))
    hinted = dates.DATE_NAME.search(name) is not None or n_distinct >= 20  # 20 random ints are never all dates
    if integral and hinted and floats.min() >= 1000_01_01 and floats.max() <= 9999_12_31:  # YYYYMMDD
        as_text = pd.Series(floats.astype("int64")).astype(str)
        if dates.guess_format(as_text) is None:
            try:
                dates.to_seconds(as_text, dates.INTEGER_DATE_FORMAT)
                return "datetime", "integers in YYYYMMDD form", {"datetime_format": dates.INTEGER_DATE_FORMAT}
            except (ValueError, OverflowError):
                pass
    if integral and floats.min() >= 1e12 and floats.max() < 2**63:  # card numbers stored as integers
        found = pii.detect(name, pd.Series(floats.astype("int64")).astype(str))
        if found:
            return "identifier", found[1], {"pii": found[0], "policy": "fake"}
    if integral and n_distinct == n_rows and n_rows >= 20:
        dense = (floats.max() - floats.min() + 1) <= 2 * n_rows
        if pii.KEY_NAME.search(name) or dense:
            why = "named like a key" if pii.KEY_NAME.search(name) else "dense: they span at most twice their count"
            return "identifier", f"key by uniqueness: unique integers, {why}", dict(_KEY)
    return ("integer" if integral else "numeric"), None, {}


def infer_column(
    name: str, series: pd.Series, settings: Settings, given: ColumnOverride | None = None, strict: bool = False
) -> Column:
    """One Column from data, with whatever `given` (a schema-file entry) states taking precedence."""
    stated = given.model_dump(exclude_none=True, exclude={"name"}) if given else {}
    if given is not None and "value" in given.model_fields_set:
        stated["value"] = given.value
    problems: list[str] = []
    kind = stated.get("kind")
    note, extras = None, {}
    if kind is None or (kind in ("datetime", "identifier") and "datetime_format" not in stated):
        inferred, note, extras = _kind_from_data(name, series, settings, strict)
        kind = kind or inferred
    if kind == "identifier" and stated.get("policy") == "keep" and "kind" not in stated:
        kind = _plain_kind(series)  # the user chose to learn it: as the values it holds
        note = f"identifier ({extras.get('pii', 'key')}) kept by the schema file: learned like any column"
    fields: dict[str, Any] = {"name": name, "kind": kind, "dtype": dates.dtype_name(series), "note": note}
    if extras.get("problem") and "kind" not in stated:
        fields["problem"] = extras["problem"]
    fields["nullable"] = bool(series.isna().any())
    if kind in ("identifier",):
        fields["pii"] = extras.get("pii", "key")
        fields["policy"] = extras.get("policy", "surrogate" if fields["pii"] == "key" else "fake")
    elif extras.get("datetime_format"):
        fields["datetime_format"] = extras["datetime_format"]
    fields.update({k: v for k, v in stated.items() if k in ("datetime_format", "timezone")})
    values = series.dropna()
    try:
        fields.update(_measure(kind, values, series, fields, settings, name))
    except (ValueError, TypeError, OverflowError) as exc:
        problems.append(f"column {name!r} cannot be read as {kind}: {str(exc).splitlines()[0]}")
    fields.update(stated)
    if problems:
        raise SchemaError(problems)
    try:
        return Column(**fields)
    except ValidationError as exc:
        raise SchemaError(
            [
                f"column {name!r}: {_location(e['loc']) or 'schema'}: {e['msg']}".replace("Value error, ", "")
                for e in exc.errors()
            ]
        ) from None


def _plain_kind(series: pd.Series) -> str:
    """The data kind of a column's values alone, with no identifier detection."""
    values = series.dropna()
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        floats = values.to_numpy(dtype="float64")
        return "integer" if np.all(floats == np.round(floats)) else "numeric"
    return "categorical"


def _measure(kind: str, values: pd.Series, series: pd.Series, fields: dict, settings: Settings, name: str) -> dict:
    """Bounds, precision, format and constant value for a column of the given kind."""
    out: dict[str, Any] = {}
    if values.empty:
        return out
    if kind in ("numeric", "integer"):
        numbers = pd.to_numeric(values, errors="raise").to_numpy(dtype="float64")
        if not np.all(np.isfinite(numbers)):
            raise ValueError("infinite values are not supported")
        out["min"], out["max"] = _number(numbers.min()), _number(numbers.max())
        out["precision"] = 0 if kind == "integer" else _decimals(numbers)
    elif kind == "datetime":
        fmt = fields.get("datetime_format")
        if fmt is None and not pd.api.types.is_datetime64_any_dtype(series):
            fmt = dates.guess_format(values.astype(str))
            if fmt is None:
                raise ValueError("no known date format fits its values; set datetime_format in the schema file")
            out["datetime_format"] = fmt
        seconds = dates.to_seconds(values, fmt)
        out["min"], out["max"] = dates.iso(np.nanmin(seconds)), dates.iso(np.nanmax(seconds))
        tz = fields.get("timezone") or dates.common_timezone(values, fmt)
        if tz:
            out["timezone"] = tz
    elif kind == "categorical":
        n_distinct = values.nunique()
        if n_distinct > settings.max_categories:
            raise ValueError(
                f"{n_distinct} distinct values exceed max_categories={settings.max_categories}; "
                "declare it `kind: text` or `identifier`, or raise max_categories in the schema file"
            )
    elif kind == "constant":
        first = values.iloc[0]
        first = first.item() if isinstance(first, np.generic) else first
        if isinstance(first, float) and math.isnan(first):
            first = None
        out["value"] = first if first is None or isinstance(first, bool | int | float | str) else str(first)
    elif kind == "text":
        lengths = values.astype(str).str.len()
        out["min"], out["max"] = int(lengths.min()), int(lengths.max())
    return out


def treatments(schema: Schema) -> list[str]:
    """One line per column that is not learned: what happens to it (replaced, dropped, kept...)."""
    lines = []
    for c in schema.columns:
        if c.learned:
            continue
        what = {
            "fake": "replaced by fake values",
            "surrogate": "replaced by fresh surrogate keys",
            "drop": "dropped from the output",
            "keep": "kept",
        }[c.policy]
        if c.kind == "text" and c.policy == "keep":
            what = "not learned: placeholder text of similar length"
        if c.kind in ("constant", "empty") and c.policy == "keep":
            what = "repeated as its single value" if c.kind == "constant" else "kept empty"
        lines.append(f"{c.name}: {what}" + (f" ({c.note})" if c.note else ""))
    return lines
