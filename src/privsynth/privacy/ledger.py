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
lowers the limit, explicitly.

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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from privsynth.errors import PrivsynthError
from privsynth.privacy.accountant import ORDERS, epsilon_of_curve, epsilon_of_rho, rho_for

DEFAULT_LIMIT = 10.0
DEFAULT_DELTA = 1e-6


class BudgetError(PrivsynthError):
    """A DP fit would spend more of a source's privacy budget than its limit allows."""


def default_path() -> Path:
    return Path(os.environ.get("PRIVSYNTH_LEDGER") or Path(".privsynth") / "budget.json")


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


class Ledger:
    """A budget ledger: a JSON file at `path`, else $PRIVSYNTH_LEDGER, else the catalog (`catalog`: a Catalog,
    a path or URL; default $PRIVSYNTH_CATALOG or .privsynth/catalog.db), else .privsynth/budget.json when
    the catalog is off. A catalog ledger starts from the working folder's budget.json if one exists."""

    def __init__(self, path: str | os.PathLike | None = None, catalog=None):
        from privsynth.governance.catalog import Catalog, location

        self.catalog = None
        if path is None and not os.environ.get("PRIVSYNTH_LEDGER"):
            if isinstance(catalog, Catalog):
                self.catalog = catalog
            elif location(catalog) is not None:
                self.catalog = Catalog(catalog)
        self.path = Path(path) if path is not None else default_path()
        if self.catalog is not None:
            from privsynth.governance.catalog import _safe

            self.path = f"{_safe(self.catalog.url)} (ledger table)"

    def _read(self) -> dict:
        if self.catalog is not None:
            return self._from_catalog(self.catalog.ledger_body())
        if not self.path.exists():
            return {"format": "privsynth-budget-ledger", "sources": {}}
        try:
            body = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PrivsynthError(f"budget ledger {self.path} cannot be read: {exc}") from None
        if body.get("format") != "privsynth-budget-ledger":
            raise PrivsynthError(f"{self.path} is not a privsynth budget ledger")
        return body

    def _write(self, body: dict) -> None:
        from privsynth.io import write_bytes_atomic

        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(self.path, lambda fh: fh.write(json.dumps(body, indent=1).encode()))

    def source(self, sha256: str) -> SourceBudget:
        entry = self._read()["sources"].get(sha256, {})
        limit, delta = float(entry.get("limit", DEFAULT_LIMIT)), float(entry.get("delta", DEFAULT_DELTA))
        return SourceBudget(limit, delta, tuple(entry.get("spends", [])))

    def _from_catalog(self, body: dict | None) -> dict:
        if body is not None:
            return body
        legacy = Path(".privsynth") / "budget.json"  # the file ledger of earlier versions, carried over
        return Ledger(legacy)._read() if legacy.is_file() else {"format": "privsynth-budget-ledger", "sources": {}}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict]:
        """The ledger's body, read and (when the block ends without error) written under an exclusive lock."""
        if self.catalog is not None:
            with self.catalog.locked_ledger() as holder:
                holder["body"] = self._from_catalog(holder["body"])
                yield holder["body"]
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a+b") as lock:
            try:
                import fcntl
            except ImportError:  # not POSIX: no cross-process lock available
                fcntl = None
            if fcntl is not None:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            body = self._read()
            yield body
            self._write(body)

    def check(self, sha256: str, epsilon: float, delta: float) -> None:
        """Refuse a fit of budget (epsilon, delta) that would take the source past its limit."""
        _refuse_past_limit(self.source(sha256), rho_for(epsilon, delta))

    def reserve(self, sha256: str, spend: dict) -> str:
        """Check and book a fit's whole budget (`spend` needs "rho") before it runs; returns the booking id."""
        token = uuid.uuid4().hex
        with self._locked() as body:
            entry = _entry(body, sha256)
            _refuse_past_limit(self._budget(entry), float(spend["rho"]), float(spend.get("delta_approx", 0.0)))
            entry["spends"].append({**spend, "id": token, "status": "reserved"})
        return token

    def settle(self, sha256: str, token: str, rho: float, curve=None, **facts) -> SourceBudget:
        """A booked fit finished: record what it spent: its zCDP rho (never more than it booked), plus the Rényi
        curve at the accountant's ORDERS of what was not zCDP (DP-SGD), which then replaces the booking."""
        with self._locked() as body:
            for spend in _entry(body, sha256)["spends"]:
                if spend.get("id") != token:
                    continue
                if curve is None:
                    spend.update(facts, rho=min(float(rho), float(spend["rho"])), status="spent")
                else:
                    spend.update(facts, rho=float(rho), curve=[float(x) for x in curve], status="spent")
        return self.source(sha256)

    def release(self, sha256: str, token: str) -> None:
        """A booked fit failed before releasing anything: drop its booking."""
        with self._locked() as body:
            entry = _entry(body, sha256)
            entry["spends"] = [s for s in entry["spends"] if s.get("id") != token]

    def record(self, sha256: str, spend: dict) -> SourceBudget:
        """Add a finished fit's spend (needs "rho"); returns the source's budget after it."""
        with self._locked() as body:
            _entry(body, sha256)["spends"].append(spend)
        return self.source(sha256)

    @staticmethod
    def _budget(entry: dict) -> SourceBudget:
        return SourceBudget(float(entry["limit"]), float(entry["delta"]), tuple(entry["spends"]))

    def set_limit(self, sha256: str, limit: float, delta: float | None = None) -> SourceBudget:
        if not limit > 0:
            raise PrivsynthError("the limit must be a positive epsilon")
        if delta is not None and not 0 < delta < 1:
            raise PrivsynthError("delta must be in (0, 1)")
        with self._locked() as body:
            entry = _entry(body, sha256)
            entry["limit"] = float(limit)
            if delta is not None:
                entry["delta"] = float(delta)
        return self.source(sha256)


def _entry(body: dict, sha256: str) -> dict:
    return body["sources"].setdefault(sha256, {"limit": DEFAULT_LIMIT, "delta": DEFAULT_DELTA, "spends": []})


def _refuse_past_limit(budget: SourceBudget, rho: float, delta_approx: float = 0.0) -> None:
    total = budget.after(rho, delta_approx)
    if total > budget.limit * (1 + 1e-9):
        raise BudgetError(
            f"this fit would bring the source's total to epsilon {total:.3g} (at delta {budget.delta:g}), over its "
            f"limit {budget.limit:g}: {len(budget.spends)} earlier DP fit(s) spent epsilon {budget.epsilon:.3g}. "
            f"See `privsynth budget DATA`; raise the limit there with --limit if that is intended"
        )
