"""Seeded fuzzing of real model files (issue 22): thousands of mutations, loaded and sampled; only
PrivsynthError may come out, and no manifest edited without sealing it again may load."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import privsynth as ps
from tests.conftest import mixed_frame

_spec = importlib.util.spec_from_file_location("model_fuzz", Path(__file__).with_name("fuzz.py"))
fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz)

DP_SCHEMA = """columns:
  - {name: age, kind: integer, min: 18, max: 90}
  - {name: segment, kind: categorical, categories: [retail, business, premium]}
  - {name: active, kind: boolean}
  - {name: score, kind: numeric, min: 300, max: 900}
"""


def model_files(folder: Path, private: bool) -> dict[str, bytes]:
    """Small real model files of every kind: copula, independent, a tiny argn, a history model, and (with
    `private`) an mst fit (jax makes it the slow one)."""
    frame = mixed_frame(200)
    models = {
        "copula": ps.fit(frame, "copula", seed=0),
        "independent": ps.fit(frame, "independent", seed=0),
        "argn": ps.fit(frame, "argn", seed=0, max_epochs=1, dim=4, hidden=8),
    }
    rng = np.random.default_rng(0)
    events = pd.DataFrame(
        {
            "k": np.repeat(np.arange(30), 4),
            "t": np.tile(np.arange(4), 30),
            "v": rng.normal(size=120).round(2),
            "c": rng.choice(list("ab"), 120),
            "g": np.repeat(rng.choice(list("xyz"), 30), 4),
        }
    )
    models["history"] = ps.fit_sequences(events, "k", "t", engine="copula", seed=0)
    if private:
        schema = folder / "dp.yaml"
        schema.write_text(DP_SCHEMA)
        columns = ["age", "segment", "active", "score"]
        models["mst"] = ps.fit(frame[columns], "mst", seed=0, schema=schema, epsilon=5.0, ledger=False)
    return {name: model.save(folder / f"{name}.psm").read_bytes() for name, model in models.items()}


def _check(counts, n: int) -> None:
    assert sum(counts.values()) == n
    refused = sum(c for (_, o), c in counts.items() if o == "refused at load")
    sampled = sum(c for (_, o), c in counts.items() if o == "loaded and sampled")
    assert refused > n / 2 and sampled > 0  # the harness reaches both the refusals and the samplers
    for kind in ("manifest_edit", "truncate", "add_member", "npy_header"):  # always refused at load
        assert {o for (k, o) in counts if k == kind} == {"refused at load"}, kind


def test_mutated_model_files_raise_only_our_error(tmp_path):
    files = model_files(tmp_path, private=False)
    counts = fuzz.run(files, 216, seed=1, workdir=tmp_path)
    _check(counts, 216)


@pytest.mark.slow
def test_four_thousand_mutations_of_every_kind_of_model_file(tmp_path):
    """The figures in benchmarks/RESULTS.md ("Model-file fuzzing")."""
    files = model_files(tmp_path, private=True)
    counts = fuzz.run(files, 4000, seed=0, workdir=tmp_path)
    print(fuzz.table(counts))
    _check(counts, 4000)
