"""Alembic environment for the privsynth catalog: runs on the connection the catalog hands over."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, version_table="privsynth_alembic_version")
with context.begin_transaction():
    context.run_migrations()
