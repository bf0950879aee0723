"""Singling-out, linkability and attribute-inference risk, measured by anonymeter (Giomi et al. 2023, the
method the French data-protection authority CNIL reviewed), not reimplemented here.

Each attack is run against the training rows and, as a control, against the holdout rows the generator never
saw; anonymeter's risk = (attack success - control success) / (1 - control success), with a 95% confidence
interval. [0, 1], lower is better; 0 means the synthetic data helps an attacker no more against the people
it was trained on than against anyone else.
- singling out: univariate predicates that single out one record (N_ATTACKS queries, seeded);
- linkability: the columns are split in two halves (a seeded shuffle); an attacker who knows one half of a
  record from each of two sources links them through the synthetic rows (N_NEIGHBORS nearest neighbours);
- attribute inference: for each secret column (the target and the sensitive columns), guess it from all the
  other columns through the nearest synthetic row.
Attacks use N_ATTACKS targets drawn with the seed from the training rows and as many from the holdout; the
attacker's synthetic table is a seeded sample of MAX_SYNTHETIC_ROWS = 20,000 rows (its cost grows with it:
50.5 CPU-seconds at 50,000 rows of a 20-column table, 16.5 at 20,000; the risks' 95% intervals overlapped).
Its neighbour searches run in this process (`n_jobs=1`): worker processes took as long at 20,000 rows (14.6 s
against 14.9 s on 2 cores) with a third more CPU, and their start-up dominated on small tables. The attacks
run two at a time in threads instead (anonymeter's neighbour search is numba code that releases the GIL):
the same figures, and their seconds in `timing` overlap.
anonymeter's wheel pins numpy < 1.27; its code runs on numpy 2 and the Makefile installs it without its
dependency pins (`pip install --no-deps`, its real dependencies are ours). When it is missing, these risks
are reported as not computed.
"""

from __future__ import annotations

import contextlib
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from privsynth.evaluate.common import Stopwatch, as_numbers, not_computed, subsample

N_ATTACKS = 500
N_NEIGHBORS = 10
MAX_SYNTHETIC_ROWS = 20_000


def _prepared(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers and datetimes as float64 (seconds), everything else as text with nulls kept: the types
    anonymeter distinguishes (numeric vs categorical)."""
    out = {}
    for name in frame.columns:
        numbers = as_numbers(frame[name])
        if numbers is not None:
            out[str(name)] = numbers
        else:
            out[str(name)] = frame[name].astype(str).where(frame[name].notna(), None).astype(object)
    return pd.DataFrame(out)


def _risk(evaluator) -> dict:
    risk = evaluator.risk(confidence_level=0.95)
    results = evaluator.results(confidence_level=0.95)
    return {
        "risk": float(risk.value),
        "ci": [float(risk.ci[0]), float(risk.ci[1])],
        "attack_rate": float(results.attack_rate.value),
        "control_rate": float(results.control_rate.value),
    }


@contextlib.contextmanager
def _ordered_group_by():
    """anonymeter 1.1.0 lists rare values with polars' `group_by`, whose group order varies from run to run,
    so its seeded singling-out attack is not reproducible; this asks polars to keep the order of first
    appearance while the attack runs (same groups, same counts, stable order)."""
    import polars as pl

    original = pl.DataFrame.group_by

    def group_by(self, *by, maintain_order: bool = False, **named):
        return original(self, *by, maintain_order=True, **named)

    pl.DataFrame.group_by = group_by
    try:
        yield
    finally:
        pl.DataFrame.group_by = original


def _cached_kernels() -> None:
    """anonymeter's two numba kernels (Gower distance, nearest neighbours) are compiled without numba's
    disk cache: every process paid 4 s of compilation before its first attack (a third of an evaluation's
    anonymeter time at 50,000 rows). Re-jitted once per process with `cache=True` (same code, same options),
    later processes load the machine code from numba's cache instead. Left as they are if numba refuses."""
    import numba
    from anonymeter.neighbors import mixed_types_kneighbors as knn

    for name in ("gower_distance", "_nearest_neighbors"):  # the callee first: the caller compiles against it
        kernel = getattr(knn, name, None)
        if kernel is None or getattr(kernel, "_privsynth_cached", False) or not hasattr(kernel, "py_func"):
            continue
        try:
            cached = numba.jit(nopython=True, nogil=True, cache=True)(kernel.py_func)
        except Exception:  # an optimisation only: anonymeter's own kernel still works
            continue
        cached._privsynth_cached = True
        setattr(knn, name, cached)


def _attempt(run, watch: Stopwatch, stage: str) -> dict:
    try:
        with watch(stage):
            return _risk(run())
    except (RuntimeError, ValueError) as exc:  # e.g. too few distinct queries to single anyone out
        return not_computed(f"anonymeter could not run this attack: {exc}".splitlines()[0])


PARALLEL_ATTACKS = 2  # the cores this is built for; more threads only queue


def anonymeter_risks(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    secrets: list[str],
    seed: int = 0,
    stopwatch: Stopwatch | None = None,
) -> dict:
    """The three anonymeter risks (see the module doc); secrets are the columns attribute inference targets;
    `stopwatch` books each attack's seconds."""
    watch = stopwatch or Stopwatch()
    try:
        from anonymeter.evaluators import InferenceEvaluator, LinkabilityEvaluator, SinglingOutEvaluator
    except ImportError:
        return not_computed("the anonymeter package is not installed (`make venv` installs it)")
    _cached_kernels()
    n_attacks = min(N_ATTACKS, len(holdout), len(train))
    if n_attacks < 20 or train.shape[1] < 2:
        return not_computed("needs at least 20 rows in train and holdout and at least two columns")
    ori = _prepared(subsample(train, n_attacks, seed + 11))
    control = _prepared(subsample(holdout, n_attacks, seed + 12))
    syn = _prepared(subsample(synthetic, MAX_SYNTHETIC_ROWS, seed + 13))
    columns = list(ori.columns)
    result: dict = {"attacks": n_attacks}
    attacks = {
        "singling_out": (
            "privacy: anonymeter singling out",
            lambda: SinglingOutEvaluator(ori=ori, syn=syn, control=control, n_attacks=n_attacks, seed=seed).evaluate(
                mode="univariate"
            ),
        )
    }
    shuffled = [columns[i] for i in np.random.default_rng(seed).permutation(len(columns))]
    halves = (shuffled[: len(shuffled) // 2], shuffled[len(shuffled) // 2 :])
    attacks["linkability"] = (
        "privacy: anonymeter linkability",
        lambda: LinkabilityEvaluator(
            ori=ori, syn=syn, control=control, n_attacks=n_attacks, aux_cols=halves, n_neighbors=N_NEIGHBORS
        ).evaluate(n_jobs=1),
    )
    secret_names = list(dict.fromkeys(map(str, secrets)))
    for secret in secret_names:
        regression = as_numbers(train[secret]) is not None and train[secret].nunique() > 10
        attacks[f"inference {secret}"] = (
            "privacy: anonymeter inference",
            lambda secret=secret, regression=regression: InferenceEvaluator(
                ori=ori,
                syn=syn,
                control=control,
                aux_cols=[c for c in columns if c != secret],
                secret=secret,
                regression=regression,
                n_attacks=n_attacks,
            ).evaluate(n_jobs=1),
        )
    # warning filters and the polars patch are process-wide: set once around all threads, never per attack
    with warnings.catch_warnings(), _ordered_group_by(), ThreadPoolExecutor(PARALLEL_ATTACKS) as pool:
        warnings.simplefilter("ignore")
        running = {key: pool.submit(_attempt, run, watch, stage) for key, (stage, run) in attacks.items()}
        done = {key: future.result() for key, future in running.items()}
    result["singling_out"], result["linkability"] = done["singling_out"], done["linkability"]
    inference = {secret: done[f"inference {secret}"] for secret in secret_names}
    result["inference"] = inference or not_computed("no secret column: pass --target or --sensitive")
    risks = [
        r["risk"]
        for r in [result["singling_out"], result["linkability"], *inference.values()]
        if isinstance(r, dict) and "risk" in r
    ]
    result["max_risk"] = max(risks) if risks else not_computed("no attack ran")
    return result
