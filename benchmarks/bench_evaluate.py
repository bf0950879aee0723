#!/usr/bin/env python3
"""Benchmark privsynth's evaluation against mostlyai-qa's report and SDMetrics (QualityReport and
DCROverfittingProtection) on the same data: train, synthetic and holdout tables of N rows x 20 columns each
(the seeded mixed table of bench_copula.py; synthetic = privsynth copula fitted on train).

Each measurement runs in its own child process (this script re-invoked with `--child`): the child builds the
tables from the seed (untimed), then times one tool's whole evaluation as a user runs it, report written:
- privsynth: `ps.evaluate(...)` with a target and two sensitive columns (fidelity, detection, utility, privacy
  with two membership attacks and anonymeter's three risks, fairness), then `.to_html()` and `.to_json()`;
- mostlyai-qa: `qa.report(...)` with its defaults (accuracy, similarity, distances; HTML report);
- SDMetrics: `QualityReport.generate` (column shapes, pair trends) and, timed separately,
  `DCROverfittingProtection.compute_breakdown` on the full tables (its default: no subsampling).
Times are medians over repeats (a tool slower than --slow-seconds runs once); peak RSS is the largest.
A tool that failed or timed out at a size is not run at larger ones, and SDMetrics' DCR (all pairs of rows)
is not run where its time predicted from the last size (x rows^2) exceeds --timeout; the report says so.
The headline figures each tool reports are printed side by side, so the speed comparison is between tools
that agree on what they measure.

    python benchmarks/bench_evaluate.py            # 5k, 20k and 100k rows; writes its section of benchmarks/RESULTS.md
    python benchmarks/bench_evaluate.py --quick    # 2k rows only; writes benchmarks/out/RESULTS-evaluate-quick.md

The peers are used here only; privsynth never imports them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_copula import (
    GIB,
    HERE,
    _status_bytes,
    busy_cpu_seconds,
    environment,
    lifetime_peak_rss,
    make_table,
    own_cpu_seconds,
    reset_peak_rss,
    wait_for_quiet,
    write_atomically,
    write_section,
)

TOOLS = ("privsynth", "mostlyai-qa", "sdmetrics-quality", "sdmetrics-dcr")
WHAT = {
    "privsynth": "fidelity (uni/bivariate accuracy, KS, associations, detection, coverage), utility (TSTR/TRTR, "
    "per group), privacy (exact match, DCR, NNDR, 2 membership attacks, anonymeter x3), fairness, HTML + JSON",
    "mostlyai-qa": "accuracy (uni/bi/trivariate), embedding similarity and discriminator, DCR/NNDR, HTML",
    "sdmetrics-quality": "QualityReport: column shapes (KS/TV complement), column pair trends",
    "sdmetrics-dcr": "DCROverfittingProtection: DCR share train vs holdout, full tables",
}
TARGET_SECONDS = 120.0  # issue 3: 100k x 100k x 20 columns, all metrics, report included
TARGET_50K_SECONDS = 30.0  # issue 21: 50k x 50k x 20 columns, all metrics, report included, idle 2 cores
TARGET = "churned"
SENSITIVE = ["region", "age"]
SLOW_SECONDS = 300.0
# compares every synthetic row with every real row (no subsampling by default): time grows as rows^2
QUADRATIC = {"sdmetrics-dcr"}


def tables(rows: int, seed: int) -> tuple[Any, Any, Any]:
    """Train and holdout: disjoint slices of one seeded table; synthetic: privsynth copula fitted on train."""
    import privsynth as ps

    data = make_table(2 * rows, seed)
    train = data.iloc[:rows].reset_index(drop=True)
    holdout = data.iloc[rows:].reset_index(drop=True)
    synthetic = ps.fit(train, engine="copula", seed=seed).sample(rows, seed=seed + 1)
    return train, synthetic, holdout


def sdmetrics_metadata(frame: Any) -> dict[str, Any]:
    """SDMetrics' single-table metadata from the pandas dtypes (what a user writes by hand)."""
    import pandas as pd

    columns = {}
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_bool_dtype(series):
            sdtype = "boolean"
        elif pd.api.types.is_datetime64_any_dtype(series):
            sdtype = "datetime"
        elif pd.api.types.is_numeric_dtype(series):
            sdtype = "numerical"
        else:
            sdtype = "categorical"
        columns[name] = {"sdtype": sdtype}
    return {"columns": columns}


def run_tool(tool: str, train: Any, synthetic: Any, holdout: Any, workdir: Path) -> dict[str, Any]:
    """One tool's whole evaluation; returns the headline figures it reports."""
    if tool == "privsynth":
        import privsynth as ps

        evaluation = ps.evaluate(train, synthetic, holdout, target=TARGET, sensitive=SENSITIVE, seed=0)
        started = time.perf_counter()
        evaluation.to_html(workdir / "privsynth.html")
        evaluation.to_json(workdir / "privsynth.json")
        report_seconds = time.perf_counter() - started
        head = evaluation.headline()
        shapes = evaluation.result["fidelity"]["shape"]
        return {
            "accuracy_univariate": head["accuracy_univariate"],
            "accuracy_bivariate": head["accuracy_bivariate"],
            "dcr_share": head["dcr_share"],
            "column_shapes": statistics.mean(shapes.values()),
            "detection_auc": head["detection_auc"],
            "mia_auc_max": head["mia_auc_max"],
            "timing": {**evaluation.result["timing"], "HTML and JSON report": round(report_seconds, 3)},
        }
    if tool == "mostlyai-qa":
        from mostlyai import qa

        _, metrics = qa.report(
            syn_tgt_data=synthetic, trn_tgt_data=train, hol_tgt_data=holdout, report_path=workdir / "qa.html"
        )
        figures = metrics.model_dump()
        return {
            "accuracy_univariate": figures["accuracy"]["univariate"],
            "accuracy_bivariate": figures["accuracy"]["bivariate"],
            "dcr_share": figures["distances"]["dcr_share"],
            "detection_auc": figures["similarity"]["discriminator_auc_training_synthetic"],
        }
    if tool == "sdmetrics-quality":
        from sdmetrics.reports.single_table import QualityReport

        report = QualityReport()
        report.generate(train, synthetic, sdmetrics_metadata(train), verbose=False)
        properties = report.get_properties().set_index("Property")["Score"]
        return {
            "column_shapes": float(properties["Column Shapes"]),
            "pair_trends": float(properties["Column Pair Trends"]),
        }
    if tool == "sdmetrics-dcr":
        from sdmetrics.single_table import DCROverfittingProtection

        out = DCROverfittingProtection.compute_breakdown(train, synthetic, holdout, sdmetrics_metadata(train), None)
        return {"dcr_share": out["synthetic_data_percentages"]["closer_to_training"]}
    raise ValueError(f"unknown tool {tool!r}")


def run_child_measured(work: Callable[[], tuple[float | None, dict[str, Any]]]) -> dict[str, Any]:
    """Run `work` in this child and measure it: `work` returns (seconds it timed itself, or None for the whole
    call; its figures). Peak RSS, own CPU time and other processes' load cover the whole call."""
    import gc

    gc.collect()
    reset = reset_peak_rss()
    busy_before, own_before = busy_cpu_seconds(), own_cpu_seconds()
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    seconds, figures = work()
    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()[0]
    busy_after, own_used = busy_cpu_seconds(), own_cpu_seconds() - own_before
    peak = _status_bytes("VmHWM") if reset else None
    return {
        "seconds": elapsed if seconds is None else seconds,
        "peak_rss": peak if peak is not None else lifetime_peak_rss(),
        "cpu_seconds": own_used,
        "other_load_cores": (
            max(0.0, (busy_after - busy_before - own_used) / elapsed)
            if busy_before is not None and busy_after is not None and elapsed > 0
            else None
        ),
        "figures": figures,
        "loadavg_1min": [round(load_before, 2), round(load_after, 2)],
    }


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    train, synthetic, holdout = tables(spec["rows"], spec["seed"])
    workdir = Path(spec["workdir"])
    return run_child_measured(lambda: (None, run_tool(spec["tool"], train, synthetic, holdout, workdir)))


def measure(
    spec: dict[str, Any],
    repeats: int,
    args: argparse.Namespace,
    workdir: Path,
    log: Any,
    script: Path = Path(__file__),
) -> dict[str, Any]:
    """Repeat one tool (each repeat a fresh child of `script`, which must take `--child SPEC --result PATH`);
    one repeat only when the first is slower than --slow-seconds."""
    runs = []
    for repeat in range(repeats):
        wait_for_quiet(args.quiet_wait)
        result_path = workdir / "result.json"
        result_path.unlink(missing_ok=True)
        step = f" {spec['step']}" if "step" in spec else ""
        log_path = workdir / f"{spec['tool']}-{spec['rows']}{step.replace(' ', '-')}-{repeat}.log"
        command = [
            sys.executable,
            str(script.resolve()),
            "--child",
            json.dumps(spec),
            "--result",
            str(result_path),
        ]
        label = f"{spec['tool']:18s} {spec['rows']:>7,} rows{step} {repeat + 1}/{repeats}"
        with log_path.open("w") as stream:
            try:
                done = subprocess.run(
                    command, stdout=stream, stderr=subprocess.STDOUT, timeout=args.timeout, check=False
                )
            except subprocess.TimeoutExpired:
                log(f"{label}: did not finish within {args.timeout:.0f} s")
                return {"runs": runs, "error": f"did not finish within {args.timeout:.0f} s (stopped)"}
        if done.returncode != 0 or not result_path.exists():
            tail = log_path.read_text(errors="replace").strip().splitlines()[-6:]
            log(f"{label}: FAILED")
            return {"runs": runs, "error": f"exit code {done.returncode}: " + " | ".join(tail)}
        result = json.loads(result_path.read_text())
        runs.append(result)
        log(f"{label}: {result['seconds']:8.2f} s, peak {result['peak_rss'] / GIB:.2f} GiB, {result['figures']}")
        if result["seconds"] > args.slow_seconds:
            break
    seconds = [r["seconds"] for r in runs]
    return {
        "runs": runs,
        "repeats": len(runs),
        "median_seconds": statistics.median(seconds),
        "all_seconds": seconds,
        "median_cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
        "peak_rss": max(r["peak_rss"] for r in runs),
        "max_other_load_cores": max((r["other_load_cores"] or 0.0) for r in runs),
        "figures": runs[0]["figures"],
    }


def _predicted_seconds(tool: str, rows: int, scales: list[dict[str, Any]]) -> float | None:
    """For a tool whose work is all pairs of rows (QUADRATIC), its time at `rows` predicted from the largest
    smaller size it finished: seconds x (rows / those rows)^2. None for other tools or without a measurement."""
    done = [s for s in scales if "median_seconds" in s["results"].get(tool, {})]
    if tool not in QUADRATIC or not done:
        return None
    last = done[-1]
    return last["results"][tool]["median_seconds"] * (rows / last["rows"]) ** 2


# ---------------------------------------------------------------- report


def _time(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"failed: {result['error']}"
    return f"{result['median_seconds']:.1f} s (n={result['repeats']})"


def _figure(result: dict[str, Any], key: str) -> str:
    value = result.get("figures", {}).get(key)
    return "" if value is None else f"{value:.4f}"


def render_section(env: dict[str, Any], args: argparse.Namespace, scales: list[dict[str, Any]], wall: float) -> str:
    v, source = env["versions"], env["privsynth_source"]
    title = (
        "# Benchmark: evaluation, privsynth vs mostlyai-qa and SDMetrics"
        if len(args.tools) > 1
        else "# Benchmark: evaluation, privsynth's cost per stage (issue 21)"
    )
    lines = [
        title,
        "",
        f"Generated by `benchmarks/bench_evaluate.py{' ' + ' '.join(args.argv) if args.argv else ''}` on "
        f"{env['date']} (whole run {wall / 60:.1f} min). Every figure below was measured in this run.",
        "",
        f"- Machine: {env['cpu']}, {env['usable_cores']} usable cores, {env['ram_bytes'] / GIB:.1f} GiB RAM, "
        f"{env['os']}, Python {env['python']}",
        "- Versions: " + ", ".join(f"{k} {v[k]}" for k in v),
        f"- privsynth code measured: `{source['path']}`, git commit {source['commit']} ({source['src_state']})",
        "- Data: train, synthetic and holdout of N rows x 20 mixed columns each (bench_copula's seeded table; "
        "synthetic = privsynth copula fitted on train). Each tool's whole evaluation, report written, one child "
        "process per repeat; medians over repeats; peak RSS includes the three tables held in memory.",
        "",
    ]
    # busy = other processes took cores; the load average alone counts the evaluation's own threads too
    others = [run.get("other_load_cores") or 0.0 for s in scales for run in s["results"]["privsynth"].get("runs", [])]
    busiest = max(others, default=0.0)
    if busiest > 0.25:
        lines += [
            f"**The machine was busy during this run** (other processes took up to {busiest:.2f} of the "
            f"{env['usable_cores']} cores during a measurement), so the times below are not the idle figures the "
            "targets speak of; rerun on an idle machine to check them.",
            "",
        ]
    for scale in scales:
        rows, results = scale["rows"], scale["results"]
        ours = results["privsynth"]
        lines += [f"## {rows:,} train x {rows:,} synthetic x {rows:,} holdout rows, 20 columns", ""]
        if rows == args.target_rows and "median_seconds" in ours:
            met = ours["median_seconds"] < TARGET_SECONDS
            lines += [
                f"Target (issue 3): all metrics and the report in under {TARGET_SECONDS:.0f} s: "
                f"**{ours['median_seconds']:.1f} s, {'met' if met else 'NOT met'}**.",
                "",
            ]
        if rows == 50_000 and "median_seconds" in ours:
            met = ours["median_seconds"] <= TARGET_50K_SECONDS
            lines += [
                f"Target (issue 21): all metrics and the report in at most {TARGET_50K_SECONDS:.0f} s on an idle "
                f"2-core machine: **{ours['median_seconds']:.1f} s, {'met' if met else 'NOT met'}** "
                f"(1-minute load average {_loads(ours)} during the runs: see the note on load).",
                "",
            ]
        lines += [
            "| tool | computes | time, median | peak RSS | time / privsynth's |",
            "| --- | --- | --- | --- | --- |",
        ]
        for tool in args.tools:
            result = results.get(tool)
            if result is None:
                continue
            ratio = (
                f"{result['median_seconds'] / ours['median_seconds']:.2f}x"
                if "median_seconds" in result and "median_seconds" in ours
                else ""
            )
            peak = f"{result['peak_rss'] / GIB:.2f} GiB" if "peak_rss" in result else ""
            lines.append(f"| {tool} | {WHAT[tool]} | {_time(result)} | {peak} | {ratio} |")
        lines += [
            "",
            "Figures each tool reported on the same tables (empty: the tool does not report it):",
            "",
            "| figure | " + " | ".join(args.tools) + " |",
            "| --- |" + " --- |" * len(args.tools),
        ]
        for key, label in (
            ("accuracy_univariate", "univariate accuracy (1 - mean TVD)"),
            ("accuracy_bivariate", "bivariate accuracy"),
            ("column_shapes", "column shapes (mean KS/TV complement)"),
            ("pair_trends", "column pair trends"),
            ("dcr_share", "DCR share (closer to train than holdout)"),
            ("detection_auc", "detection / discriminator AUC"),
            ("mia_auc_max", "membership inference, max AUC over attacks"),
        ):
            lines.append(f"| {label} | " + " | ".join(_figure(results.get(t, {}), key) for t in args.tools) + " |")
        every = [
            f"- {tool}: every repeat (s): {', '.join(f'{s:.1f}' for s in r['all_seconds'])}; median CPU time "
            f"{r['median_cpu_seconds']:.1f} s; other processes' load: up to {r['max_other_load_cores']:.2f} cores"
            for tool, r in results.items()
            if "all_seconds" in r
        ]
        lines += ["", *every, ""]
        lines += stage_table(ours)
    lines += [
        "Notes: mostlyai-qa runs on the full tables by default (it warns above 50,000 rows) and is not seeded; "
        "its DCR share counts ties 0.5 as ours does but is the largest over seven column subsets (all columns, "
        "three correlated and three random groups) of text-embedding distances, and its discriminator works on "
        "those embeddings, ours on the encoded columns. SDMetrics' DCR share counts a tie as closer to the holdout. "
        "privsynth subsamples its distance metrics to 20,000 rows above that size (recorded in the report), "
        "anonymeter's synthetic table to 20,000 rows, detection to 20,000 rows a side and utility's training "
        "sets to 50,000 rows. Load: the 1-minute load average (`uptime`) before and after each privsynth run is "
        "shown beside its figures; on this 2-core machine a load above 1 means other processes took cores "
        "from the measurement.",
        "",
    ]
    return "\n".join(lines)


def _load_values(result: dict[str, Any]) -> list[float]:
    """The 1-minute load averages recorded before and after each run of a tool."""
    return [load for run in result.get("runs", []) for load in run.get("loadavg_1min", [])]


def _loads(result: dict[str, Any]) -> str:
    loads = _load_values(result)
    return f"{min(loads):.2f}-{max(loads):.2f}" if loads else "not recorded"


def stage_table(result: dict[str, Any]) -> list[str]:
    """privsynth's seconds per stage (the evaluation's `timing`, report writing added), median over repeats."""
    timings = [run["figures"].get("timing") for run in result.get("runs", []) if run.get("figures")]
    timings = [t for t in timings if t]
    if not timings:
        return []
    stages = list(timings[0])
    total = statistics.median(sum(t.values()) for t in timings)
    lines = [
        f"privsynth's seconds per stage (median over {len(timings)} repeat(s); 1-minute load average "
        f"{_loads(result)}):",
        "",
        "| stage | seconds | share |",
        "| --- | --- | --- |",
    ]
    for stage in stages:
        seconds = statistics.median(t.get(stage, 0.0) for t in timings)
        lines.append(f"| {stage} | {seconds:.2f} | {seconds / total:.0%} |")
    return [*lines, f"| total of the stages | {total:.2f} | 100% |", ""]


# ---------------------------------------------------------------- entry point


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument(
        "--rows", type=int, nargs="+", help="table sizes (default 5k, 20k, 50k and 100k; --quick 2,000)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="repeats per tool (default 3)")
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS), help="tools to measure")
    parser.add_argument("--slow-seconds", type=float, default=SLOW_SECONDS, help="run a tool once when slower")
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds allowed per child process (default 1800)"
    )
    parser.add_argument("--quiet-wait", type=float, default=30.0, help="wait up to this long for an idle machine")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 rows, one repeat")
    parser.add_argument("--out", type=Path, help="report file (default: its section of benchmarks/RESULTS.md)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.rows is None:
        args.rows = [2_000] if args.quick else [5_000, 20_000, 50_000, 100_000]
    if args.quick:
        args.repeats = 1
    if "privsynth" not in args.tools:
        parser.error("--tools must include privsynth (the ratios are against it)")
    args.target_rows = 100_000
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.child:
        write_atomically(args.result, json.dumps(run_child(json.loads(args.child))))
        return 0

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    env = environment(("privsynth", "numpy", "pandas", "scikit-learn", "anonymeter", "mostlyai-qa", "sdmetrics"))
    scales = []
    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as tmp:
        workdir = Path(tmp)
        for rows in args.rows:
            results = {}
            for tool in args.tools:
                failed = next((s for s in scales if "error" in s["results"].get(tool, {})), None)
                if failed is not None:  # it failed on smaller tables: larger ones would only fail later
                    reason = failed["results"][tool]["error"]
                    results[tool] = {"error": f"not run: it failed at {failed['rows']:,} rows ({reason})"}
                    continue
                predicted = _predicted_seconds(tool, rows, scales)
                if predicted is not None and predicted > args.timeout:
                    results[tool] = {"error": f"not run: predicted {predicted:,.0f} s > the {args.timeout:.0f} s limit"}
                    log(f"{tool} at {rows:,} rows: {results[tool]['error']}")
                    continue
                spec = {"tool": tool, "rows": rows, "seed": args.seed, "workdir": str(workdir)}
                results[tool] = measure(spec, args.repeats, args, workdir, log)
            scales.append({"rows": rows, "results": results})
    wall = time.perf_counter() - started
    text = render_section(env, args, scales, wall)
    raw = {"environment": env, "scales": scales}
    if args.out or args.quick:
        out = args.out or HERE / "out" / "RESULTS-evaluate-quick.md"
        write_atomically(out, text)
    else:  # privsynth alone (--tools privsynth): its stage costs get a section of their own
        out = HERE / "RESULTS.md"
        write_section(out, "evaluate" if len(args.tools) > 1 else "evaluate-stages", text)
    write_atomically(HERE / "out" / "results-evaluate.json", json.dumps(raw, indent=1, default=str))
    log(f"wrote {out} in {wall / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
