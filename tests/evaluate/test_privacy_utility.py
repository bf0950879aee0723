"""Privacy and utility sanity: a copy of the training data must look leaky and useful; an independent sample
from the same distribution must look private; privsynth's copula must sit near the private side."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import privsynth as ps
from privsynth.evaluate.gate import check, load_policy
from privsynth.evaluate.privacy import evaluate_privacy
from privsynth.evaluate.utility import evaluate_utility


def _population(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "x": np.round(x, 3),
            "y": np.round(2 * x + rng.normal(size=n), 3),
            "group": rng.choice(["a", "b", "c"], n),
            "label": np.where(x + rng.normal(scale=0.5, size=n) > 0, "yes", "no"),
        }
    )


@pytest.fixture(scope="module")
def split():
    frame = _population(6000, 0)
    return frame.iloc[:2000].reset_index(drop=True), frame.iloc[2000:4000].reset_index(drop=True), frame.iloc[4000:]


def test_copy_of_training_data_is_caught(split):
    train, holdout, _ = split
    result = evaluate_privacy(train, train, holdout, secrets=["label"], seed=0)
    assert result["exact_match"]["train"] == 1.0 and result["exact_match"]["holdout"] < 0.01
    assert result["dcr"]["share"] > 0.95 and result["dcr"]["train_p05"] == 0.0
    assert result["membership"]["distance"]["auc"] > 0.95
    assert result["membership"]["density_ratio"]["auc"] > 0.95
    assert result["membership"]["density_ratio"]["tpr_at_fpr_01"] > 0.5
    # anonymeter: a copy lets an attacker link records and infer their label far beyond the control rate
    risks = result["anonymeter"]
    assert risks["linkability"]["risk"] > 0.5 and risks["inference"]["label"]["risk"] > 0.5
    assert risks["linkability"]["ci"][0] <= risks["linkability"]["risk"] <= risks["linkability"]["ci"][1]
    histogram = result["dcr"]["histogram"]
    assert sum(histogram["train"]) == sum(histogram["holdout"]) == len(train)
    assert histogram["train"][0] == len(train)  # every synthetic row sits on a training row


def test_half_copied_data_shows_in_both_attacks(split):
    """Half the rows copied, half fresh: each attack must see the copied half (AUC ~ 0.75)."""
    train, holdout, fresh = split
    mixed = pd.concat([train.iloc[:1000], fresh.iloc[:1000]], ignore_index=True)
    membership = evaluate_privacy(train, mixed, holdout, seed=0)["membership"]
    for attack in ("distance", "density_ratio"):
        assert 0.65 < membership[attack]["auc"] < 0.85, attack
    assert membership["max_auc"] == max(membership["distance"]["auc"], membership["density_ratio"]["auc"])


def test_fresh_sample_from_the_same_distribution_is_private(split):
    train, holdout, fresh = split
    result = evaluate_privacy(train, fresh.reset_index(drop=True), holdout, seed=0)
    assert abs(result["dcr"]["share"] - 0.5) < 0.04
    assert abs(result["membership"]["max_auc"] - 0.5) < 0.05
    assert result["anonymeter"]["linkability"]["risk"] < 0.05
    assert result["anonymeter"]["singling_out"]["risk"] < 0.05
    assert result["anonymeter"]["inference"]["status"] == "not computed"  # no secret named
    json.dumps(result)
    assert evaluate_privacy(train, fresh, holdout, seed=0) == result  # same seed, same numbers


def test_utility_copy_versus_broken_relation(split):
    train, holdout, _ = split
    same = evaluate_utility(train, train, holdout, "label", seed=0)
    assert same["task"] == "classification" and abs(same["gap"]) < 1e-9 and same["trtr"]["score"] > 0.8
    broken = train.assign(label=train["label"].sample(frac=1.0, random_state=0).to_numpy())
    shuffled = evaluate_utility(train, broken, holdout, "label", seed=0)
    assert abs(shuffled["tstr"]["score"] - 0.5) < 0.1 and shuffled["gap"] > 0.2
    regression = evaluate_utility(train, train, holdout, "y", seed=0)
    assert regression["task"] == "regression" and regression["trtr"]["r2"] > 0.6
    constant = evaluate_utility(train, train.assign(label="yes"), holdout, "label")
    assert constant["status"] == "not computed" and "constant" in constant["reason"]


def test_copula_on_cps_is_private_and_useful(cps):
    real = cps.drop(columns="rownames").sample(frac=1.0, random_state=0).reset_index(drop=True)
    train, holdout = real.iloc[:14000], real.iloc[14000:]
    synthetic = ps.fit(train, seed=0, engine="copula").sample(len(train), seed=1)
    result = ps.evaluate(train, synthetic, holdout, target="parttime", seed=0).to_dict()
    privacy = result["privacy"]
    assert privacy["dcr"]["share"] <= 0.55 and privacy["membership"]["max_auc"] < 0.6
    assert result["utility"]["tstr"]["score"] > result["utility"]["trtr"]["score"] - 0.1
    gates = {g.name: g for g in check(ps.evaluate(train, train, holdout, seed=0).headline(), load_policy())}
    assert gates["dcr_share"].passed is False and gates["exact_match_excess"].passed is False


def test_without_anonymeter_the_risks_are_not_computed(split, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "anonymeter.evaluators", None)
    train, holdout, fresh = split
    result = evaluate_privacy(train, fresh, holdout, seed=0)
    assert result["anonymeter"]["status"] == "not computed" and "anonymeter" in result["anonymeter"]["reason"]
    assert "dcr" in result and "membership" in result


def _cells(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Rows from a small product domain (1,200 cells, skewed): many chance duplicates between two samples."""
    return pd.DataFrame({"a": rng.geometric(0.1, n).clip(max=40), "b": rng.choice(list("pqrstuvwxy"), n),
                         "c": rng.choice([0, 1, 2], n, p=[0.6, 0.3, 0.1])})  # fmt: skip


def test_exact_match_spread_is_calibrated_when_nothing_is_copied():
    """Synthetic rows drawn independently of the training rows: the excess in sampling sds must behave like a
    standard normal over many independent splits (mean ~0, sd ~1), so z > 2 means something."""
    from privsynth.evaluate.privacy import EXACT_DRAWS, exact_matches

    scores = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        train, holdout, synthetic = _cells(4000, rng), _cells(1000, rng), _cells(1000, rng)
        figures = exact_matches(train, holdout, synthetic, seed=seed)
        assert figures["draws"] == EXACT_DRAWS and figures["reference_rows"] == 1000
        assert 0.2 < figures["holdout"] < 0.99 and figures["sampling_sd"] > 0
        scores.append(figures["excess_z"])
    assert abs(np.mean(scores)) < 0.5 and 0.6 < np.std(scores) < 1.5


def test_exact_match_excess_of_copies_is_many_sds():
    from privsynth.evaluate.privacy import exact_matches

    rng = np.random.default_rng(0)
    wide = [_cells(n, rng).assign(d=rng.integers(0, 30, n)) for n in (4000, 1000, 900)]  # chance matches rarer
    train, holdout = wide[0], wide[1]
    # a generator that reproduces 40% of its rows from the training data, the rest from the population
    synthetic = pd.concat([train.sample(600, random_state=1), wide[2]], ignore_index=True)
    figures = exact_matches(train, holdout, synthetic, seed=0)
    assert figures["train"] > figures["holdout"] and figures["excess_z"] > 4


def test_exact_match_same_sized_references_have_no_spread(split):
    from privsynth.evaluate.privacy import exact_matches

    train, holdout, _ = split
    figures = exact_matches(train, holdout, train, seed=0)
    assert figures["draws"] == 1 and figures["excess_z"] is None and figures["train"] == 1.0


def test_exact_match_without_any_match_has_no_excess():
    from privsynth.evaluate.privacy import exact_matches

    rng = np.random.default_rng(3)
    train, holdout, synthetic = (pd.DataFrame({"x": rng.normal(size=n)}) for n in (800, 200, 300))
    figures = exact_matches(train, holdout, synthetic, seed=0)
    assert figures["train"] == figures["holdout"] == 0.0 and figures["excess_z"] == 0.0


@pytest.mark.parametrize("target", ["parttime", "wage"])
def test_permutation_importance_is_scikit_learns(cps, target):
    from sklearn.inspection import permutation_importance

    from privsynth.evaluate import utility
    from privsynth.evaluate.common import TreeFeatures

    train, test = cps.iloc[:1500], cps.iloc[1500:2100]
    classification = utility.is_classification(train[target])
    features = TreeFeatures(train, target)
    y = train[target].astype(str) if classification else train[target].astype("float64")
    y_test = test[target].astype(str) if classification else test[target].astype("float64")
    fitted = utility.model(classification, features, 0).fit(features.transform(train), y)
    x = features.transform(test)
    expected = permutation_importance(fitted, x, y_test, n_repeats=3, random_state=0).importances_mean
    assert np.array_equal(utility.permutation_importance_means(fitted, x, y_test, 3, 0), expected)
