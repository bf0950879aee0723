"""The issue's sanity checks through the default gates, on real census rows (AER::CPS1988), and the evaluate /
check commands as a user runs them, bad input included."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import privsynth as ps
from privsynth.evaluate.gate import check, load_policy


@pytest.fixture(scope="module")
def thirds(cps):
    """Train, holdout and a third disjoint slice: a fresh sample from the same population as train."""
    real = cps.drop(columns="rownames").sample(frac=1.0, random_state=3).reset_index(drop=True)
    size = len(real) // 3
    return [real.iloc[i * size : (i + 1) * size].reset_index(drop=True) for i in range(3)]


def _gates(train, synthetic, holdout) -> dict:
    evaluation = ps.evaluate(train, synthetic, holdout, target="parttime", sensitive=["ethnicity"], seed=0)
    return {g.name: g for g in check(evaluation.headline(), load_policy())}


def test_fresh_sample_of_the_population_passes_every_gate(thirds):
    train, holdout, fresh = thirds
    gates = _gates(train, fresh, holdout)
    assert all(g.passed for g in gates.values()), {n: (g.value, g.passed) for n, g in gates.items()}


def test_independent_marginals_fail_the_bivariate_gate_only(thirds):
    train, holdout, _ = thirds
    synthetic = ps.fit(train, engine="independent", seed=0).sample(len(train), seed=1)
    gates = _gates(train, synthetic, holdout)
    assert gates["accuracy_bivariate"].passed is False
    for name in ("dcr_share", "exact_match_excess", "mia_auc_max", "accuracy_univariate"):
        assert gates[name].passed, (name, gates[name].value)


def test_copy_of_training_rows_fails_the_privacy_gates(thirds):
    train, holdout, _ = thirds
    gates = _gates(train, train.sample(frac=1.0, random_state=1), holdout)
    for name in ("dcr_share", "exact_match_excess", "mia_auc_max"):
        assert gates[name].passed is False, (name, gates[name].value)


def _one_line_error(result, fragment: str) -> None:
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert result.code != 0 and len(lines) == 1 and lines[0].startswith("error: "), (result.code, result.stderr)
    assert fragment in lines[0] and "Traceback" not in result.stderr + result.stdout, lines[0]


def test_evaluate_then_check_from_the_command_line(thirds, tmp_path, run_cli):
    train, holdout, fresh = (frame.iloc[:3000] for frame in thirds)
    for name, frame in (("train", train), ("holdout", holdout), ("syn", fresh)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    files = [
        "--real",
        tmp_path / "train.csv",
        "--synthetic",
        tmp_path / "syn.csv",
        "--holdout",
        tmp_path / "holdout.csv",
    ]
    done = run_cli(
        "evaluate",
        *files,
        "--target",
        "parttime",
        "--sensitive",
        "ethnicity",
        "-o",
        tmp_path / "r.html",
        "--json",
        tmp_path / "r.json",
    )
    assert done.code == 0, done.stderr
    assert "accuracy_bivariate" in done.stdout and "r.html" in done.stdout
    figures = json.loads((tmp_path / "r.json").read_text())
    assert figures["headline"]["dcr_share"] == pytest.approx(figures["privacy"]["dcr"]["share"])
    assert "ethnicity" in figures["fairness"]["columns"]
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    passed = run_cli("check", tmp_path / "r.json")
    assert passed.code == 0 and "dcr_share" in passed.stdout, passed.stdout
    strict = tmp_path / "strict.yaml"
    strict.write_text("gates:\n  dcr_share: {max: 0.01}\n")
    failed = run_cli("check", tmp_path / "r.json", "--policy", strict)
    assert failed.code == 1 and "dcr_share" in failed.stdout


def test_bad_input_on_the_command_line(thirds, tmp_path, run_cli):
    train, holdout, fresh = (frame.iloc[:500] for frame in thirds)
    train.to_csv(tmp_path / "train.csv", index=False)
    holdout.to_csv(tmp_path / "holdout.csv", index=False)
    (tmp_path / "empty.csv").write_text("")
    fresh.head(0).to_csv(tmp_path / "header_only.csv", index=False)
    fresh.drop(columns="wage").to_csv(tmp_path / "fewer.csv", index=False)
    train.head(200).to_csv(tmp_path / "overlap.csv", index=False)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def run(synthetic, *more):
        return run_cli(
            "evaluate",
            "--real",
            tmp_path / "train.csv",
            "--synthetic",
            tmp_path / synthetic,
            *more,
            "-o",
            tmp_path / "out.html",
        )

    _one_line_error(run("empty.csv"), "empty")
    _one_line_error(run("header_only.csv"), "no rows")
    _one_line_error(run("fewer.csv"), "wage")
    _one_line_error(run("train.csv", "--holdout", tmp_path / "overlap.csv"), "also appear in the training data")
    _one_line_error(run("train.csv", "--target", "nope"), "nope")
    assert not (tmp_path / "out.html").exists()  # nothing half-written
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # inputs untouched
    # a constant target and a one-group sensitive column: computed as far as possible, the rest says why
    pd.read_csv(tmp_path / "train.csv").assign(one="x").to_csv(tmp_path / "train1.csv", index=False)
    pd.read_csv(tmp_path / "holdout.csv").assign(one="x").to_csv(tmp_path / "holdout1.csv", index=False)
    pd.read_csv(tmp_path / "train.csv").assign(one="x").to_csv(tmp_path / "syn1.csv", index=False)
    done = run_cli(
        "evaluate",
        "--real",
        tmp_path / "train1.csv",
        "--synthetic",
        tmp_path / "syn1.csv",
        "--holdout",
        tmp_path / "holdout1.csv",
        "--target",
        "one",
        "--sensitive",
        "one",
        "-o",
        tmp_path / "ok.html",
        "--json",
        tmp_path / "ok.json",
    )
    figures = json.loads((tmp_path / "ok.json").read_text())
    assert done.code == 0, done.stderr
    assert figures["utility"]["status"] == "not computed" and "constant" in figures["utility"]["reason"]
    assert figures["fairness"]["columns"]["one"]["status"] == "not computed"
