"""argn: tokenisation round trips, a small real-data fit that beats `independent`, conditional sampling,
reproducibility, and the saved model sampling identically."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import privsynth as ps
from privsynth.engines.argn import tokens as tok
from privsynth.errors import ParameterError
from privsynth.evaluate import fidelity

# no max_time: a run cut by the clock depends on the machine's speed, and these fits must be reproducible
FAST = {"max_epochs": 60, "max_time": None}


@settings(max_examples=60, deadline=None)
@given(
    cardinality=st.lists(st.sampled_from([0, 1, 2, 7, 300]), min_size=1, max_size=6),
    rows=st.integers(1, 50),
    bins=st.sampled_from([2, 16, 64]),
    seed=st.integers(0, 2**16),
)
def test_tokens_round_trip(cardinality, rows, bins, seed):
    rng = np.random.default_rng(seed)
    values = np.column_stack(
        [rng.random(rows) * (1 - 2e-9) + 1e-9 if k == 0 else rng.integers(0, k, rows) for k in cardinality]
    ).astype(float)
    edges = tok.cell_edges(cardinality, bins)
    tokens = tok.to_tokens(values, edges)
    assert ((tokens >= 0) & (tokens < np.array(tok.vocab(cardinality, edges)))).all()
    back = tok.from_tokens(tokens, edges, rng)
    for j, k in enumerate(cardinality):
        if k:
            np.testing.assert_array_equal(back[:, j], values[:, j])
        else:  # same quantile bin, strictly inside (0, 1)
            assert (np.floor(back[:, j] * bins) == np.floor(values[:, j] * bins)).all()
            assert ((back[:, j] > 0) & (back[:, j] < 1)).all()


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.integers(-3, 40), min_size=5, max_size=300), seed=st.integers(0, 2**16))
def test_few_valued_numbers_become_one_token_per_value(values, seed):
    """A number column in the encoder's discrete mode: its tokens are its values, and decoding the tokens
    gives back exactly the encoded values (the within-value position never crosses into another value)."""
    from privsynth.transforms import numeric

    x = np.array(values, dtype=float)
    params, arrays = numeric.fit(x, k=1)
    assert params["mode"] == "discrete"
    rng = np.random.default_rng(seed)
    u = numeric.encode(x, params, arrays, rng)[:, None]
    edges = tok.cell_edges((0,), 64, (arrays["cdf"],))
    assert tok.vocab((0,), edges) == [len(np.unique(x))]
    tokens = tok.to_tokens(u, edges)
    np.testing.assert_array_equal(tokens[:, 0], np.searchsorted(np.unique(x), x))
    back = numeric.decode(tok.from_tokens(tokens, edges, rng)[:, 0], params, arrays)
    np.testing.assert_array_equal(back, x)


def test_within_bin_position_keeps_the_marginal():
    u = np.random.default_rng(0).random((200_000, 1))
    edges = tok.cell_edges((0,), 16)
    back = tok.from_tokens(tok.to_tokens(u, edges), edges, np.random.default_rng(1))
    assert np.abs(np.sort(back[:, 0]) - np.linspace(0, 1, len(back))).max() < 0.01  # still uniform


def test_free_values_are_minus_one():
    tokens = tok.to_tokens(np.array([[np.nan, 2.0], [0.5, np.nan]]), tok.cell_edges((0, 3), 32))
    np.testing.assert_array_equal(tokens, [[-1, 2], [16, -1]])


@pytest.fixture(scope="module")
def cps_split(cps):
    real = cps.drop(columns="rownames").sample(n=6000, random_state=0).reset_index(drop=True)
    return real.iloc[:4000].reset_index(drop=True), real.iloc[4000:].reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(cps_split):
    return ps.fit(cps_split[0], engine="argn", seed=0, **FAST)


def test_learns_the_joint_distribution(cps_split, fitted):
    train, holdout = cps_split
    argn = fidelity.accuracy(train, fitted.sample(len(train), seed=1))
    independent = fidelity.accuracy(train, ps.fit(train, engine="independent", seed=0).sample(len(train), seed=1))
    ceiling = fidelity.accuracy(train, holdout)
    assert argn["bivariate"] > independent["bivariate"] + 0.01, (argn, independent)
    assert argn["bivariate"] > ceiling["bivariate"] - 0.01, (argn, ceiling)
    assert argn["univariate"] > 0.95
    assert fitted.fitted.training["epochs"] <= FAST["max_epochs"]
    assert fitted.fitted.training["best_val_loss"] <= min(h["val_loss"] for h in fitted.fitted.training["history"])


def test_conditions_are_honoured_and_shift_the_rest(cps_split, fitted):
    train, _ = cps_split
    rows = fitted.sample(3000, seed=2, conditions={"parttime": "yes", "region": "south"})
    assert (rows["parttime"] == "yes").all() and (rows["region"] == "south").all()
    # part-timers earn less per week: the conditional must show it as the real data does
    real_ratio = train.loc[train.parttime == "yes", "wage"].median() / train["wage"].median()
    syn_ratio = rows["wage"].median() / fitted.sample(3000, seed=3)["wage"].median()
    assert syn_ratio < 0.7 and abs(syn_ratio - real_ratio) < 0.25, (syn_ratio, real_ratio)
    per_row = fitted.sample(4, seed=4, conditions=train[["education"]].head(4).reset_index(drop=True))
    np.testing.assert_array_equal(per_row["education"], train["education"].head(4))


def test_same_seed_same_model_and_rows(cps_split, fitted, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # pins the manifest's creation time
    one, two = (ps.fit(cps_split[0], engine="argn", seed=0, **FAST) for _ in range(2))
    a, b = one.save(tmp_path / "a.psm"), two.save(tmp_path / "b.psm")
    assert a.read_bytes() == b.read_bytes()
    assert one.fitted.state()[0] == fitted.fitted.state()[0]  # same training, whenever it ran
    loaded = ps.load(a)
    assert loaded.sample(500, seed=9).equals(fitted.sample(500, seed=9))
    assert not fitted.sample(500, seed=9).equals(fitted.sample(500, seed=10))


def test_temperature(fitted):
    cold = fitted.sample(2000, seed=5, temperature=0.5)
    hot = fitted.sample(2000, seed=5, temperature=1.5)
    # colder sampling sharpens every conditional: the skewed columns' majority values grow, rarer ones shrink
    for column in ("ethnicity", "parttime"):
        assert cold[column].value_counts(normalize=True).iloc[0] > hot[column].value_counts(normalize=True).iloc[0]
    with pytest.raises(ParameterError, match="temperature"):
        fitted.sample(10, temperature=0)
    with pytest.raises(ParameterError, match="no sampling temperature"):
        ps.fit(fitted.sample(100, seed=1), engine="copula", seed=0).sample(10, temperature=0.5)


def test_command_line(cps_split, tmp_path, run_cli):
    cps_split[0].head(1500).to_csv(tmp_path / "train.csv", index=False)
    done = run_cli("fit", tmp_path / "train.csv", "--engine", "argn", "--max-epochs", "3", "-o", tmp_path / "m.psm")
    assert done.code == 0, done.stderr
    done = run_cli(
        "sample",
        tmp_path / "m.psm",
        "-n",
        "200",
        "-o",
        tmp_path / "s.csv",
        "--condition",
        "ethnicity=afam",
        "--condition",
        "experience=10",
        "--temperature",
        "0.8",
    )
    assert done.code == 0, done.stderr
    import pandas as pd

    rows = pd.read_csv(tmp_path / "s.csv")
    assert (rows["ethnicity"] == "afam").all() and (rows["experience"] == 10).all() and len(rows) == 200
    bad = run_cli("fit", tmp_path / "train.csv", "--engine", "copula", "--max-epochs", "3", "-o", tmp_path / "x.psm")
    assert bad.code == 2 and "argn" in bad.stderr
    bad = run_cli("sample", tmp_path / "m.psm", "-n", "5", "-o", tmp_path / "y.csv", "--condition", "ethnicity")
    assert bad.code == 2 and "COLUMN=VALUE" in bad.stderr


def test_max_time_stops_training_after_the_epoch_that_crosses_it(cps_split):
    model = ps.fit(cps_split[0].head(500), engine="argn", seed=0, max_epochs=500, max_time=1e-3)
    assert model.fitted.training["stopped_by"] == "max_time"
    assert model.fitted.training["epochs"] == 1
    assert len(model.sample(50, seed=0)) == 50


def test_threads_follow_omp_num_threads(monkeypatch):
    from privsynth.engines.argn import threads

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert threads() >= 1
