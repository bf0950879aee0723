"""Seeded fuzzing of real model files (issue 22): thousands of mutations, loaded and sampled; only
PrivsynthError may come out, and no manifest edited without sealing it again may load."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("model_fuzz", Path(__file__).with_name("fuzz.py"))
fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz)


def _check(counts, n: int) -> None:
    assert sum(counts.values()) == n
    refused = sum(c for (_, o), c in counts.items() if o == "refused at load")
    sampled = sum(c for (_, o), c in counts.items() if o == "loaded and sampled")
    assert refused > n / 2 and sampled > 0  # the harness reaches both the refusals and the samplers
    for kind in ("manifest_edit", "truncate", "add_member", "npy_header"):  # always refused at load
        assert {o for (k, o) in counts if k == kind} == {"refused at load"}, kind


def test_mutated_model_files_raise_only_our_error(tmp_path):
    files = fuzz.model_files(tmp_path, private=False)
    counts = fuzz.run(files, 216, seed=1, workdir=tmp_path)
    _check(counts, 216)


@pytest.mark.slow
def test_four_thousand_mutations_of_every_kind_of_model_file(tmp_path):
    """The figures in benchmarks/RESULTS.md ("Model-file fuzzing")."""
    files = fuzz.model_files(tmp_path, private=True)
    counts = fuzz.run(files, 4000, seed=0, workdir=tmp_path)
    print(fuzz.table(counts))
    _check(counts, 4000)
