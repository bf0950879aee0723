"""The accountant's figures against OpenDP's for the same mechanisms and parameters."""

from __future__ import annotations

import math

import numpy as np
import opendp.prelude as dp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privsynth.privacy import accountant as acc

dp.enable_features("contrib")


def opendp_epsilon(rho: float, delta: float) -> float:
    """OpenDP: a Gaussian mechanism with rho-zCDP on sensitivity 1, mapped to (epsilon, delta)."""
    space = dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float)
    gaussian = dp.m.make_gaussian(*space, scale=math.sqrt(1 / (2 * rho)))
    return dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(gaussian), delta=delta).map(1.0)[0]


@pytest.mark.parametrize("rho,delta", [(0.001, 1e-6), (0.0244, 1e-6), (0.1, 1e-9), (0.5, 1e-5), (3.0, 1e-7)])
def test_zcdp_conversion_agrees_with_opendp(rho, delta):
    assert acc.epsilon_of_rho(rho, delta) == pytest.approx(opendp_epsilon(rho, delta), rel=1e-6)


@settings(max_examples=30, deadline=None)
@given(epsilon=st.floats(0.05, 20), log_delta=st.floats(-12, -3))
def test_rho_for_is_the_largest_rho_within_the_budget(epsilon, log_delta):
    delta = 10**log_delta
    rho = acc.rho_for(epsilon, delta)
    assert acc.epsilon_of_rho(rho, delta) <= epsilon
    assert acc.epsilon_of_rho(rho * 1.001, delta) > epsilon  # not leaving budget on the table


def test_gaussian_and_exponential_costs():
    assert acc.gaussian_rho(2.0) == pytest.approx(1 / 8)
    assert acc.gaussian_rho(2.0, sensitivity=3.0) == pytest.approx(9 / 8)
    assert acc.exponential_rho(0.4) == pytest.approx(0.02)


def test_spends_compose_and_overspending_is_caught():
    a = acc.Accountant(1.0, 1e-6)
    half = a.rho_budget / 2
    a.spend_rho("gaussian", "one", half)
    a.spend_rho("gaussian", "two", half)
    a.check()
    assert a.spent() == pytest.approx(1.0, rel=1e-6)
    record = a.record()
    assert [s["share"] for s in record["spends"]] == [pytest.approx(0.5), pytest.approx(0.5)]
    assert "noise" not in str(record)
    a.spend_rho("gaussian", "three", half / 10)
    with pytest.raises(RuntimeError, match="spent epsilon"):
        a.check()


def test_renyi_curve_of_a_zcdp_mechanism_matches_the_continuous_conversion():
    rho, delta = 0.05, 1e-6
    curve_eps = acc.epsilon_of_curve(rho * np.asarray(acc.ORDERS), np.asarray(acc.ORDERS), delta)
    assert curve_eps == pytest.approx(acc.epsilon_of_rho(rho, delta), rel=0.01)
    assert curve_eps >= acc.epsilon_of_rho(rho, delta) - 1e-9  # a grid can only be looser


def test_mst_compression_merges_only_two_or_more_small_cells():
    from privsynth.engines.dp.graphical import _expand, compression

    sigma = 1.0
    assert list(compression(np.array([10.0, 1.0, 10.0]), sigma)) == [0, 1, 2]  # one small cell: left alone
    mapping = compression(np.array([10.0, 1.0, 10.0, 0.5, 2.0]), sigma)
    assert list(mapping) == [0, 2, 1, 2, 2]
    back = _expand(np.array([0, 1, 2, 2, 2, 2]), mapping, np.random.default_rng(0))
    assert list(back[:2]) == [0, 2] and set(back[2:]) <= {1, 3, 4}


def test_pooled_measurements_are_the_inverse_variance_mean_and_fit_the_same_model():
    from privsynth.engines.dp import graphical as g

    lib = g.mbi()
    rng = np.random.default_rng(1)
    domain = lib.Domain(["a", "b", "c"], [3, 4, 2])
    columns = zip(domain.attributes, domain.shape, strict=True)
    data = lib.Dataset({a: rng.integers(0, k, 400) for a, k in columns}, domain)
    truth = {cl: np.asarray(data.project(cl).datavector(), dtype=float) for cl in [("a", "b"), ("b", "c")]}
    raw = [
        lib.LinearMeasurement(truth[("a", "b")] + rng.normal(0, 2.0, 12), ("a", "b"), 2.0),
        lib.LinearMeasurement(truth[("b", "c")] + rng.normal(0, 3.0, 8), ("b", "c"), 3.0),
        lib.LinearMeasurement(truth[("a", "b")] + rng.normal(0, 1.0, 12), ("a", "b"), 1.0),
    ]
    pooled = g.pooled(raw)
    assert [m.clique for m in pooled] == [("a", "b"), ("b", "c")]
    expected = (np.asarray(raw[0].noisy_measurement) / 4 + np.asarray(raw[2].noisy_measurement)) / 1.25
    assert np.allclose(pooled[0].noisy_measurement, expected)
    assert float(pooled[0].stddev) == pytest.approx(1.25**-0.5)
    one = g.estimate(domain, raw, iters=500).project(("a", "b")).datavector()
    two = g.estimate(domain, pooled, iters=500).project(("a", "b")).datavector()
    assert np.abs(np.asarray(one) - np.asarray(two)).max() < 0.5  # counts out of 400


def test_graphical_conditional_sampling_matches_the_exact_posterior():
    """A chain a -> b -> c (with a compressed c) and a lone d, conditioned on c and on (a, c): the draws of
    the free variables follow the posterior computed by enumerating the joint."""
    from privsynth.engines.dp.graphical import FittedGraphical
    from privsynth.transforms.encoder import Encoded

    pa = np.array([0.5, 0.3, 0.2])
    pb = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])  # rows: a
    pc = np.array([[0.9, 0.1], [0.3, 0.7], [0.5, 0.5]])  # rows: b; c's 2 model cells are 3 original cells
    mapping = np.array([0, 1, 1])
    pd_ = np.array([0.25, 0.75])
    model = FittedGraphical(
        ("a", "b", "c", "d"),
        (3, 3, 3, 2),
        (0, 1, 2, 3),
        ((), (0,), (1,), ()),
        (pa, pb, pc, pd_),
        (None, None, mapping, None),
        {},
    )
    joint = pa[:, None, None] * pb[:, :, None] * pc[None, :, :]  # a, b, model cell of c
    n = 60_000
    fixed = np.full((n, 4), np.nan)
    fixed[:, 2] = 2  # original cell 2 -> model cell 1
    fixed[n // 2 :, 0] = 1
    out = model.sample(n, np.random.default_rng(0), Encoded(("a", "b", "c", "d"), (3, 3, 3, 2), fixed)).values
    assert (out[:, 2] == 2).all() and (out[n // 2 :, 0] == 1).all()
    post_ab = joint[:, :, 1] / joint[:, :, 1].sum()
    first = out[: n // 2]
    seen = np.array([[np.mean((first[:, 0] == a) & (first[:, 1] == b)) for b in range(3)] for a in range(3)])
    assert np.abs(seen - post_ab).max() < 0.01
    post_b = joint[1, :, 1] / joint[1, :, 1].sum()
    seen_b = np.bincount(out[n // 2 :, 1].astype(int), minlength=3) / (n - n // 2)
    assert np.abs(seen_b - post_b).max() < 0.01
    assert abs((out[:, 3] == 1).mean() - 0.75) < 0.01  # the lone variable keeps its own distribution
