"""Categories <-> integer codes, with rare categories protected.

A category seen fewer than `k` times is never reproduced verbatim: it is merged into one "other" code
(the last code). On decode, "other" becomes the user's marker if one is set, else a frequent-enough
category drawn in proportion to its frequency. Codes are ordered by frequency (most frequent first) so
that engines treating codes as ordered (the copula) see a meaningful order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _native(value):
    return value.item() if isinstance(value, np.generic) else value


def fit(values: np.ndarray, *, k: int = 5, marker: str | None = None) -> tuple[dict, dict]:
    """Learn frequent categories (count >= k) from non-null `values`. Returns (params, arrays)."""
    series = pd.Series(values, dtype=object).dropna()
    if series.empty:
        raise ValueError("no values to learn from")
    counts = series.value_counts(sort=False)
    order = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    frequent = [(_native(v), int(c)) for v, c in order if c >= k]
    rare_total = int(sum(c for _, c in order if c < k))
    if not frequent and marker is None:
        raise ValueError(
            f"every category occurs fewer than {k} times, so none can be reproduced without revealing "
            "rare values; set rare_category_marker (or a smaller rare_category_threshold, or policy: drop)"
        )
    params = {
        "categories": [v for v, _ in frequent],
        "other": rare_total > 0,
        "rare_merged": sum(1 for _, c in order if c < k),
        "marker": marker,
    }
    weights = [c for _, c in frequent] + ([rare_total] if rare_total else [])
    return params, {"counts": np.asarray(weights, dtype="int64")}


def cardinality(params: dict) -> int:
    return len(params["categories"]) + int(params["other"])


def encode(values: np.ndarray, params: dict) -> np.ndarray:
    """Codes as float64 (NaN for nulls); unknown or rare values get the "other" code."""
    series = pd.Series(values, dtype=object)
    cats = params["categories"]
    codes = (
        pd.Categorical(series, categories=pd.Index(cats, dtype=object)).codes.astype("float64")
        if cats
        else np.full(len(series), -1.0)
    )
    codes[codes < 0] = len(cats)
    codes[series.isna().to_numpy()] = np.nan
    if not params["other"]:
        codes[codes == len(cats)] = 0 if cats else np.nan  # unseen values in conditions: nearest is moot
    return codes


def decode(codes: np.ndarray, params: dict, arrays: dict, rng: np.random.Generator) -> np.ndarray:
    """Category values (object array) for codes; "other" becomes the marker or a frequent category."""
    cats = params["categories"]
    codes = np.asarray(codes)
    ints = np.clip(np.nan_to_num(codes, nan=0).astype("int64"), 0, max(cardinality(params) - 1, 0))
    table = np.empty(len(cats) + 1, dtype=object)
    table[: len(cats)] = cats
    table[len(cats)] = params["marker"]
    out = table[ints]
    other = ints == len(cats)
    if other.any() and params["marker"] is None:
        weights = arrays["counts"][: len(cats)].astype("float64")
        out[other] = table[rng.choice(len(cats), size=int(other.sum()), p=weights / weights.sum())]
    return out
