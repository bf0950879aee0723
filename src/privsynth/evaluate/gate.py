"""Pass/fail gates over an evaluation's headline metrics, for CI pipelines (`privsynth check`).

A policy maps headline metric names to bounds:

    gates:
      accuracy_bivariate: {min: 0.90}
      dcr_share: {max: 0.52}
      mia_auc_max: {max: 0.60}
    fail_when_not_computed: false

The default policy ships with privsynth (`default_policy.yaml`); a user policy overrides any part of it:
gates it names replace the default ones of the same name, and `null` removes a default gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from privsynth.errors import SchemaError


class Bound(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min: float | None = None
    max: float | None = None
    relative_to: str | None = None  # compare value / (that headline metric), e.g. the holdout's own accuracy

    @model_validator(mode="after")
    def _one_side(self):
        if self.min is None and self.max is None:
            raise ValueError("a gate needs min or max")
        return self


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gates: dict[str, Bound | None] = {}
    fail_when_not_computed: bool = False


@dataclass(frozen=True)
class GateResult:
    name: str
    value: float | None
    bound: str
    passed: bool | None  # None: not computed and not required

    @property
    def status(self) -> str:
        return {True: "pass", False: "FAIL", None: "skipped"}[self.passed]


def _read(path: Path | str) -> dict:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise SchemaError(f"policy file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise SchemaError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise SchemaError(f"{path} must hold a mapping with a 'gates' mapping")
    return raw


def load_policy(path: str | Path | None = None) -> Policy:
    """The default policy, overridden by the user's file when given."""
    from privsynth.evaluate.report import HEADLINES

    default = yaml.safe_load(resources.files("privsynth.evaluate").joinpath("default_policy.yaml").read_text())
    merged = dict(default)
    if path is not None:
        user = _read(path)
        if not isinstance(user.get("gates") or {}, dict):
            raise SchemaError(f"{path}: 'gates' must map metric names to bounds, e.g. dcr_share: {{max: 0.52}}")
        merged["gates"] = {**default.get("gates", {}), **(user.get("gates") or {})}
        merged.update({k: v for k, v in user.items() if k != "gates"})
    try:
        policy = Policy.model_validate(merged)
    except ValidationError as exc:
        raise SchemaError([f"{path}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]) from None
    unknown = [n for n in policy.gates if n not in HEADLINES]
    unknown += [b.relative_to for b in policy.gates.values() if b and b.relative_to and b.relative_to not in HEADLINES]
    if unknown:
        raise SchemaError(f"{path}: unknown metric(s) {', '.join(map(repr, unknown))}; known: {', '.join(HEADLINES)}")
    return policy


def check(headline: dict[str, float | None], policy: Policy) -> list[GateResult]:
    """Every gate of the policy applied to the headline metrics."""
    results = []
    for name, bound in policy.gates.items():
        if bound is None:
            continue
        value = headline.get(name)
        label = " and ".join(
            f"{side} {limit:g}" for side, limit in ((">=", bound.min), ("<=", bound.max)) if limit is not None
        )
        if bound.relative_to:
            base = headline.get(bound.relative_to)
            value = None if value is None or not base else value / base
            label += f" (relative to {bound.relative_to})"
        if value is None:
            results.append(GateResult(name, None, label, False if policy.fail_when_not_computed else None))
            continue
        passed = (bound.min is None or value >= bound.min) and (bound.max is None or value <= bound.max)
        results.append(GateResult(name, float(value), label, passed))
    return results


# what a failed gate means for the data, in a reader's words (the verdict line names the first that fails)
FAILURE_MEANING: dict[str, str] = {
    "accuracy_bivariate": "column pairs are less faithful to the training data than unseen real rows are",
    "accuracy_univariate": "single columns' distributions differ from the real ones",
    "accuracy_overall": "the synthetic distributions differ from the real ones",
    "dcr_share": "synthetic rows sit closer to training rows than to unseen ones: records may be memorised",
    "exact_match_excess": "more synthetic rows copy a training row than chance explains",
    "exact_match_excess_z": "more synthetic rows copy a training row than chance explains",
    "mia_auc_max": "an attacker can tell which rows were in the training data",
    "singling_out_risk": "synthetic rows help single out individual training records",
    "linkability_risk": "synthetic rows help link two halves of a training record",
    "anonymeter_risk_max": "synthetic rows help an attacker single out, link or infer training records",
}


def policy_name(path: str | Path | None) -> str:
    """How a verdict names the policy: its file's name, or 'default' for the shipped one."""
    return "default" if path is None else Path(path).name


def verdict(gates: list, policy: str = "default") -> str:
    """One line a newcomer reads first: 'safe to share under policy P: 7 of 7 gates pass', which gate fails
    and what that means, or which gates could not be computed (a gate not computed is never a pass, so the
    data is then not called safe). Gates are GateResults or their recorded dicts (name, value, bound, status)."""
    rows = [
        g if isinstance(g, dict) else {"name": g.name, "value": g.value, "bound": g.bound, "status": g.status}
        for g in gates
    ]
    if not rows:
        return f"not judged: policy {policy} has no gates"
    passed = sum(g["status"] == "pass" for g in rows)
    failed = [g for g in rows if g["status"] == "FAIL"]
    skipped = [g["name"] for g in rows if g["status"] == "skipped"]
    tally = f"{passed} of {len(rows)} gates pass"
    unjudged = f"{', '.join(skipped)} could not be computed" if skipped else ""
    if failed:
        first = failed[0]
        shown = "not computed" if first["value"] is None else f"{first['value']:.4g}"
        meaning = FAILURE_MEANING.get(first["name"], "a figure is outside the policy's bound")
        more = f"; {len(failed) - 1} more gate(s) fail" if len(failed) > 1 else ""
        return (
            f"NOT safe to share under policy {policy}: {tally}; {first['name']} fails ({shown}, bound "
            f"{first['bound']}): {meaning}{more}" + (f"; {unjudged}" if unjudged else "")
        )
    if skipped:
        return f"not judged safe to share under policy {policy}: {tally}; {unjudged}"
    return f"safe to share under policy {policy}: {tally}"
