"""Value shapes: the one public cell each value of a column falls in, for a noisy histogram (`privacy.metadata`).

missing, boolean, datetime (a datetime dtype), a number with 0..DECIMALS decimals or more (numbers, or
text that reads as one without a leading zero), a digit code (leading zero, or digits joined by dashes),
a date in one of `dates.STRING_FORMATS` (the first that reads it), or other text. Each value has exactly
one shape, so one record moves one count of a column's histogram by one: L2 sensitivity 1.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from privsynth import dates

DECIMALS = 4
SHAPES = (
    "missing",
    "boolean",
    "datetime",
    *(f"number:{p}" for p in range(DECIMALS + 1)),
    "number:more",
    "code",
    "text",
    *(f"date:{fmt}" for fmt in dates.STRING_FORMATS),
)
INDEX = {s: i for i, s in enumerate(SHAPES)}
NUMBERS = [INDEX[s] for s in SHAPES if s.startswith("number:")]
DATES = [INDEX["datetime"], *(INDEX[s] for s in SHAPES if s.startswith("date:"))]
_NUMBER = re.compile(r"^[+-]?(?:0|[1-9]\d*)(?:\.(\d+))?$")
_CODE = re.compile(r"^(?:0\d+|\d+(?:-\d+)+)$")


def shapes(series: pd.Series) -> np.ndarray:
    """Each value's shape (an index into SHAPES), computed once per distinct value."""
    codes, keys = pd.factorize(series, use_na_sentinel=True)
    if pd.api.types.is_datetime64_any_dtype(series):
        kinds = np.full(len(keys), INDEX["datetime"])
    elif pd.api.types.is_bool_dtype(series):
        kinds = np.full(len(keys), INDEX["boolean"])
    else:
        kinds = _shape_of_values(pd.Series(np.asarray(keys, dtype=object)))
    return np.where(codes < 0, INDEX["missing"], kinds[np.maximum(codes, 0)] if len(kinds) else 0)


def _decimals(x: np.ndarray) -> np.ndarray:
    """The shape index of numbers by their decimals (0..DECIMALS, else more; not finite: text)."""
    out = np.full(x.shape, INDEX["number:more"])
    for p in range(DECIMALS, -1, -1):
        out[np.round(x, p) == x] = INDEX[f"number:{p}"]
    out[~np.isfinite(x)] = INDEX["text"]
    return out


def _shape_of_values(values: pd.Series) -> np.ndarray:
    out = np.full(len(values), INDEX["text"])
    is_bool = values.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(dtype=bool)
    is_number = values.map(lambda v: isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_))
    is_number = is_number.to_numpy(dtype=bool)
    out[is_bool] = INDEX["boolean"]
    if is_number.any():
        out[is_number] = _decimals(values[is_number].to_numpy(dtype=np.float64))
    is_text = values.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    if not is_text.any():
        return out
    text = values[is_text].astype(str).str.strip()
    shape = np.full(len(text), INDEX["text"])
    parts = text.str.extract(_NUMBER)
    numeric = text.str.fullmatch(_NUMBER.pattern).to_numpy(dtype=bool)
    places = parts[0].str.len().to_numpy(dtype="float64", na_value=0.0)
    shape[numeric] = [INDEX[f"number:{int(p)}"] if p <= DECIMALS else INDEX["number:more"] for p in places[numeric]]
    shape[text.str.fullmatch(_CODE.pattern).to_numpy(dtype=bool)] = INDEX["code"]
    left = np.isin(shape, [INDEX["text"], INDEX["code"]]) & text.str.contains(r"\d", regex=True).to_numpy(dtype=bool)
    for fmt in dates.STRING_FORMATS:
        if not left.any():
            break
        parsed = parses(text[left], fmt)
        where = np.flatnonzero(left)[parsed]
        shape[where] = INDEX[f"date:{fmt}"]
        left[where] = False
    out[is_text] = shape
    return out


def parses(text: pd.Series, fmt: str) -> np.ndarray:
    """Which of `text` read as dates in `fmt` (the rules of `dates.guess_format`)."""
    parse = fmt.replace("%:z", "%z")
    ok = np.ones(len(text), dtype=bool)
    if fmt.endswith("Z"):
        ok &= text.str.endswith("Z").to_numpy(dtype=bool)
        text, parse = text.str[:-1], parse[:-1]
    if "%:z" in fmt:
        ok &= text.str.contains(r"[+-]\d\d:\d\d$", regex=True).to_numpy(dtype=bool)
    stamps = pd.to_datetime(text, format=parse, errors="coerce", utc=dates.has_offset(fmt))
    return ok & stamps.notna().to_numpy(dtype=bool)


def kept_as(kind: str, index: int) -> bool:
    """Whether values of shape `index` are read as `kind`, for counting what will be missing. Dates of every
    format count as read: a value's shape is the first format that reads it, and "01/02/2020" (shape
    %m/%d/%Y) reads as %d/%m/%Y too; which values the chosen format does read is decided per value."""
    if kind in ("numeric", "integer"):
        return index in NUMBERS
    if kind == "boolean":
        return index == INDEX["boolean"]
    if kind == "datetime":
        return index in DATES
    return index != INDEX["missing"]
