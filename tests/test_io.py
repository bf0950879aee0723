"""privsynth.io: CSV/Parquet/SQLite round trips, atomic writes, clear InputErrors, inputs untouched."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import privsynth as ps
from privsynth import io
from privsynth.errors import InputError


def _frame(n: int = 50, seed: int = 0) -> pd.DataFrame:
    """Ints, floats with nulls, text with commas/quotes/unicode, bools, unicode and spaced column names."""
    rng = np.random.default_rng(seed)
    price = np.round(rng.uniform(0, 100, n), 2)
    price[rng.random(n) < 0.2] = np.nan
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "prix unitaire €": price,
            "年齢": rng.integers(18, 90, n),
            "city": rng.choice(["Montréal", "Zürich", "São Paulo", 'Quote "Q"', "a,b"], n),
            "flag": rng.random(n) < 0.5,
        }
    )


def _digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def _leftovers(directory: Path) -> list[str]:
    """Temporary files atomic writes could leave behind (".<name>.*.tmp")."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") or p.suffix == ".tmp")


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_file_round_trip_is_exact(tmp_path, suffix):
    frame = _frame()
    target = tmp_path / f"out{suffix}"
    where = io.write(frame, target)
    assert where == str(target) and target.exists()
    back = io.read(target)
    pd.testing.assert_frame_equal(back, frame)
    assert _leftovers(tmp_path) == []


def test_sqlite_round_trip_is_exact(tmp_path):
    frame = _frame()
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    where = io.write(frame, url, table="people data")
    assert "people data" in where
    back = io.read(url, table="people data")
    pd.testing.assert_frame_equal(back, frame)


def test_real_table_round_trips_through_every_format(tmp_path, cps):
    part = cps.iloc[:2000].reset_index(drop=True)
    io.write(part, tmp_path / "cps.csv")
    io.write(part, tmp_path / "cps.parquet")
    io.write(part, f"sqlite:///{tmp_path / 'cps.db'}", table="cps")
    pd.testing.assert_frame_equal(io.read(tmp_path / "cps.csv"), part)
    pd.testing.assert_frame_equal(io.read(tmp_path / "cps.parquet"), part)
    pd.testing.assert_frame_equal(io.read(f"sqlite:///{tmp_path / 'cps.db'}", table="cps"), part)


def test_parquet_keeps_datetimes_outside_the_nanosecond_range(tmp_path):
    frame = pd.DataFrame(
        {"when": pd.Series(np.array(["1500-03-01", "2500-12-31", "0001-01-01"], dtype="datetime64[us]"))}
    )
    io.write(frame, tmp_path / "old.parquet")
    back = io.read(tmp_path / "old.parquet")
    assert back["when"].dtype == np.dtype("datetime64[us]")
    assert back["when"].tolist() == frame["when"].tolist()


def test_parquet_keeps_time_zone_aware_instants(tmp_path):
    frame = pd.DataFrame({"t": pd.Series(pd.date_range("2021-03-01", periods=5, freq="7h", tz="Europe/Paris"))})
    io.write(frame, tmp_path / "tz.parquet")
    back = io.read(tmp_path / "tz.parquet")
    assert str(back["t"].dt.tz) == "Europe/Paris"
    assert (back["t"] == frame["t"]).all()


def test_explicit_format_overrides_the_suffix(tmp_path):
    frame = _frame(10)
    io.write(frame, tmp_path / "data.bin", fmt="parquet")
    assert (tmp_path / "data.bin").read_bytes()[:4] == b"PAR1"
    with pytest.raises(InputError, match="unknown format 'json'"):
        io.write(frame, tmp_path / "x.json", fmt="json")
    with pytest.raises(InputError, match="cannot tell the format"):
        io.read(tmp_path / "data.bin")


def test_suffix_is_case_insensitive(tmp_path):
    frame = _frame(10)
    io.write(frame, tmp_path / "UPPER.CSV")
    pd.testing.assert_frame_equal(io.read(tmp_path / "UPPER.CSV"), frame)


def test_written_files_get_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        io.write(_frame(5), tmp_path / "perm.csv")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "perm.csv").stat().st_mode) == 0o644  # not mkstemp's 0600


# ---------------------------------------------------------------- atomic writes


def _failing_writer(handle):
    handle.write(b"half a file")
    raise RuntimeError("disk on fire")


def test_failed_write_leaves_no_target_and_no_temp_file(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError, match="disk on fire"):
        io.write_bytes_atomic(target, _failing_writer)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_existing_target(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"precious")
    with pytest.raises(RuntimeError):
        io.write_bytes_atomic(target, _failing_writer)
    assert target.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_successful_atomic_write_replaces_the_target(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    assert io.write_bytes_atomic(target, lambda h: h.write(b"new")) == target
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_frame_write_that_fails_midway_is_atomic(tmp_path, suffix, monkeypatch):
    target = tmp_path / f"out{suffix}"
    target.write_bytes(b"previous output")
    import pyarrow.parquet as pq

    def explode(_frame_or_table, path, *args, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError("no space left on device")

    if suffix == ".csv":
        monkeypatch.setattr(pd.DataFrame, "to_csv", explode)
    else:
        monkeypatch.setattr(pq, "write_table", explode)  # what io.write calls to keep the manifest
    with pytest.raises(OSError, match="no space left"):
        io.write(_frame(5), target)
    assert target.read_bytes() == b"previous output"
    assert _leftovers(tmp_path) == []


def test_parquet_writer_error_leaves_nothing(tmp_path):
    unwritable = pd.DataFrame({"mixed": [1, "two", 3.0]})  # pyarrow refuses mixed object columns
    with pytest.raises(Exception):  # noqa: B017 - whatever pyarrow raises, the point is what is left
        io.write(unwritable, tmp_path / "mixed.parquet")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- errors on reading


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"input file not found: .*nope\.csv"):
        io.read(tmp_path / "nope.csv")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_empty_file(tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="input file is empty"):
        io.read(path)


@pytest.mark.parametrize("content", ["\n\n\n", "   \n", ",,\n"])
def test_blank_header(tmp_path, content):
    path = tmp_path / "blank.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=r"no header row|duplicate column names"):
        io.read(path)


@pytest.mark.parametrize("content", ["a,b\n", "a,b", "a,b\r\n"])
def test_header_only(tmp_path, content):
    path = tmp_path / "header.csv"
    path.write_text(content)
    with pytest.raises(InputError, match="has a header but no rows"):
        io.read(path)


def test_directory_is_not_an_input(tmp_path):
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    with pytest.raises(InputError, match="is a directory"):
        io.read(folder)


@pytest.mark.parametrize(
    ("header", "dupes"),
    [("a,b,a", "'a'"), ("x,y,x,y", "'x', 'y'"), ("a,a.1,a", "'a'")],
)
def test_duplicate_column_names_in_csv(tmp_path, header, dupes):
    path = tmp_path / "dupes.csv"
    path.write_text(header + "\n" + ",".join(str(i) for i in range(header.count(",") + 1)) + "\n")
    with pytest.raises(InputError, match=f"duplicate column names in .*dupes.csv: {dupes}; rename them"):
        io.read(path)


def test_duplicate_column_names_behind_a_utf8_bom(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffa,a\n1,2\n".encode())
    with pytest.raises(InputError, match="duplicate column names"):
        io.read(path)


def test_utf8_bom_is_not_part_of_the_first_name(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffa,b\n1,2\n".encode())
    assert list(io.read(path).columns) == ["a", "b"]


def test_duplicate_column_names_in_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table([pa.array([1]), pa.array([2])], names=["a", "a"]), tmp_path / "d.parquet")
    with pytest.raises(InputError, match=r"duplicate column names .*'a'"):
        io.read(tmp_path / "d.parquet")


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"this is not parquet")
    with pytest.raises(InputError, match=r"cannot read .*bad.parquet as Parquet"):
        io.read(path)


def test_non_utf8_bytes_are_reported_and_latin1_works(tmp_path):
    path = tmp_path / "latin.csv"
    raw = "ville,prix\nMontréal,3\nQuébec,4\n".encode("latin-1")
    path.write_bytes(raw)
    with pytest.raises(InputError) as info:
        io.read(path)
    message = str(info.value)
    offset = raw.index(b"\xe9")
    assert "not valid utf-8" in message and "--encoding" in message and "latin-1" in message
    assert f"byte b'\\xe9' at offset {offset})" in message
    frame = io.read(path, encoding="latin-1")
    assert frame["ville"].tolist() == ["Montréal", "Québec"]
    assert frame["prix"].tolist() == [3, 4]


def test_non_utf8_header_is_reported(tmp_path):
    path = tmp_path / "latin_header.csv"
    path.write_bytes("année,prix\n2020,3\n".encode("latin-1"))
    with pytest.raises(InputError, match="not valid utf-8"):
        io.read(path)
    assert list(io.read(path, encoding="latin-1").columns) == ["année", "prix"]


def test_non_utf8_offset_is_the_file_offset_far_into_the_file(tmp_path):
    path = tmp_path / "big_latin.csv"
    raw = ("id,name\n" + "".join(f"{i},abcdefghij\n" for i in range(60_000))).encode() + "9,é\n".encode("latin-1")
    path.write_bytes(raw)
    offset = raw.index(b"\xe9")
    with pytest.raises(InputError, match=f"at offset {offset}\\)"):
        io.read(path)


def test_unknown_encoding(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a\n1\n")
    with pytest.raises(InputError, match="unknown text encoding 'klingon'"):
        io.read(path, encoding="klingon")


def test_malformed_csv_row(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(InputError, match=r"cannot parse .*ragged.csv as CSV: .*line 3"):
        io.read(path)


def test_surplus_fields_in_first_row_are_not_silently_shifted(tmp_path):
    path = tmp_path / "ragged_first.csv"
    path.write_text("a,b\n1,2,3,4\n5,6\n")
    with pytest.raises(InputError, match="more fields than the header"):
        io.read(path)
    path.write_text("a,b\n1,2\n" * 50 + "5,6,7\n")  # a surplus field far down the file
    with pytest.raises(InputError, match="Expected 2 fields in line 101, saw 3"):
        io.read(path)


def test_unknown_suffix(tmp_path):
    with pytest.raises(InputError, match=r"cannot tell the format of .*data.json.*--format"):
        io.read(tmp_path / "data.json")


# ---------------------------------------------------------------- errors on writing


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_output_in_missing_directory(tmp_path, suffix):
    target = tmp_path / "no" / "such" / f"out{suffix}"
    with pytest.raises(InputError, match=r"output directory does not exist: .*no/such"):
        io.write(_frame(5), target)
    assert not (tmp_path / "no").exists()


def test_output_path_is_a_directory(tmp_path):
    (tmp_path / "taken.csv").mkdir()
    with pytest.raises(InputError, match="output path is a directory"):
        io.write(_frame(5), tmp_path / "taken.csv")


def test_check_output_fails_early_on_a_missing_directory(tmp_path):
    with pytest.raises(InputError, match="output directory does not exist"):
        io.check_output(tmp_path / "missing" / "x.csv")
    io.check_output(tmp_path / "fine.csv")  # does not raise, creates nothing
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- SQLite


def test_sqlite_table_missing(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    io.write(_frame(5), url, table="present")
    with pytest.raises(InputError, match="table 'absent' not found in sqlite:///"):
        io.read(url, table="absent")


def test_sqlite_needs_a_table_name(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    io.write(_frame(5), url, table="t")
    with pytest.raises(InputError, match="needs --table"):
        io.read(url)
    with pytest.raises(InputError, match="needs --table"):
        io.write(_frame(5), url)


def test_sqlite_file_missing_is_not_created(tmp_path):
    db = tmp_path / "nope.sqlite"
    with pytest.raises(InputError, match="database file not found"):
        io.read(f"sqlite:///{db}", table="t")
    assert not db.exists()


def test_sqlite_empty_table(tmp_path):
    db = tmp_path / "db.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("create table e (a integer)")
    with pytest.raises(InputError, match="header but no rows"):
        io.read(f"sqlite:///{db}", table="e")


def test_writing_to_an_existing_sqlite_table_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    first = _frame(5)
    io.write(first, url, table="t")
    with pytest.raises(InputError, match=r"table 't' already exists .*choose another --table"):
        io.write(_frame(7, seed=1), url, table="t")
    pd.testing.assert_frame_equal(io.read(url, table="t"), first)  # untouched


def test_sqlite_output_in_missing_directory(tmp_path):
    with pytest.raises(InputError, match="output directory does not exist"):
        io.write(_frame(5), f"sqlite:///{tmp_path / 'missing' / 'db.sqlite'}", table="t")
    assert not (tmp_path / "missing").exists()


def test_failed_sqlite_write_leaves_no_table(tmp_path):
    db = tmp_path / "db.sqlite"
    url = f"sqlite:///{db}"
    unbindable = pd.DataFrame({"a": [1, 2], "b": [{"x": 1}, {"y": 2}]})  # dicts cannot be bound
    with pytest.raises(InputError, match="cannot write table 'bad'"):
        io.write(unbindable, url, table="bad")
    with sqlite3.connect(db) as con:
        tables = [row[0] for row in con.execute("select name from sqlite_master where type = 'table'")]
    assert "bad" not in tables


# ---------------------------------------------------------------- inputs are never modified


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_reading_leaves_the_file_byte_identical(tmp_path, suffix):
    path = tmp_path / f"in{suffix}"
    io.write(_frame(), path)
    before = _digest(path)
    io.read(path)
    ps.fit(path, seed=0, engine="copula")
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_reading_sqlite_leaves_the_database_byte_identical(tmp_path):
    db = tmp_path / "in.sqlite"
    io.write(_frame(), f"sqlite:///{db}", table="t")
    before = _digest(db)
    io.read(f"sqlite:///{db}", table="t")
    ps.fit(f"sqlite:///{db}", table="t", seed=0, engine="copula")
    assert _digest(db) == before


def _awkward_frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "email": [f"user{i}@example.org" for i in range(n)],
            "seg": pd.Series(rng.choice(["a", "b", "c"], n), dtype="category"),
            "score": pd.Series(np.where(rng.random(n) < 0.2, None, rng.integers(0, 9, n)), dtype="Int64"),
            "ok": pd.Series(rng.choice([True, False, None], n), dtype="boolean"),
            "at": pd.Series(pd.date_range("2020-01-01", periods=n, freq="h", tz="Europe/Paris")),
            "day": pd.Series(pd.date_range("2020-01-01", periods=n, freq="D")).dt.strftime("%d/%m/%Y"),
            "x": np.round(rng.normal(size=n), 3),
        },
        index=pd.RangeIndex(100, 100 + n),
    )
    frame.loc[frame.index[::7], "x"] = np.nan
    return frame


@pytest.mark.parametrize("which", ["mixed", "cps", "awkward"])
def test_fit_leaves_the_frame_unchanged(which, mixed, cps):
    frame = {"mixed": mixed, "cps": cps, "awkward": _awkward_frame()}[which]
    copy = frame.copy(deep=True)
    ps.fit(frame, seed=0, engine="copula")
    pd.testing.assert_frame_equal(frame, copy, check_exact=True)
    assert frame.index.equals(copy.index) and list(frame.columns) == list(copy.columns)
