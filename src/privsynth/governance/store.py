"""The catalog's locks and idempotent inserts, per database (SQLite, PostgreSQL, anything else SQLAlchemy
speaks), so that any number of processes can create, migrate and write one catalog at once.

- Writes: a transaction that holds the catalog's write lock from its first statement (SQLite: BEGIN
  IMMEDIATE, waiting up to the connection's busy timeout; PostgreSQL: a transaction-scoped advisory lock),
  so the audit entry it appends reads the chain's true head and never races another writer.
- Creation and migration: the same, but exclusive (SQLite: BEGIN EXCLUSIVE; PostgreSQL: the migration's
  own advisory lock), and the caller re-reads the schema version once it holds the lock.
- Inserting a row that exists (the same artifact recorded by two processes) does nothing.
"""

from __future__ import annotations

import contextlib

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

# advisory-lock keys (any bigint; "priv" + a letter): one for writes, one for migrations
_WRITE_KEY = 0x7072697677
_MIGRATE_KEY = 0x707269766D


def has_write_lock(dialect: str) -> bool:
    """Whether writers to this kind of database are serialised by `lock_for_write`."""
    return dialect in ("sqlite", "postgresql")


def lock_for_write(conn: sa.Connection) -> None:
    """Take the catalog's write lock as the transaction's first statement (held until it ends)."""
    _lock(conn, "BEGIN IMMEDIATE", _WRITE_KEY)


def lock_for_read(conn: sa.Connection) -> None:
    """Hold a read lock for the transaction, so that its several reads see one state of the catalog (no
    record commits between them). SQLite: a deferred BEGIN (its first read takes the shared lock, and a
    writer's commit waits for it); PostgreSQL: the write lock's shared form."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        conn.exec_driver_sql("BEGIN")
    elif dialect == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": _WRITE_KEY})


def lock_for_migration(conn: sa.Connection) -> None:
    """Take the catalog's migration lock as the transaction's first statement (held until it ends)."""
    _lock(conn, "BEGIN EXCLUSIVE", _MIGRATE_KEY)


def _lock(conn: sa.Connection, sqlite_begin: str, key: int) -> None:
    dialect = conn.dialect.name
    if dialect == "sqlite":
        # pysqlite begins its own transaction lazily, at the first write; begin it now, with the lock
        conn.exec_driver_sql(sqlite_begin)
    elif dialect == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    # other databases: no lock; the audit append's unique sequence number and retries keep the chain whole


def insert_ignore(conn: sa.Connection, table: sa.Table, values: dict) -> None:
    """Insert a row unless one with the same primary key exists (then nothing happens, without an error)."""
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        module = sqlite if dialect == "sqlite" else postgresql
        conn.execute(module.insert(table).values(**values).on_conflict_do_nothing())
        return
    with contextlib.suppress(IntegrityError), conn.begin_nested():
        conn.execute(table.insert().values(**values))
