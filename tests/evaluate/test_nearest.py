"""The blocked nearest-neighbour pass agrees with scikit-learn's index in both directions up to float32
selection among near-ties (the distances returned are exact for the neighbour chosen), and puts exact copies at
distance 0 (the float32 product alone would not)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.neighbors import NearestNeighbors

from privsynth.evaluate import privacy


@settings(max_examples=40, deadline=None)
@given(
    n_a=st.integers(1, 1200),
    n_b=st.integers(2, 900),
    width=st.integers(1, 12),
    seed=st.integers(0, 2**16),
    levels=st.sampled_from([2, 5, None]),
)
def test_matches_sklearn_both_ways(n_a, n_b, width, seed, levels):
    rng = np.random.default_rng(seed)
    draw = (lambda n: rng.integers(0, levels, (n, width))) if levels else (lambda n: rng.random((n, width)))
    a, b = draw(n_a).astype(np.float32), draw(n_b).astype(np.float32)
    a[: min(n_a, n_b) // 3] = b[: min(n_a, n_b) // 3]  # some exact copies
    first, second, b_to_a = privacy.nearest(a, b)
    want = NearestNeighbors(n_neighbors=2).fit(b.astype(np.float64)).kneighbors(a.astype(np.float64))[0]
    want_back = NearestNeighbors(n_neighbors=1).fit(a.astype(np.float64)).kneighbors(b.astype(np.float64))[0][:, 0]
    # float32 selects the neighbour; among near-ties it may not be the very nearest
    tie = 1e-5 * (np.square(a).sum(axis=1).max() + np.square(b).sum(axis=1).max())
    for got, exact in ((first, want[:, 0]), (second, want[:, 1]), (b_to_a, want_back)):
        assert (got >= exact - 1e-9).all()  # a real distance to a real row: never below the nearest
        assert (got**2 <= exact**2 + tie).all()
    assert (first[: min(n_a, n_b) // 3] == 0).all()


def test_blocks_smaller_than_the_table(monkeypatch):
    monkeypatch.setattr(privacy, "CHUNK", 7)
    rng = np.random.default_rng(1)
    a, b = rng.random((100, 5)).astype(np.float32), rng.random((60, 5)).astype(np.float32)
    first, _, b_to_a = privacy.nearest(a, b)
    full = np.sqrt(((a[:, None, :].astype(np.float64) - b[None, :, :]) ** 2).sum(-1))
    np.testing.assert_allclose(first, full.min(axis=1), atol=1e-6)
    np.testing.assert_allclose(b_to_a, full.min(axis=0), atol=1e-6)
