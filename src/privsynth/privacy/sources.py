"""Which ledger entry a table's DP fit books against: a registered source, a known unregistered one, or new.

Pure functions over a ledger body (`privsynth.privacy.ledger`), called under the ledger's lock. An entry is
keyed by a registered source's name (`privsynth budget register NAME FILE...`), or for data nobody
registered by the SHA-256 of its records (as before issue 22). Entries keep salted content sketches
(`privacy.sketch`) of the data booked against them, so the same data shuffled, renamed, reformatted, with an
index or constant column added or a few rows removed resolves to the same entry (and the match is audited).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

import pandas as pd

from privsynth.errors import PrivsynthError
from privsynth.fingerprint import fingerprint
from privsynth.privacy.sketch import THRESHOLD, Content

DEFAULT_LIMIT = 10.0
DEFAULT_DELTA = 1e-6
MAX_SKETCHES = 16  # forms of one source's data remembered (each a few kB)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")


class BudgetError(PrivsynthError):
    """A DP fit would spend more of a source's privacy budget than its limit allows."""


@dataclass
class Match:
    """Where a table books: `key` (a registered name or a records' SHA-256), how it was found ("member":
    a file of a registered source, "exact": the same records, "similar": a sketch at `similarity`, "new")."""

    key: str
    how: str
    similarity: float = 1.0
    events: list[tuple[str, dict]] = field(default_factory=list)  # audit entries to write after the lock

    @property
    def registered(self) -> bool:
        return not _is_digest(self.key)


def empty() -> dict:
    return {"format": "privsynth-budget-ledger", "sources": {}}


def salted(body: dict) -> dict:
    """The body with its secret salt for sketches (made once, kept in the ledger, never printed)."""
    body.setdefault("secret", secrets.token_hex(16))
    return body


def entry(body: dict, key: str) -> dict:
    return body["sources"].setdefault(key, {"limit": DEFAULT_LIMIT, "delta": DEFAULT_DELTA, "spends": []})


class Table:
    """A table to book, with its exact digest and (per ledger secret) its content, computed once."""

    def __init__(self, frame: pd.DataFrame, label: str | None = None):
        self.frame, self.label = frame, label
        self.sha256 = fingerprint(frame)["sha256"]
        self._contents: dict[str, Content] = {}

    def content(self, secret: str) -> Content:
        if secret not in self._contents:
            self._contents[secret] = Content(self.frame, secret)
        return self._contents[secret]


def find(body: dict, table: Table) -> Match:
    """The entry this table's data belongs to (without changing the body)."""
    sources = body["sources"]
    for key, value in sources.items():
        if any(m.get("sha256") == table.sha256 for m in value.get("members", [])):
            return Match(key, "member")
    if table.sha256 in sources:
        return Match(table.sha256, "exact")
    best = Match(table.sha256, "new", 0.0)
    if "secret" in body:
        content = table.content(body["secret"])
        for key, value in sources.items():
            for stored in value.get("sketches", []):
                score = content.similarity(stored)
                better = score > best.similarity or (score == best.similarity and not _is_digest(key))
                if score >= THRESHOLD and better:
                    best = Match(key, "similar", score)
    return best


def resolve(body: dict, table: Table) -> Match:
    """`find`, then remember: a new entry gets the table's sketch, a similar match adds this form of the data
    (and an audit event says which data was recognised as which source)."""
    salted(body)
    match = find(body, table)
    if match.how in ("new", "similar"):
        sketch = table.content(body["secret"]).sketch()
        value = entry(body, match.key)
        known = value.setdefault("sketches", [])
        if sketch["digest"] not in {s["digest"] for s in known} and len(known) < MAX_SKETCHES:
            known.append(sketch)
    if match.how == "similar":
        match.events.append(
            (
                "budget-near-duplicate",
                {
                    "source": _shown(match.key),
                    "similarity": round(match.similarity, 4),
                    "note": "a DP fit of data recognised as this source under another name or form: booked against it",
                },
            )
        )
    return match


def register(body: dict, name: str, tables: list[Table], limit: float | None, delta: float | None) -> list:
    """Add `tables` to the registered source `name` (created when new); returns audit events. Refuses a table
    that belongs to another registered source (a near-duplicate under a new name is an attempt to get a
    fresh budget: recorded). Unregistered entries the tables match are merged in, spends and all."""
    if not _NAME.fullmatch(name) or _is_digest(name):
        raise PrivsynthError(f"a source name is a letter then up to 63 letters, digits or _ . : - (got {name!r})")
    salted(body)
    events, merged = [], []
    for table in tables:
        match = find(body, table)
        if match.registered and match.key != name:
            events.append(
                (
                    "budget-bypass",
                    {
                        "attempt": "data of a registered source registered under a new name",
                        "source": match.key,
                        "new_name": name,
                        "similarity": round(match.similarity, 4),
                    },
                )
            )
            raise _Refused(
                events,
                f"{table.label} holds the data of registered source {match.key!r} (similarity "
                f"{match.similarity:.2f}): add it there with `privsynth budget register {match.key} FILE`; a new "
                "name does not get a fresh budget (this attempt is recorded in the audit log)",
            )
        if not match.registered and match.how != "new":
            merged.append(match.key)
    value = body["sources"].get(name)
    created = value is None
    value = entry(body, name)
    for key in dict.fromkeys(merged):
        old = body["sources"].pop(key)
        value["spends"].extend(old.get("spends", []))
        value.setdefault("sketches", []).extend(old.get("sketches", []))
        if created and limit is None:
            value["limit"] = min(float(old.get("limit", DEFAULT_LIMIT)), float(value["limit"]))
    members = value.setdefault("members", [])
    for table in tables:
        if not any(m["sha256"] == table.sha256 for m in members):
            members.append({"label": table.label, "sha256": table.sha256})
        sketch = table.content(body["secret"]).sketch()
        known = value.setdefault("sketches", [])
        if sketch["digest"] not in {s["digest"] for s in known}:
            known.append(sketch)
    value["sketches"] = value["sketches"][-MAX_SKETCHES:]
    details = {"source": name, "members": [t.label for t in tables], "merged_unregistered": len(merged)}
    events.append(("budget-register", details))
    if limit is not None or delta is not None:
        events.extend(set_limit(value, name, limit if limit is not None else value["limit"], delta, created))
    return events


def set_limit(value: dict, key: str, limit: float, delta: float | None, created: bool = False) -> list:
    """Set an entry's limit (and delta); returns the audit event recording the custodian's decision."""
    if not limit > 0:
        raise PrivsynthError("the limit must be a positive epsilon")
    if delta is not None and not 0 < delta < 1:
        raise PrivsynthError("delta must be in (0, 1)")
    before, before_delta = float(value["limit"]), float(value["delta"])
    value["limit"] = float(limit)
    if delta is not None:
        value["delta"] = float(delta)
    if created or (before == value["limit"] and before_delta == value["delta"]):
        return []
    change = "raised" if value["limit"] > before or value["delta"] > before_delta else "lowered"
    return [
        (
            "budget-limit",
            {
                "source": _shown(key),
                "change": change,
                "limit_before": before,
                "limit": value["limit"],
                "delta_before": before_delta,
                "delta": value["delta"],
            },
        )
    ]


class _Refused(BudgetError):
    """A refusal whose audit events are written before it reaches the caller."""

    def __init__(self, events: list, message: str):
        super().__init__(message)
        self.events = events


def _is_digest(key: str) -> bool:
    return len(key) == 64 and all(c in "0123456789abcdef" for c in key)


def _shown(key: str) -> str:
    """A key as the audit log shows it: a registered name, or a digest's first 16 characters."""
    return f"{key[:16]}…" if _is_digest(key) else key
