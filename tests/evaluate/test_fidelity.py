"""Fidelity metrics, checked against independent judges (mostlyai-qa, SDMetrics) on the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import privsynth as ps
from privsynth.evaluate import fidelity


@pytest.fixture(scope="module")
def cps_pair(cps):
    real = cps.drop(columns="rownames")
    return {
        "real": real,
        "copula": ps.fit(real, seed=0, engine="copula").sample(len(real), seed=1),
        "independent": ps.fit(real, engine="independent", seed=0).sample(len(real), seed=1),
    }


@pytest.mark.parametrize("engine", ["copula", "independent"])
def test_accuracy_agrees_with_mostlyai_qa(cps_pair, engine):
    from mostlyai.qa import _accuracy as judge

    real, syn = cps_pair["real"], cps_pair[engine]
    ours = fidelity.accuracy(real, syn)
    ori_bin, bins = judge.bin_data(real.add_prefix("tgt::"), bins=10)
    syn_bin, _ = judge.bin_data(syn.add_prefix("tgt::"), bins=bins)
    uni = judge.calculate_univariates(ori_bin, syn_bin)
    biv = judge.calculate_bivariates(ori_bin, syn_bin)
    assert ours["univariate"] == pytest.approx(uni["accuracy"].mean(), abs=1e-4)
    assert ours["bivariate"] == pytest.approx(biv["accuracy"].mean(), abs=1e-4)
    theirs = uni.set_index("column")["accuracy"]
    for name in real.columns:
        assert ours["columns"][name] == pytest.approx(theirs[f"tgt::{name}"], abs=1e-4), name


def test_shape_score_agrees_with_sdmetrics(cps_pair):
    from sdmetrics.single_column import KSComplement, TVComplement

    real, syn = cps_pair["real"], cps_pair["copula"]
    for name in real.columns:
        judge = KSComplement if pd.api.types.is_numeric_dtype(real[name]) else TVComplement
        assert fidelity.shape_score(real[name], syn[name]) == pytest.approx(
            judge.compute(real_data=real[name], synthetic_data=syn[name]), abs=1e-9
        ), name


def test_bivariate_separates_copula_from_independent(cps_pair):
    real = cps_pair["real"]
    cop = fidelity.accuracy(real, cps_pair["copula"])["bivariate"]
    ind = fidelity.accuracy(real, cps_pair["independent"])["bivariate"]
    assert cop > ind + 0.01


def test_association_difference_and_detection(cps_pair):
    real = cps_pair["real"]
    cop = fidelity.association_difference(real, cps_pair["copula"])
    ind = fidelity.association_difference(real, cps_pair["independent"])
    assert cop["mean_abs_difference"] < ind["mean_abs_difference"]
    assert ind["top_pairs"][0]["real"] > ind["top_pairs"][0]["synthetic"]  # independence loses association
    copy_auc = fidelity.detection_auc(real, real.sample(frac=1.0, random_state=1).reset_index(drop=True))
    assert 0.4 < copy_auc < 0.6
    shuffled = real.copy()
    shuffled["wage"] = shuffled["wage"] * 3  # an obviously wrong column is detected
    assert fidelity.detection_auc(real, shuffled) > 0.9


def test_coverage(cps_pair):
    real = cps_pair["real"]
    assert fidelity.coverage(real, real) == {"categories": 1.0, "numeric_range": 1.0, "new_values": 0.0}
    fake = real.assign(region="atlantis", wage=real["wage"].clip(upper=real["wage"].median()))
    cov = fidelity.coverage(real, fake)
    assert cov["new_values"] > 0 and cov["categories"] < 1 and cov["numeric_range"] < 0.7


def test_nulls_are_a_bin_of_their_own():
    real = pd.Series([1.0, 2.0, np.nan, 4.0] * 50)
    assert fidelity.tvd(real, real.fillna(3.0)) == pytest.approx(0.25)
