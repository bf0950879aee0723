"""Every catalog table but the ledger becomes append-only, and the audit chain vouches for every row.

- `files` is keyed by (audit entry, path) instead of the path: writing a new output over an old one appends a
  row (the latest recording of a path wins) instead of deleting and re-inserting one.
- Triggers refuse UPDATE and DELETE on `artifacts`, `files` and `lineage`, as on `audit` (SQLite and
  PostgreSQL). The ledger stays writable: its row is updated in place by design.
- The rows recorded before this revision are adopted: one `adopt` audit entry per artifact carries its row,
  its files and its lineage edges (see governance/facts.py), so `verify` can check them against the chain
  from now on. A file's hash is taken from the newest older audit entry that recorded the path for the same
  artifact where there is one (the chain's word, not the editable table's).
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("artifacts", "files", "lineage")


def upgrade() -> None:
    from privsynth.governance.catalog import AUDIT, GENESIS, entry_hash
    from privsynth.governance.facts import ADOPT, artifact_fact
    from privsynth.governance.manifest import canonical, os_user, wall_clock

    bind = op.get_bind()
    op.drop_index("ix_files_artifact_id", table_name="files")
    op.rename_table("files", "files_0002")
    op.create_table(
        "files",
        sa.Column("audit_seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("path", sa.String(1000), primary_key=True),
        sa.Column("artifact_id", sa.String(40), sa.ForeignKey("artifacts.id"), nullable=False, index=True),
        sa.Column("sha256", sa.String(64)),
        sa.Column("recorded", sa.String(32), nullable=False),
    )
    op.create_index("ix_files_path", "files", ["path"])

    old_files = [dict(r) for r in bind.execute(sa.text("SELECT * FROM files_0002 ORDER BY path")).mappings()]
    artifacts = [dict(r) for r in bind.execute(sa.text("SELECT * FROM artifacts ORDER BY created, id")).mappings()]
    lineage = [dict(r) for r in bind.execute(sa.text("SELECT * FROM lineage ORDER BY child_id, parent_id")).mappings()]
    entries = [dict(r) for r in bind.execute(sa.select(AUDIT).order_by(AUDIT.c.seq)).mappings()]
    chained_sha = {}  # (path, artifact) -> the hash the newest older entry recorded
    for entry in entries:
        for file in json.loads(entry["details"]).get("files", []):
            chained_sha[(file["path"], entry["artifact_id"])] = file["sha256"]
    last = entries[-1] if entries else None
    seq, previous = (last["seq"], last["hash"]) if last else (0, GENESIS)
    ids = [a["id"] for a in artifacts]
    ids += sorted(({f["artifact_id"] for f in old_files} | {e["child_id"] for e in lineage}) - set(ids))
    by_id = {a["id"]: a for a in artifacts}
    for ident in ids:
        seq += 1
        files = [
            {"path": f["path"], "sha256": chained_sha.get((f["path"], ident), f["sha256"])}
            for f in old_files
            if f["artifact_id"] == ident
        ]
        details = {
            "note": "recorded before revision 0003; adopted as the tables held it",
            "files": files,
            "lineage": [{"parent": e["parent_id"], "role": e["role"]} for e in lineage if e["child_id"] == ident],
            "os_user": os_user(),
        }
        if ident in by_id:
            details["kind"] = by_id[ident]["kind"]
            details["artifact"] = artifact_fact(by_id[ident])
        entry = {
            "seq": seq,
            "at": wall_clock(),
            "actor": "privsynth migration 0003",
            "event": ADOPT,
            "artifact_id": ident,
            "details": canonical(details).decode(),
            "prev_hash": previous,
        }
        entry["hash"] = previous = entry_hash(entry)
        bind.execute(AUDIT.insert().values(**entry))
        recorded = {f["path"]: f["recorded"] for f in old_files if f["artifact_id"] == ident}
        for file in files:
            bind.execute(
                sa.text(
                    "INSERT INTO files (audit_seq, path, artifact_id, sha256, recorded) "
                    "VALUES (:seq, :path, :artifact, :sha256, :recorded)"
                ),
                {"seq": seq, "artifact": ident, "recorded": recorded[file["path"]], **file},
            )
    op.drop_table("files_0002")
    _append_only(bind.dialect.name)


def _append_only(dialect: str) -> None:
    """Triggers refusing UPDATE and DELETE on the artifacts, files and lineage tables."""
    if dialect == "sqlite":
        for table in TABLES:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'the catalog table {table} is append-only'); END"
                )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION privsynth_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'the catalog table % is append-only', TG_TABLE_NAME; END; $$ LANGUAGE plpgsql"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION privsynth_append_only()"
            )


def downgrade() -> None:
    """Back to one files row per path (its latest recording); the adopt entries stay in the chain."""
    dialect = op.get_bind().dialect.name
    for table in TABLES:
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        elif dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS privsynth_append_only()")
    op.drop_index("ix_files_path", table_name="files")
    op.drop_index("ix_files_artifact_id", table_name="files")
    op.rename_table("files", "files_0003")
    op.create_table(
        "files",
        sa.Column("path", sa.String(1000), primary_key=True),
        sa.Column("artifact_id", sa.String(40), sa.ForeignKey("artifacts.id"), nullable=False, index=True),
        sa.Column("sha256", sa.String(64)),
        sa.Column("recorded", sa.String(32), nullable=False),
    )
    op.execute(
        "INSERT INTO files (path, artifact_id, sha256, recorded) SELECT f.path, f.artifact_id, f.sha256, f.recorded "
        "FROM files_0003 f WHERE f.audit_seq = (SELECT MAX(g.audit_seq) FROM files_0003 g WHERE g.path = f.path)"
    )
    op.drop_table("files_0003")
