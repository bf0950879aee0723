"""Crafted schema files (`--schema`, issue 22): garbage, deep nesting, alias bombs, wrong types and huge
numbers raise only PrivsynthError, at load or at fit, and a fit that passes samples."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import privsynth as ps
from privsynth.errors import PrivsynthError, SchemaError
from privsynth.schema import load_yaml
from tests.conftest import mixed_frame

FRAME = mixed_frame(60)
FIELDS = [
    "name",
    "kind",
    "dtype",
    "nullable",
    "min",
    "max",
    "precision",
    "datetime_format",
    "timezone",
    "value",
    "categories",
    "pii",
    "policy",
    "note",
]
KINDS = ["numeric", "integer", "categorical", "boolean", "datetime", "identifier", "text", "constant", "empty"]

scalars = (
    st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.booleans()
    | st.none()
    | st.sampled_from(KINDS + list(FRAME.columns) + ["int64", "float64", "object", "bool", "V100", "%Y", "UTC"])
)
garbage = st.recursive(
    scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3), max_leaves=8
)
column = st.fixed_dictionaries(
    {"name": st.sampled_from(list(FRAME.columns)) | garbage},
    optional={f: (st.sampled_from(KINDS) if f == "kind" else garbage) for f in FIELDS[1:]},
)
document = (
    st.fixed_dictionaries(
        {"columns": st.lists(column, max_size=4) | garbage},
        optional={
            "rare_category_threshold": garbage,
            "rare_category_marker": garbage,
            "max_categories": garbage,
            "version": garbage,
            "history": garbage,
            "unknown": garbage,
        },
    )
    | garbage
)


def _fit_and_sample(path) -> str:
    """ "refused" (our error, at fit) or "sampled" (a fit that passed gave 10 rows); any other exception
    propagates and fails the test."""
    try:
        model = ps.fit(FRAME, "copula", schema=path, seed=0)
    except PrivsynthError:
        return "refused"
    assert len(model.sample(10, seed=0)) == 10
    return "sampled"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document)
def test_garbage_schema_files_raise_only_our_error(tmp_path, doc):
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert _fit_and_sample(path) in ("refused", "sampled")


@pytest.mark.parametrize(
    "text",
    [
        "columns: " + "[" * 20_000 + "]" * 20_000,
        "columns:\n" + "".join("  " * i + "- \n" for i in range(3000)),
        "columns: " + "{a: " * 5000 + "1" + "}" * 5000,
        # an alias bomb: 9 levels of 9 references, 387 million names if expanded
        "a: &a [x,x,x,x,x,x,x,x,x]\n"
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
        + "columns: [{name: age, kind: categorical, categories: *i}]\n",
        "columns: [{name: age, kind: integer, min: 1e400}]",
        "columns: [{name: age, kind: integer, min: .nan}]",
        "columns: [{name: age, kind: integer, max: 100000000000000000000000000000}]",
        "columns: [{name: income, kind: numeric, precision: 100000000000}]",
        "columns: [{name: age, dtype: V1000000000}]",
        "rare_category_threshold: 100000000000000000000000000000",
        "max_categories: 100000000000000000000000000000",
        "\x00\x01\x02",
        "columns: !!python/object/apply:os.system ['true']",
    ],
)
def test_crafted_schema_files_raise_only_our_error(tmp_path, text):
    path = tmp_path / "schema.yaml"
    path.write_text(text)
    try:
        load_yaml(path, list(FRAME.columns))
    except SchemaError as exc:
        assert len(str(exc).splitlines()) == 1  # one line, as the CLI prints it
        return
    harmless = text.startswith("max_categories")  # a huge cap on categories is only a loose bound
    assert _fit_and_sample(path) == ("sampled" if harmless else "refused")
