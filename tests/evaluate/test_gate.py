"""Gates and `privsynth check`: the CI contract (exit 0 when every gate passes, 1 otherwise)."""

from __future__ import annotations

import json

import pytest

from privsynth.errors import SchemaError
from privsynth.evaluate.gate import check, load_policy

GOOD = {
    "accuracy_univariate": 0.99,
    "accuracy_bivariate": 0.95,
    "holdout_accuracy_bivariate": 0.96,
    "dcr_share": 0.50,
    "exact_match_excess": 0.0,
    "mia_auc_max": 0.51,
    "singling_out_risk": 0.0,
    "linkability_risk": 0.02,
}


def test_default_policy_passes_good_and_fails_bad():
    policy = load_policy()
    assert all(g.passed for g in check(GOOD, policy))
    bad = dict(GOOD, dcr_share=0.7, accuracy_bivariate=0.80, linkability_risk=0.3)
    failed = {g.name for g in check(bad, policy) if g.passed is False}
    assert failed == {"dcr_share", "accuracy_bivariate", "linkability_risk"}


def test_not_computed_is_skipped_unless_required(tmp_path):
    partial = {"accuracy_univariate": 0.99, "accuracy_bivariate": 0.9}
    results = {g.name: g for g in check(partial, load_policy())}
    assert results["dcr_share"].passed is None and results["dcr_share"].status == "skipped"
    strict = tmp_path / "strict.yaml"
    strict.write_text("fail_when_not_computed: true\n")
    assert any(g.passed is False for g in check(partial, load_policy(strict)))


def test_user_policy_overrides_and_removes(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("gates:\n  dcr_share: {max: 0.8}\n  mia_auc_max: null\n  accuracy_overall: {min: 0.5}\n")
    results = {g.name: g for g in check(dict(GOOD, dcr_share=0.7, accuracy_overall=0.9), load_policy(path))}
    assert results["dcr_share"].passed and "mia_auc_max" not in results and results["accuracy_overall"].passed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gates:\n  nonsense_metric: {max: 1}\n", "unknown metric"),
        ("gates:\n  dcr_share: {}\n", "min or max"),
        ("gates: [1, 2]\n", "gates"),
    ],
)
def test_bad_policies_are_clear(tmp_path, text, message):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(SchemaError, match=message):
        load_policy(path)


def test_check_command_exit_codes(tmp_path, run_cli):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"headline": GOOD}))
    bad.write_text(json.dumps({"headline": dict(GOOD, mia_auc_max=0.9)}))
    passed = run_cli("check", good)
    assert passed.code == 0 and "all gates passed" in passed.stdout
    failed = run_cli("check", bad)
    assert failed.code == 1 and "mia_auc_max" in failed.stdout and "FAIL" in failed.stdout
    # the first line is the verdict: which gate fails and what that means
    assert failed.stdout.splitlines()[0].startswith("NOT safe to share under policy default: ")
    assert "mia_auc_max fails (0.9, bound <= 0.6): an attacker can tell which rows" in failed.stdout.splitlines()[0]
    assert passed.stdout.splitlines()[0] == "safe to share under policy default: 7 of 7 gates pass"
    (tmp_path / "junk.json").write_text("{not json")
    junk = run_cli("check", tmp_path / "junk.json")
    assert junk.code == 2 and junk.stderr.startswith("error: ")
