"""Privacy, measured against a holdout the generator never saw (a record it never saw is the yardstick).

- exact match rate: share of synthetic rows identical to some training row (all columns, nulls equal), and
  the same against the holdout, each on equal-sized samples (the larger is subsampled with the seed: more
  reference rows give more chance matches); [0, 1], lower is better, and train should not exceed holdout.
  One subsample is a noisy yardstick (on 1,500 rows of CPS1988 one draw read 0.33% where ten averaged 0.21%,
  the holdout's rate being 0.20%), so the larger side is drawn EXACT_DRAWS times: its rate is their mean, and
  their spread, divided by the finite-population factor (the draws overlap), gives the sampling sd of one
  equal-sized sample, from which `sampling_sd`, the sd of train - holdout when nothing is copied, follows;
  `excess_z` = (train - holdout) / sampling_sd: above 2, more matches with training rows than sampling noise
  explains (synthetic rows drawn independently of the training rows: mean ~0, sd 0.9-1.0 over 100 splits).
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
    over the population's density there, both nearest-neighbour estimates (k = 1), the population
    being half of the holdout that is kept out of the scored rows. Memorised rows sit where the synthetic
    density is high relative to the population's, which a plain distance misses in dense regions.
Distances are Euclidean on `MixedEncoder` features fitted on the training data; nearest neighbours come from
one blocked brute-force pass per pair of tables (`nearest`: streamed in chunks, never the whole matrix), both
directions at once; tables above MAX_ROWS = 20,000 rows are subsampled with the seed (recorded). The pass
costs rows^2: at 50,000 rows it took 37 CPU-seconds of a 50k x 20-column evaluation, at 20,000 rows 6.7;
on that table the DCR share read 0.5004 (50k) and 0.5014 (20k), the largest membership AUC 0.5009 and 0.4999.
The 5th-percentile distances depend on the reference size (more rows, nearer neighbours: 0.87 at 50k,
0.99 at 20k), which is why train and holdout are always compared at one size.
The singling-out, linkability and attribute-inference risks come from anonymeter (see `anonymeter_risks`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from privsynth.evaluate.common import MixedEncoder, Stopwatch, not_computed, subsample

MAX_ROWS = 20_000
CHUNK = 512
HISTOGRAM_BINS = 40
EXACT_DRAWS = 20


def _row_hashes(frame: pd.DataFrame) -> pd.Series:
    return pd.util.hash_pandas_object(frame, index=False)


def exact_match(reference: pd.DataFrame, synthetic: pd.DataFrame | pd.Series) -> float:
    """Share of synthetic rows identical to some reference row (`synthetic` may be its `_row_hashes`)."""
    hashes = synthetic if isinstance(synthetic, pd.Series) else _row_hashes(synthetic)
    return float(hashes.isin(set(_row_hashes(reference).to_numpy())).mean())


def exact_matches(train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, seed: int = 0) -> dict:
    """The exact-match figures of the module doc: each rate against equal-sized reference samples, the larger
    side drawn EXACT_DRAWS times (the first draw with `seed`, as a single draw always was)."""
    equal = min(len(train), len(holdout))
    draws = EXACT_DRAWS if max(len(train), len(holdout)) > equal else 1
    hashes = _row_hashes(synthetic)

    def rates(frame: pd.DataFrame, first: int) -> np.ndarray:
        # each row hashed once: a draw's hashes are the hashes of the rows `subsample` draws (same positions)
        rows = _row_hashes(frame)
        seeds = [first] + [seed + 1000 + k for k in range(1, draws)] if len(frame) > equal else [first]
        return np.array([float(hashes.isin(set(subsample(rows, equal, s).to_numpy())).mean()) for s in seeds])

    on_train, on_holdout = rates(train, seed), rates(holdout, seed + 1)
    out = {"train": float(on_train.mean()), "holdout": float(on_holdout.mean()), "reference_rows": equal,
           "draws": draws, "sampling_sd": None, "excess_z": None}  # fmt: skip
    spread = on_train if on_train.size > 1 else on_holdout
    if spread.size > 1:
        share = equal / max(len(train), len(holdout))
        one = spread.std(ddof=1) / np.sqrt(1.0 - share)  # the sd of one independent equal-sized sample
        # the excess compares one such sample with a mean over draws from a fixed larger table, which itself
        # sits share * one^2 (variance) from the population's figure
        sd = float(one * np.sqrt(1.0 + share + (1.0 - share) / draws))
        out["sampling_sd"] = sd
        excess = out["train"] - out["holdout"]
        if sd > 0 or excess == 0:  # every draw alike and no excess (e.g. no match at all): z 0
            out["excess_z"] = excess / sd if sd > 0 else 0.0
    return out


def nearest(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest-neighbour distances both ways from one pass over the a x b distance matrix: for each row of `a`
    its nearest and second-nearest row of `b`, and for each row of `b` its nearest row of `a`.

    The matrix is never held whole: blocks of CHUNK rows of `a` are computed with one BLAS product each (float32,
    ||a||^2 + ||b||^2 - 2ab) on two threads, reduced to arg-minima and dropped, so memory stays at
    2 x CHUNK x len(b) floats. The distances returned are recomputed exactly (float64) for the chosen
    neighbours; float32 may pick, among neighbours whose squared distances differ by less than ~1e-6 of the
    squared norms, not the very nearest (on encoded tables the result matched a float64 pass exactly, which
    costs twice the time), and a row with an exact copy on the other side is always at distance 0 (rows are
    matched by their bytes). scikit-learn's NearestNeighbors picks brute force at this
    width too (mixed tables encode to 50-150 dimensions, where its trees took 407 s instead of 8 s for
    50k x 50k); one pass for both directions halves the work (8.4 s against 15.3 s for two of its queries).
    """
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    if len(a) == 0 or len(b) < 2:
        raise ValueError("nearest needs rows in a and at least two rows in b")
    norm_a, norm_b = np.einsum("ij,ij->i", a, a), np.einsum("ij,ij->i", b, b)
    columns = np.arange(len(b))

    def block(start: int) -> tuple:
        d = a[start : start + CHUNK] @ b.T
        d *= -2
        d += norm_b[None, :]
        d += norm_a[start : start + CHUNK, None]
        rows = np.arange(len(d))
        first = d.argmin(axis=1)
        column_arg = d.argmin(axis=0)
        column_min = d[column_arg, columns]
        d[rows, first] = np.inf
        return first, d.argmin(axis=1), column_arg + start, column_min

    with threadpool_limits(1), ThreadPoolExecutor(2) as pool:
        blocks = list(pool.map(block, range(0, len(a), CHUNK)))
    first = np.concatenate([blk[0] for blk in blocks])
    second = np.concatenate([blk[1] for blk in blocks])
    winner = np.vstack([blk[3] for blk in blocks]).argmin(axis=0)
    b_to_a = np.vstack([blk[2] for blk in blocks])[winner, columns]
    picks = np.sort(np.column_stack([_distance(a, b[first]), _distance(a, b[second])]), axis=1)
    to_a = _distance(b, a[b_to_a])
    # a row with an exact copy: the copy is nearest, the nearer pick that is not it second
    copied = _has_copy(a, b)
    second_if_copied = np.where(picks[:, 0] == 0, picks[:, 1], picks[:, 0])
    to_b, second_to_b = np.where(copied, 0.0, picks[:, 0]), np.where(copied, second_if_copied, picks[:, 1])
    to_a[_has_copy(b, a)] = 0.0
    return to_b, second_to_b, to_a


def _has_copy(rows: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Which of `rows` equal some row of `others` byte for byte."""
    keys = {row.tobytes() for row in np.ascontiguousarray(others)}
    return np.fromiter((row.tobytes() in keys for row in np.ascontiguousarray(rows)), bool, len(rows))


def _distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.sqrt(((x.astype(np.float64) - y) ** 2).sum(axis=1))


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


def density_ratio_scores(r_syn: np.ndarray, r_population: np.ndarray) -> np.ndarray:
    """log p_syn(x) - log p_population(x) up to a constant, from 1-nearest-neighbour density estimates
    (p ~ 1 / (n r^d), so the ratio is monotone in r_population / r_syn); distances are floored to keep ties
    finite. k = 1 on purpose: larger k smooths memorised rows away (an exact copy scored AUC 0.70 at k = 2 and
    0.60 at k = 5, above 0.95 at k = 1)."""
    floor = 1e-6
    return np.log(r_population + floor) - np.log(r_syn + floor)


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
    anonymeter: bool = True,
    stopwatch: Stopwatch | None = None,
) -> dict:
    """Every privacy figure of the module doc; `secrets` are the columns anonymeter's inference attack targets.
    `stopwatch` books the seconds of each family (exact match, distances, membership, anonymeter)."""
    from privsynth.evaluate.anonymeter_risk import anonymeter_risks

    if len(train) < 20 or len(holdout) < 20 or len(synthetic) < 20:
        return not_computed("needs at least 20 rows in each of train, holdout and synthetic")
    # equal-sized references: a larger table offers more rows to match by chance
    equal = min(len(train), len(holdout))
    watch = stopwatch or Stopwatch()
    with watch("privacy: exact match"):
        result: dict = {"exact_match": exact_matches(train, holdout, synthetic, seed)}
    size = min(equal, MAX_ROWS)
    tr, ho = subsample(train, size, seed), subsample(holdout, size, seed + 1)
    syn = subsample(synthetic, MAX_ROWS, seed + 2)
    with watch("privacy: distances (DCR, NNDR, distance attack)"):
        encoder = MixedEncoder.fit(train)
        x_tr, x_ho, x_syn = encoder.transform(tr), encoder.transform(ho), encoder.transform(syn)
        d_train, d_train_second, train_to_syn = nearest(x_syn, x_tr)
        to_holdout, _, holdout_to_syn = nearest(x_syn, x_ho)
    share = np.where(d_train < to_holdout, 1.0, np.where(d_train == to_holdout, 0.5, 0.0)).mean()
    ratio = d_train / np.where(d_train_second > 0, d_train_second, np.inf)
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
    attacks = {"distance": attack_scores(-np.r_[train_to_syn, holdout_to_syn], members)}
    # the density attack needs a population sample it does not score: half the holdout, the other half and as
    # many training rows are scored
    half = size // 2
    rng = np.random.default_rng(seed + 3)
    ho_order, tr_order = rng.permutation(size), rng.permutation(size)[:half]
    if half >= 20:
        scored = np.vstack([x_tr[tr_order], x_ho[ho_order[half : 2 * half]]])
        r_syn = np.r_[train_to_syn[tr_order], holdout_to_syn[ho_order[half : 2 * half]]]
        with watch("privacy: density-ratio attack"):
            r_population = nearest(scored, x_ho[ho_order[:half]])[0]
        scores = density_ratio_scores(r_syn, r_population)
        attacks["density_ratio"] = attack_scores(scores, np.r_[np.ones(half), np.zeros(half)]) | {"rows_scored": half}
    else:
        attacks["density_ratio"] = not_computed("needs at least 40 holdout rows")
    aucs = [a["auc"] for a in attacks.values() if "auc" in a]
    result["membership"] = attacks | {"max_auc": max(aucs)}
    if anonymeter:
        result["anonymeter"] = anonymeter_risks(train, synthetic, holdout, list(secrets), seed=seed, stopwatch=watch)
    if size < min(len(train), len(holdout)) or len(syn) < len(synthetic):
        result["subsampled"] = f"tables above {size:,} rows were subsampled with seed {seed}"
    return result


def focused_privacy(
    train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame, column: str, value, *, seed: int = 0
) -> dict:
    """The distance figures and attacks restricted to the rows where `column` == `value` in all three
    tables: the boosted class of a rebalanced or augmented output is where copying would hide (its few real
    rows are the ones the generator was pushed to reproduce)."""

    def rows(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame[column].astype(str) == str(value)]

    parts = {"train": rows(train), "synthetic": rows(synthetic), "holdout": rows(holdout)}
    counts = {name: len(part) for name, part in parts.items()}
    if min(counts.values()) < 20:
        return not_computed(f"needs 20+ rows with {column} = {value} in each table, got {counts}") | {
            "column": column,
            "value": str(value),
            "rows": counts,
        }
    figures = copying_figures(parts["train"], parts["synthetic"], parts["holdout"], seed=seed)
    return {"column": column, "value": str(value), "rows": counts, **figures}


def copying_figures(train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame, *, seed: int = 0) -> dict:
    """Exact match, DCR (without its histogram) and membership inference alone: the figures that say whether
    a subset (a boosted class, whole histories) was copied; anonymeter is left out."""
    figures = evaluate_privacy(train, synthetic, holdout, seed=seed, anonymeter=False)
    if "exact_match" not in figures:  # too few rows: the not-computed reason
        return figures
    return {
        "exact_match": figures["exact_match"],
        "dcr": {k: v for k, v in figures["dcr"].items() if k != "histogram"},
        "membership": figures["membership"],
    }
