"""Datetimes as numbers and back, in their original format.

Works outside pandas' nanosecond range (years before 1677 or after 2262) by computing with
microsecond (and, for output, second) resolution, keeps time zones, and writes values back in the
format they came in: a strftime pattern for strings, YYYYMMDD integers, epoch numbers, or a datetime dtype.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

# Tried in order; the first that parses every sampled value wins. "%:z" means an offset written "+02:00".
STRING_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S.%fZ",
    "%Y-%m-%dT%H:%M:%S%:z",
    "%Y-%m-%d %H:%M:%S%:z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d %b %Y",
    "%b %d, %Y",
    "%d %B %Y",
    "%B %d, %Y",
)
EPOCH_FORMATS = {"epoch_s": 1.0, "epoch_ms": 1e-3, "epoch_us": 1e-6, "epoch_ns": 1e-9}
INTEGER_DATE_FORMAT = "%Y%m%d"
_US = np.int64(1_000_000)


def _parse_format(fmt: str) -> str:
    return fmt.replace("%:z", "%z")


def has_offset(fmt: str) -> bool:
    return "%z" in fmt or "%:z" in fmt


def guess_format(values: pd.Series, sample: int = 200) -> str | None:
    """The first of STRING_FORMATS that parses every one of (up to) `sample` non-null string values."""
    texts = values.dropna()
    texts = texts.iloc[:: max(1, len(texts) // sample)][:sample].astype(str).str.strip()  # sample first
    if texts.empty:
        return None
    if not texts.str.contains(r"\d", regex=True).all():
        return None
    for fmt in STRING_FORMATS:
        parse = _parse_format(fmt)
        try:
            for text in texts:
                datetime.strptime(text, parse)
        except ValueError:
            continue
        if "%:z" in fmt and not texts.str.contains(r"[+-]\d\d:\d\d$", regex=True).all():
            continue  # strptime's %z also reads "+0530": keep the colon form only for "+05:30" offsets
        return fmt
    return None


def to_seconds(values: pd.Series, fmt: str | None) -> np.ndarray:
    """Seconds since 1970-01-01 UTC as float64 (NaN for missing). Raises ValueError on unparseable values.

    fmt None means the series already has a datetime dtype; naive values are taken as they are.
    """
    if fmt in EPOCH_FORMATS:
        return pd.to_numeric(values, errors="raise").to_numpy(dtype="float64") * EPOCH_FORMATS[fmt]
    if fmt is None:
        stamps = values
    else:
        if fmt == INTEGER_DATE_FORMAT and pd.api.types.is_numeric_dtype(values):
            text = values.astype("Int64").astype("string")
        else:
            text = values.astype("string").str.strip()
        parse = _parse_format(fmt)
        if fmt.endswith("Z"):
            text, parse = text.str[:-1], parse[:-1]
        try:
            stamps = pd.to_datetime(text, format=parse, errors="raise", utc=has_offset(fmt))
        except pd.errors.OutOfBoundsDatetime:
            return _strptime_seconds(text, parse)
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    micros = stamps.astype("datetime64[us]").to_numpy()
    out = micros.astype("int64").astype("float64") / 1e6
    out[np.isnat(micros)] = np.nan
    return out


def _strptime_seconds(text: pd.Series, parse: str) -> np.ndarray:
    """Seconds since the epoch by Python's strptime, for dates outside pandas' nanosecond range
    (years 1-9999). Parses each distinct value once."""
    naive, aware = datetime(1970, 1, 1), datetime(1970, 1, 1, tzinfo=UTC)
    one_us = timedelta(microseconds=1)
    seconds = {}
    for value in text.dropna().unique():
        moment = datetime.strptime(value, parse)
        seconds[value] = ((moment - (aware if moment.tzinfo else naive)) // one_us) / 1e6
    return text.map(seconds).to_numpy(dtype="float64", na_value=np.nan)


def from_seconds(seconds: np.ndarray, fmt: str | None, dtype: str, timezone: str | None = None) -> pd.Series:
    """Inverse of to_seconds: values in the original representation (`fmt`, `dtype`, `timezone`)."""
    seconds = np.asarray(seconds, dtype="float64")
    missing = np.isnan(seconds)
    if fmt in EPOCH_FORMATS:
        units = seconds / EPOCH_FORMATS[fmt]
        if "int" not in dtype.lower():
            return pd.Series(units).astype(dtype)  # fractional epochs stay fractional
        return pd.Series(np.where(missing, np.nan, np.round(units))).astype("Int64" if missing.any() else dtype)
    micros = np.where(missing, 0, np.round(seconds * 1e6)).astype("int64")
    stamps = pd.Series(micros.astype("datetime64[us]"))
    stamps[missing] = pd.NaT
    if fmt is None:
        if timezone:
            stamps = stamps.dt.tz_localize("UTC").dt.tz_convert(timezone)
        return stamps.astype(dtype)
    if timezone:
        stamps = stamps.dt.tz_localize("UTC").dt.tz_convert(timezone)
    text = _strftime(stamps, fmt[:-1] if fmt.endswith("Z") else fmt.replace("%:z", "%z"))
    if fmt.endswith("Z"):
        text = text + "Z"
    else:
        if "%:z" in fmt:
            text = text.str.replace(r"([+-]\d\d)(\d\d)$", r"\1:\2", regex=True)
    if "%f" in fmt:
        text = text.str.replace(r"(\.\d{6})000$", r"\1", regex=True)
    text = text.where(~missing, None)
    if fmt == INTEGER_DATE_FORMAT and "int" in dtype.lower():
        return pd.to_numeric(text).astype("Int64" if missing.any() else dtype)
    return text.astype(dtype) if dtype not in ("object",) else text.astype(object)


_YEAR = "\ufdd0Y\ufdd0"  # a placeholder no format contains (a Unicode non-character)


def _strftime(stamps: pd.Series, fmt: str) -> pd.Series:
    """strftime with %Y always four digits (pandas writes year 999 as "999", which %Y cannot read back)."""
    years = stamps.dt.year
    if "%Y" not in fmt or not (years < 1000).any():
        return stamps.dt.strftime(fmt)
    text = stamps.dt.strftime(fmt.replace("%Y", _YEAR))
    padded = years.astype("Int64").astype("string").str.zfill(4)
    return pd.Series(
        [t if t is None or t != t else t.replace(_YEAR, y) for t, y in zip(text, padded, strict=True)],
        index=text.index,
        dtype=object,
    )


def dtype_name(series: pd.Series) -> str:
    """The dtype as text that pandas reads back; fixed-offset zones (pytz.FixedOffset) as UTC+HH:MM."""
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return f"datetime64[{dtype.unit}, {_zone_name(dtype.tz)}]"
    return str(dtype)


def _zone_name(tz) -> str:
    """A name tz_convert accepts: the IANA key, or "UTC+HH:MM" for fixed offsets (pytz.FixedOffset...)."""
    name = getattr(tz, "zone", None) or getattr(tz, "key", None)
    if name:
        return str(name)
    offset = tz.utcoffset(None)
    if offset is None or str(tz) == "UTC":
        return "UTC"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}" if minutes else "UTC"


def common_timezone(values: pd.Series, fmt: str | None) -> str | None:
    """The zone to write values back in: the dtype's zone, or the most common fixed offset in strings."""
    if fmt is None:
        tz = getattr(values.dt, "tz", None)
        return _zone_name(tz) if tz is not None else None
    if fmt.endswith("Z"):
        return "UTC"
    if not has_offset(fmt):
        return None
    offsets = values.dropna().astype(str).str.extract(r"([+-]\d\d):?(\d\d)$").dropna()
    if offsets.empty:
        return "UTC"
    sign_hours, minutes = offsets.value_counts().index[0]
    return f"UTC{sign_hours}:{minutes}" if (sign_hours, minutes) != ("+00", "00") else "UTC"


def resolution(seconds: np.ndarray) -> float:
    """The coarsest step (day, hour, minute, second, ms, us) that every value is a whole multiple of."""
    finite = seconds[np.isfinite(seconds)]
    micros = np.round(finite * 1e6).astype("int64")
    for step in (86_400, 3_600, 60, 1, 1e-3):
        if np.all(micros % round(step * 1e6) == 0):
            return float(step)
    return 1e-6


def iso(seconds: float) -> str:
    """ISO 8601 text of a seconds-since-epoch value, valid for any year 1-9999."""
    return str(np.datetime64(round(seconds * 1e6), "us"))


def from_iso(text: str) -> float:
    return float(np.datetime64(text, "us").astype("int64")) / 1e6


DATE_NAME = re.compile(r"(date|day|dt$|_dt|time|timestamp|^ts$|_ts$|born|dob)", re.IGNORECASE)


def as_seconds(values: pd.Series) -> tuple[np.ndarray, dict]:
    """A time column (numbers, datetimes, or date strings in any format `guess_format` knows) as float64
    seconds (numbers as they are), and a JSON spec `restore` uses to write seconds back in the same form.
    Raises ValueError for a column that is neither."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype="float64", na_value=np.nan), {"kind": "number", "dtype": str(values.dtype)}
    is_datetime = pd.api.types.is_datetime64_any_dtype(values)
    fmt = None if is_datetime else guess_format(values)
    if fmt is None and not is_datetime:
        raise ValueError(f"column {values.name!r} holds neither numbers nor dates")
    spec = {"kind": "date", "format": fmt, "dtype": dtype_name(values), "zone": common_timezone(values, fmt)}
    return to_seconds(values, fmt), spec


def restore(spec: dict, seconds: np.ndarray) -> pd.Series:
    """Seconds back in the representation `as_seconds` described (numbers rounded for integer columns)."""
    if spec["kind"] == "number":
        values = pd.Series(np.asarray(seconds, dtype="float64"))
        return values.round().astype(spec["dtype"]) if "int" in spec["dtype"].lower() else values.astype(spec["dtype"])
    return from_seconds(np.round(seconds, 6), spec["format"], spec["dtype"], spec["zone"])


def in_format(value: str | float, fmt: str | None, timezone: str | None = None) -> str:
    """One datetime (ISO 8601 text, as schemas store bounds, or seconds since the epoch) written the way its
    column writes it: the column's strftime pattern, epoch unit or YYYYMMDD integer, in its time zone.
    Without a format (a datetime dtype) ISO text, without a zero fraction. Shown to people, never parsed."""
    seconds = from_iso(value) if isinstance(value, str) else float(value)
    if fmt in EPOCH_FORMATS:
        units = seconds / EPOCH_FORMATS[fmt]
        return str(int(units)) if float(units).is_integer() else f"{units!r}"
    if fmt is None:
        text = iso(seconds)
        stamp = text[:-7] if text.endswith(".000000") else text
        return stamp.replace("T00:00:00", "") if stamp.endswith("T00:00:00") else stamp
    return str(from_seconds(np.array([seconds]), fmt, "object", timezone).iloc[0])
