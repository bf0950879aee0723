"""The catalog and the audit log: recording, lineage, PROV export, tamper detection, concurrent writers, on
SQLite and on a real PostgreSQL server (started by .ci/postgres.sh; skipped with the reason where none runs)."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest
import sqlalchemy as sa

import privsynth as ps
from privsynth.governance.lineage import prov_document
from tests.conftest import mixed_frame


def _made(tmp_path, catalog):
    """A model and a synthetic table made from it, recorded: (model, model path, table path)."""
    model = ps.fit(mixed_frame(300), "copula", seed=0)
    model_path = tmp_path / "m.psm"
    model.save(model_path)
    catalog.record(model.manifest, [model_path], event="fit")
    table = tmp_path / "s.parquet"
    _, manifest = ps.write(model.sample(100, seed=1), table)
    catalog.record(manifest, [table], event="sample")
    return model, model_path, table, manifest


def _exercise(catalog, tmp_path):
    model, model_path, table, manifest = _made(tmp_path, catalog)
    assert catalog.verify() == []
    assert catalog.resolve(manifest["id"][:10]) == manifest["id"]
    assert catalog.resolve(str(table)) == manifest["id"]
    assert catalog.parents(manifest["id"]) == [(model.manifest["id"], "model")]
    assert [e["event"] for e in catalog.entries()] == ["fit", "sample"]
    # an edited file, then a missing one
    table.write_bytes(table.read_bytes() + b"x")
    assert any("changed since it was recorded" in p for p in catalog.verify())
    model_path.unlink()
    assert any("m.psm: missing" in p for p in catalog.verify())
    assert any("missing" in p for p in catalog.verify([tmp_path]))


def test_sqlite_catalog_records_and_verifies(tmp_path):
    with ps.Catalog(tmp_path / "cat.db") as catalog:
        _exercise(catalog, tmp_path)


def test_postgres_catalog_records_verifies_and_refuses_audit_edits(tmp_path, postgres_url):
    with ps.Catalog(postgres_url) as catalog:
        assert catalog.engine.dialect.name == "postgresql"
        _exercise(catalog, tmp_path)
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), catalog.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM audit WHERE seq = 1"))
        with catalog.engine.begin() as conn:  # someone with owner rights goes around the trigger
            conn.execute(sa.text("ALTER TABLE audit DISABLE TRIGGER audit_append_only"))
            conn.execute(sa.text("UPDATE audit SET actor = 'mallory' WHERE seq = 1"))
        assert "audit log: entry 1 (fit) was edited" in catalog.verify()
    with ps.Catalog(postgres_url) as again:  # reopening an up-to-date catalog migrates nothing
        assert len(again.entries()) == 2


def test_audit_chain_finds_removed_and_edited_entries(tmp_path):
    db = tmp_path / "cat.db"
    with ps.Catalog(db) as catalog:
        for i in range(5):
            catalog.audit("sample", f"ds-{i}", n=i)
        assert catalog._verify_chain(catalog.entries()) == []
    raw = sqlite3.connect(db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("DELETE FROM audit WHERE seq = 3")
    raw.execute("DROP TRIGGER audit_no_delete")
    raw.execute("DROP TRIGGER audit_no_update")
    raw.execute("DELETE FROM audit WHERE seq = 3")
    raw.execute("UPDATE audit SET details = '{\"n\":40}' WHERE seq = 4")
    raw.commit()
    raw.close()
    with ps.Catalog(db) as catalog:
        problems = catalog._verify_chain(catalog.entries())
    assert "audit log: entry 3 was removed" in problems
    assert "audit log: entry 4 (sample) was edited" in problems
    assert "audit log: entry 4 does not follow the entry before it" in problems


def test_concurrent_writers_keep_one_unbroken_chain(tmp_path):
    db = tmp_path / "cat.db"
    ps.Catalog(db).close()  # migrate once

    def append(worker):
        with ps.Catalog(db) as catalog:
            for i in range(15):
                catalog.audit("sample", f"ds-{worker}-{i}")

    threads = [threading.Thread(target=append, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with ps.Catalog(db) as catalog:
        entries = catalog.entries()
        assert [e["seq"] for e in entries] == list(range(1, 61))
        assert catalog._verify_chain(catalog.entries()) == []


def test_prov_export_is_valid_w3c_prov(tmp_path):
    prov = pytest.importorskip("prov.model")
    with ps.Catalog(tmp_path / "cat.db") as catalog:
        model, _, _, manifest = _made(tmp_path, catalog)
        source_id = model.manifest["parents"][0]["id"]
        doc = prov_document(catalog, manifest["id"])
    parsed = prov.ProvDocument.deserialize(content=json.dumps(doc), format="json")
    derivations = {
        (str(r.formal_attributes[0][1]), str(r.formal_attributes[1][1]))
        for r in parsed.get_records(prov.ProvDerivation)
    }
    assert (f"privsynth:{manifest['id']}", f"privsynth:{model.manifest['id']}") in derivations
    assert (f"privsynth:{model.manifest['id']}", f"privsynth:{source_id}") in derivations
    assert len(list(parsed.get_records(prov.ProvActivity))) == 2  # fit and sample
    assert len(list(parsed.get_records(prov.ProvAgent))) == 1


def test_an_older_catalog_is_migrated_in_place(tmp_path):
    """A catalog made by an earlier privsynth (schema revision 0001: no ledger table) is upgraded by the
    shipped Alembic migrations when opened, keeping its records and its audit chain."""
    from pathlib import Path

    from alembic import command
    from alembic.config import Config

    import privsynth.governance.catalog as catalog_module

    db = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    config = Config()
    config.set_main_option("script_location", str(Path(catalog_module.__file__).parent / "migrations"))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    with engine.connect() as conn:
        assert not sa.inspect(conn).has_table("ledger")
    engine.dispose()
    with pytest.MonkeyPatch.context() as patch:  # write the old records with the code of revision 0001
        patch.setattr(catalog_module, "HEAD", "0001")
        with ps.Catalog(db) as old:
            old.audit("fit", "mdl-old", note="made before the upgrade")
    with ps.Catalog(db) as catalog:
        with catalog.engine.connect() as conn:
            assert sa.inspect(conn).has_table("ledger")
            version = conn.execute(sa.text("SELECT version_num FROM privsynth_alembic_version")).scalar()
        assert version == catalog_module.HEAD == "0003"
        entries = catalog.entries()
        assert [e["artifact_id"] for e in entries] == ["mdl-old"] and catalog._verify_chain(entries) == []


def test_audit_records_the_real_time_and_os_account_even_when_pinned(tmp_path, monkeypatch):
    import getpass

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # pins manifests to 1970, not the audit log
    monkeypatch.setenv("PRIVSYNTH_AUTHOR", "alice")
    with ps.Catalog(tmp_path / "cat.db") as catalog:
        catalog.audit("sample", "ds-x")
        entry = catalog.entries()[0]
    assert not entry["at"].startswith("1970") and entry["actor"] == "alice"
    assert json.loads(entry["details"])["os_user"] == getpass.getuser()
