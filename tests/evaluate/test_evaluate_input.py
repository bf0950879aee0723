"""`evaluate` on bad input: a clear message, never a made-up value."""

from __future__ import annotations

import json
import re

import pytest

import privsynth as ps
from privsynth.errors import InputError


@pytest.fixture(scope="module")
def real(cps):
    return cps.drop(columns="rownames").head(3000)


def test_without_holdout_privacy_and_utility_are_not_computed(real, tmp_path):
    result = ps.evaluate(real, real.sample(frac=1.0, random_state=0))
    data = result.to_dict()
    assert data["privacy"]["status"] == "not computed" and "holdout" in data["privacy"]["reason"]
    assert data["utility"]["status"] == "not computed"
    assert data["fairness"]["status"] == "not computed"
    assert data["fidelity"]["accuracy"]["univariate"] == pytest.approx(1.0)
    path = result.to_json(tmp_path / "r.json")
    saved = json.loads(path.read_text())
    assert saved["headline"]["dcr_share"] is None and saved["headline"]["accuracy_univariate"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns="wage"), "lacks column(s) 'wage'"),
        (lambda f: f.assign(extra=1), "has column(s) the real one lacks: 'extra'"),
        (lambda f: f.assign(wage=f["wage"].astype(str) + " USD"), "'wage'"),
        (lambda f: f.head(0), "no rows"),
    ],
)
def test_incomparable_tables(real, mutate, message):
    with pytest.raises(InputError, match=re.escape(message)):
        ps.evaluate(real, mutate(real))


def test_holdout_overlapping_train_is_refused(real):
    with pytest.raises(InputError, match="holdout rows also appear in the training data"):
        ps.evaluate(real, real, holdout=real.head(500))


def test_unknown_target_or_sensitive(real):
    with pytest.raises(InputError, match="'salary' is not in the real table"):
        ps.evaluate(real, real, target="salary")
    with pytest.raises(InputError, match="'gender' is not in the real table"):
        ps.evaluate(real, real, sensitive=["gender"])


def test_html_report_is_self_contained(real, tmp_path):
    path = ps.evaluate(real, real.sample(frac=1.0, random_state=1)).to_html(tmp_path / "r.html")
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>") and "plotly" in page
    assert "https://" not in page.split("</style>")[0]  # no external stylesheet
    assert '<script src="http' not in page  # plotly.js is inline, not fetched
    assert "wage (accuracy" in page
