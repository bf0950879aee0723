"""Augmentation: real rows plus synthetic rows of the minority class, each row tagged real or synthetic."""

from __future__ import annotations

import math

import pandas as pd

from privsynth.errors import ParameterError


def augment(
    data: pd.DataFrame,
    model,
    target: str,
    minority_share: float,
    tag_column: str = "source",
    minority: object | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """`data` plus just enough synthetic rows of the `minority` value of `target` (default: its rarest
    value) that the value makes up `minority_share` of the result. Synthetic rows come from `model`
    conditioned on that value; `tag_column` says "real" or "synthetic" per row. `data` is not modified.
    The mix is in `result.attrs["privsynth"]`."""
    if not 0 < minority_share < 1:
        raise ParameterError(f"--minority-share must be between 0 and 1, got {minority_share:g}")
    if target not in data.columns:
        raise ParameterError(f"no column {target!r} in the data")
    if tag_column in data.columns:
        raise ParameterError(f"the data already has a column {tag_column!r}: name the tag column with --tag-column")
    counts = data[target].value_counts()
    if counts.empty:
        raise ParameterError(f"column {target!r} has no values")
    if minority is None:
        minority = counts.idxmin()
    else:
        by_text = {str(v): v for v in counts.index}
        if str(minority) not in by_text:
            raise ParameterError(f"column {target!r} has no value {minority!r}")
        minority = by_text[str(minority)]
    have, total = int(counts[minority]), len(data)
    extra = math.ceil((minority_share * total - have) / (1 - minority_share))
    if extra <= 0:
        raise ParameterError(
            f"{target}={minority} is already {have / total:.1%} of the rows (asked for {minority_share:.1%})"
        )
    synthetic = model.sample(extra, seed=seed, conditions={target: minority})
    missing = [c for c in data.columns if c not in synthetic.columns]
    if missing:
        raise ParameterError(f"the model does not produce column(s) {', '.join(map(repr, missing))} of the data")
    real = data.assign(**{tag_column: "real"})
    fake = synthetic[list(data.columns)].assign(**{tag_column: "synthetic"})
    out = pd.concat([real, fake], ignore_index=True)
    out.attrs["privsynth"] = {
        "kind": "augmented",
        "target": target,
        "minority": str(minority),
        "real_rows": total,
        "synthetic_rows": int(extra),
        "minority_share_before": have / total,
        "minority_share_after": (have + extra) / (total + extra),
        "tag_column": tag_column,
        "seed": seed,
        "sampling": synthetic.attrs.get("privsynth"),
    }
    return out


def fair_conditions(
    model,
    n: int,
    sensitive: str,
    equalise: str = "shares",
    target: str | None = None,
    positive: object | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Per-row values that make a sample fair across the groups of `sensitive`: `equalise="shares"` gives
    every group the same number of rows; `equalise="outcome"` keeps the model's group shares but gives every
    group the same rate of `target` == `positive` (the model's overall rate), exact to a row. Pass the result
    as `conditions` to `Model.sample`: the other columns come from the model's conditional distribution."""
    import numpy as np

    if equalise not in ("shares", "outcome"):
        raise ParameterError(f"equalise takes 'shares' or 'outcome', got {equalise!r}")
    pilot = model.sample(min(max(n, 2_000), 20_000), seed=seed + 2)
    for name in filter(None, [sensitive, target]):
        if name not in pilot.columns:
            raise ParameterError(f"no column {name!r} in the model's output")
    rng = np.random.default_rng(seed + 3)
    groups = pilot[sensitive].dropna().value_counts(normalize=True)
    if len(groups) < 2:
        raise ParameterError(f"column {sensitive!r} has fewer than two groups in the model")
    shares = pd.Series(1 / len(groups), index=groups.index) if equalise == "shares" else groups
    counts = (shares * n).round().astype(int)
    counts.iloc[0] += n - counts.sum()
    column = np.concatenate([np.full(c, g, dtype=object) for g, c in counts.items()])
    out = pd.DataFrame({sensitive: column})
    if equalise == "outcome":
        if target is None or positive is None:
            raise ParameterError("equalising outcome rates needs the target column and its positive value")
        by_text = {str(v): v for v in pilot[target].dropna().unique()}
        if str(positive) not in by_text:
            raise ParameterError(f"the model never gives {target!r} the value {positive!r}")
        positive = by_text[str(positive)]
        rate = float((pilot[target] == positive).mean())
        negatives = pilot.loc[pilot[target] != positive, target].dropna()
        values = np.empty(n, dtype=object)
        start = 0
        for _, c in counts.items():
            k = round(rate * c)
            values[start : start + k] = positive
            values[start + k : start + c] = rng.choice(negatives.to_numpy(dtype=object), size=c - k)
            start += c
        out[target] = values
    return out.iloc[rng.permutation(n)].reset_index(drop=True)
