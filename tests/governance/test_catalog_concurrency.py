"""Many processes on one catalog (issue 22): creating and migrating a new catalog happens once, under a lock;
recording an artifact, a file or a lineage edge that another process just recorded is a no-op; the audit
chain stays whole under 8 writers. SQLite and a real PostgreSQL server (skipped with the reason where none
runs). Processes start together at a barrier; nothing here depends on timing."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import privsynth as ps
from privsynth.governance import manifest as manifests

WORKERS = 8
AUDITS = 5


def _shared_manifests() -> tuple[dict, dict]:
    """The same new source and the same model, as every process fitting that source records them."""
    source = {"id": "src-shared", "kind": "source", "content": {"sha256": "0" * 64}, "location": "/data/shared.csv"}
    source["id"] = manifests.source_id(source["content"])
    model = manifests.with_id(
        {"kind": "model", "engine": {"name": "copula"}, "parents": [{"id": source["id"], "role": "source"}]}
    )
    return source, model


def _worker(url: str, folder: str, index: int, barrier, results) -> None:
    """Open the (new) catalog at once with the others, record the shared source and model (each to its
    own file), link them, record an evaluation of its own, and append a few plain audit entries."""
    try:
        source, model = _shared_manifests()
        barrier.wait()
        with ps.Catalog(url) as catalog:
            model_path = Path(folder) / f"model-{index}.psm"
            model_path.write_text(f"model file {index}")
            Path(f"{model_path}.manifest.json").write_text(json.dumps(model))  # what verify checks it against
            report = Path(folder) / f"report-{index}.html"
            report.write_text(f"report {index}")
            catalog.record(source, [source["location"]], event="record")
            catalog.record(model, [model_path], event="fit")
            catalog.link(model["id"], source["id"], "source")
            evaluation = manifests.with_id({"kind": "evaluation", "worker": index, "parents": [{"id": model["id"]}]})
            catalog.record(evaluation, [report], event="evaluate")
            for i in range(AUDITS):
                catalog.audit("export", evaluation["id"], n=i)
        results.put((index, "ok"))
    except BaseException as exc:  # reported to the parent, which asserts on it
        results.put((index, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"))


def _run_together(url: str, folder: Path) -> dict:
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(WORKERS), context.Queue()
    workers = [context.Process(target=_worker, args=(url, str(folder), i, barrier, results)) for i in range(WORKERS)]
    for worker in workers:
        worker.start()
    outcome = dict(results.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join(timeout=60)
    return outcome


def _check(url: str, folder: Path) -> None:
    assert _run_together(url, folder) == dict.fromkeys(range(WORKERS), "ok")
    source, model = _shared_manifests()
    with ps.Catalog(url) as catalog:
        entries = catalog.entries()
        assert [e["seq"] for e in entries] == list(range(1, WORKERS * (4 + AUDITS) + 1))
        assert catalog.verify() == []
        kinds = sorted(a["kind"] for a in catalog.artifacts())
        assert kinds == ["evaluation"] * WORKERS + ["model", "source"]
        assert sorted(Path(f["path"]).name for f in catalog.get(model["id"]).files) == [
            f"model-{i}.psm" for i in range(WORKERS)
        ]
        assert catalog.parents(model["id"]) == [(source["id"], "source")]


def test_eight_processes_create_and_record_into_one_new_sqlite_catalog(tmp_path):
    _check(str(tmp_path / "new" / "catalog.db"), tmp_path)


def test_eight_processes_create_and_record_into_one_new_postgres_catalog(tmp_path, postgres_url):
    _check(postgres_url, tmp_path)
