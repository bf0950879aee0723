"""Datetimes through fit -> sample -> write -> read: formats, zones and years outside pandas' ns range."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import privsynth as ps
from privsynth import dates, io


def _frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = np.datetime64("1500-01-01", "s").astype("int64")
    old = (base + rng.integers(0, 200 * 365, n) * 86400).astype("datetime64[s]")
    future = (np.datetime64("2400-01-01", "s").astype("int64") + rng.integers(0, 10**9, n)).astype("datetime64[s]")
    aware = pd.Series(pd.date_range("2021-03-01", periods=n, freq="7h", tz="Europe/Berlin"))
    return pd.DataFrame(
        {
            "founded": pd.Series(old).dt.strftime("%d/%m/%Y"),
            "arrival": pd.Series(future).dt.strftime("%Y-%m-%dT%H:%M:%S") + "+02:00",
            "logged": aware,
            "yyyymmdd": pd.Series(pd.date_range("2019-01-01", periods=n, freq="D")).dt.strftime("%Y%m%d").astype(int),
            "far": pd.Series(future.astype("datetime64[s]")),
            "amount": np.round(rng.gamma(2, 50, n), 2),
        }
    )


@pytest.fixture(scope="module")
def frame():
    return _frame()


def test_schema_detects_each_date_form(frame):
    schema = ps.Schema.infer(frame)
    assert schema["founded"].datetime_format == "%d/%m/%Y"
    assert schema["arrival"].datetime_format == "%Y-%m-%dT%H:%M:%S%:z" and schema["arrival"].timezone == "UTC+02:00"
    assert schema["logged"].kind == "datetime" and schema["logged"].timezone == "Europe/Berlin"
    assert schema["yyyymmdd"].kind == "datetime" and schema["yyyymmdd"].datetime_format == "%Y%m%d"
    assert schema["far"].kind == "datetime" and schema["far"].max.startswith("24")
    assert schema["founded"].min.startswith("15")


def test_synthetic_dates_keep_format_zone_and_range(frame):
    syn = ps.fit(frame, seed=0, engine="copula").sample(500, seed=1)
    assert syn.dtypes.to_dict() == frame.dtypes.to_dict()
    founded = pd.Series(dates.to_seconds(syn["founded"], "%d/%m/%Y"))  # pandas' ns parser cannot
    assert founded.min() >= dates.from_iso("1500-01-01") and founded.max() < dates.from_iso("1700-01-01")
    assert syn["arrival"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+02:00").all()
    assert str(syn["logged"].dt.tz) == "Europe/Berlin"
    assert syn["yyyymmdd"].between(frame["yyyymmdd"].min(), frame["yyyymmdd"].max()).all()
    assert pd.to_datetime(syn["yyyymmdd"].astype(str), format="%Y%m%d").notna().all()
    assert syn["far"].min() >= frame["far"].min() and syn["far"].max() <= frame["far"].max()
    # the day-resolution column stays at midnight; the hourly one on whole hours
    assert (founded % 86400 == 0).all()
    assert (syn["logged"].dt.minute == 0).all()


def test_dates_survive_parquet_and_csv(tmp_path, frame):
    syn = ps.fit(frame, seed=0, engine="copula").sample(200, seed=2)
    io.write(syn, tmp_path / "s.parquet")
    back = io.read(tmp_path / "s.parquet")
    assert back["far"].dt.year.min() >= 2400
    pd.testing.assert_series_equal(back["founded"], syn["founded"])
    io.write(syn, tmp_path / "s.csv")
    text = io.read(tmp_path / "s.csv")
    assert text["arrival"].tolist() == syn["arrival"].tolist()


def test_parquet_input_beyond_nanoseconds(tmp_path, frame):
    frame.to_parquet(tmp_path / "in.parquet")
    real = io.read(tmp_path / "in.parquet")
    assert real["far"].dt.year.min() >= 2400  # not wrapped around by a nanosecond cast
    model = ps.fit(tmp_path / "in.parquet", seed=0, engine="copula")
    assert model.sample(50, seed=0)["far"].dt.year.min() >= 2400
