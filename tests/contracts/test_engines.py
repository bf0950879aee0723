"""Contract tests run over every registered engine: shape, reproducibility, state round trip, conditioning."""

from __future__ import annotations

import numpy as np
import pytest

from privsynth.engines import ENGINES, make
from privsynth.schema import Schema
from privsynth.transforms.encoder import Encoded, Encoder
from tests.conftest import mixed_frame

NAMES = sorted(ENGINES)
PRIVATE = sorted(n for n in NAMES if getattr(ENGINES[n], "differentially_private", False))
PLAIN = sorted(set(NAMES) - set(PRIVATE))


@pytest.fixture(scope="module")
def encoded() -> Encoded:
    frame = mixed_frame(600, seed=1)
    schema = Schema.infer(frame)
    encoder = Encoder.fit(frame, schema)
    return encoder.encode(frame, schema, np.random.default_rng(0))


@pytest.fixture(scope="module")
def cells() -> Encoded:
    """A table as DP engines see it: every variable discrete (cells of a public domain), one dependence."""
    rng = np.random.default_rng(1)
    a = rng.integers(0, 4, 800)
    b = np.where(rng.random(800) < 0.8, a, rng.integers(0, 4, 800))
    values = np.column_stack([a, b, rng.integers(0, 3, 800), rng.integers(0, 6, 800)]).astype(float)
    return Encoded(("a", "b", "c", "d"), (4, 4, 3, 6), values)


@pytest.mark.parametrize("name", PRIVATE)
def test_dp_engine_samples_valid_cells_reproducibly_but_never_seeds_its_noise(name, cells):
    a = make(name, epsilon=2.0).fit(cells, np.random.default_rng(7))
    b = make(name, epsilon=2.0).fit(cells, np.random.default_rng(7))
    out = a.sample(300, np.random.default_rng(3))
    assert out.names == cells.names and out.values.shape == (300, 4)
    _valid(out)
    np.testing.assert_array_equal(out.values, a.sample(300, np.random.default_rng(3)).values)  # post-processing
    params_a, arrays_a = a.state()
    _, arrays_b = b.state()
    assert any(not np.array_equal(arrays_a[k], arrays_b[k]) for k in arrays_a if k in arrays_b)  # fresh noise
    import json

    again = type(a).from_state(json.loads(json.dumps(params_a)), arrays_a)
    np.testing.assert_array_equal(out.values, again.sample(300, np.random.default_rng(3)).values)
    assert params_a["privacy"]["epsilon_spent"] <= 2.0 + 1e-9


@pytest.mark.parametrize("name", PRIVATE)
def test_dp_engine_conditions_on_fixed_cells_and_follows_the_dependence(name, cells):
    # DP-SGD's noise is unseeded and 800 rows are few for it: its conditional sampler is the plain argn one
    # (checked by the PLAIN contracts); here argn must keep the fixed values, the marginal engines must also
    # show the learned dependence
    fitted = make(name, epsilon=20.0).fit(cells, np.random.default_rng(7))
    fixed = np.full((2000, 4), np.nan)
    fixed[:1000, 1] = 3  # half the rows fix b = 3, the other half fix c = 0 and b = 0
    fixed[1000:, 1] = 0
    fixed[1000:, 2] = 0
    out = fitted.sample(2000, np.random.default_rng(4), Encoded(cells.names, cells.cardinality, fixed))
    _valid(out)
    assert (out.values[:1000, 1] == 3).all() and (out.values[1000:, 1:3] == 0).all()
    if name != "argn":  # a follows b 80% of the time in the data (independent sampling gives 25%)
        assert (out.values[:1000, 0] == 3).mean() > 0.6 and (out.values[1000:, 0] == 0).mean() > 0.6


def _valid(data: Encoded) -> None:
    for j, k in enumerate(data.cardinality):
        col = data.values[:, j]
        assert not np.isnan(col).any()
        if k == 0:
            assert ((col > 0) & (col < 1)).all()
        else:
            assert set(np.unique(col)) <= set(range(k))


@pytest.mark.parametrize("name", PLAIN)
def test_sample_has_shape_and_valid_values(name, encoded):
    fitted = make(name).fit(encoded, np.random.default_rng(0))
    out = fitted.sample(250, np.random.default_rng(1))
    assert out.names == encoded.names and out.cardinality == encoded.cardinality
    assert out.values.shape == (250, len(encoded.names))
    _valid(out)


@pytest.mark.parametrize("name", PLAIN)
def test_same_seed_same_fit_and_sample(name, encoded):
    a = make(name).fit(encoded, np.random.default_rng(7))
    b = make(name).fit(encoded, np.random.default_rng(7))
    for (pa, aa), (pb, ab) in [(a.state(), b.state())]:
        assert pa == pb and aa.keys() == ab.keys()
        assert all(np.array_equal(aa[k], ab[k]) for k in aa)
    np.testing.assert_array_equal(
        a.sample(100, np.random.default_rng(3)).values, b.sample(100, np.random.default_rng(3)).values
    )
    assert not np.array_equal(
        a.sample(100, np.random.default_rng(3)).values, a.sample(100, np.random.default_rng(4)).values
    )


@pytest.mark.parametrize("name", PLAIN)
def test_state_round_trip_samples_identically(name, encoded):
    fitted = make(name).fit(encoded, np.random.default_rng(0))
    params, arrays = fitted.state()
    import json

    params = json.loads(json.dumps(params))  # must be JSON-able
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in arrays.values())
    again = type(fitted).from_state(params, arrays)
    np.testing.assert_array_equal(
        fitted.sample(50, np.random.default_rng(5)).values, again.sample(50, np.random.default_rng(5)).values
    )


@pytest.mark.parametrize("name", PLAIN)
def test_fixed_values_are_kept(name, encoded):
    fitted = make(name).fit(encoded, np.random.default_rng(0))
    fixed = np.full((80, len(encoded.names)), np.nan)
    j_disc = next(j for j, k in enumerate(encoded.cardinality) if k > 2)
    j_cont = encoded.cardinality.index(0)
    fixed[:, j_disc] = 1
    fixed[:40, j_cont] = 0.9
    out = fitted.sample(80, np.random.default_rng(2), Encoded(encoded.names, encoded.cardinality, fixed))
    assert (out.values[:, j_disc] == 1).all()
    assert (out.values[:40, j_cont] == 0.9).all()
    _valid(out)


def test_unknown_engine_and_parameter_are_clear():
    from privsynth.errors import ParameterError

    with pytest.raises(ParameterError, match=r"unknown engine 'gan'.*copula"):
        make("gan")
    with pytest.raises(ParameterError, match="no parameter 'depth'"):
        make("copula", depth=3)
