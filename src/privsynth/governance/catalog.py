"""The catalog: every model, dataset and evaluation privsynth made, where its files are, what it came from,
and an append-only, hash-chained audit log of what was done.

An embedded SQLite database by default (`.privsynth/catalog.db` in the working folder, or $PRIVSYNTH_CATALOG),
PostgreSQL (or any SQLAlchemy URL) for a team. The tables are created and upgraded by Alembic migrations
shipped with privsynth (`governance/migrations`), under a lock (`store`), so a newer privsynth upgrades an
older catalog in place and any number of processes can open a new catalog at once.

Audit entries hash their content together with the previous entry's hash (a chain starting at 64 zeros).
The entry that records an artifact carries the rows it wrote (the artifact's columns and manifest hash, its
files' paths and SHA-256, its lineage edges; see `facts`), in the same transaction as the rows. Triggers
refuse UPDATE and DELETE on the audit, artifacts, files and lineage tables (the ledger is updated in place
by design); files rows are appended, the latest recording of a path winning. `verify` recomputes the chain
and re-derives the tables from it, so a row or entry removed, edited or added behind the database's back
is found. A removed tail cannot be told from a shorter history by the chain alone; `verify` also checks
that every row has the entry that recorded it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from privsynth.errors import InputError
from privsynth.governance import facts as chain_facts
from privsynth.governance import manifest as manifests
from privsynth.governance import store
from privsynth.redact import mask, mask_url

DEFAULT = Path(".privsynth") / "catalog.db"
GENESIS = "0" * 64
HEAD = "0003"
_meta = sa.MetaData()
ARTIFACTS = sa.Table(
    "artifacts",
    _meta,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(20)),
    sa.Column("created", sa.String(32)),
    sa.Column("author", sa.String(200)),
    sa.Column("engine", sa.String(40)),
    sa.Column("guarantee", sa.String(200)),
    sa.Column("rows", sa.BigInteger),
    sa.Column("columns", sa.Integer),
    sa.Column("manifest", sa.Text),
)
FILES = sa.Table(  # append-only: one row per (audit entry, path); a path's latest entry is where it stands
    "files",
    _meta,
    sa.Column("audit_seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("path", sa.String(1000), primary_key=True),
    sa.Column("artifact_id", sa.String(40)),
    sa.Column("sha256", sa.String(64)),
    sa.Column("recorded", sa.String(32)),
)
LINEAGE = sa.Table(
    "lineage",
    _meta,
    sa.Column("child_id", sa.String(40), primary_key=True),
    sa.Column("parent_id", sa.String(40), primary_key=True),
    sa.Column("role", sa.String(40)),
)
AUDIT = sa.Table(
    "audit",
    _meta,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", sa.String(32)),
    sa.Column("actor", sa.String(200)),
    sa.Column("event", sa.String(40)),
    sa.Column("artifact_id", sa.String(40)),
    sa.Column("details", sa.Text),
    sa.Column("prev_hash", sa.String(64)),
    sa.Column("hash", sa.String(64)),
)
LEDGER = sa.Table("ledger", _meta, sa.Column("name", sa.String(40), primary_key=True), sa.Column("body", sa.Text))
EVENTS = ("fit", "sample", "evaluate", "augment", "perturb", "simulate", "export", "record", "reproduce", "pending")
SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")


def location(where: str | os.PathLike | None = None) -> str | None:
    """The catalog's SQLAlchemy URL: `where` (a URL or a file path), else $PRIVSYNTH_CATALOG, else
    .privsynth/catalog.db. None when switched off ("off" / "none")."""
    where = where if where is not None else os.environ.get("PRIVSYNTH_CATALOG") or DEFAULT
    text = os.fspath(where)
    if text.lower() in ("off", "none", ""):
        return None
    return text if "://" in text else f"sqlite:///{Path(text).absolute()}"


def protect(where: str | os.PathLike | None = None) -> None:
    """Refuse the catalog's database file (and SQLite's journal files beside it) as an output of any write
    in this process: an output written there would replace the audit log and the ledger."""
    from privsynth import atomic

    url = location(where)
    if url is None or not url.startswith("sqlite:///"):
        return
    name = url[len("sqlite:///") :].split("?")[0]
    if name in ("", ":memory:"):
        return
    atomic.protect(name, "catalog")
    for suffix in SQLITE_SIDE_FILES:
        atomic.protect(f"{name}{suffix}", "catalog's journal")


def entry_hash(entry: dict) -> str:
    """SHA-256 over an audit entry's fields (details as parsed JSON) and the previous entry's hash."""
    fields = {k: entry[k] for k in ("seq", "at", "actor", "event", "artifact_id", "prev_hash")}
    fields["details"] = json.loads(entry["details"]) if isinstance(entry["details"], str) else entry["details"]
    return manifests.sha256(manifests.canonical(fields))


@dataclass
class Artifact:
    id: str
    kind: str
    created: str
    author: str
    manifest: dict
    files: list[dict]


class Catalog:
    """A connection to one catalog database (created and migrated on first use)."""

    def __init__(self, where: str | os.PathLike | None = None):
        url = location(where)
        if url is None:
            raise InputError("the catalog is switched off (PRIVSYNTH_CATALOG=off)")
        self.url = url
        protect(url)
        if url.startswith("sqlite:///"):
            folder = Path(url[len("sqlite:///") :]).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(f"cannot create the catalog folder {folder}: {exc.strerror}") from None
        try:
            self.engine = sa.create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})
            self._migrate()
        except (SQLAlchemyError, ImportError) as exc:
            reason = mask(str(exc).splitlines()[0], url)
            raise InputError(f"cannot open the catalog at {_safe(url)}: {reason}") from None

    def _migrate(self) -> None:
        """Bring the database to the newest schema with Alembic (skipped when already there), holding the
        migration lock and re-reading the version under it, so concurrent first uses create it once."""
        with self.engine.connect() as conn:
            if _version(conn) == HEAD:
                return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self.engine.begin() as conn:
            store.lock_for_migration(conn)
            if _version(conn) == HEAD:
                return  # another process migrated it while this one waited for the lock
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    @contextlib.contextmanager
    def locked_ledger(self, name: str = "budget") -> Iterator[dict]:
        """{"body": the ledger's JSON body (None when there is none yet)}, read and, when the block ends
        without error, written back (a replaced "body" too) in one transaction holding the ledger's row lock."""
        with self.engine.begin() as conn:
            if conn.execute(sa.select(LEDGER.c.name).where(LEDGER.c.name == name)).first() is None:
                with contextlib.suppress(IntegrityError), conn.begin_nested():
                    conn.execute(LEDGER.insert().values(name=name, body="null"))
            # an update that changes nothing still takes the lock (SQLite: the database's write lock)
            conn.execute(LEDGER.update().where(LEDGER.c.name == name).values(body=LEDGER.c.body))
            holder = {"body": json.loads(conn.execute(sa.select(LEDGER.c.body).where(LEDGER.c.name == name)).scalar())}
            yield holder
            conn.execute(LEDGER.update().where(LEDGER.c.name == name).values(body=json.dumps(holder["body"])))

    def ledger_body(self, name: str = "budget") -> dict | None:
        """The ledger's JSON body as last written (no lock), or None."""
        with self.engine.connect() as conn:
            text = conn.execute(sa.select(LEDGER.c.body).where(LEDGER.c.name == name)).scalar()
        return None if text is None else json.loads(text)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------------------
    def record(self, manifest: dict, paths: Iterable[str | os.PathLike] = (), event: str = "record", **details) -> None:
        """Add an artifact (idempotent: the same id is the same content; recording it again adds nothing to
        its row), the files it was written to (appended: the latest recording of a path wins), its parents,
        and an audit entry for `event` carrying those rows, all in one transaction. Files are hashed; a
        source's location and a database table are recorded without a hash (privsynth does not own them)."""
        file_rows: dict[str, dict] = {}
        for path in [paths] if isinstance(paths, str | os.PathLike) else paths:
            if manifest.get("kind") != "source" and Path(path).is_file():
                file_rows[str(Path(path).absolute())] = {"sha256": manifests.file_sha256(path)}
            else:
                file_rows[str(path)] = {"sha256": None}
        content = manifest.get("content") or manifest.get("source") or {}
        privacy = manifest.get("privacy") or {}
        row = {
            "id": manifest["id"],
            "kind": manifest.get("kind", "dataset"),
            "created": manifest.get("created", manifests.created_now()),
            "author": manifest.get("author") or manifests.author(),
            "engine": (manifest.get("engine") or {}).get("name"),
            "guarantee": privacy.get("guarantee"),
            "rows": content.get("rows"),
            "columns": content.get("columns"),
            "manifest": manifests.canonical(manifest).decode(),
        }
        edges = [(parent["id"], parent.get("role", "parent")) for parent in manifest.get("parents", [])]

        def write(conn, seq: int) -> dict:
            store.insert_ignore(conn, ARTIFACTS, row)
            stored = conn.execute(sa.select(ARTIFACTS).where(ARTIFACTS.c.id == row["id"])).mappings().one()
            lineage = [self._link(conn, row["id"], parent, role) for parent, role in edges]
            files = [{"path": path, **values} for path, values in file_rows.items()]
            if files:
                recorded = manifests.wall_clock()
                conn.execute(
                    FILES.insert(),
                    [{"audit_seq": seq, "artifact_id": row["id"], "recorded": recorded, **f} for f in files],
                )
            return {
                "kind": row["kind"],
                "artifact": chain_facts.artifact_fact(stored),
                "files": files,
                "lineage": lineage,
            }

        self._append(event, manifest["id"], details, write)

    def link(self, child: str, parent: str, role: str) -> None:
        """A lineage edge the manifest cannot carry (e.g. a DP model's source, withheld from its file), with
        an audit entry (`link`) carrying it."""
        self._append(
            chain_facts.LINK, child, {}, lambda conn, seq: {"lineage": [self._link(conn, child, parent, role)]}
        )

    @staticmethod
    def _link(conn, child: str, parent: str, role: str) -> dict:
        """Add an edge unless it exists; the edge as the table holds it (the first role recorded wins)."""
        store.insert_ignore(conn, LINEAGE, {"child_id": child, "parent_id": parent, "role": role})
        held = conn.execute(
            sa.select(LINEAGE.c.role).where(LINEAGE.c.child_id == child, LINEAGE.c.parent_id == parent)
        ).scalar()
        return {"parent": parent, "role": held}

    def audit(self, event: str, artifact_id: str | None = None, **details) -> int:
        """Append one entry to the hash chain; returns its sequence number. Concurrent writers wait for the
        catalog's write lock (and retry where the database has none)."""
        return self._append(event, artifact_id, details)

    def _append(self, event: str, artifact_id: str | None, details: dict, write=None) -> int:
        """One transaction under the write lock: `write(conn, seq)` adds rows and returns the facts the entry
        carries about them, then the entry (details + facts + the OS account) is chained after the last."""
        busy = 0
        for _attempt in range(200):  # a database without a write lock: another writer took the same seq
            try:
                with self.engine.begin() as conn:
                    store.lock_for_write(conn)
                    last = conn.execute(sa.select(AUDIT.c.seq, AUDIT.c.hash).order_by(AUDIT.c.seq.desc())).first()
                    seq = (last.seq + 1) if last else 1
                    facts = write(conn, seq) if write is not None else {}
                    # the real time and OS account, whatever --author or SOURCE_DATE_EPOCH say
                    body = manifests.canonical({**details, **facts, "os_user": manifests.os_user()}).decode()
                    entry = {
                        "seq": seq,
                        "at": manifests.wall_clock(),
                        "actor": manifests.author(),
                        "event": event,
                        "artifact_id": artifact_id,
                        "details": body,
                        "prev_hash": last.hash if last else GENESIS,
                    }
                    entry["hash"] = entry_hash(entry)
                    conn.execute(AUDIT.insert().values(**entry))
                    return seq
            except IntegrityError as exc:
                if store.has_write_lock(self.engine.dialect.name):  # not a race: a row the schema refuses
                    raise InputError(f"cannot record in the catalog {_safe(self.url)}: {_line(exc)}") from None
            except OperationalError as exc:  # locked past the busy timeout (30 s), or a deadlock: a few tries
                busy += 1
                if busy >= 5:
                    raise InputError(f"could not append to the audit log of {_safe(self.url)}: {_line(exc)}") from None
        raise InputError(f"could not append to the audit log of {_safe(self.url)} (too many concurrent writers)")

    # -- reading ------------------------------------------------------------------------------------
    def resolve(self, ident: str) -> str:
        """A full artifact id from an id, a unique id prefix, or the path of a recorded file."""
        with self.engine.connect() as conn:
            by_path = conn.execute(  # the latest recording of the path
                sa.select(FILES.c.artifact_id)
                .where(FILES.c.path == str(Path(ident).absolute()))
                .order_by(FILES.c.audit_seq.desc())
            ).first()
            if by_path is not None:
                return by_path.artifact_id
            found = conn.execute(sa.select(ARTIFACTS.c.id).where(ARTIFACTS.c.id.startswith(ident))).all()
        if len(found) == 1:
            return found[0].id
        if not found:
            raise InputError(f"no artifact {ident!r} in the catalog {_safe(self.url)}")
        raise InputError(f"{ident!r} is ambiguous: {', '.join(r.id for r in found[:5])}; give more characters")

    def get(self, ident: str) -> Artifact:
        ident = self.resolve(ident)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(ARTIFACTS).where(ARTIFACTS.c.id == ident)).one()
            files = conn.execute(_current_files().where(FILES.c.artifact_id == ident)).mappings().all()
        return Artifact(row.id, row.kind, row.created, row.author, json.loads(row.manifest), [dict(f) for f in files])

    def artifacts(self, kind: str | None = None) -> list[dict]:
        """Every artifact (newest first) with its first file, as plain rows."""
        query = sa.select(ARTIFACTS).order_by(ARTIFACTS.c.created.desc(), ARTIFACTS.c.id)
        if kind:
            query = query.where(ARTIFACTS.c.kind == kind)
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
            paths = {r.artifact_id: r.path for r in conn.execute(_current_files().order_by(FILES.c.path.desc()))}
        for row in rows:
            row.pop("manifest")
            row["path"] = paths.get(row["id"])
        return rows

    def parents(self, ident: str) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(LINEAGE.c.parent_id, LINEAGE.c.role).where(LINEAGE.c.child_id == ident))
            return sorted((r.parent_id, r.role) for r in rows)

    def children(self, ident: str) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(LINEAGE.c.child_id, LINEAGE.c.role).where(LINEAGE.c.parent_id == ident))
            return sorted((r.child_id, r.role) for r in rows)

    def known(self, ident: str) -> dict | None:
        """The manifest of a recorded artifact, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(ARTIFACTS.c.manifest).where(ARTIFACTS.c.id == ident)).first()
        return None if row is None else json.loads(row.manifest)

    def evaluations(self, ident: str) -> list[dict]:
        """Manifests of the evaluations of `ident` (a dataset) or of the datasets made from it (a model),
        newest first."""
        targets = {ident} | {child for child, _ in self.children(ident)}
        found = []
        for target in targets:
            for child, role in self.children(target):
                manifest = self.known(child)
                if manifest and manifest.get("kind") == "evaluation" and role == "synthetic":
                    found.append(manifest)
        return sorted(found, key=lambda m: (m.get("created", ""), m["id"]), reverse=True)

    def entries(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(AUDIT).order_by(AUDIT.c.seq)).mappings()]

    # -- checking -----------------------------------------------------------------------------------
    def verify(self, paths: Iterable[str | os.PathLike] | None = None) -> list[str]:
        """Every problem found ([] when all is intact): the audit chain (entries removed, edited or
        reordered); every artifact, files and lineage row against the chained entry that recorded it (rows
        deleted, edited or added behind privsynth's back); every recorded file against the SHA-256 the chain
        holds (missing, or bytes changed; a file's own manifest checks). With `paths`, only the files at or
        under them (and the chain)."""
        with self.engine.connect() as conn:  # one snapshot of the chain and the rows it vouches for
            store.lock_for_read(conn)
            entries = [dict(r) for r in conn.execute(sa.select(AUDIT).order_by(AUDIT.c.seq)).mappings()]
            artifacts = [dict(r) for r in conn.execute(sa.select(ARTIFACTS)).mappings()]
            files = [dict(r) for r in conn.execute(sa.select(FILES)).mappings()]
            lineage = [dict(r) for r in conn.execute(sa.select(LINEAGE)).mappings()]
        problems = self._verify_chain(entries)
        facts = chain_facts.chained(entries)
        problems += facts.disagreements
        if paths is None:
            problems += self._verify_artifacts(facts, artifacts)
            problems += self._verify_lineage(facts, lineage)
        problems += self._verify_files(facts, files, paths)
        problems += self._verify_pending(entries, files, paths)
        return problems

    @staticmethod
    def _verify_artifacts(facts: chain_facts.Chained, rows: list[dict]) -> list[str]:
        """Artifact rows against the chain (edited, deleted, unrecorded), and each manifest against its id."""
        from privsynth.governance.output import id_matches

        problems = chain_facts.artifact_problems(facts, rows)
        for row in rows:
            if not id_matches(json.loads(row["manifest"])):
                problems.append(f"artifact {row['id']}: its manifest does not match its id (edited)")
        return problems

    @staticmethod
    def _verify_lineage(facts: chain_facts.Chained, rows: list[dict]) -> list[str]:
        """Lineage rows against the chain (edges deleted, added, or with another role)."""
        return chain_facts.lineage_problems(facts, rows)

    @staticmethod
    def _verify_files(facts: chain_facts.Chained, rows: list[dict], paths: Iterable | None) -> list[str]:
        """Files rows against the chain, then every recorded file on disk against the SHA-256 the chain holds
        for its latest recording (not the table's, which an attacker with the database can change)."""
        from privsynth.governance.output import check_file

        roots = None if paths is None else [Path(p).absolute() for p in paths]

        def keep(path: str) -> bool:
            return roots is None or any(_under(Path(path), root) for root in roots)

        problems = chain_facts.file_row_problems(facts, rows, keep)
        current = {path: fact for path, fact in facts.current_files().items() if keep(path)}
        for root in roots or []:
            if root.is_file() and str(root) not in current:
                problems.extend(check_file(root) or [])
                problems.append(f"{root}: not recorded in the catalog")
        kinds = {ident: fact.get("kind") for ident, (_, fact) in facts.artifacts.items()}
        for name, fact in sorted(current.items()):
            path = Path(name)
            if fact["sha256"] is None:
                continue  # a database table or a source outside privsynth's control
            if not path.exists():
                problems.append(f"{path}: missing (recorded as {fact['artifact_id']})")
            elif manifests.file_sha256(path) != fact["sha256"]:
                problems.append(f"{path}: changed since it was recorded (SHA-256 differs)")
            elif kinds.get(fact["artifact_id"]) not in ("evaluation", "source"):  # reports carry no manifest
                try:
                    problems.extend(check_file(path))
                except InputError as exc:  # e.g. a CSV whose sidecar manifest was deleted
                    problems.append(str(exc))
        return problems

    @staticmethod
    def _verify_pending(entries: list[dict], files: list[dict], paths: Iterable | None = None) -> list[str]:
        """Outputs written but never recorded: write intents ("pending" entries) no record committed."""
        from privsynth.governance.intents import unrecorded

        return unrecorded(entries, {(f["path"], f["sha256"]) for f in files}, paths)

    @staticmethod
    def _verify_chain(entries: list[dict]) -> list[str]:
        problems = []
        previous, expected = GENESIS, 1
        for entry in entries:
            if entry["seq"] != expected:
                gap = f"{expected}" if entry["seq"] == expected + 1 else f"{expected}-{entry['seq'] - 1}"
                problems.append(f"audit log: entry {gap} was removed")
            if entry["prev_hash"] != previous:
                problems.append(f"audit log: entry {entry['seq']} does not follow the entry before it")
            if entry_hash(entry) != entry["hash"]:
                problems.append(f"audit log: entry {entry['seq']} ({entry['event']}) was edited")
            previous, expected = entry["hash"], entry["seq"] + 1
        return problems


def _current_files() -> sa.Select:
    """The files rows that say where each path stands: the latest recording of each path."""
    latest = sa.select(FILES.c.path, sa.func.max(FILES.c.audit_seq).label("seq")).group_by(FILES.c.path).subquery()
    return sa.select(FILES).join(latest, sa.and_(FILES.c.path == latest.c.path, FILES.c.audit_seq == latest.c.seq))


def _version(conn: sa.Connection) -> str | None:
    """The catalog's schema revision (None for a new, empty database)."""
    if not sa.inspect(conn).has_table("privsynth_alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM privsynth_alembic_version")).scalar()


def _line(exc: Exception) -> str:
    return str(exc).splitlines()[0]


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _safe(url: str) -> str:
    """A URL without its password, for messages (privsynth.redact.mask_url)."""
    return mask_url(url)
