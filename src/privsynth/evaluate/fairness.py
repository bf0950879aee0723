"""Fairness: does the synthetic table keep each sensitive group's size and outcomes, or distort them?

For each sensitive column:
- groups: the real data's values with at least MIN_GROUP_ROWS rows (numbers and datetimes: the real data's
  quartiles), rarer values pooled as "(other)", nulls as "(null)"; at most MAX_GROUPS groups.
- group shares, real vs synthetic, and their total-variation distance ([0, 1], lower is better).
- outcome per group, real vs synthetic (needs a target): the rate of each target class for a categorical
  target, the mean for a numeric one. The demographic-parity difference (DPD) of a table is the largest gap
  in outcome between two groups (for several classes, the largest over classes; for a numeric target,
  divided by the real target's standard deviation). `dpd_change` = DPD(synthetic) - DPD(real): positive
  means the synthetic data amplifies the gap between groups, negative that it narrows it; 0 is best.
- TSTR per group (needs a holdout and a target): the utility models' scores on each group's holdout rows,
  next to TRTR, from `utility.evaluate_utility(groups=...)`.
A column with a single group cannot be assessed and is reported as not computed, with the reason.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from privsynth.evaluate.common import as_numbers, not_computed

MIN_GROUP_ROWS = 30
MAX_GROUPS = 20
NULL, OTHER = "(null)", "(other)"


class Grouping:
    """How one sensitive column's values map to groups, learned on the real data."""

    def __init__(self, real: pd.Series):
        numbers = as_numbers(real)
        self.edges = None
        if numbers is not None and numbers.nunique() > MAX_GROUPS:
            edges = np.unique(np.nanquantile(numbers.to_numpy(), [0.25, 0.5, 0.75]))
            self.edges = edges
            self.levels = [f"< {edges[0]:g}"]
            self.levels += [f"[{a:g}, {b:g})" for a, b in itertools.pairwise(edges)]
            self.levels += [f">= {edges[-1]:g}"]
        else:
            counts = real.dropna().astype(str).value_counts()
            self.levels = sorted(counts[counts >= MIN_GROUP_ROWS].index[:MAX_GROUPS])

    def labels(self, series: pd.Series) -> pd.Series:
        if self.edges is not None:
            numbers = as_numbers(series)
            if numbers is None:
                return pd.Series(OTHER, index=series.index)
            codes = np.searchsorted(self.edges, numbers.to_numpy(), side="right")
            out = pd.Series(
                np.asarray(self.levels, dtype=object)[np.minimum(codes, len(self.levels) - 1)], series.index
            )
            return out.where(numbers.notna(), NULL)
        text = series.astype(str)
        return text.where(text.isin(self.levels), OTHER).where(series.notna(), NULL)


def _shares(labels: pd.Series) -> pd.Series:
    return labels.value_counts(normalize=True)


def _outcomes(labels: pd.Series, target: pd.Series, classes: list | None) -> pd.DataFrame:
    """Rows: groups; columns: the rate of each class (categorical target) or "mean" (numeric target)."""
    keep = target.notna()
    labels, target = labels[keep], target[keep]
    if classes is None:
        return target.astype("float64").groupby(labels).mean().to_frame("mean")
    dummies = pd.get_dummies(pd.Categorical(target.astype(str), categories=classes)).astype("float64")
    dummies.index = labels.index
    return dummies.groupby(labels).mean()


def _dpd(outcomes: pd.DataFrame, groups: list, scale: float) -> float | None:
    table = outcomes.reindex(groups).dropna(how="all")
    if len(table) < 2:
        return None
    return float((table.max() - table.min()).max() / scale)


def evaluate_fairness(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    sensitive: list[str],
    *,
    target: str | None = None,
    by_group_utility: dict | None = None,
) -> dict:
    """Group shares, outcome gaps and TSTR per group for each sensitive column (see the module doc)."""
    from privsynth.evaluate.utility import is_classification

    out: dict = {}
    for name in sensitive:
        if name == target:
            out[name] = not_computed("the sensitive column is the target itself")
            continue
        grouping = Grouping(real[name])
        r_labels, s_labels = grouping.labels(real[name]), grouping.labels(synthetic[name])
        r_shares, s_shares = _shares(r_labels), _shares(s_labels)
        # groups large enough in the real data to judge; (other)/(null) count when large enough too
        groups = [g for g in r_shares.index if r_shares[g] * len(real) >= MIN_GROUP_ROWS]
        if len(groups) < 2:
            out[name] = not_computed(
                f"column {name!r} has fewer than two groups of at least {MIN_GROUP_ROWS} rows in the real data"
            )
            continue
        everything = list(dict.fromkeys([*groups, *r_shares.index, *s_shares.index]))
        column: dict = {
            "groups": {
                g: {"real_share": float(r_shares.get(g, 0.0)), "synthetic_share": float(s_shares.get(g, 0.0))}
                for g in everything
            },
            "share_tvd": float(
                0.5
                * (r_shares.reindex(everything, fill_value=0) - s_shares.reindex(everything, fill_value=0)).abs().sum()
            ),
        }
        if target is None:
            column["outcome"] = not_computed("needs a target column (--target)")
        elif real[target].nunique() < 2:
            column["outcome"] = not_computed(f"the target {target!r} is constant in the real data")
        else:
            classification = is_classification(real[target])
            classes = sorted(real[target].dropna().astype(str).unique()) if classification else None
            scale = 1.0 if classification else float(real[target].astype("float64").std()) or 1.0
            r_out = _outcomes(r_labels, real[target], classes)
            s_out = _outcomes(s_labels, synthetic[target], classes)
            for g in groups:
                for side, table in (("real", r_out), ("synthetic", s_out)):
                    row = table.loc[g] if g in table.index else None
                    column["groups"][g][f"{side}_outcome"] = (
                        None if row is None else {str(k): float(v) for k, v in row.items()}
                    )
            dpd_real, dpd_syn = _dpd(r_out, groups, scale), _dpd(s_out, groups, scale)
            column["outcome"] = {
                "kind": "class rates" if classification else "mean (difference in real standard deviations)",
                "dpd_real": dpd_real,
                "dpd_synthetic": dpd_syn
                if dpd_syn is not None
                else not_computed("fewer than two of the groups appear in the synthetic data"),
                "dpd_change": (dpd_syn - dpd_real)
                if dpd_syn is not None and dpd_real is not None
                else not_computed("a demographic-parity difference was not computed"),
            }
        if by_group_utility is not None and name in by_group_utility:
            column["utility_by_group"] = by_group_utility[name]
        out[name] = column
    changes = [
        abs(c["outcome"]["dpd_change"])
        for c in out.values()
        if isinstance(c.get("outcome"), dict) and isinstance(c["outcome"].get("dpd_change"), float)
    ]
    return {
        "columns": out,
        "max_abs_dpd_change": max(changes) if changes else not_computed("no outcome gap was computed"),
    }
