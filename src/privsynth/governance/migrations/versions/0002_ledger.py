"""The privacy-budget ledger moves into the catalog: one row per ledger, its JSON body, locked row-wise.

A fit books its budget inside a transaction that first updates the ledger's row (a write lock in SQLite
and a row lock in PostgreSQL), so concurrent fits on the same catalog are serialised.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ledger")
