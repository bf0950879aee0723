"""What the report's column plots show: the fidelity bins of a column, named as a reader needs them.

A numeric or datetime column's bins are labelled by their edges, `[a, b)`, the last one closed at the real
maximum, `[a, max]`. Synthetic values outside the real range are counted in the first or last bin (fidelity
clips them there), so when there are any, that bin is labelled open-ended: `< b` for the underflow, `>= a`
for the overflow. Columns with at most ten distinct real values show one bar per value. Datetimes are
written in the column's own format (`2017-01-01T06:03:07Z` stays that way, not seconds or ISO); bins a day
or more wide leave out the time of day (`2017-01-01`), whose long labels squeezed the plot to a sliver.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from privsynth import dates
from privsynth.evaluate import fidelity
from privsynth.evaluate.common import as_numbers


def _numbers(series: pd.Series, fmt: str | None) -> pd.Series | None:
    """The column as float64 (datetimes and text dates in seconds), or None for other columns."""
    numbers = as_numbers(series)
    if numbers is not None or fmt is None:
        return numbers
    try:
        return pd.Series(dates.to_seconds(series, fmt), index=series.index)
    except (ValueError, TypeError):
        return None


def _text_format(series: pd.Series) -> str | None:
    """The strftime pattern of a column of date strings, None for anything else."""
    if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
        values = series.dropna()
        return dates.guess_format(values.astype(str)) if len(values) and values.map(type).eq(str).all() else None
    return None


def number_text(value: float) -> str:
    """A bin edge for reading: thousands separators, up to 6 significant digits (whole above a million)."""
    if abs(value) >= 1e6 and abs(value) < 1e15:
        return f"{value:,.0f}"
    return f"{value:,.6g}"


DAY = 86_400.0
_TIME_PART = re.compile(r"[T ]?%[HIMSfpXZz].*$")


def day_format(fmt: str | None) -> str | None:
    """A datetime format without its time of day, for labels of bins a day or more wide ('%Y-%m-%dT%H:%M:%SZ'
    -> '%Y-%m-%d'): the column's own order of day, month and year, without 06:23:15 that says nothing of a
    bin a month wide. A format that starts with the time, or an epoch unit, stays as it is."""
    if fmt is None:
        return "%Y-%m-%d"
    if fmt in dates.EPOCH_FORMATS or (fmt.startswith("%") and fmt[1:2] in "HIMSfpXZz"):
        return fmt
    shorter = _TIME_PART.sub("", fmt)
    return shorter or fmt


def edge_labels(real: pd.Series, synthetic: pd.Series, codes: np.ndarray, bins: int = fidelity.BINS):
    """Labels of `real`'s fidelity bins by their edges (see the module doc), or None when the column was
    binned as categories (`codes`, the real column's bin codes, tell which way fidelity binned it)."""
    fmt = _text_format(real)
    timed = fmt is not None or pd.api.types.is_datetime64_any_dtype(real)
    zone = dates.common_timezone(real, fmt) if timed else None
    r, s = _numbers(real, fmt), _numbers(synthetic, fmt)
    if r is None or s is None or r.notna().sum() == 0:
        return None
    values = r.dropna().to_numpy()
    edges = fidelity._edges(values, bins)
    top = edges[-1] - 1e-12 * max(1.0, abs(edges[-1]))
    mine = np.searchsorted(edges, np.clip(r.to_numpy(), edges[0], top), side="right") - 1
    mine = np.where(r.isna().to_numpy(), -1, np.clip(mine, 0, edges.size - 2))
    if mine.shape != codes.shape or not np.array_equal(mine, codes):
        return None

    shown_fmt = day_format(fmt) if timed and np.min(np.diff(edges), initial=np.inf) >= DAY else fmt

    def shown(x: float) -> str:
        return dates.in_format(float(x), shown_fmt, zone) if timed else number_text(x)

    low, high = values.min(), values.max()
    synthetic_values = s.dropna().to_numpy()
    below = bool((synthetic_values < low).any())
    above = bool((synthetic_values > high).any())
    count = edges.size - 1
    distinct = np.unique(values).size <= bins
    labels = []
    for i in range(count):
        if distinct:
            text = shown(edges[i])
        elif i == count - 1:
            text = f"[{shown(edges[i])}, {shown(high)}]"
        else:
            text = f"[{shown(edges[i])}, {shown(edges[i + 1])})"
        if i == 0 and below:
            text = f"< {shown(edges[1])}" if count > 1 and not distinct else f"<= {shown(edges[0])}"
        if i == count - 1 and above:
            text = f">= {shown(edges[i])}"
        labels.append(text)
    return labels


def column_bars(real: pd.Series, synthetic: pd.Series) -> tuple[list[str], list[float], list[float]]:
    """(bin labels, real shares, synthetic shares) of one column's fidelity bins, nulls and '(other)' last."""
    r, s, levels = fidelity.bin_column(real, synthetic)
    names = {-1: "(null)", -2: "(other)", **{i: str(label) for i, label in enumerate(levels)}}
    edges = edge_labels(real, synthetic, r)
    if edges is not None:
        names.update(enumerate(edges))
    keys = sorted(set(np.unique(r)) | set(np.unique(s)), key=lambda k: (k < 0, k))
    shares = [[float(np.mean(codes == k)) for k in keys] for codes in (r, s)]
    return [names.get(int(k), str(k)) for k in keys], shares[0], shares[1]
