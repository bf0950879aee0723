"""Utility: is the synthetic table as good as the real one for training a model?

TSTR (train on synthetic, test on real) against TRTR (train on real, test on real), both scored on the real
holdout with one fixed gradient-boosting model (scikit-learn's HistGradientBoosting, fixed hyper-parameters
and seed). Task: classification when the target is text, boolean, or has at most 10 distinct values
(ROC AUC, macro one-vs-rest for several classes, and accuracy); regression otherwise (R2 and MAE).
`gap` = TRTR - TSTR of the main score (ROC AUC or R2): 0 means training on synthetic data costs nothing.
Feature-importance agreement: Spearman rank correlation of the two models' permutation importances on the
holdout.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from privsynth.evaluate.common import TreeFeatures, as_numbers, not_computed, one_openmp_thread, subsample

MAX_TRAIN_ROWS = 50_000
MAX_CLASSES_AS_CLASSIFICATION = 10
MIN_GROUP_TEST_ROWS = 20


def is_classification(target: pd.Series) -> bool:
    return as_numbers(target) is None or target.nunique() <= MAX_CLASSES_AS_CLASSIFICATION


def model(classification: bool, features: TreeFeatures, seed: int):
    """The one fixed model both sides train."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    kind = HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor
    mask = features.categorical_mask
    return kind(max_iter=200, learning_rate=0.1, random_state=seed, categorical_features=mask if any(mask) else None)


def _scores(fitted, x: np.ndarray, y: pd.Series, classification: bool) -> dict:
    from sklearn.metrics import accuracy_score, mean_absolute_error, r2_score, roc_auc_score

    if not classification:
        predicted = fitted.predict(x)
        return {
            "score": float(r2_score(y, predicted)),
            "r2": float(r2_score(y, predicted)),
            "mae": float(mean_absolute_error(y, predicted)),
        }
    out = {"accuracy": float(accuracy_score(y, fitted.predict(x)))}
    classes = list(fitted.classes_)
    if set(y.unique()) - set(classes) or y.nunique() < 2:
        out["score"] = not_computed("the holdout has classes the model never saw, or only one class")
        return out
    proba = fitted.predict_proba(x)
    if len(classes) == 2:
        auc = roc_auc_score(y == classes[1], proba[:, 1])
    else:
        auc = roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes)
    out["score"] = out["roc_auc"] = float(auc)
    return out


PERMUTED_ROWS_PER_PREDICT = 200_000


def permutation_importance_means(fitted, x: np.ndarray, y: pd.Series, n_repeats: int, seed: int) -> np.ndarray:
    """`sklearn.inspection.permutation_importance(fitted, x, y, n_repeats=n_repeats, random_state=seed)
    .importances_mean`: the mean drop of the model's own score (accuracy, or R2) when one feature's values
    are shuffled, with the very permutations scikit-learn draws (its seeding replayed), but the permuted
    copies predicted together, up to PERMUTED_ROWS_PER_PREDICT rows a call, instead of one call per copy:
    gradient boosting's predict costs per tree and per call, and those calls took 14.3 of the 19.3 s of
    utility on 2,000 rows."""
    random_seed = np.random.RandomState(seed).randint(np.iinfo(np.int32).max + 1)
    n = len(x)
    y = np.asarray(y)

    baseline = _score(fitted, fitted.predict(x), y)
    permuted_scores: list[float] = []
    pending: list[np.ndarray] = []
    for column in range(x.shape[1]):
        state, order, permuted = np.random.RandomState(random_seed), np.arange(n), x.copy()
        for _ in range(n_repeats):
            state.shuffle(order)
            permuted[:, column] = permuted[order, column]
            pending.append(permuted.copy())
        if len(pending) * n >= PERMUTED_ROWS_PER_PREDICT or column == x.shape[1] - 1:
            predicted = fitted.predict(np.vstack(pending))
            permuted_scores += [_score(fitted, predicted[k * n : (k + 1) * n], y) for k in range(len(pending))]
            pending = []
    drops = baseline - np.array(permuted_scores).reshape(x.shape[1], n_repeats)
    return drops.mean(axis=1)


def _score(fitted, predicted: np.ndarray, y: np.ndarray) -> float:
    """The model's own `score` from its predictions: accuracy for a classifier, R2 for a regressor."""
    from sklearn.base import is_classifier
    from sklearn.metrics import accuracy_score, r2_score

    return float(accuracy_score(y, predicted) if is_classifier(fitted) else r2_score(y, predicted))


def evaluate_utility(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    target: str,
    *,
    seed: int = 0,
    groups: dict | None = None,
) -> dict:
    """TSTR and TRTR scores on the holdout, their gap and the importance agreement (see module doc).
    `groups` maps sensitive columns to a `fairness.Grouping`: both models are then also scored on each
    group's holdout rows (groups with fewer than MIN_GROUP_TEST_ROWS rows are left out), in "by_group"."""
    from scipy.stats import spearmanr

    if len(synthetic) == 0 or len(holdout) == 0:
        return not_computed("the synthetic table or the holdout is empty")
    for label, frame in (("real", real), ("synthetic", synthetic)):
        if frame[target].nunique() < 2:
            return not_computed(f"the target {target!r} is constant in the {label} data")
    classification = is_classification(real[target])
    train_real = subsample(real[real[target].notna()], MAX_TRAIN_ROWS, seed)
    train_syn = subsample(synthetic[synthetic[target].notna()], MAX_TRAIN_ROWS, seed)
    test = holdout[holdout[target].notna()]
    features = TreeFeatures(train_real, target)
    y_test = test[target].astype(str) if classification else test[target].astype("float64")
    result = {
        "task": "classification" if classification else "regression",
        "target": target,
        "train_rows": {"real": len(train_real), "synthetic": len(train_syn)},
    }

    def fit(frame: pd.DataFrame):
        y = frame[target].astype(str) if classification else frame[target].astype("float64")
        return model(classification, features, seed).fit(features.transform(frame), y)

    # the two fits side by side on two threads, each on one OpenMP thread (see `one_openmp_thread`)
    with one_openmp_thread(), ThreadPoolExecutor(2) as pool:
        fitted = dict(zip(("trtr", "tstr"), pool.map(fit, (train_real, train_syn)), strict=True))
    for side in ("trtr", "tstr"):
        result[side] = _scores(fitted[side], features.transform(test), y_test, classification)
    if groups:
        x_test = features.transform(test)
        result["by_group"] = {}
        for name, grouping in groups.items():
            labels = grouping.labels(test[name]).to_numpy()
            per_group = {}
            for group in pd.unique(labels):
                rows = labels == group
                if rows.sum() >= MIN_GROUP_TEST_ROWS:
                    per_group[str(group)] = {"rows": int(rows.sum())} | {
                        side: _scores(fitted[side], x_test[rows], y_test[rows], classification)
                        for side in ("trtr", "tstr")
                    }
            result["by_group"][name] = per_group
    main = [result[s].get("score") for s in ("trtr", "tstr")]
    result["gap"] = (
        main[0] - main[1] if all(isinstance(v, float) for v in main) else not_computed("a score was not computed")
    )
    probe = subsample(test, 5_000, seed)
    y_probe = probe[target].astype(str) if classification else probe[target].astype("float64")
    x_probe = features.transform(probe)
    with one_openmp_thread():
        importances = [permutation_importance_means(fitted[s], x_probe, y_probe, 3, seed) for s in ("trtr", "tstr")]
    rho = spearmanr(*importances).statistic if len(features.columns) > 2 else float("nan")
    result["importance_rank_correlation"] = (
        float(rho) if np.isfinite(rho) else not_computed("too few features, or importances are constant")
    )
    return result
