"""The catalog: artifacts (models, datasets, evaluations), their files, lineage, and the audit log.

The audit log is append-only: triggers refuse UPDATE and DELETE on it (SQLite and PostgreSQL), and each
entry carries the hash of the previous one, so `privsynth catalog verify` finds an entry removed or edited
behind the triggers' back.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("engine", sa.String(40)),
        sa.Column("guarantee", sa.String(200)),
        sa.Column("rows", sa.BigInteger),
        sa.Column("columns", sa.Integer),
        sa.Column("manifest", sa.Text, nullable=False),
    )
    op.create_table(
        "files",
        sa.Column("path", sa.String(1000), primary_key=True),
        sa.Column("artifact_id", sa.String(40), sa.ForeignKey("artifacts.id"), nullable=False, index=True),
        sa.Column("sha256", sa.String(64)),
        sa.Column("recorded", sa.String(32), nullable=False),
    )
    op.create_table(
        "lineage",
        sa.Column("child_id", sa.String(40), sa.ForeignKey("artifacts.id"), primary_key=True),
        sa.Column("parent_id", sa.String(40), primary_key=True, index=True),
        sa.Column("role", sa.String(40), nullable=False),
    )
    op.create_table(
        "audit",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("artifact_id", sa.String(40)),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_no_{action.lower()} BEFORE {action} ON audit "
                "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION privsynth_audit_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'the audit log is append-only'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit "
            "FOR EACH ROW EXECUTE FUNCTION privsynth_audit_append_only()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_append_only ON audit")
        op.execute("DROP FUNCTION IF EXISTS privsynth_audit_append_only()")
    for name in ("audit", "lineage", "files", "artifacts"):
        op.drop_table(name)
