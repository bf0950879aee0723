"""The privacy-budget ledger: every DP model fitted on a source adds to that source's running total.

Releases compose: two models fitted on the same records at epsilon 1 each leak more than either alone. The
ledger is kept by the data custodian: in the catalog (`privsynth.governance.catalog`, SQLite or PostgreSQL) by
default, or in a JSON file when one is named (`--ledger FILE`, $PRIVSYNTH_LEDGER) or the catalog is switched
off (then `.privsynth/budget.json`). It is keyed by the source's fingerprint (SHA-256 of its normalised
records: the ledger never leaves the custodian, unlike model files, which never hold it). Each entry records
the fit's zCDP cost rho, or for DP-SGD (not zCDP) its Rényi curve at the accountant's orders, and the delta
its thresholded releases took (`delta_approx`: categories measured under DP, `privacy.metadata`); rho, curves
and those deltas add up under composition, and the total converts to (epsilon, delta) at the source's delta
less the deltas taken, with the accountant's bound. A fit that would take the total past the source's limit
(default epsilon 10 at delta 1e-6) is refused before it runs; `privsynth budget SOURCE --limit E` raises or
lowers the limit, explicitly (an audited custodian action when a catalog is in use).

Budgets are keyed on sources the custodian registers (`privsynth budget register NAME FILE... --limit E`,
`Ledger.register`): a DP fit of a registered file books against its name. Any other data is recognised by
an order- and format-insensitive content sketch (`privacy.sketch`, `privacy.sources`): the same records
shuffled, renamed, reformatted, with an index or constant column added or dropped, or a few rows removed,
book against the source they came from, and the match is written to the audit log.

When a catalog is in use, its ledger is authoritative: a file ledger named as well (`--ledger FILE`,
$PRIVSYNTH_LEDGER) is kept too, and a fit must pass both (so a fresh file cannot reset the spend: the
attempt is audited), and limits are set in both.

Concurrent fits cannot both squeeze under the limit: a fit reserves its whole budget before it starts (check
and write under an exclusive lock: the ledger row's lock in the catalog, `budget.json.lock` for a file),
settles the reservation with what it actually spent when it ends, and releases it if it fails (nothing was
published). A reservation left by a crashed process keeps counting: the safe side.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from privsynth import atomic
from privsynth.errors import PrivsynthError
from privsynth.privacy import sources
from privsynth.privacy.accountant import ORDERS, epsilon_of_curve, epsilon_of_rho, rho_for
from privsynth.privacy.sources import DEFAULT_DELTA, DEFAULT_LIMIT, BudgetError, Match, Table

__all__ = ["DEFAULT_DELTA", "DEFAULT_LIMIT", "BudgetError", "Ledger", "LedgerWarning", "SourceBudget"]


class LedgerWarning(UserWarning):
    """The ledger booked a fit against a source it recognised by content, or found a bypass attempt."""


def default_path() -> Path:
    return Path(os.environ.get("PRIVSYNTH_LEDGER") or Path(".privsynth") / "budget.json")


def protect_ledger(path: str | os.PathLike | None = None) -> None:
    """Refuse the ledger file (default: $PRIVSYNTH_LEDGER or .privsynth/budget.json) and its lock as the
    output of any other write in this process: an output written there would reset the recorded spend."""
    path = Path(path) if path is not None else default_path()
    atomic.protect(path, "privacy-budget ledger")
    atomic.protect(path.with_name(path.name + ".lock"), "privacy-budget ledger's lock")


@dataclass(frozen=True)
class SourceBudget:
    limit: float
    delta: float
    spends: tuple[dict, ...]

    @property
    def rho(self) -> float:
        return float(sum(s["rho"] for s in self.spends))

    @property
    def epsilon(self) -> float:
        """The composed epsilon of every recorded fit, at this source's delta."""
        return self.after(0.0)

    @property
    def delta_approx(self) -> float:
        """The delta taken by thresholded releases of every recorded fit."""
        return float(sum(s.get("delta_approx", 0.0) for s in self.spends))

    def after(self, rho: float, delta_approx: float = 0.0) -> float:
        """The composed epsilon once a further rho-zCDP spend (that takes `delta_approx` of delta) is added
        (Rényi curves composed exactly)."""
        delta = self.delta - self.delta_approx - delta_approx
        if not delta > 0:
            return float("inf")
        curves = [np.asarray(s["curve"], dtype=np.float64) for s in self.spends if s.get("curve") is not None]
        if not curves:
            return epsilon_of_rho(self.rho + rho, delta)
        orders = np.asarray(ORDERS)
        return epsilon_of_curve((self.rho + rho) * orders + np.sum(curves, axis=0), orders, delta)


class _FileStore:
    """A ledger body in a JSON file, locked with `FILE.lock` (flock)."""

    def __init__(self, path: Path):
        self.path = path
        protect_ledger(path)

    def read(self) -> dict:
        if not self.path.exists():
            return sources.empty()
        try:
            body = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PrivsynthError(f"budget ledger {self.path} cannot be read: {exc}") from None
        if not isinstance(body, dict) or body.get("format") != "privsynth-budget-ledger":
            raise PrivsynthError(f"{self.path} is not a privsynth budget ledger")
        return body

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict]:
        from privsynth.io import write_bytes_atomic

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a+b") as lock:
            try:
                import fcntl
            except ImportError:  # not POSIX: no cross-process lock available
                fcntl = None
            if fcntl is not None:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            body = self.read()
            yield body
            with atomic.owned(self.path):  # no other write may replace the ledger (see protect_ledger)
                write_bytes_atomic(self.path, lambda fh: fh.write(json.dumps(body, indent=1).encode()))


class _CatalogStore:
    """A ledger body in the catalog's ledger table, locked by its row (a transaction)."""

    def __init__(self, catalog):
        from privsynth.governance.catalog import _safe

        self.catalog = catalog
        self.path = f"{_safe(catalog.url)} (ledger table)"

    def read(self) -> dict:
        return self._carried(self.catalog.ledger_body())

    @staticmethod
    def _carried(body: dict | None) -> dict:
        if body is not None:
            return body
        legacy = Path(".privsynth") / "budget.json"  # the file ledger of earlier versions, carried over
        return _FileStore(legacy).read() if legacy.is_file() else sources.empty()

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict]:
        with self.catalog.locked_ledger() as holder:
            holder["body"] = self._carried(holder["body"])
            yield holder["body"]


class Ledger:
    """A budget ledger: the catalog's (`catalog`: a Catalog, a path or URL; default $PRIVSYNTH_CATALOG or
    .privsynth/catalog.db) and/or a JSON file (`path`, else $PRIVSYNTH_LEDGER; .privsynth/budget.json when
    the catalog is off). With both a file and a catalog given (as the CLI does whenever its catalog is on),
    the catalog's ledger is authoritative and the file is kept alongside: a fit must pass both. A catalog
    ledger starts from the working folder's budget.json if one exists.

    `source` arguments are a DataFrame (resolved to its registered or recognised source) or an entry's key."""

    def __init__(self, path: str | os.PathLike | None = None, catalog=None):
        from privsynth.governance.catalog import Catalog, location

        file = path if path is not None else os.environ.get("PRIVSYNTH_LEDGER") or None
        self.catalog = None
        if isinstance(catalog, Catalog):
            self.catalog = catalog
        elif (file is None or catalog is not None) and location(catalog) is not None:
            self.catalog = Catalog(catalog)
        self.stores: list = [] if self.catalog is None else [_CatalogStore(self.catalog)]
        if file is not None or self.catalog is None:
            self.stores.append(_FileStore(Path(file) if file is not None else default_path()))
        self.path = self.stores[0].path
        self._bookings: dict[str, list[str]] = {}  # token -> the key booked in each store

    def _read(self) -> dict:
        return self.stores[0].read()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[list[dict]]:
        """Every store's body, read and (when the block ends without error) written, under their locks."""
        with contextlib.ExitStack() as stack:
            yield [stack.enter_context(store.locked()) for store in self.stores]

    def _table(self, source) -> Table | str:
        return Table(source) if isinstance(source, pd.DataFrame) else str(source)

    def resolve(self, source) -> Match:
        """Where `source` (a DataFrame) would book in the authoritative ledger (nothing is written)."""
        table = self._table(source)
        if isinstance(table, str):
            return Match(table, "key")
        return sources.find(self._read(), table)

    def source(self, source) -> SourceBudget:
        """The source's budget: with a catalog and a file, the one that holds more spend (the max of both)."""
        table = self._table(source)
        keys = [table if isinstance(table, str) else sources.find(store.read(), table).key for store in self.stores]
        return self._state(keys)

    def _state(self, keys: list[str]) -> SourceBudget:
        states = [_budget(store.read()["sources"].get(key, {})) for store, key in zip(self.stores, keys, strict=True)]
        return max(states, key=lambda state: state.epsilon)  # ties: the first, the catalog's

    def check(self, source, epsilon: float, delta: float) -> None:
        """Refuse a fit of budget (epsilon, delta) that would take the source past its limit."""
        _refuse_past_limit(self.source(source), rho_for(epsilon, delta))

    def reserve(self, source, spend: dict) -> str:
        """Check and book a fit's whole budget (`spend` needs "rho") before it runs, in every store; returns
        the booking id. The source is the table's registered or recognised source (see `privacy.sources`)."""
        token, table, events = uuid.uuid4().hex, self._table(source), []
        try:
            with self._locked() as bodies:
                keys, budgets = [], []
                for body in bodies:
                    key = table if isinstance(table, str) else self._match(body, table, events).key
                    budgets.append(_budget(sources.entry(body, key)))
                    keys.append(key)
                events.extend(self._behind(keys, budgets))
                for budget in budgets:
                    _refuse_past_limit(budget, float(spend["rho"]), float(spend.get("delta_approx", 0.0)))
                for body, key in zip(bodies, keys, strict=True):
                    sources.entry(body, key)["spends"].append({**spend, "id": token, "status": "reserved"})
        finally:
            self._audit(events)
        self._bookings[token] = keys
        return token

    def _match(self, body: dict, table: Table, events: list) -> Match:
        match = sources.resolve(body, table)
        if match.how == "similar":
            events.extend(match.events)
            warnings.warn(
                f"the data was recognised as source {sources._shown(match.key)} (similarity "
                f"{match.similarity:.2f}): the fit books against its budget",
                LedgerWarning,
                stacklevel=4,
            )
        return match

    def _behind(self, keys: list[str], budgets: list[SourceBudget]) -> list:
        """Audit events for a file ledger that holds less spend than the catalog's for the same data."""
        if self.catalog is None or len(budgets) < 2 or not budgets[0].spends:
            return []
        events = []
        for store, budget in zip(self.stores[1:], budgets[1:], strict=True):
            if budget.epsilon < budgets[0].epsilon * (1 - 1e-9):
                events.append(
                    (
                        "budget-bypass",
                        {
                            "attempt": "a file ledger that holds less spend than the catalog's",
                            "ledger": str(store.path),
                            "source": sources._shown(keys[0]),
                            "file_epsilon": budget.epsilon,
                            "catalog_epsilon": budgets[0].epsilon,
                            "note": "the fit was checked against the catalog's ledger too",
                        },
                    )
                )
                warnings.warn(
                    f"the ledger {store.path} holds less spend for this source than the catalog "
                    f"({budget.epsilon:.3g} < {budgets[0].epsilon:.3g}): the catalog's counts (recorded)",
                    LedgerWarning,
                    stacklevel=4,
                )
        return events

    def settle(self, source, token: str, rho: float, curve=None, **facts) -> SourceBudget:
        """A booked fit finished: record what it spent: its zCDP rho (never more than it booked), plus the Rényi
        curve at the accountant's ORDERS of what was not zCDP (DP-SGD), which then replaces the booking."""
        keys = self._keys(source, token)
        with self._locked() as bodies:
            for body, key in zip(bodies, keys, strict=True):
                for spend in sources.entry(body, key)["spends"]:
                    if spend.get("id") != token:
                        continue
                    if curve is None:
                        spend.update(facts, rho=min(float(rho), float(spend["rho"])), status="spent")
                    else:
                        spend.update(facts, rho=float(rho), curve=[float(x) for x in curve], status="spent")
        return self._state(keys)

    def release(self, source, token: str) -> None:
        """A booked fit failed before releasing anything: drop its booking."""
        keys = self._keys(source, token)
        with self._locked() as bodies:
            for body, key in zip(bodies, keys, strict=True):
                value = sources.entry(body, key)
                value["spends"] = [s for s in value["spends"] if s.get("id") != token]

    def _keys(self, source, token: str) -> list[str]:
        if token in self._bookings:
            return self._bookings[token]
        if isinstance(source, pd.DataFrame):  # booked by another Ledger object: find the booking by its id
            return [_holding(store.read(), token) for store in self.stores]
        return [str(source)] * len(self.stores)

    def record(self, source, spend: dict) -> SourceBudget:
        """Add a finished fit's spend (needs "rho"); returns the source's budget after it."""
        token = self.reserve(source, {**spend, "rho": 0.0})
        return self.settle(source, token, float(spend["rho"]), spend.get("curve"))

    def set_limit(self, source, limit: float, delta: float | None = None) -> SourceBudget:
        """Raise or lower a source's limit: the custodian's explicit decision, written to the audit log."""
        table, events = self._table(source), []
        try:
            with self._locked() as bodies:
                keys = []
                for body in bodies:
                    key = table if isinstance(table, str) else self._match(body, table, events).key
                    events.extend(sources.set_limit(sources.entry(body, key), key, limit, delta))
                    keys.append(key)
        finally:
            self._audit(events)
        return self._state(keys)

    def register(
        self, name: str, tables: list[tuple[str, pd.DataFrame]], limit: float | None = None, delta=None
    ) -> SourceBudget:
        """Register the source `name` with its tables ((label, frame) pairs: the files or database tables that
        belong to it), or add tables to it: their DP fits book against `name`. Data already booked unregistered
        moves in with its spend; a table of another registered source is refused (and audited)."""
        if not tables:
            raise PrivsynthError("register a source with at least one file or table")
        if limit is None and delta is not None:
            raise PrivsynthError("delta is set together with the limit")
        wrapped = [Table(frame, label) for label, frame in tables]
        events = []
        try:
            with self._locked() as bodies:
                for body in bodies:
                    events.extend(sources.register(body, name, wrapped, limit, delta))
        except sources._Refused as exc:
            events.extend(exc.events)
            raise
        finally:
            self._audit(events)
        return _budget(self._read()["sources"][name])

    def registered(self) -> dict[str, dict]:
        """Registered sources: name -> {"members": [labels], "limit", "delta", "epsilon"}."""
        found = {}
        for key, value in self._read()["sources"].items():
            if "members" in value:
                budget = _budget(value)
                members = [m["label"] for m in value["members"]]
                found[key] = {
                    "members": members,
                    "limit": budget.limit,
                    "delta": budget.delta,
                    "epsilon": budget.epsilon,
                }
        return found

    def _audit(self, events: list) -> None:
        """Write audit events (after the ledger's lock is released: the audit log has its own transaction)."""
        if self.catalog is None:
            return
        seen = set()  # one entry per event, though each store (catalog and file) reported it
        for event, details in events:
            if isinstance(details, str):
                details = json.loads(details)
            key = (event, json.dumps(details, sort_keys=True, default=str))
            if key not in seen:
                seen.add(key)
                self.catalog.audit(event, None, **details)


def _holding(body: dict, token: str) -> str:
    for key, value in body["sources"].items():
        if any(s.get("id") == token for s in value.get("spends", [])):
            return key
    raise PrivsynthError(f"no booking {token} in the ledger")


def _budget(entry: dict) -> SourceBudget:
    limit, delta = float(entry.get("limit", DEFAULT_LIMIT)), float(entry.get("delta", DEFAULT_DELTA))
    return SourceBudget(limit, delta, tuple(entry.get("spends", [])))


def _refuse_past_limit(budget: SourceBudget, rho: float, delta_approx: float = 0.0) -> None:
    total = budget.after(rho, delta_approx)
    if total > budget.limit * (1 + 1e-9):
        raise BudgetError(
            f"this fit would bring the source's total to epsilon {total:.3g} (at delta {budget.delta:g}), over its "
            f"limit {budget.limit:g}: {len(budget.spends)} earlier DP fit(s) spent epsilon {budget.epsilon:.3g}. "
            f"See `privsynth budget DATA`; raise the limit there with --limit if that is intended"
        )
