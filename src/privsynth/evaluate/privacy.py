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
- membership inference, two attacks, each scoring training rows (members) against holdout rows (non-members);
  ROC AUC and TPR at 10% and 1% FPR (0.5 and the FPR itself = no signal), and the maximum AUC over attacks:
  - distance: minus the distance to the nearest synthetic row;
  - density ratio (in the spirit of DOMIAS, van Breugel et al. 2023): the synthetic data's density at a row
    over the population's density there, both k-nearest-neighbour estimates (k = DENSITY_K), the population
    being half of the holdout that is kept out of the scored rows. Memorised rows sit where the synthetic
    density is high relative to the population's, which a plain distance misses in dense regions.
Distances are Euclidean on `MixedEncoder` features fitted on the training data; nearest neighbours come from
scikit-learn's index, queried in chunks; tables above 50,000 rows are subsampled with the seed (recorded).
The singling-out, linkability and attribute-inference risks come from anonymeter (see `anonymeter_risks`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from privsynth.evaluate.common import MixedEncoder, not_computed, subsample

MAX_ROWS = 50_000
CHUNK = 20_000
DENSITY_K = 1  # larger k smooths memorised rows away: an exact copy scored AUC 0.70 at k=2, 0.60 at k=5
HISTOGRAM_BINS = 40


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


def attack_scores(scores: np.ndarray, members: np.ndarray) -> dict:
    """ROC AUC and TPR at 10% / 1% FPR of membership scores (higher = more likely a member)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(members, scores)
    return {
        "auc": float(roc_auc_score(members, scores)),
        "tpr_at_fpr_10": _tpr_at(fpr, tpr, 0.10),
        "tpr_at_fpr_01": _tpr_at(fpr, tpr, 0.01),
    }


def density_ratio_scores(x_syn: np.ndarray, x_population: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """log p_syn(x) - log p_population(x) up to a constant, from k-NN density estimates: p ~ k / (n r_k^d),
    so the ratio is monotone in r_k(population) / r_k(synthetic); distances are floored to keep ties finite."""
    k = min(DENSITY_K, len(x_syn), len(x_population))
    floor = 1e-6
    r_syn = _nearest(x_syn, queries, k=k)[:, -1]
    r_pop = _nearest(x_population, queries, k=k)[:, -1]
    return np.log(r_pop + floor) - np.log(r_syn + floor)


def _histograms(d_train: np.ndarray, d_holdout: np.ndarray) -> dict:
    """The two DCR distributions on shared bins (for the report's plot)."""
    top = float(np.percentile(np.r_[d_train, d_holdout], 99)) or 1.0
    edges = np.linspace(0.0, top, HISTOGRAM_BINS + 1)
    return {
        "edges": [round(float(e), 6) for e in edges],
        "train": np.histogram(np.minimum(d_train, top), edges)[0].tolist(),
        "holdout": np.histogram(np.minimum(d_holdout, top), edges)[0].tolist(),
    }


def evaluate_privacy(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    *,
    secrets: list[str] | tuple[str, ...] = (),
    seed: int = 0,
) -> dict:
    """Every privacy figure of the module doc; `secrets` are the columns anonymeter's inference attack targets."""
    from privsynth.evaluate.anonymeter_risk import anonymeter_risks

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
        "histogram": _histograms(d_train, to_holdout),
    }
    result["nndr"] = {"median": float(np.median(ratio)), "p05": float(np.percentile(ratio, 5))}
    members = np.r_[np.ones(size), np.zeros(size)]
    attacks = {"distance": attack_scores(-np.r_[_nearest(x_syn, x_tr)[:, 0], _nearest(x_syn, x_ho)[:, 0]], members)}
    # the density attack needs a population sample it does not score: half the holdout, the other half and as
    # many training rows are scored
    half = size // 2
    rng = np.random.default_rng(seed + 3)
    ho_order, tr_order = rng.permutation(size), rng.permutation(size)[:half]
    population, scored_out, scored_in = x_ho[ho_order[:half]], x_ho[ho_order[half : 2 * half]], x_tr[tr_order]
    if half >= 20:
        scores = density_ratio_scores(x_syn, population, np.vstack([scored_in, scored_out]))
        attacks["density_ratio"] = attack_scores(scores, np.r_[np.ones(half), np.zeros(half)]) | {"rows_scored": half}
    else:
        attacks["density_ratio"] = not_computed("needs at least 40 holdout rows")
    aucs = [a["auc"] for a in attacks.values() if "auc" in a]
    result["membership"] = attacks | {"max_auc": max(aucs)}
    result["anonymeter"] = anonymeter_risks(train, synthetic, holdout, list(secrets), seed=seed)
    if size < min(len(train), len(holdout)) or len(syn) < len(synthetic):
        result["subsampled"] = f"tables above {size:,} rows were subsampled with seed {seed}"
    return result
