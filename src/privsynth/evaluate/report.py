"""The Evaluation object: numbers as a dict/JSON, a one-screen summary, and a self-contained HTML report."""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

# headline metric -> (path in the result dict, one-line meaning, better direction)
HEADLINES: dict[str, tuple[str, str, str]] = {
    "accuracy_overall": ("fidelity.accuracy.overall", "mean of univariate and bivariate accuracy (1 - TVD)", "higher"),
    "accuracy_univariate": (
        "fidelity.accuracy.univariate",
        "1 - mean TVD of each column's binned distribution",
        "higher",
    ),
    "accuracy_bivariate": ("fidelity.accuracy.bivariate", "1 - mean TVD of every column pair's joint bins", "higher"),
    "holdout_accuracy_overall": (
        "fidelity.holdout_accuracy.overall",
        "the same for the holdout itself: the ceiling an honest generator reaches",
        "higher",
    ),
    "holdout_accuracy_bivariate": (
        "fidelity.holdout_accuracy.bivariate",
        "bivariate accuracy of the holdout itself (the ceiling)",
        "higher",
    ),
    "association_difference": (
        "fidelity.associations.mean_abs_difference",
        "mean |difference| of Pearson / Cramer's V / eta matrices",
        "lower",
    ),
    "detection_auc": (
        "fidelity.detection_auc",
        "ROC AUC of a classifier telling real from synthetic (0.5 = cannot)",
        "lower",
    ),
    "dcr_share": (
        "privacy.dcr.share",
        "share of synthetic rows closer to a training row than to a holdout row (0.5 ideal)",
        "lower",
    ),
    "exact_match_train": ("privacy.exact_match.train", "share of synthetic rows identical to a training row", "lower"),
    "exact_match_holdout": (
        "privacy.exact_match.holdout",
        "share of synthetic rows identical to a holdout row",
        "lower",
    ),
    "exact_match_excess": ("", "exact_match_train - exact_match_holdout: copies beyond chance duplicates", "lower"),
    "exact_match_excess_z": (
        "privacy.exact_match.excess_z",
        "that excess over its sampling sd when nothing is copied (above 2: more copies than chance)",
        "lower",
    ),
    "mia_auc_max": (
        "privacy.membership.max_auc",
        "best membership-inference ROC AUC over the attacks (0.5 = none)",
        "lower",
    ),
    "singling_out_risk": (
        "privacy.anonymeter.singling_out.risk",
        "anonymeter: singling-out risk for training rows beyond the holdout's (0 = none)",
        "lower",
    ),
    "linkability_risk": (
        "privacy.anonymeter.linkability.risk",
        "anonymeter: risk of linking two halves of a training record through the synthetic rows",
        "lower",
    ),
    "anonymeter_risk_max": (
        "privacy.anonymeter.max_risk",
        "anonymeter: the largest of the three risks, over every secret column inferred",
        "lower",
    ),
    "sequence_length_tvd": ("sequences.lengths.tvd", "TVD of the number of events per entity", "lower"),
    "gap_tvd": ("sequences.gaps.tvd", "TVD of the time between an entity's consecutive events", "lower"),
    "entity_dcr_share": (
        "sequences.entity_privacy.dcr.share",
        "DCR share with whole histories as the unit (0.5 ideal)",
        "lower",
    ),
    "entity_mia_auc_max": (
        "sequences.entity_privacy.membership.max_auc",
        "membership inference on whole histories, best ROC AUC (0.5 = none)",
        "lower",
    ),
    "utility_tstr": ("utility.tstr.score", "model trained on synthetic, tested on the real holdout", "higher"),
    "utility_trtr": ("utility.trtr.score", "the same model trained on real data", "higher"),
    "utility_gap": (
        "utility.gap",
        "TRTR - TSTR: what training on synthetic data costs (positive = synthetic-trained is worse)",
        "lower",
    ),
    "fairness_dpd_change": (
        "fairness.max_abs_dpd_change",
        "largest |change| of a demographic-parity difference between groups, synthetic vs real",
        "lower",
    ),
}


SEQUENCE_HEADLINES = tuple(name for name, (path, _, _) in HEADLINES.items() if path.startswith("sequences."))
UTILITY_HEADLINES = ("utility_tstr", "utility_trtr", "utility_gap")
ANONYMETER_HEADLINES = {
    "singling_out_risk": "privacy.anonymeter.singling_out",
    "linkability_risk": "privacy.anonymeter.linkability",
}
# the main utility score per task (what `utility.score` holds), as people name it
UTILITY_METRIC = {"classification": "ROC AUC", "regression": "R2"}


def utility_metric(result: dict) -> str | None:
    """The name of the score the utility figures are in (ROC AUC or R2), or None when none was computed."""
    utility = result.get("utility") or {}
    return UTILITY_METRIC.get(utility.get("task")) if utility.get("status") != "not computed" else None


def anonymeter_detail(result: dict, name: str) -> dict | None:
    """{risk, ci, control_rate} behind an anonymeter headline; for the largest risk, the attack it came
    from (`attack` names it). None when not computed."""
    anonymeter = lookup(result, "privacy.anonymeter") or {}
    attacks = {"singling out": anonymeter.get("singling_out"), "linkability": anonymeter.get("linkability")}
    inference = anonymeter.get("inference") or {}
    if inference.get("status") != "not computed":
        attacks.update({f"inference of {secret}": r for secret, r in inference.items()})
    attacks = {k: r for k, r in attacks.items() if isinstance(r, dict) and "risk" in r}
    if name == "anonymeter_risk_max":
        if not attacks:
            return None
        attack = max(attacks, key=lambda k: attacks[k]["risk"])
        return {"attack": attack, **attacks[attack]}
    return attacks.get({"singling_out_risk": "singling out", "linkability_risk": "linkability"}.get(name, ""))


def risk_text(detail: dict) -> str:
    """An anonymeter risk as it must be read: with its interval and the control rate it is judged against."""
    where = f"{detail['attack']}: " if "attack" in detail else ""
    return (
        f"{where}95% interval {detail['ci'][0]:.3f} to {detail['ci'][1]:.3f}; attack success "
        f"{detail['attack_rate']:.3f} against {detail['control_rate']:.3f} on the holdout (control)"
    )


def lookup(result: dict, path: str):
    """The value at a dotted path, or None when absent or not computed."""
    node = result
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, dict) and node.get("status") == "not computed":
        return None
    return node


def _plain(value):
    """JSON-able copies: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Evaluation:
    """What `privsynth.evaluate` returns."""

    def __init__(self, result: dict, real: pd.DataFrame | None = None, synthetic: pd.DataFrame | None = None):
        self.result = _plain(result)
        self._real, self._synthetic = real, synthetic

    def to_dict(self) -> dict:
        return json.loads(json.dumps(self.result))

    def headline(self) -> dict[str, float | None]:
        out = {name: lookup(self.result, path) if path else None for name, (path, _, _) in HEADLINES.items()}
        if out["exact_match_train"] is not None and out["exact_match_holdout"] is not None:
            out["exact_match_excess"] = out["exact_match_train"] - out["exact_match_holdout"]
        return out

    def to_json(self, path: str | os.PathLike) -> Path:
        from privsynth.io import write_bytes_atomic

        text = json.dumps({"headline": self.headline(), **self.result}, indent=1, allow_nan=False)
        return write_bytes_atomic(path, lambda fh: fh.write(text.encode()))

    def is_sequence(self) -> bool:
        """True for an event-table evaluation (entity and time given): only then do sequence figures exist."""
        return (self.result.get("sequences") or {"status": "not computed"}).get("status") != "not computed"

    def meaning(self, name: str) -> str:
        """A headline's meaning for this evaluation: the utility score named (ROC AUC or R2), an anonymeter
        risk with its interval and control rate, and which direction is better."""
        _, meaning, better = HEADLINES[name]
        metric = utility_metric(self.result)
        if name in UTILITY_HEADLINES and metric:
            meaning = f"{meaning}, in {metric}"
        detail = (
            anonymeter_detail(self.result, name) if name in (*ANONYMETER_HEADLINES, "anonymeter_risk_max") else None
        )
        if detail:
            meaning = f"{meaning} ({risk_text(detail)})"
        return f"{meaning} ({better} is better)"

    def shown_headlines(self) -> list[str]:
        """The headline names this evaluation can have: sequence figures only for event tables."""
        return [n for n in HEADLINES if self.is_sequence() or n not in SEQUENCE_HEADLINES]

    def summary(self) -> list[tuple[str, str, str]]:
        """(metric, value, meaning) rows for the headline metrics (no sequence rows for a plain table)."""
        rows = []
        headline = self.headline()
        for name in self.shown_headlines():
            value = headline[name]
            shown = "not computed" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)
            rows.append((name, shown, self.meaning(name)))
        return rows

    def to_html(self, path: str | os.PathLike, gates: list | None = None, policy: str = "default") -> Path:
        """The self-contained HTML report; with `gates`, its first line is the verdict under `policy` (a name)."""
        from privsynth.evaluate.html import render
        from privsynth.io import write_bytes_atomic

        if gates is None:  # the shipped policy's gates: a report always opens with its verdict
            from privsynth.evaluate.gate import check, load_policy

            gates = check(self.headline(), load_policy())
        page = render(self, gates, policy)
        return write_bytes_atomic(path, lambda fh: fh.write(page.encode()))

    def __repr__(self) -> str:
        head = ", ".join(f"{k}={v:.3f}" for k, v in self.headline().items() if isinstance(v, float))
        return f"<privsynth.Evaluation {head}>"


def escape(value) -> str:
    return html.escape(str(value))
