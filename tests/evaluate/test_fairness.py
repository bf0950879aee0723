"""Fairness: group shares, outcome gaps between groups (demographic parity) and TSTR per group."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import privsynth as ps
from privsynth.evaluate.fairness import Grouping, evaluate_fairness


def _people(n: int, seed: int, gap: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b"], n, p=[0.7, 0.3])
    rate = np.where(group == "a", 0.8, 0.2) if gap else np.full(n, 0.62)
    return pd.DataFrame(
        {
            "group": group,
            "age": rng.integers(18, 90, n),
            "score": rng.normal(size=n).round(3),
            "hired": np.where(rng.random(n) < rate, "yes", "no"),
        }
    )


def test_a_gap_removed_by_the_synthetic_data_is_measured():
    real, fair = _people(4000, 0), _people(4000, 1, gap=False)
    column = evaluate_fairness(real, fair, ["group"], target="hired")["columns"]["group"]
    outcome = column["outcome"]
    # real: 0.8 vs 0.2 hired -> DPD 0.6 (both classes give the same gap); synthetic: no gap
    assert outcome["dpd_real"] == pytest.approx(0.6, abs=0.04)
    assert outcome["dpd_synthetic"] == pytest.approx(0.0, abs=0.05)
    assert outcome["dpd_change"] == pytest.approx(-0.6, abs=0.06)
    assert column["groups"]["a"]["real_share"] == pytest.approx(0.7, abs=0.02)
    assert column["groups"]["a"]["real_outcome"]["yes"] == pytest.approx(0.8, abs=0.03)
    assert column["share_tvd"] < 0.03


def test_the_same_population_keeps_the_gap():
    result = evaluate_fairness(_people(4000, 0), _people(4000, 1), ["group"], target="hired")
    assert abs(result["columns"]["group"]["outcome"]["dpd_change"]) < 0.05
    assert result["max_abs_dpd_change"] == abs(result["columns"]["group"]["outcome"]["dpd_change"])


def test_numeric_sensitive_column_is_grouped_by_real_quartiles():
    real = _people(4000, 0)
    grouping = Grouping(real["age"])
    labels = grouping.labels(real["age"])
    assert labels.nunique() == 4 and labels.value_counts(normalize=True).min() > 0.2
    # a synthetic value beyond the real range falls in the outer group, nulls in their own
    extra = grouping.labels(pd.Series([0, 200, None], dtype="Float64"))
    assert extra.tolist() == [grouping.levels[0], grouping.levels[-1], "(null)"]


def test_one_group_is_not_computed_with_a_reason():
    real = _people(500, 0).assign(group="a")
    result = evaluate_fairness(real, real, ["group"], target="hired")
    assert result["columns"]["group"]["status"] == "not computed"
    assert "two groups" in result["columns"]["group"]["reason"]
    assert result["max_abs_dpd_change"]["status"] == "not computed"


def test_regression_target_gap_is_in_standard_deviations():
    rng = np.random.default_rng(3)
    group = rng.choice(["a", "b"], 3000)
    real = pd.DataFrame({"group": group, "wage": np.where(group == "a", 1.0, 0.0) + rng.normal(size=3000)})
    outcome = evaluate_fairness(real, real, ["group"], target="wage")["columns"]["group"]["outcome"]
    # group means differ by 1; the pooled sd is sqrt(1 + 0.25)
    assert outcome["dpd_real"] == pytest.approx(1 / np.sqrt(1.25), abs=0.06)
    assert outcome["dpd_change"] == 0.0


def test_evaluate_reports_tstr_per_group_on_real_data(cps):
    real = cps.sample(6000, random_state=0).reset_index(drop=True)
    holdout = cps.drop(cps.sample(6000, random_state=0).index).sample(3000, random_state=1)
    synthetic = ps.fit(real, engine="copula", seed=0).sample(6000, seed=1)
    evaluation = ps.evaluate(real, synthetic, holdout, target="wage", sensitive=["ethnicity", "experience"])
    fairness = evaluation.to_dict()["fairness"]
    by_group = fairness["columns"]["ethnicity"]["utility_by_group"]
    assert set(by_group) == {"cauc", "afam"}
    assert sum(g["rows"] for g in by_group.values()) == len(holdout)
    for group in by_group.values():
        assert -1 < group["tstr"]["r2"] < 1 and group["tstr"]["mae"] > 0
    assert len(fairness["columns"]["experience"]["groups"]) == 4
    # the copula keeps CPS's wage gaps between ethnic groups within a tenth of a standard deviation
    assert abs(fairness["columns"]["ethnicity"]["outcome"]["dpd_change"]) < 0.1
    assert evaluation.headline()["fairness_dpd_change"] == fairness["max_abs_dpd_change"]
