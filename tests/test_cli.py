"""The CLI as a user runs it: happy paths on real data, and every bad input the issue lists."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import mixed_frame


@pytest.fixture
def csv_file(tmp_path, cps):
    path = tmp_path / "cps.csv"
    cps.to_csv(path, index=False)
    return path


def _one_line_error(result, *fragments):
    assert result.code == 2, (result.code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _nothing_written(folder, keep=()):
    leftovers = sorted(p.name for p in folder.iterdir() if p.name not in keep)
    assert leftovers == [], leftovers


def test_help_of_every_command(run_cli):
    top = run_cli("--help")
    assert top.code == 0
    for command in ("describe", "fit", "sample", "demo"):
        assert command in top.stdout
        sub = run_cli(command, "--help")
        assert sub.code == 0 and "Usage" in sub.stdout
    assert "--engine" in run_cli("fit", "--help").stdout
    assert "--schema-out" in run_cli("describe", "--help").stdout
    assert "--format" in run_cli("sample", "--help").stdout


def test_describe_fit_sample_round_trip(run_cli, tmp_path, csv_file, cps):
    schema = tmp_path / "schema.yaml"
    described = run_cli("describe", csv_file, "--schema-out", schema)
    assert described.code == 0, described.stderr
    assert "rownames" in described.stdout and "surrogate" in described.stdout
    assert yaml.safe_load(schema.read_text())["columns"][1]["name"] == "wage"
    model = tmp_path / "model.psm"
    fitted = run_cli("fit", csv_file, "-o", model, "--schema", schema, "--engine", "copula", "--seed", "3")
    assert fitted.code == 0, fitted.stderr
    assert model.exists() and "28,155 rows" in fitted.stdout
    out = tmp_path / "syn.parquet"
    sampled = run_cli("sample", model, "-n", "1000", "-o", out, "--seed", "1")
    assert sampled.code == 0, sampled.stderr
    syn = pd.read_parquet(out)
    assert syn.shape == (1000, cps.shape[1]) and list(syn.columns) == list(cps.columns)
    as_csv = tmp_path / "syn.data"
    assert run_cli("sample", model, "-n", "10", "-o", as_csv, "--format", "csv").code == 0
    assert as_csv.read_text().startswith("rownames,wage,")


def test_edited_schema_file_is_honoured(run_cli, tmp_path, csv_file):
    schema = tmp_path / "schema.yaml"
    run_cli("describe", csv_file, "--schema-out", schema)
    body = yaml.safe_load(schema.read_text())
    for column in body["columns"]:
        if column["name"] == "region":
            column["policy"] = "drop"
        if column["name"] == "education":
            column["kind"] = "categorical"
    schema.write_text(yaml.safe_dump(body))
    model, out = tmp_path / "m.psm", tmp_path / "s.csv"
    assert run_cli("fit", csv_file, "-o", model, "--schema", schema, "--engine", "copula").code == 0
    assert run_cli("sample", model, "-n", "200", "-o", out).code == 0
    syn = pd.read_csv(out)
    assert "region" not in syn.columns and "education" in syn.columns


def test_same_seed_same_output_bytes(run_cli, tmp_path, csv_file, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    for i in range(2):
        assert run_cli("fit", csv_file, "-o", tmp_path / f"m{i}.psm", "--seed", "4", "--engine", "copula").code == 0
        assert run_cli("sample", tmp_path / f"m{i}.psm", "-n", "500", "-o", tmp_path / f"s{i}.csv").code == 0
    assert (tmp_path / "m0.psm").read_bytes() == (tmp_path / "m1.psm").read_bytes()
    assert (tmp_path / "s0.csv").read_bytes() == (tmp_path / "s1.csv").read_bytes()


def test_sqlite_in_and_out(run_cli, tmp_path, cps):
    db = tmp_path / "data.db"
    with sqlite3.connect(db) as conn:
        cps.head(3000).to_sql("people", conn, index=False)
    url = f"sqlite:///{db}"
    model = tmp_path / "m.psm"
    assert run_cli("describe", url, "--table", "people").code == 0
    fitted = run_cli("fit", url, "--table", "people", "-o", model, "--engine", "copula")
    assert fitted.code == 0, fitted.stderr
    sampled = run_cli("sample", model, "-n", "700", "-o", url, "--table", "synthetic_people")
    assert sampled.code == 0, sampled.stderr
    with sqlite3.connect(db) as conn:
        syn = pd.read_sql("select * from synthetic_people", conn)
    assert syn.shape == (700, cps.shape[1])
    assert set(syn["region"]) <= set(cps["region"])
    again = run_cli("sample", model, "-n", "5", "-o", url, "--table", "synthetic_people")
    _one_line_error(again, "already exists")
    _one_line_error(run_cli("fit", url, "--table", "nobody", "-o", tmp_path / "x.psm"), "not found")
    _one_line_error(run_cli("fit", url, "-o", tmp_path / "x.psm"), "--table")
    assert not (tmp_path / "x.psm").exists()


def test_fit_without_an_engine_is_auto_and_says_what_it_chose(run_cli, tmp_path):
    """The default (auto) takes argn on a small table and says why; the model file and `describe MODEL` show
    the choice, the epochs, why training stopped and the loss curve. A budget too small for argn gets the
    copula, and says that too."""
    data = tmp_path / "mixed.csv"
    mixed_frame(400).to_csv(data, index=False)
    fitted = run_cli("fit", data, "-o", tmp_path / "m.psm")
    assert fitted.code == 0, fitted.stderr
    assert "fitted argn on 400 rows" in fitted.stdout and "engine auto chose argn: about" in fitted.stdout
    assert "argn training:" in fitted.stdout and "stopped: converged" in fitted.stdout and not fitted.stderr
    described = run_cli("describe", tmp_path / "m.psm")
    assert described.code == 0, described.stderr
    assert "engine auto chose argn" in described.stdout and "stopped: converged" in described.stdout
    assert "loss per epoch" in described.stdout and "validation loss" in described.stdout
    epochs = json.loads(_manifest_json(tmp_path / "m.psm"))["training"]["epochs"]
    assert f"{epochs} of 100 epochs" in described.stdout
    quick = run_cli("fit", data, "-o", tmp_path / "q.psm", "--max-time", "2")
    assert quick.code == 0, quick.stderr
    assert "fitted copula" in quick.stdout and "engine auto chose copula: argn would need" in quick.stdout
    refused = run_cli("fit", data, "-o", tmp_path / "x.psm", "--epsilon", "1")
    assert refused.code == 2 and "not 'auto'" in refused.stderr


def _manifest_json(path) -> str:
    import zipfile

    return zipfile.ZipFile(path).read("manifest.json").decode()


def test_a_fit_stopped_on_time_while_improving_warns_and_says_what_to_do(run_cli, tmp_path, cps):
    data = tmp_path / "cps.csv"
    cps.head(6000).to_csv(data, index=False)
    fitted = run_cli("fit", data, "-o", tmp_path / "m.psm", "--engine", "argn", "--max-time", "0.5")
    assert fitted.code == 0, fitted.stderr
    assert "stopped: max_time (0.5 s) reached" in fitted.stdout and "still improving" in fitted.stdout
    assert fitted.stderr.startswith("warning: argn stopped at its time limit (0.5 s)")
    assert "undertrained" in fitted.stderr and "--max-time" in fitted.stderr and "copula" in fitted.stderr
    described = run_cli("describe", tmp_path / "m.psm")
    assert "warning: argn stopped at its time limit" in described.stdout and "%)" in described.stdout


def test_describe_shows_the_event_model_training_of_a_history_model(run_cli, tmp_path, storms):
    data = tmp_path / "storms.csv"
    storms[storms["storm"].isin(storms["storm"].unique()[:40])].to_csv(data, index=False)
    model = tmp_path / "h.psm"
    fitted = run_cli("fit", data, "--entity", "storm", "--time", "time", "--max-epochs", "3", "-o", model)
    assert fitted.code == 0, fitted.stderr
    assert "event model argn training: 3 of 3 epochs; stopped: max_epochs reached" in fitted.stdout
    described = run_cli("describe", model)
    assert described.code == 0, described.stderr
    assert "event model argn training: 3 of 3 epochs" in described.stdout
    assert "event model loss per epoch" in described.stdout


@pytest.mark.slow  # argn (auto's choice) on 22,524 rows, then the whole evaluation
def test_demo_runs_end_to_end(run_cli, tmp_path):
    result = run_cli("demo", "--out-dir", tmp_path / "d")
    assert result.code == 0, result.stderr
    assert "engine auto chose argn" in result.stdout and "engine argn, fit" in result.stdout
    assert "22,524 rows" in result.stdout
    syn = pd.read_csv(tmp_path / "d" / "synthetic.csv")
    real = pd.read_csv(tmp_path / "d" / "real.csv")
    assert syn.shape == real.shape and list(syn.columns) == list(real.columns)
    assert (tmp_path / "d" / "model.psm").stat().st_size > 0
    assert len(pd.read_csv(tmp_path / "d" / "holdout.csv")) == 28155 - len(real)
    assert (tmp_path / "d" / "report.html").read_text().startswith("<!DOCTYPE html>")
    headline = json.loads((tmp_path / "d" / "report.json").read_text())["headline"]
    assert headline["dcr_share"] <= 0.55 and headline["accuracy_overall"] > 0.95
    assert "gates" in result.stdout and "dcr_share" in result.stdout
    # governance: the demo's outputs carry manifests, are in the catalog, and get a card with the figures
    from privsynth.governance.output import read_manifest

    manifest = read_manifest(tmp_path / "d" / "synthetic.csv")
    assert manifest["parents"][0]["id"] == read_manifest(tmp_path / "d" / "model.psm")["id"]
    assert manifest["id"] in run_cli("catalog", "list").stdout
    card = (tmp_path / "d" / "card.html").read_text()
    assert f"{headline['dcr_share']:.4f}" in card and "Known limitations" in card


# ------------------------------------------------------------------ bad input, one case each


def _write(path, text: str | bytes):
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


BAD_FILES = {
    "missing": (None, "not found"),
    "empty": ("", "empty"),
    "header_only": ("a,b,c\n", "no rows"),
    "one_row": ("a,b\n1,x\n", "at least 10 rows"),
    "duplicate_names": ("a,b,a\n" + "1,2,3\n" * 20, "duplicate column names"),
    "non_utf8": (b"name,city\n" + "Jos\xe9,K\xf6ln\n".encode("latin-1") * 20, "not valid utf-8"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_data_files(run_cli, tmp_path, case):
    content, message = BAD_FILES[case]
    data = tmp_path / "in.csv"
    if content is not None:
        _write(data, content)
    before = data.read_bytes() if data.exists() else None
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = run_cli("fit", data, "-o", out_dir / "m.psm")
    _one_line_error(result, message)
    _nothing_written(out_dir)
    if before is not None:
        assert data.read_bytes() == before  # input untouched


def test_all_null_column(run_cli, tmp_path):
    frame = mixed_frame(50).assign(notes=np.nan)
    frame.to_csv(tmp_path / "in.csv", index=False)
    _one_line_error(run_cli("fit", tmp_path / "in.csv", "-o", tmp_path / "m.psm"), "'notes' is entirely empty")
    assert not (tmp_path / "m.psm").exists()


def test_mixed_types_in_a_column(run_cli, tmp_path):
    frame = mixed_frame(100).astype({"age": object})
    frame.loc[[5, 17], "age"] = "unknown"
    frame.to_csv(tmp_path / "in.csv", index=False)
    fit = ("fit", tmp_path / "in.csv", "-o", tmp_path / "m.psm")
    _one_line_error(run_cli(*fit, "--strict"), "'age' mixes types", "unknown")
    _one_line_error(run_cli("describe", tmp_path / "in.csv", "--strict"), "'age' mixes types")
    described = run_cli("describe", tmp_path / "in.csv")  # without --strict: shown, and inference goes on
    assert described.code == 0, described.stderr
    assert "'age' mixes types: 2 of 100 values are not numbers" in described.stdout
    assert "--strict" in described.stdout
    assert run_cli(*fit).code == 0


def test_hundred_thousand_distinct_categories(run_cli, tmp_path):
    n = 100_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"code": [f"c{i}" for i in rng.permutation(n)], "x": rng.normal(size=n)})
    frame.loc[::2, "code"] = frame.loc[1::2, "code"].to_numpy()  # 50k distinct values, each twice
    frame.to_csv(tmp_path / "in.csv", index=False)
    result = run_cli("fit", tmp_path / "in.csv", "-o", tmp_path / "m.psm", "--engine", "copula")
    assert result.code == 0, result.stderr  # inferred as text: placeholder values, never learned
    assert "code: not learned" in result.stdout
    schema = _write(tmp_path / "s.yaml", "columns:\n- name: code\n  kind: categorical\n")
    forced = run_cli("fit", tmp_path / "in.csv", "-o", tmp_path / "m2.psm", "--schema", schema)
    _one_line_error(forced, "max_categories")
    assert not (tmp_path / "m2.psm").exists()


def test_unknown_engine(run_cli, tmp_path, csv_file):
    _one_line_error(run_cli("fit", csv_file, "-o", tmp_path / "m.psm", "--engine", "gan"), "unknown engine 'gan'")
    assert not (tmp_path / "m.psm").exists()


def test_unknown_column_in_schema_file(run_cli, tmp_path, csv_file):
    schema = _write(tmp_path / "s.yaml", "columns:\n- name: salary\n  kind: numeric\n- name: wage\n  kind: nonsense\n")
    result = run_cli("fit", csv_file, "-o", tmp_path / "m.psm", "--schema", schema)
    _one_line_error(result)
    assert "kind" in result.stderr  # every problem at once: the bad kind ...
    schema = _write(tmp_path / "s.yaml", "columns:\n- name: salary\n  kind: numeric\n")
    _one_line_error(run_cli("fit", csv_file, "-o", tmp_path / "m.psm", "--schema", schema), "'salary'")
    assert not (tmp_path / "m.psm").exists()


@pytest.mark.parametrize("rows", ["0", "-5"])
def test_non_positive_row_count(run_cli, tmp_path, rows):
    data = tmp_path / "in.csv"
    mixed_frame(100).to_csv(data, index=False)
    assert run_cli("fit", data, "-o", tmp_path / "m.psm").code == 0
    result = run_cli("sample", tmp_path / "m.psm", "-n", rows, "-o", tmp_path / "out.csv")
    _one_line_error(result, "-n")
    assert not (tmp_path / "out.csv").exists()


def test_output_in_missing_directory(run_cli, tmp_path, csv_file):
    _one_line_error(run_cli("fit", csv_file, "-o", tmp_path / "no" / "m.psm"), "does not exist")
    assert run_cli("fit", csv_file, "-o", tmp_path / "m.psm", "--engine", "copula").code == 0
    _one_line_error(run_cli("sample", tmp_path / "m.psm", "-n", "5", "-o", tmp_path / "no" / "s.csv"), "does not exist")
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize(
    ("content", "message"), [(b"PK\x03\x04garbage", "corrupt"), (b"a,b\n1,2\n", "not a privsynth")]
)
def test_corrupt_or_foreign_model(run_cli, tmp_path, content, message):
    model = _write(tmp_path / "m.psm", content)
    _one_line_error(run_cli("sample", model, "-n", "5", "-o", tmp_path / "s.csv"), message)
    assert not (tmp_path / "s.csv").exists()


def test_debug_shows_the_traceback(run_cli, tmp_path):
    with pytest.raises(Exception, match="not found"):
        run_cli("--debug", "fit", tmp_path / "none.csv", "-o", tmp_path / "m.psm")


def test_existing_output_survives_a_failed_run(run_cli, tmp_path, csv_file):
    out = _write(tmp_path / "s.csv", "precious\n")
    _one_line_error(run_cli("sample", tmp_path / "missing.psm", "-n", "5", "-o", out), "not found")
    assert out.read_text() == "precious\n"
