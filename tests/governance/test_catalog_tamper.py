"""Tampering with the catalog behind privsynth's back (issue 22): every catalog table but the ledger refuses
UPDATE and DELETE, and an attacker who drops the triggers first (anyone holding the database file can) is
caught by `verify`, which re-derives the artifacts, files and lineage rows from the hash-chained audit log
and checks recorded files against the hash the chain holds. SQLite throughout; the main cases on a real
PostgreSQL server too (started by .ci/postgres.sh; skipped with the reason where none runs)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import privsynth as ps
from privsynth.governance import manifest as manifests
from tests.conftest import mixed_frame

SQLITE_TRIGGERS = [f"{t}_no_{a}" for t in ("artifacts", "files", "lineage") for a in ("update", "delete")]


def _made(tmp_path: Path, catalog: ps.Catalog) -> dict:
    """What `privsynth fit` then `sample` record: a source, a model linked to it, a table made from the model."""
    frame = mixed_frame(200)
    data = tmp_path / "real.csv"
    frame.to_csv(data, index=False)
    model = ps.fit(frame, "copula", seed=0)
    model_path = tmp_path / "m.psm"
    model.save(model_path)
    source_id = model.manifest["parents"][0]["id"]
    source = {"id": source_id, "kind": "source", "content": model.manifest["source"], "location": str(data)}
    catalog.record(source, [str(data)], event="record")
    catalog.record(model.manifest, [model_path], event="fit")
    catalog.link(model.manifest["id"], source_id, "source")
    table = tmp_path / "s.parquet"
    _, manifest = ps.write(model.sample(50, seed=1), table)
    catalog.record(manifest, [table], event="sample")
    return {"model": model.manifest["id"], "source": source_id, "dataset": manifest["id"], "table": table}


def _tamper(db: Path, *statements: str) -> None:
    """Run SQL on the database file directly, dropping the append-only triggers first."""
    raw = sqlite3.connect(db)
    for name in SQLITE_TRIGGERS:
        raw.execute(f"DROP TRIGGER IF EXISTS {name}")
    for statement in statements:
        raw.execute(statement)
    raw.commit()
    raw.close()


def _edit(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"tampered")


@pytest.fixture
def made(tmp_path):
    db = tmp_path / "cat.db"
    with ps.Catalog(db) as catalog:
        made = _made(tmp_path, catalog)
        assert catalog.verify() == []
    return db, made


def _problems(db: Path) -> str:
    with ps.Catalog(db) as catalog:
        return "\n".join(catalog.verify())


def test_every_catalog_table_but_the_ledger_refuses_update_and_delete(made):
    db, _ = made
    raw = sqlite3.connect(db)
    for statement in (
        "UPDATE artifacts SET author = 'mallory'",
        "DELETE FROM artifacts",
        "UPDATE files SET sha256 = NULL",
        "DELETE FROM files",
        "UPDATE lineage SET role = 'x'",
        "DELETE FROM lineage",
    ):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute(statement)
    raw.execute("INSERT INTO ledger (name, body) VALUES ('budget', 'null')")
    raw.execute("UPDATE ledger SET body = '{}' WHERE name = 'budget'")  # the ledger is updated in place
    raw.commit()
    raw.close()
    assert _problems(db) == ""


def test_a_nulled_hash_then_an_edited_file_is_found(made):
    db, ids = made
    _tamper(db, f"UPDATE files SET sha256 = NULL WHERE path = '{ids['table']}'")
    _edit(ids["table"])
    problems = _problems(db)
    assert f"{ids['table']}: changed since it was recorded (SHA-256 differs)" in problems
    assert f"{ids['table']}: its files row was edited in the catalog" in problems


def test_a_deleted_files_row_then_an_edited_file_is_found(made):
    db, ids = made
    _tamper(db, f"DELETE FROM files WHERE path = '{ids['table']}'")
    _edit(ids["table"])
    problems = _problems(db)
    assert f"{ids['table']}: changed since it was recorded (SHA-256 differs)" in problems
    assert "was deleted from the catalog" in problems


def test_deleting_an_artifact_with_its_files_and_lineage_is_found(made):
    db, ids = made
    dataset = ids["dataset"]
    _tamper(
        db,
        f"DELETE FROM artifacts WHERE id = '{dataset}'",
        f"DELETE FROM files WHERE artifact_id = '{dataset}'",
        f"DELETE FROM lineage WHERE child_id = '{dataset}'",
    )
    problems = _problems(db)
    assert f"artifact {dataset}: recorded by audit entry 4, its row was deleted from the catalog" in problems
    assert f"{ids['table']}: its files row (audit entry 4) was deleted from the catalog" in problems
    assert f"lineage {dataset} <- {ids['model']} (model): recorded by audit entry 4, deleted" in problems


@pytest.mark.parametrize("column", ["author", "engine", "guarantee", "created", "rows"])
def test_an_edited_artifact_column_is_found(made, column):
    db, ids = made
    value = "7" if column == "rows" else "'(0.1, 1e-9)-differentially private'"
    _tamper(db, f"UPDATE artifacts SET {column} = {value} WHERE id = '{ids['model']}'")
    assert f"artifact {ids['model']}: its {column} was edited in the catalog" in _problems(db)


def test_an_edited_manifest_is_found(made):
    db, ids = made
    with ps.Catalog(db) as catalog:
        manifest = catalog.known(ids["model"])
    manifest["privacy"] = {"guarantee": "(0.1, 1e-9)-differentially private"}
    text = json.dumps(manifest).replace("'", "''")
    _tamper(db, f"UPDATE artifacts SET manifest = '{text}' WHERE id = '{ids['model']}'")
    problems = _problems(db)
    assert f"artifact {ids['model']}: its manifest was edited in the catalog" in problems
    assert f"artifact {ids['model']}: its manifest does not match its id" in problems


def test_lineage_rows_deleted_added_or_edited_are_found(made):
    db, ids = made
    model, source = ids["model"], ids["source"]
    _tamper(
        db,
        f"DELETE FROM lineage WHERE child_id = '{model}' AND parent_id = '{source}'",
        f"INSERT INTO lineage (child_id, parent_id, role) VALUES ('{ids['dataset']}', '{source}', 'source')",
        f"UPDATE lineage SET role = 'seed' WHERE child_id = '{ids['dataset']}' AND parent_id = '{model}'",
    )
    problems = _problems(db)
    assert f"lineage {model} <- {source} (source): recorded by audit entry 2, deleted" in problems
    assert f"lineage {ids['dataset']} <- {source} (source): no audit entry records it" in problems
    assert f"lineage {ids['dataset']} <- {model}: its role was edited in the catalog" in problems


def test_a_deleted_link_is_found(made):
    """An edge added on its own (a DP model's source, withheld from its file) has its own `link` entry."""
    db, ids = made
    with ps.Catalog(db) as catalog:
        catalog.link(ids["dataset"], "src-context", "context")
        assert catalog.entries()[-1]["event"] == "link" and catalog.verify() == []
    _tamper(db, "DELETE FROM lineage WHERE parent_id = 'src-context'")
    assert (
        _problems(db)
        == f"lineage {ids['dataset']} <- src-context (context): recorded by audit entry 5, deleted from the catalog"
    )


def test_rows_slipped_in_without_an_audit_entry_are_found(made):
    db, ids = made
    _tamper(
        db,
        "INSERT INTO artifacts (id, kind, created, author, manifest) VALUES ('mdl-fake', 'model', 'x', 'm', '{}')",
        f"INSERT INTO files (audit_seq, path, artifact_id, sha256, recorded) VALUES (99, '{ids['table']}', "
        "'mdl-fake', NULL, 'x')",
    )
    problems = _problems(db)
    assert "artifact mdl-fake: no audit entry records it" in problems
    assert f"{ids['table']}: a files row (artifact mdl-fake) that no audit entry records" in problems


def test_a_path_written_again_appends_and_the_latest_recording_wins(tmp_path):
    """A new output over an old one: no row is updated or deleted; the path resolves to the newer artifact
    and the older one no longer claims it; verify checks the file against the newer hash."""
    path = tmp_path / "report.html"
    with ps.Catalog(tmp_path / "cat.db") as catalog:
        first, second = (manifests.with_id({"kind": "evaluation", "n": n}) for n in (1, 2))
        path.write_text("first")
        catalog.record(first, [path], event="evaluate")
        path.write_text("second")
        catalog.record(second, [path], event="evaluate")
        assert catalog.verify() == []
        assert catalog.resolve(str(path)) == second["id"]
        assert catalog.get(first["id"]).files == [] and len(catalog.get(second["id"]).files) == 1
        catalog.record(first, [path], event="evaluate")  # recording an existing artifact again is a no-op
        assert len(catalog.artifacts()) == 2 and catalog.verify() == []
        path.write_text("third")
        assert catalog.verify() == [f"{path}: changed since it was recorded (SHA-256 differs)"]


def test_an_older_catalog_is_adopted_into_the_chain(tmp_path):
    """A revision-0002 catalog whose files row lost its hash before the upgrade: revision 0003 vouches for
    the rows through `adopt` entries, taking the file's hash from the chain, so the edit is still found."""
    from alembic import command
    from alembic.config import Config

    import privsynth.governance.catalog as catalog_module

    db = tmp_path / "old.db"
    report = tmp_path / "r.html"
    report.write_text("a report")
    engine = sa.create_engine(f"sqlite:///{db}")
    config = Config()
    config.set_main_option("script_location", str(Path(catalog_module.__file__).parent / "migrations"))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
    manifest = manifests.with_id({"kind": "evaluation", "n": 1, "parents": [{"id": "ds-1", "role": "synthetic"}]})
    sha = manifests.file_sha256(report)
    with engine.begin() as conn:  # the rows revision 0002's record() wrote
        conn.execute(
            sa.text("INSERT INTO artifacts VALUES (:id, 'evaluation', 'c', 'alice', NULL, NULL, NULL, NULL, :m)"),
            {"id": manifest["id"], "m": manifests.canonical(manifest).decode()},
        )
        conn.execute(
            sa.text("INSERT INTO files VALUES (:p, :id, :s, 'r')"), {"p": str(report), "id": manifest["id"], "s": sha}
        )
        conn.execute(sa.text("INSERT INTO lineage VALUES (:id, 'ds-1', 'synthetic')"), {"id": manifest["id"]})
    engine.dispose()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(catalog_module, "HEAD", "0002")
        with ps.Catalog(db) as old:
            old.audit("evaluate", manifest["id"], kind="evaluation", files=[{"path": str(report), "sha256": sha}])
    _tamper(db, "UPDATE files SET sha256 = NULL")  # 0002 had no trigger on files
    with ps.Catalog(db) as catalog:
        assert [e["event"] for e in catalog.entries()] == ["evaluate", "adopt"]
        assert catalog.verify() == []
        assert catalog.get(manifest["id"]).files[0]["sha256"] == sha
        assert catalog.parents(manifest["id"]) == [("ds-1", "synthetic")]
    _edit(report)
    assert _problems(db) == f"{report}: changed since it was recorded (SHA-256 differs)"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    writes=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=8),
    victim=st.integers(0, 10_000),
)
def test_any_sequence_of_recordings_verifies_and_any_deleted_row_is_found(tmp_path_factory, writes, victim):
    """Artifacts written to paths in any order (paths overwritten, artifacts recorded again): the catalog
    verifies, each path resolves to its last writer; then deleting any one row of any table is found."""
    folder = tmp_path_factory.mktemp("prop")
    db = folder / "cat.db"
    last = {}
    with ps.Catalog(db) as catalog:
        for step, (artifact, slot) in enumerate(writes):
            manifest = manifests.with_id({"kind": "evaluation", "n": artifact, "parents": [{"id": f"ds-{artifact}"}]})
            path = folder / f"out{slot}.html"
            path.write_text(f"step {step}")
            catalog.record(manifest, [path], event="evaluate")
            last[str(path)] = manifest["id"]
        assert catalog.verify() == []
        assert {p: catalog.resolve(p) for p in last} == last
        with catalog.engine.connect() as conn:
            rows = [
                (t, dict(r))
                for t in ("artifacts", "files", "lineage")
                for r in conn.execute(sa.text(f"SELECT * FROM {t}")).mappings()
            ]
    table, row = rows[victim % len(rows)]
    key = {"artifacts": ("id",), "files": ("audit_seq", "path"), "lineage": ("child_id", "parent_id")}[table]
    where = " AND ".join(f"{k} = '{row[k]}'" for k in key)
    _tamper(db, f"DELETE FROM {table} WHERE {where}")
    assert _problems(db) != ""


def test_postgres_refuses_edits_and_verify_finds_them_past_the_triggers(tmp_path, postgres_url):
    with ps.Catalog(postgres_url) as catalog:
        ids = _made(tmp_path, catalog)
        assert catalog.verify() == []
        for statement in ("UPDATE artifacts SET author = 'mallory'", "DELETE FROM files", "DELETE FROM lineage"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), catalog.engine.begin() as conn:
                conn.execute(sa.text(statement))
        with catalog.engine.begin() as conn:  # someone with owner rights goes around the triggers
            for table in ("artifacts", "files", "lineage"):
                conn.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only"))
            conn.execute(sa.text(f"UPDATE files SET sha256 = NULL WHERE path = '{ids['table']}'"))
            conn.execute(sa.text(f"UPDATE artifacts SET author = 'mallory' WHERE id = '{ids['model']}'"))
            conn.execute(sa.text(f"DELETE FROM lineage WHERE child_id = '{ids['model']}'"))
            conn.execute(sa.text(f"DELETE FROM files WHERE artifact_id = '{ids['source']}'"))
            conn.execute(sa.text(f"DELETE FROM artifacts WHERE id = '{ids['source']}'"))
        _edit(ids["table"])
        problems = "\n".join(catalog.verify())
    assert f"{ids['table']}: changed since it was recorded (SHA-256 differs)" in problems
    assert f"{ids['table']}: its files row was edited in the catalog" in problems
    assert f"artifact {ids['model']}: its author was edited in the catalog" in problems
    assert f"lineage {ids['model']} <- {ids['source']} (source): recorded by audit entry 2, deleted" in problems
    assert f"artifact {ids['source']}: recorded by audit entry 1, its row was deleted" in problems
