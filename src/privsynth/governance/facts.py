"""The facts the audit chain vouches for, and their comparison with the catalog's tables.

Every entry that records something carries, inside its hashed details, what it put in the tables: the
artifact row (its columns and the SHA-256 of its stored manifest), the files rows it appended (path, SHA-256)
and the lineage edges it asserted. The chain is the source of truth: `verify` re-derives the tables from it
and compares both ways (every chained fact present and equal in the tables; every table row backed by a
chained fact), so a row deleted, edited or slipped in behind the triggers' back is found, and a recorded
file is checked against the hash the chain holds, not the one in the (editable) files table.

Entries written before revision 0003 carry only the files; revision 0003 appends one `adopt` entry per
artifact then in the catalog, vouching for the tables as they stood (a file's hash taken from the chain where
an older entry recorded it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from privsynth.governance import manifest as manifests

ARTIFACT_FIELDS = ("id", "kind", "created", "author", "engine", "guarantee", "rows", "columns")
LINK = "link"  # the event of a lineage edge added on its own (Catalog.link)
ADOPT = "adopt"  # the event revision 0003 writes for the rows recorded before the chain carried them


def artifact_fact(row: Mapping) -> dict:
    """What the chain keeps of an artifact row: its columns, and the stored manifest by its SHA-256."""
    fact = {name: row[name] for name in ARTIFACT_FIELDS}
    fact["manifest_sha256"] = manifests.sha256(row["manifest"].encode())
    return fact


@dataclass
class Chained:
    """The tables as the chain says they are. Artifacts and edges: the first entry to record one wins (the
    tables never overwrite them); files: one fact per (entry, path), the latest entry of a path current."""

    artifacts: dict[str, tuple[int, dict]] = field(default_factory=dict)  # id -> (seq, fact)
    files: dict[tuple[int, str], dict] = field(default_factory=dict)  # (seq, path) -> {artifact_id, sha256}
    lineage: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)  # (child, parent) -> (seq, role)
    disagreements: list[str] = field(default_factory=list)

    def current_files(self) -> dict[str, dict]:
        """path -> {artifact_id, sha256, seq} of the latest entry that recorded the path."""
        latest: dict[str, dict] = {}
        for (seq, path), fact in sorted(self.files.items()):
            latest[path] = {**fact, "seq": seq}
        return latest


def chained(entries: Iterable[Mapping]) -> Chained:
    """The facts carried by the audit entries (in chain order)."""
    facts = Chained()
    for entry in entries:
        details = json.loads(entry["details"])
        if "artifact" not in details and not (entry["event"] == LINK and "lineage" in details):
            continue  # an entry that records no rows (a card, an export, an entry older than revision 0003)
        seq, ident = entry["seq"], entry["artifact_id"]
        if isinstance(details.get("artifact"), dict):
            fact = details["artifact"]
            first = facts.artifacts.setdefault(fact.get("id"), (seq, fact))
            if first[1] != fact:
                facts.disagreements.append(
                    f"artifact {fact.get('id')}: audit entries {first[0]} and {seq} record different rows"
                )
        for file in details.get("files", []):
            facts.files[(seq, file["path"])] = {"artifact_id": ident, "sha256": file["sha256"]}
        for edge in details.get("lineage", []):
            facts.lineage.setdefault((ident, edge["parent"]), (seq, edge["role"]))
    return facts


def artifact_problems(facts: Chained, rows: Iterable[Mapping]) -> list[str]:
    """Artifact rows against the chain: edited columns or manifest, rows no entry records, rows deleted."""
    problems = []
    seen = set()
    for row in rows:
        ident = row["id"]
        seen.add(ident)
        if ident not in facts.artifacts:
            problems.append(f"artifact {ident}: no audit entry records it (the log was cut, or the row was added)")
            continue
        seq, fact = facts.artifacts[ident]
        actual = artifact_fact(row)
        for name in (*ARTIFACT_FIELDS, "manifest_sha256"):
            if actual.get(name) != fact.get(name):
                what = "manifest" if name == "manifest_sha256" else name
                problems.append(
                    f"artifact {ident}: its {what} was edited in the catalog (audit entry {seq} recorded "
                    f"{fact.get(name)!r}, the table holds {actual.get(name)!r})"
                    if what != "manifest"
                    else f"artifact {ident}: its manifest was edited in the catalog (audit entry {seq})"
                )
    for ident, (seq, _) in sorted(facts.artifacts.items(), key=lambda item: item[1][0]):
        if ident not in seen:
            problems.append(f"artifact {ident}: recorded by audit entry {seq}, its row was deleted from the catalog")
    return problems


def file_row_problems(facts: Chained, rows: Iterable[Mapping], keep=lambda path: True) -> list[str]:
    """Files rows against the chain (only paths `keep` accepts): rows edited, deleted or added."""
    problems = []
    table = {(row["audit_seq"], row["path"]): row for row in rows if keep(row["path"])}
    chain = {key: fact for key, fact in facts.files.items() if keep(key[1])}
    for (seq, path), fact in sorted(chain.items()):
        row = table.get((seq, path))
        if row is None:
            problems.append(f"{path}: its files row (audit entry {seq}) was deleted from the catalog")
        elif (row["artifact_id"], row["sha256"]) != (fact["artifact_id"], fact["sha256"]):
            problems.append(
                f"{path}: its files row was edited in the catalog (audit entry {seq} recorded "
                f"{fact['artifact_id']} with SHA-256 {fact['sha256']}, the table holds {row['artifact_id']} "
                f"with {row['sha256']})"
            )
    for (seq, path), row in sorted(table.items()):
        if (seq, path) not in chain:
            problems.append(f"{path}: a files row (artifact {row['artifact_id']}) that no audit entry records")
    return problems


def lineage_problems(facts: Chained, rows: Iterable[Mapping]) -> list[str]:
    """Lineage rows against the chain: edges deleted, added or with another role."""
    problems = []
    table = {(row["child_id"], row["parent_id"]): row["role"] for row in rows}
    for (child, parent), (seq, role) in sorted(facts.lineage.items(), key=lambda item: item[1][0]):
        if (child, parent) not in table:
            problems.append(
                f"lineage {child} <- {parent} ({role}): recorded by audit entry {seq}, deleted from the catalog"
            )
        elif table[(child, parent)] != role:
            problems.append(
                f"lineage {child} <- {parent}: its role was edited in the catalog ({role!r} in audit entry {seq}, "
                f"{table[(child, parent)]!r} in the table)"
            )
    for (child, parent), role in sorted(table.items()):
        if (child, parent) not in facts.lineage:
            problems.append(f"lineage {child} <- {parent} ({role}): no audit entry records it")
    return problems
