"""`evaluate`: every metric on (real, synthetic, holdout), gathered into one JSON-able Evaluation.

A metric that cannot be computed on the given input is recorded as {"status": "not computed", "reason": ...},
never as a made-up value.
"""

from __future__ import annotations

import time as clock
from typing import Any

import pandas as pd

from privsynth.errors import InputError
from privsynth.evaluate import columns, fidelity
from privsynth.evaluate.common import NotComputed, Stopwatch, as_numbers, not_computed, one_openmp_thread
from privsynth.evaluate.report import Evaluation
from privsynth.schema import Schema

MAX_OVERLAP = 0.05


def _check_tables(real: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None) -> list[str]:
    """Raise InputError when the tables cannot be compared; return notes on what is odd but usable."""
    problems, notes = [], []
    if len(synthetic) == 0:
        problems.append("the synthetic table has no rows")
    for label, other in (("synthetic", synthetic), ("holdout", holdout)):
        if other is None:
            continue
        missing = [c for c in real.columns if c not in other.columns]
        extra = [c for c in other.columns if c not in real.columns]
        if missing:
            problems.append(f"the {label} table lacks column(s) {', '.join(map(repr, missing))}")
        if extra:
            problems.append(f"the {label} table has column(s) the real one lacks: {', '.join(map(repr, extra))}")
        for name in real.columns:
            comparable = name in other.columns and real[name].notna().any() and other[name].notna().any()
            if comparable and (as_numbers(real[name]) is None) != (as_numbers(other[name]) is None):
                problems.append(
                    f"column {name!r} is {real[name].dtype} in the real table, {other[name].dtype} in the {label}"
                )
    if problems:
        raise InputError("; ".join(problems))
    if holdout is not None and len(holdout):
        keys = pd.util.hash_pandas_object(real, index=False)
        overlap = float(pd.util.hash_pandas_object(holdout[real.columns], index=False).isin(keys).mean())
        # data with repeated records (few, coarse columns) overlaps by chance: allow twice its own repeat rate
        repeats = float(keys.duplicated(keep=False).mean())
        if overlap > max(MAX_OVERLAP, 2 * repeats):
            raise InputError(
                f"{overlap:.0%} of holdout rows also appear in the training data: the holdout must be records the "
                "generator never saw (split before fitting)"
            )
        if overlap > 0:
            notes.append(f"{overlap:.1%} of holdout rows equal a training row (duplicate records in the source)")
    return notes


def _safe(compute, *args, **kwargs):
    try:
        return compute(*args, **kwargs)
    except NotComputed as exc:
        return not_computed(str(exc))


def guarantee_of(model) -> dict:
    """The generator's formal privacy guarantee as its manifest states it (never inferred from the data)."""
    if model is None:
        return {"mechanism": None, "statement": "not stated: no model given, so no formal guarantee is claimed"}
    model = _loaded(model)
    privacy = model.manifest["privacy"]
    if "epsilon_spent" in privacy:
        return {
            "mechanism": privacy["mechanism"],
            "epsilon": privacy["epsilon_spent"],
            "delta": privacy["delta"],
            "statement": f"({privacy['epsilon_spent']:.3g}, {privacy['delta']:g})-differential privacy "
            f"({privacy['mechanism']} engine" + (f"; the unit is {privacy['unit']})" if privacy.get("unit") else ")"),
        }
    return {"mechanism": "none", "statement": f"{privacy['guarantee']} ({model.engine} engine)"}


def _loaded(model):
    if hasattr(model, "manifest"):
        return model
    from privsynth.model import load

    return load(model)


def _clock_figures(real: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None, plan) -> dict:
    """Hour-of-day and day-of-week accuracy of every datetime column, and the holdout's own (the ceiling)."""
    out = {}
    for name in real.columns:
        if not pd.api.types.is_datetime64_any_dtype(real[name]):
            continue
        zone = plan.timezones.get(name)
        out[name] = fidelity.clock_accuracy(real[name], synthetic[name], zone)
        if holdout is not None:
            out[name]["holdout"] = fidelity.clock_accuracy(real[name], holdout[name], zone)
    return out


def _sequences(real, synthetic, holdout, entity: str | None, time: str | None, seed: int) -> dict:
    if entity is None:
        return not_computed("not an event table (pass --entity and --time)")
    from privsynth.evaluate import sequences

    try:
        out = {"entity": entity, "time": time, **sequences.sequence_fidelity(real, synthetic, entity, time, seed)}
        out["plots"] = sequences.histograms(real, synthetic, entity, time)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if holdout is None:
        out["entity_privacy"] = not_computed("needs a holdout of whole histories")
    else:
        out["entity_privacy"] = _safe(sequences.entity_privacy, real, synthetic, holdout, entity, time, seed)
    return out


@one_openmp_thread()  # scikit-learn's models and predictions (see `one_openmp_thread`)
def evaluate(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None = None,
    *,
    target: str | None = None,
    sensitive: list[str] | tuple[str, ...] = (),
    seed: int = 0,
    model=None,
    focus: tuple[str, Any] | None = None,
    entity: str | None = None,
    time: str | None = None,
    schema: Schema | None = None,
    schema_origin: str | None = None,
) -> Evaluation:
    """Fidelity, utility (needs `target` and `holdout`), privacy (needs `holdout`) and fairness (needs
    `sensitive`) of `synthetic` against the `real` training table. Returns an Evaluation. `model` (a Model
    or a model file's path), when given, states the generator's formal privacy guarantee in the report:
    differential privacy with its (epsilon, delta), or none (privacy then only measured, never claimed).
    `focus` (column, value), e.g. the class a rebalanced output boosted, adds the distance and membership
    figures restricted to the rows holding that value. `entity` and `time` name the key and the time (or
    order) column of an event table: sequence fidelity and entity-level privacy are added, and the key
    (arbitrary in synthetic data) is left out of the event-level figures.

    Columns are judged by kind (`privsynth.evaluate.columns`): by `schema` when given (`schema_origin` says
    where it came from, or why there was none, for the report), else by the model's schema, else by the
    schema fitting would infer from `real`. Identifier and free-text columns are left out of the scored
    figures and listed in "column_kinds"; datetimes held as text are parsed and scored as time, with
    hour-of-day and day-of-week accuracy in "fidelity.datetime_clock". "timing" holds the seconds of each stage."""
    started = clock.perf_counter()
    watch = Stopwatch()
    if model is not None:
        model = _loaded(model)
    with watch("column kinds"):
        keep = {c for c in [target, *sensitive, focus[0] if focus else None, entity, time] if c is not None}
        if schema is None and model is not None and columns.schema_of_model(model) is not None:
            schema, schema_origin = columns.schema_of_model(model), "the schema of the model given"
        plan = columns.plan(real, schema, schema_origin, keep)
        real, synthetic, holdout = (columns.apply(plan, frame) for frame in (real, synthetic, holdout))
    notes = plan.notes + _check_tables(real, synthetic, holdout)
    events = (real, synthetic, holdout)
    if (entity is None) != (time is None):
        raise InputError("sequence evaluation needs both --entity and --time")
    if entity is not None:
        for name in (entity, time):
            if name not in real.columns:
                raise InputError(f"column {name!r} is not in the real table")
        real, synthetic = real.drop(columns=entity), synthetic.drop(columns=entity, errors="ignore")
        holdout = holdout.drop(columns=entity, errors="ignore") if holdout is not None else None
    synthetic = synthetic[list(real.columns)]
    holdout = holdout[list(real.columns)] if holdout is not None else None
    for name in [target, *sensitive]:
        if name is not None and name not in real.columns:
            raise InputError(f"column {name!r} is not in the real table")
    result: dict = {
        "rows": {"real": len(real), "synthetic": len(synthetic), "holdout": None if holdout is None else len(holdout)},
        "columns": list(map(str, real.columns)),
        "target": target,
        "sensitive": list(sensitive),
        "seed": seed,
        "notes": notes,
        "guarantee": guarantee_of(model),
        "column_kinds": plan.to_dict(),
    }
    with watch("accuracy"):
        codes = fidelity.binned(real, synthetic)
        accuracy = fidelity.accuracy(real, synthetic, seed, codes=codes)
    with watch("holdout accuracy"):
        holdout_accuracy = (
            fidelity.accuracy(real, holdout, seed) if holdout is not None else not_computed("no holdout given")
        )
    with watch("shape and KS"):
        ks = {name: fidelity.ks(real[name], synthetic[name]) for name in real.columns}
        shape = {name: fidelity.shape_score(real[name], synthetic[name], ks[name]) for name in real.columns}
    with watch("associations"):
        associations = fidelity.association_difference(real, synthetic, codes=codes)
    with watch("detection"):
        detection = _safe(fidelity.detection_auc, real, synthetic, seed)
    with watch("coverage"):
        coverage = fidelity.coverage(real, synthetic)
    with watch("time of day"):
        clock_figures = _clock_figures(real, synthetic, holdout, plan)
    result["fidelity"] = {
        "accuracy": accuracy,
        "holdout_accuracy": holdout_accuracy,
        "shape": shape,
        "ks": ks,
        "associations": associations,
        "detection_auc": detection,
        "coverage": coverage,
        "datetime_clock": clock_figures,
    }
    from privsynth.evaluate.fairness import Grouping, evaluate_fairness

    groupings = {name: Grouping(real[name]) for name in sensitive if name != target}
    if holdout is None:
        result["privacy"] = not_computed("privacy is measured against a holdout the generator never saw: pass one")
        result["utility"] = not_computed("needs a holdout and a target column")
    else:
        from privsynth.evaluate.privacy import evaluate_privacy

        result["privacy"] = evaluate_privacy(
            real,
            synthetic,
            holdout,
            secrets=[c for c in [target, *sensitive] if c is not None],
            seed=seed,
            stopwatch=watch,
        )
        if focus is not None:
            from privsynth.evaluate.privacy import focused_privacy

            if focus[0] not in real.columns:
                raise InputError(f"column {focus[0]!r} is not in the real table")
            if result["privacy"].get("status") != "not computed":
                with watch("privacy: focus"):
                    result["privacy"]["focus"] = focused_privacy(real, synthetic, holdout, *focus, seed=seed)
        if target is None:
            result["utility"] = not_computed("needs a target column (--target)")
        else:
            from privsynth.evaluate.utility import evaluate_utility

            with watch("utility"):
                result["utility"] = evaluate_utility(real, synthetic, holdout, target, seed=seed, groups=groupings)
    if sensitive:
        utility = result["utility"]
        with watch("fairness"):
            result["fairness"] = evaluate_fairness(
                real, synthetic, list(sensitive), target=target, by_group_utility=utility.get("by_group")
            )
    else:
        result["fairness"] = not_computed("no sensitive column given (--sensitive)")
    with watch("sequences"):
        result["sequences"] = _sequences(*events, entity, time, seed)
    result["timing"] = watch.rounded()
    result["seconds"] = round(clock.perf_counter() - started, 3)
    return Evaluation(result, real=real, synthetic=synthetic)
