"""The column plots' bins are named by their edges, open-ended where synthetic values overflow the real
range, and dates are written in the column's own format (`evaluate.plots`)."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from privsynth.evaluate import fidelity
from privsynth.evaluate.plots import column_bars, edge_labels

CLOSED = re.compile(r"\[(-?[\d,.e+]+), (-?[\d,.e+]+)([)\]])")


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def test_edges_and_the_overflow_bins_are_labelled():
    rng = np.random.default_rng(0)
    real = pd.Series(rng.uniform(0, 100, 2000))
    synthetic = pd.Series(np.concatenate([rng.uniform(0, 100, 1900), [-5.0] * 50, [250.0] * 50]))
    labels, real_shares, synthetic_shares = column_bars(real, synthetic)
    assert len(labels) == 10 and abs(sum(real_shares) - 1) < 1e-12 and abs(sum(synthetic_shares) - 1) < 1e-12
    assert labels[0].startswith("< ") and labels[-1].startswith(">= ")
    middle = [CLOSED.fullmatch(x) for x in labels[1:-1]]
    assert all(middle), labels
    # consecutive bins share their edges
    assert all(_number(a[2]) == _number(b[1]) for a, b in itertools.pairwise(middle))
    assert _number(labels[0][2:]) == _number(middle[0][1]) and _number(labels[-1][3:]) == _number(middle[-1][2])
    # without overflow the ends are closed: [min-edge, next) ... [edge, real max]
    inside, _, _ = column_bars(real, real.sample(frac=1, random_state=1))
    assert inside[0].startswith("[") and inside[-1].endswith(f"{real.max():,.6g}]")


def test_real_columns_get_edges_and_categories_keep_their_names(cps):
    labels, _, _ = column_bars(cps["education"], cps["education"].sample(frac=1, random_state=0))
    assert all(CLOSED.fullmatch(x) for x in labels), labels
    few, _, _ = column_bars(cps["parttime"], cps["parttime"])
    assert few == ["no", "yes"]


def test_datetime_bins_are_written_in_the_columns_format(storms):
    times = storms["time"]
    text = times.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (times + pd.Timedelta(days=20000)).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    seconds = (times - pd.Timestamp(0)).dt.total_seconds()
    codes, _, _ = fidelity.bin_column(seconds, seconds + 20000 * 86400)
    labels = edge_labels(text, later, codes)
    assert labels is not None and labels[-1].startswith(">= ")  # every synthetic reading is past the real range
    # bins years wide: the column's own order of year, month and day, without a time of day
    stamps = re.findall(r"\d{4}-\d\d-\d\d", " ".join(labels))
    assert len(stamps) == 2 * 9 + 1 and "T" not in " ".join(labels) and ".000000" not in " ".join(labels)
    # bins shorter than a day keep the whole format
    day = pd.Series(pd.date_range("2017-01-01", periods=500, freq="min")).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    day_codes, _, _ = fidelity.bin_column(
        day.map(lambda t: pd.Timestamp(t).timestamp()), day.map(lambda t: pd.Timestamp(t).timestamp())
    )
    minutes = edge_labels(day, day, day_codes)
    assert minutes is not None and all(re.search(r"T\d\d:\d\d:\d\dZ", x) for x in minutes), minutes
    # a datetime dtype column (no text format) is written as ISO dates, without a zero fraction
    dtype_labels, _, _ = column_bars(times, times)
    assert all(re.fullmatch(r"[\[\]<>=, ()0-9:T-]+", x) for x in dtype_labels), dtype_labels
    # text the fidelity bins treat as categories is not relabelled
    category_codes, _, _ = fidelity.bin_column(text, later)
    assert edge_labels(text, later, category_codes) is None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=200),
    st.lists(st.floats(-1e7, 1e7, allow_nan=False), min_size=1, max_size=200),
)
def test_every_bin_has_a_label_and_the_shares_add_up(real_values, synthetic_values):
    real, synthetic = pd.Series(real_values), pd.Series(synthetic_values)
    labels, real_shares, synthetic_shares = column_bars(real, synthetic)
    assert len(labels) == len(real_shares) == len(synthetic_shares) == len(set(labels))
    assert abs(sum(real_shares) - 1) < 1e-9 and abs(sum(synthetic_shares) - 1) < 1e-9
    assert all(x and x != "(other)" for x in labels)
