"""Formulas are bounded at validation and evaluated with numpy float64 (issue 22: `10**10**10`,
`round(x, 10**10)`, `min(x)`, 2,001 terms and `x // 0` used to pass validation and fail or fill nulls later)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import privsynth as ps
from privsynth.augment.formula import FormulaError, evaluate, formula_names, parse_formula
from privsynth.augment.simulate import simulate
from privsynth.errors import ParameterError, PrivsynthError
from privsynth.schema import SchemaFile

ISSUE_FORMULAS = ["10**10**10", "2**2**2**2**2", "round(x, 10**10)", "min(x)", "x // 0", "x / 0", "x % 0"]


@pytest.mark.parametrize("text", ISSUE_FORMULAS)
def test_the_issues_formulas_are_refused_at_validation(text):
    with pytest.raises(FormulaError):
        parse_formula(text)
    with pytest.raises(ValueError, match="formula"):  # as pydantic reports it, against the field
        SchemaFile(constraints=[{"type": "formula", "column": "y", "expression": text}])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (" + ".join(["x"] * 2_001), "parts"),
        ("+".join(["x"] * 50_001), "characters"),
        ("-" * 250 + "x", "nested"),
        ("abs(" * 250 + "x" + ")" * 250, "nested|not an expression"),
        ("(" * 1_000 + "x" + ")" * 1_000, "nested|not an expression"),
        ("x ** 1000", "exponent"),
        ("1" + "0" * 400, "too large"),
        ("round(x, 2.5)", "digits"),
        ("round(x, y)", "digits"),
        ("abs(x, y)", "takes 1"),
        ("max(" + ", ".join(["x"] * 17) + ")", "2 to 16"),
        ("x / (2 - 2)", "divides by zero"),
        ("x + True", "numbers"),
    ],
)
def test_size_depth_and_arguments_are_bounded(text, message):
    with pytest.raises(FormulaError, match=message):
        parse_formula(text)


def test_allowed_formulas_still_work():
    frame = pd.DataFrame({"a": [1.0, 2.0, None], "b": [3, 4, 5]})
    values = evaluate("max(a, 1.5, 0) * -b + 2 ** 2 + round(a / 3, 2) + min(a, b) % 2", frame).values
    assert np.allclose(values[:2], [-4.5 + 4 + 0.33 + 1, -8 + 4 + 0.67 + 0])
    assert np.isnan(values[2])  # a null input gives a null, as before
    assert formula_names("round(price * quantity, 2) + max(a, 1)") == ["a", "price", "quantity"]
    assert evaluate("1.05 ** b", frame).values.dtype == np.float64


def test_a_data_dependent_undefined_row_is_flagged_never_a_silent_null():
    frame = pd.DataFrame({"x": [6.0, 1.0, 2.0, None, -4.0], "y": [3.0, 0.0, 0.0, 1.0, 1.0]})
    for text, undefined in [
        ("x / y", [False, True, True, False, False]),
        ("x // y", [False, True, True, False, False]),
        ("x % y", [False, True, True, False, False]),
        ("x ** 0.5", [False, False, False, False, True]),
        ("x ** 100 * 1e300", [True, False, True, False, True]),  # overflow: inf in numpy, not OverflowError
    ]:
        result = evaluate(text, frame)
        assert result.undefined.tolist() == undefined, text
        assert np.isnan(result.values[result.undefined]).all()


def test_a_formula_constraint_redraws_undefined_rows_instead_of_storing_nulls():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.integers(1, 50, 600), "b": rng.integers(0, 4, 600)})
    frame["ratio"] = np.where(frame.b == 0, 0.0, frame.a / frame.b.replace(0, 1))
    schema = SchemaFile(constraints=[{"type": "formula", "column": "ratio", "expression": "a / b"}])
    model = ps.fit(frame, engine="independent", schema=schema, seed=0)
    sample = model.sample(400, seed=1)
    assert sample.ratio.notna().all()  # on main: every row with b == 0 had a null ratio
    assert (sample.b != 0).all()
    assert np.allclose(sample.ratio, sample.a / sample.b)
    never = pd.DataFrame({"a": rng.integers(1, 50, 300), "b": np.zeros(300, dtype=int), "r": np.zeros(300)})
    always_zero = ps.fit(
        never,
        engine="independent",
        seed=0,
        schema=SchemaFile(constraints=[{"type": "formula", "column": "r", "expression": "a // b"}]),
    )
    with pytest.raises(ParameterError, match="cannot satisfy 'r = a // b'"):
        always_zero.sample(20, seed=0)


def test_a_simulated_column_with_a_zero_divisor_is_an_error_naming_the_formula():
    scenario = {
        "rows": 200,
        "columns": [
            {"name": "n", "poisson": {"lam": 1.0}},
            {"name": "share", "formula": "10 / n"},
        ],
    }
    with pytest.raises(ParameterError, match=r"formula '10 / n' is undefined .* rows"):
        simulate(scenario, seed=0)
    scenario["columns"][0] = {"name": "n", "uniform": {"low": 1, "high": 2}}
    assert simulate(scenario, seed=0).share.between(5, 10).all()
    with pytest.raises(ValueError, match="divides by zero"):
        simulate({"rows": 5, "columns": [{"name": "a", "formula": "1 // 0"}]})


def test_a_crafted_model_file_with_a_bad_formula_is_refused_at_load(tmp_path):
    from privsynth import modelfile

    x = np.round(np.random.default_rng(0).normal(50, 10, 200), 2)
    frame = pd.DataFrame({"x": x, "y": x * 2})
    schema = SchemaFile(constraints=[{"type": "formula", "column": "y", "expression": "x * 2"}])
    model = ps.fit(frame, engine="independent", schema=schema, seed=0)
    model.save(tmp_path / "m.psm")
    for bad in ["2**2**2**2**2", " + ".join(["x"] * 2_001), "x // 0", "min(x)"]:
        with zipfile.ZipFile(tmp_path / "m.psm") as zf:
            blobs = {n: zf.read(n) for n in zf.namelist() if n != "manifest.json"}
            manifest = json.loads(zf.read("manifest.json"))
        body = json.loads(blobs["model.json"])
        body["schema"]["constraints"][0]["expression"] = bad
        blobs["model.json"] = json.dumps(body).encode()
        manifest.pop("contents", None)
        crafted = tmp_path / "crafted.psm"
        crafted.write_bytes(modelfile.pack(manifest, blobs))  # checksums consistent with the crafted body
        with pytest.raises(PrivsynthError):
            ps.load(crafted)


def test_the_cli_refuses_a_bad_formula_in_one_line(tmp_path, run_cli):
    data = tmp_path / "d.csv"
    pd.DataFrame({"x": np.arange(50.0), "y": np.arange(50.0)}).to_csv(data, index=False)
    schema = tmp_path / "schema.yaml"
    schema.write_text(yaml.safe_dump({"constraints": [{"type": "formula", "column": "y", "expression": "10**10**10"}]}))
    done = run_cli("fit", "--engine", "independent", data, "-o", tmp_path / "m.psm", "--schema", schema)
    assert done.code == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "constraints" in done.stderr and "not a finite number" in done.stderr


# --------------------------------------------------------------------------------- property tests
_LEAF = st.one_of(
    st.sampled_from(["x", "y", "z"]),
    st.sampled_from(["0", "1", "2", "0.5", "10", "1e300", "1e-300", "3", "-1", "100", "1000"]),
)


def _combine(children):
    binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/", "//", "%", "**"]), children).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"
    )
    unary = st.tuples(st.sampled_from(["-", "+"]), children).map(lambda t: f"{t[0]}{t[1]}")
    call = st.tuples(st.sampled_from(["abs", "round", "min", "max"]), st.lists(children, min_size=0, max_size=4)).map(
        lambda t: f"{t[0]}({', '.join(t[1])})"
    )
    return st.one_of(binary, unary, call)


EXPRESSIONS = st.recursive(_LEAF, _combine, max_leaves=40)
FRAME = pd.DataFrame(
    {
        "x": [0.0, 1.0, -1.0, 2.5, 1e300, -1e-300, np.nan, 7.0],
        "y": [0, 0, 3, -2, 1, 5, 2, 0],
        "z": ["1", "a", None, "0", "2.5", "-3", "4", "1e308"],
    }
)


@settings(max_examples=400, deadline=None)
@given(EXPRESSIONS)
def test_validation_refuses_or_evaluation_returns_finite_or_nan(text):
    """Whatever the expression: a PrivsynthError at validation, or a float64 array of the frame's length
    whose values are finite or NaN, with undefined rows only where every input is present."""
    try:
        parse_formula(text)
    except PrivsynthError:
        return
    result = evaluate(text, FRAME)
    assert result.values.dtype == np.float64 and result.values.shape == (len(FRAME),)
    assert not np.isinf(result.values).any()
    assert result.undefined.dtype == bool and result.undefined.shape == (len(FRAME),)
    assert np.isnan(result.values[result.undefined]).all()
    names = formula_names(text)
    present = np.ones(len(FRAME), dtype=bool)
    for name in names:
        present &= pd.to_numeric(FRAME[name], errors="coerce").notna().to_numpy()
    assert not (result.undefined & ~present).any()


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=3_000), st.sampled_from(["+", "*", "-"]))
def test_long_sums_are_refused_or_evaluated_never_a_recursion_error(terms, op):
    text = f" {op} ".join(["x"] * terms)
    try:
        parse_formula(text)
    except FormulaError as exc:
        assert any(word in str(exc) for word in ("parts", "nested", "characters"))
        return
    assert evaluate(text, FRAME).values.shape == (len(FRAME),)


def test_the_cli_prints_a_formula_error_as_one_line_for_a_scenario(tmp_path, run_cli):
    spec = tmp_path / "scenario.yaml"
    spec.write_text(yaml.safe_dump({"rows": 5, "columns": [{"name": "a", "formula": "round(1, 10**10)"}]}))
    done = run_cli("simulate", spec, "-o", tmp_path / "out.csv")
    assert done.code == 2 and len(done.stderr.strip().splitlines()) == 1 and "digits" in done.stderr
    assert not (tmp_path / "out.csv").exists()
