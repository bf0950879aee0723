"""The privacy-budget ledger: every DP model fitted on a source adds to that source's running total.

Releases compose: two models fitted on the same records at epsilon 1 each leak more than either alone.
The ledger is a JSON file kept by the data custodian (default `.privsynth/budget.json` in the working
folder, or $PRIVSYNTH_LEDGER), keyed by the source's fingerprint (SHA-256 of its normalised records:
the ledger never leaves the custodian, unlike model files, which never hold it). Each entry records the
fit's zCDP cost rho; rho adds up under composition, and the total converts to (epsilon, delta) at the
source's delta with the accountant's bound. A fit that would take the total past the source's limit
(default epsilon 10 at delta 1e-6) is refused before it runs; `privsynth budget SOURCE --limit E` raises
or lowers the limit, explicitly.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from privsynth.errors import PrivsynthError
from privsynth.privacy.accountant import epsilon_of_rho, rho_for

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
        return epsilon_of_rho(self.rho, self.delta)

    def after(self, rho: float) -> float:
        return epsilon_of_rho(self.rho + rho, self.delta)


class Ledger:
    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else default_path()

    def _read(self) -> dict:
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

    def check(self, sha256: str, epsilon: float, delta: float) -> None:
        """Refuse a fit of budget (epsilon, delta) that would take the source past its limit."""
        budget = self.source(sha256)
        rho = rho_for(epsilon, delta)
        total = budget.after(rho)
        if total > budget.limit * (1 + 1e-9):
            raise BudgetError(
                f"this fit would bring the source's total to epsilon {total:.3g} (at delta {budget.delta:g}), over its "
                f"limit {budget.limit:g}: {len(budget.spends)} earlier DP fit(s) spent epsilon {budget.epsilon:.3g}. "
                f"See `privsynth budget DATA`; raise the limit there with --limit if that is intended"
            )

    def record(self, sha256: str, spend: dict) -> SourceBudget:
        """Add a finished fit's spend (needs "rho"); returns the source's budget after it."""
        body = self._read()
        entry = body["sources"].setdefault(sha256, {"limit": DEFAULT_LIMIT, "delta": DEFAULT_DELTA, "spends": []})
        entry["spends"].append(spend)
        self._write(body)
        return self.source(sha256)

    def set_limit(self, sha256: str, limit: float, delta: float | None = None) -> SourceBudget:
        if not limit > 0:
            raise PrivsynthError("the limit must be a positive epsilon")
        if delta is not None and not 0 < delta < 1:
            raise PrivsynthError("delta must be in (0, 1)")
        body = self._read()
        entry = body["sources"].setdefault(sha256, {"limit": DEFAULT_LIMIT, "delta": DEFAULT_DELTA, "spends": []})
        entry["limit"] = float(limit)
        if delta is not None:
            entry["delta"] = float(delta)
        self._write(body)
        return self.source(sha256)
