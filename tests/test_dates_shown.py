"""Dates reach people in their column's own format: `describe`'s min/max and a rejection note about a date
range, on dplyr::storms' reading times written as ISO text with a Z (as a police-stops table writes them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import privsynth as ps
from privsynth import dates
from privsynth.augment.conditions import Range


@pytest.fixture(scope="module")
def readings(storms) -> pd.DataFrame:
    frame = storms.drop(columns="storm").head(3000).reset_index(drop=True)
    frame["time"] = frame["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return frame


def test_describe_shows_min_and_max_as_the_column_writes_them(readings, tmp_path, run_cli):
    path = tmp_path / "storms.csv"
    readings.to_csv(path, index=False)
    shown = run_cli("describe", path)
    assert shown.code == 0, shown.stderr
    line = next(row for row in shown.stdout.splitlines() if row.lstrip().startswith("time "))
    first, last = min(readings["time"]), max(readings["time"])
    assert first in line and last in line, line
    assert ".000000" not in shown.stdout


def test_a_rejection_note_names_the_date_not_its_seconds(readings):
    model = ps.fit(readings, engine="independent", seed=0)
    cut = "1980-01-01T00:00:00Z"
    synthetic = model.sample(300, seed=1, conditions={"time": Range(low=cut, low_strict=True)})
    assert (synthetic["time"] > cut).all()
    rules = synthetic.attrs["privsynth"]["rejected_by"]
    assert list(rules) == [f"time > {cut}"], rules


def test_range_text_survives_resolution_but_not_the_manifest():
    from privsynth.governance.recipes import plain_params

    asked = Range(low="2017-12-01", low_strict=True)
    resolved = asked.resolved(lambda v: dates.from_iso(v))
    assert resolved.low == 1512086400.0 and str(resolved) == "> 2017-12-01"
    assert resolved == Range(low=1512086400.0, low_strict=True)  # the text is for reading, not comparing
    assert plain_params({"c": asked})["c"] == {
        "range": {"low": "2017-12-01", "high": None, "low_strict": True, "high_strict": False}
    }


FORMATS = ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S", "%d.%m.%Y %H:%M", "%m/%d/%Y", "%Y%m%d", "epoch_s"]


@settings(max_examples=60, deadline=None)
@given(st.integers(-2_000_000_000, 4_000_000_000), st.sampled_from(FORMATS))
def test_a_shown_datetime_reads_back_as_the_same_moment(seconds, fmt):
    # formats without seconds or without a time: compare at their own step
    step = {"%d.%m.%Y %H:%M": 60, "%m/%d/%Y": 86400, "%Y%m%d": 86400}.get(fmt, 1)
    moment = float(seconds - seconds % step)
    text = dates.in_format(dates.iso(moment), fmt, "UTC" if fmt.endswith("Z") else None)
    if fmt == "epoch_s":
        assert float(text) == moment
    else:
        parsed = datetime.strptime(text, fmt).replace(tzinfo=UTC)
        assert parsed == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=moment)
