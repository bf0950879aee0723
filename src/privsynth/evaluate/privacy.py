"""Privacy, measured against a holdout the generator never saw (a record it never saw is the yardstick).

- exact match rate: share of synthetic rows identical to some training row (all columns, nulls equal), and
  the same against the holdout, each on equal-sized samples (the larger is subsampled with the seed: more
  reference rows give more chance matches); [0, 1], lower is better, and train should not exceed holdout.
- DCR share: for each synthetic row, is its nearest training row closer than its nearest holdout row (ties
  count 0.5)? Train and holdout are subsampled to the same size (fixed seed), so 0.5 is ideal; the field's
  bar is <= 0.52 (memorising generators score 0.55-0.60). Also the 5th percentile of the distance to the
  closest training row and to the closest holdout row.
- NNDR: distance to the nearest / to the second nearest training row (median and 5th percentile); values
  near 0 mean synthetic rows sit on single training rows.
- membership inference (distance attack): score each training row (member) and holdout row (non-member) by
  minus its distance to the nearest synthetic row; ROC AUC and TPR at 10% and 1% FPR. 0.5 = no signal.
Distances are Euclidean on `MixedEncoder` features fitted on the training data; nearest neighbours come from
scikit-learn's index, queried in chunks; tables above 50,000 rows are subsampled with the seed (recorded).
Not here yet: the density-ratio (DOMIAS-style) attack and anonymeter's singling-out, linkability and
attribute-inference risks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from privsynth.evaluate.common import MixedEncoder, not_computed, subsample

MAX_ROWS = 50_000
CHUNK = 20_000


def exact_match(reference: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    keys = set(pd.util.hash_pandas_object(reference, index=False).to_numpy())
    return float(pd.util.hash_pandas_object(synthetic, index=False).isin(keys).mean())


def _nearest(index_data: np.ndarray, queries: np.ndarray, k: int = 1) -> np.ndarray:
    """Distances of each query to its k nearest rows of `index_data` (chunked queries)."""
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=k).fit(index_data)
    parts = [index.kneighbors(queries[i : i + CHUNK])[0] for i in range(0, len(queries), CHUNK)]
    return np.vstack(parts) if parts else np.empty((0, k))


def _tpr_at(fpr: np.ndarray, tpr: np.ndarray, level: float) -> float:
    return float(np.interp(level, fpr, tpr))


def evaluate_privacy(
    train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame, *, target: str | None = None, seed: int = 0
) -> dict:
    from sklearn.metrics import roc_auc_score, roc_curve

    if len(train) < 20 or len(holdout) < 20 or len(synthetic) < 20:
        return not_computed("needs at least 20 rows in each of train, holdout and synthetic")
    # equal-sized references: a larger table offers more rows to match by chance
    equal = min(len(train), len(holdout))
    result: dict = {
        "exact_match": {
            "train": exact_match(subsample(train, equal, seed), synthetic),
            "holdout": exact_match(subsample(holdout, equal, seed + 1), synthetic),
            "reference_rows": equal,
        }
    }
    size = min(equal, MAX_ROWS)
    tr, ho = subsample(train, size, seed), subsample(holdout, size, seed + 1)
    syn = subsample(synthetic, MAX_ROWS, seed + 2)
    encoder = MixedEncoder.fit(train)
    x_tr, x_ho, x_syn = encoder.transform(tr), encoder.transform(ho), encoder.transform(syn)
    to_train = _nearest(x_tr, x_syn, k=2)
    to_holdout = _nearest(x_ho, x_syn, k=1)[:, 0]
    d_train = to_train[:, 0]
    share = np.where(d_train < to_holdout, 1.0, np.where(d_train == to_holdout, 0.5, 0.0)).mean()
    ratio = d_train / np.where(to_train[:, 1] > 0, to_train[:, 1], np.inf)
    result["dcr"] = {
        "share": float(share),
        "train_p05": float(np.percentile(d_train, 5)),
        "holdout_p05": float(np.percentile(to_holdout, 5)),
        "rows_compared": size,
        "synthetic_rows": len(syn),
    }
    result["nndr"] = {"median": float(np.median(ratio)), "p05": float(np.percentile(ratio, 5))}
    scores = -np.r_[_nearest(x_syn, x_tr)[:, 0], _nearest(x_syn, x_ho)[:, 0]]
    members = np.r_[np.ones(size), np.zeros(size)]
    fpr, tpr, _ = roc_curve(members, scores)
    distance_attack = {
        "auc": float(roc_auc_score(members, scores)),
        "tpr_at_fpr_10": _tpr_at(fpr, tpr, 0.10),
        "tpr_at_fpr_01": _tpr_at(fpr, tpr, 0.01),
    }
    result["membership"] = {"distance": distance_attack, "max_auc": distance_attack["auc"]}
    if size < min(len(train), len(holdout)) or len(syn) < len(synthetic):
        result["subsampled"] = f"tables above {size:,} rows were subsampled with seed {seed}"
    return result
