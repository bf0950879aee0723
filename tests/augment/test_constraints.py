"""Constraints declared in the schema file hold on 100% of sampled rows, for every engine."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import privsynth as ps
from privsynth.augment.constraints import evaluate_formula, parse_formula
from privsynth.errors import ParameterError, SchemaError
from privsynth.schema import SchemaFile

CONSTRAINTS = [
    {"type": "formula", "column": "total", "expression": "round(price * quantity, 2)"},
    {"type": "range", "column": "quantity", "min": 1, "max": 8},
    {"type": "inequality", "low": "checkin", "high": "checkout"},
    {"type": "combination", "columns": ["city", "country"]},
    {"type": "unique", "columns": ["price"]},
    {"type": "regex", "column": "code", "pattern": "[A-Z]{3}-[0-9]{2}"},
]


def orders(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Orders whose columns obey the rules above, except a few malformed codes the model may learn."""
    rng = np.random.default_rng(seed)
    city = rng.choice(["Paris", "Lyon", "Berlin", "Munich", "Rome"], n)
    country = pd.Series(city).map({"Paris": "FR", "Lyon": "FR", "Berlin": "DE", "Munich": "DE", "Rome": "IT"})
    price = np.round(rng.lognormal(3, 0.6, n), 2)
    quantity = rng.integers(1, 9, n)
    checkin = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    checkout = checkin + pd.to_timedelta(rng.integers(0, 10, n), unit="D")
    letters, digits = rng.choice(["ABC", "XYZ", "KLM"], n), rng.integers(0, 9, n)
    codes = np.array([f"{a}-{b:02d}" for a, b in zip(letters, digits, strict=True)])
    codes[rng.random(n) < 0.1] = "bad"
    return pd.DataFrame(
        {
            "city": city,
            "country": country,
            "price": price,
            "quantity": quantity,
            "total": np.round(price * quantity, 2),
            "checkin": checkin.strftime("%Y-%m-%d"),
            "checkout": checkout.strftime("%Y-%m-%d"),
            "code": codes,
        }
    )


def check_all(frame: pd.DataFrame, quantity_max: float = 8) -> None:
    """Each rule checked directly (not with the library's own checker)."""
    assert np.allclose(frame.total, np.round(frame.price * frame.quantity, 2))
    assert frame.quantity.between(1, quantity_max).all()
    assert (pd.to_datetime(frame.checkout) >= pd.to_datetime(frame.checkin)).all()
    pairs = set(zip(frame.city, frame.country, strict=True))
    assert pairs <= {("Paris", "FR"), ("Lyon", "FR"), ("Berlin", "DE"), ("Munich", "DE"), ("Rome", "IT")}
    assert not frame.price.duplicated().any()
    assert frame.code.map(lambda c: re.fullmatch("[A-Z]{3}-[0-9]{2}", c) is not None).all()


@pytest.fixture(scope="module", params=["independent", "copula", "argn"])
def model(request):
    params = {"max_epochs": 3} if request.param == "argn" else {}
    schema = SchemaFile(constraints=CONSTRAINTS)
    return ps.fit(orders(), engine=request.param, schema=schema, seed=0, **params)


def test_unconstrained_models_break_the_rules_so_the_test_can_fail():
    free = ps.fit(orders(), engine="independent", seed=0).sample(2000, seed=0)
    with pytest.raises(AssertionError):
        check_all(free)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3000))
def test_every_row_satisfies_every_constraint(model, seed, n):
    frame = model.sample(n, seed=seed)
    assert len(frame) == n
    check_all(frame)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(top=st.integers(2, 8), seed=st.integers(0, 1000))
def test_a_tighter_range_and_conditions_still_hold(model, top, seed):
    rules = [c if c.type != "range" else c.model_copy(update={"max": top}) for c in model.schema.constraints]
    tight = ps.Model(
        model.schema.model_copy(update={"constraints": rules}),
        model.encoder,
        model.fitted,
        model.manifest,
        model.extras,
    )
    frame = tight.sample(500, seed=seed, conditions={"city": "Rome"})
    check_all(frame, quantity_max=top)
    assert (frame.city == "Rome").all() and (frame.country == "IT").all()


def test_constraints_survive_save_and_load(model, tmp_path):
    path = model.save(tmp_path / "m.psm")
    again = ps.load(path)
    assert again.schema.constraints == model.schema.constraints
    pd.testing.assert_frame_equal(again.sample(300, seed=5), model.sample(300, seed=5))


def test_rare_combinations_are_not_learned():
    frame = orders(400)
    frame.loc[0, "country"] = "ES"  # one record: Paris, ES
    model = ps.fit(frame, engine="copula", schema=SchemaFile(constraints=[CONSTRAINTS[3]]), seed=0)
    allowed = {tuple(c) for c in model.schema.constraints[0].allowed}
    assert ("Paris", "FR") in allowed and ("Paris", "ES") not in allowed


def test_unsatisfiable_and_unknown_rules_fail_clearly():
    frame = orders(300)
    with pytest.raises(SchemaError, match="no column 'nope'"):
        ps.fit(frame, schema=SchemaFile(constraints=[{"type": "unique", "columns": ["nope"]}]), seed=0, engine="copula")
    model = ps.fit(
        frame,
        engine="copula",
        schema=SchemaFile(constraints=[{"type": "regex", "column": "code", "pattern": "[0-9]+"}]),
        seed=0,
    )
    with pytest.raises(ParameterError, match=r"cannot satisfy .code matches"):
        model.sample(50, seed=0)
    unique_city = ps.fit(
        frame, engine="copula", seed=0, schema=SchemaFile(constraints=[{"type": "unique", "columns": ["city"]}])
    )
    assert unique_city.sample(5, seed=0).city.is_unique
    with pytest.raises(ParameterError, match="cannot satisfy"):
        unique_city.sample(6, seed=0)  # five cities only


def test_formulas_never_run_code():
    for bad in ("__import__('os').system('true')", "price.real", "open('x')", "[1, 2]", "'a' + 'b'", "lambda: 1"):
        with pytest.raises(ValueError):
            parse_formula(bad)
    frame = pd.DataFrame({"a": [1.0, 2.0, None], "b": [3, 4, 5]})
    assert np.allclose(evaluate_formula("max(a, 1.5) * -b + 2 ** 2", frame)[:2], [-0.5, -4.0])
    with pytest.raises(ValueError, match="divides by zero"):  # refused at validation (see test_formula.py)
        evaluate_formula("a / 0", frame)


def test_schema_file_errors_point_to_the_constraint(tmp_path, run_cli):
    frame = orders(200)
    data = tmp_path / "orders.csv"
    frame.to_csv(data, index=False)
    schema = tmp_path / "schema.yaml"
    schema.write_text(yaml.safe_dump({"constraints": [{"type": "formula", "column": "total", "expression": "x.y"}]}))
    done = run_cli("fit", "--engine", "copula", data, "-o", tmp_path / "m.psm", "--schema", schema)
    assert done.code == 2 and "constraints" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    schema.write_text(yaml.safe_dump({"constraints": CONSTRAINTS}))
    assert run_cli("fit", "--engine", "copula", data, "-o", tmp_path / "m.psm", "--schema", schema).code == 0
    assert run_cli("sample", tmp_path / "m.psm", "-n", "400", "-o", tmp_path / "s.csv").code == 0
    check_all(pd.read_csv(tmp_path / "s.csv"))
