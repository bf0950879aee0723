"""The experimental sequence model (issue 8, first slice) on real storm tracks (dplyr::storms): whole new
histories with fresh keys, in time order, keeping lengths, gaps, the 6-hourly clock and the chronology
(lag-1 autocorrelation) far above what rows without history would give."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privsynth.evaluate.sequences import lag1_autocorrelation, sequence_fidelity
from privsynth.sequence import fit_sequences


@pytest.fixture(scope="module")
def fitted(storms):
    return fit_sequences(storms, "storm", "time", seed=0, max_epochs=30)


@pytest.mark.slow
def test_new_histories_keep_lengths_gaps_clock_and_chronology(storms, fitted):
    synthetic = fitted.sample(300, seed=1)
    assert synthetic.storm.nunique() == 300 and not set(synthetic.storm) & set(storms.storm)  # fresh keys
    assert list(synthetic.columns) == list(storms.columns)
    assert (synthetic.groupby("storm").time.diff().dropna() >= pd.Timedelta(0)).all()  # in time order
    result = sequence_fidelity(storms, synthetic, "storm", "time")
    assert result["gaps"]["tvd"] < 0.1 and result["hour_of_day_tvd"] < 0.15
    assert result["lengths"]["tvd"] < 0.2  # 300 entities: sampling noise alone is ~0.05-0.08
    wind = result["lag1_autocorrelation"]["wind"]
    assert wind["real"] > 0.8 and wind["synthetic"] > 0.5
    # control: the same events with each history's order shuffled have no chronology left
    rng = np.random.default_rng(0)
    shuffled = synthetic.copy()
    shuffled["wind"] = shuffled.groupby("storm")["wind"].transform(lambda x: rng.permutation(x.to_numpy()))
    assert abs(lag1_autocorrelation(shuffled, "storm", "time", "wind")) < 0.2
    pd.testing.assert_frame_equal(synthetic, fitted.sample(300, seed=1))  # same seed, same histories


def test_history_model_file_and_command_line(storms, tmp_path, run_cli, fitted):
    """Saved and loaded through the model file (nested, checksummed, no pickle), the same histories come
    back; from the command line: fit --entity --time, sample -n ENTITIES with a manifest, evaluate."""
    import privsynth as ps
    from privsynth.governance.output import id_matches, read_manifest

    path = fitted.save(tmp_path / "storms.psm")
    again = ps.load(path)
    pd.testing.assert_frame_equal(again.sample(40, seed=2), fitted.sample(40, seed=2))
    assert id_matches(again.manifest) and again.manifest["engine"]["name"] == "sequence"

    data = tmp_path / "storms.csv"
    storms.head(3000).to_csv(data, index=False)  # times as text: written back in the same format
    done = run_cli("fit", data, "--entity", "storm", "--time", "time", "--max-epochs", "5", "-o", tmp_path / "m.psm")
    assert done.code == 0, done.stderr
    done = run_cli("sample", tmp_path / "m.psm", "-n", "30", "-o", tmp_path / "s.csv", "--seed", "3")
    assert done.code == 0, done.stderr
    synthetic = pd.read_csv(tmp_path / "s.csv")
    assert synthetic.storm.nunique() == 30 and synthetic.time.str.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$").all()
    manifest = read_manifest(tmp_path / "s.csv")
    assert manifest["parents"][0]["id"] == read_manifest(tmp_path / "m.psm")["id"]
    done = run_cli(
        "evaluate",
        "--real",
        data,
        "--synthetic",
        tmp_path / "s.csv",
        "--entity",
        "storm",
        "--time",
        "time",
        "-o",
        tmp_path / "r.html",
    )
    assert done.code == 0, done.stderr
    bad = run_cli("sample", tmp_path / "m.psm", "-n", "5", "-o", tmp_path / "x.csv", "--condition", "wind=30")
    assert bad.code == 2 and "conditioned on their context columns" in bad.stderr and "'wind'" in bad.stderr
    bad = run_cli("sample", tmp_path / "m.psm", "-n", "5", "-o", tmp_path / "x.csv", "--rebalance", "status=x:0.5")
    assert bad.code == 2 and "samples -n ENTITIES" in bad.stderr
    bad = run_cli("fit", data, "--entity", "storm", "-o", tmp_path / "y.psm")
    assert bad.code == 2 and "both --entity and --time" in bad.stderr


@pytest.mark.slow
def test_histories_conditioned_on_their_context(storms):
    """A context column (constant within each storm: its decade) can be fixed: every new history gets it, and
    the rest of the entity (here its start date) follows it."""
    frame = storms.assign(decade=(storms.time.dt.year // 10 * 10).astype(str))
    model = fit_sequences(frame, "storm", "time", seed=0, max_epochs=5)
    assert model.context == ["decade"]
    free = model.sample(200, seed=4)
    fixed = model.sample(200, seed=4, conditions={"decade": "2010"})
    assert (fixed.decade == "2010").all() and (free.decade == "2010").mean() < 0.5

    def started_2010s(histories):
        return (histories.groupby("storm").time.first().dt.year // 10 == 201).mean()

    assert started_2010s(fixed) > 0.6 > started_2010s(free)
    params = fixed.attrs["privsynth_origin"]["operation"]["params"]
    assert params["conditions"] == {"decade": "2010"} and "reproducible" not in params
