"""Command-line commands that make data harder, fairer or from rules: augment, perturb, simulate; and the
sampling helpers `sample` shares with them (conditions, rebalancing, fairness, rejection figures)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from privsynth import io
from privsynth.cli import DataArg, EncodingOpt, SeedOpt, TableOpt, _progress, _read, app, out
from privsynth.cli_governance import input_parent, intent, open_catalog, record_output
from privsynth.errors import PrivsynthError
from privsynth.governance.manifest import file_sha256
from privsynth.governance.output import write as write_output


@app.command()
def augment(
    data: DataArg,
    model_path: Annotated[Path, typer.Option("--model", help="A model file fitted on DATA (or data like it).")],
    target: Annotated[str, typer.Option("--target", help="The column whose rare value to boost.")],
    minority_share: Annotated[
        float, typer.Option("--minority-share", help="Share of the output rows the rare value should reach.")
    ],
    output: Annotated[str, typer.Option("-o", "--output", help="A .csv/.parquet file for real + synthetic rows.")],
    minority: Annotated[
        str | None, typer.Option("--minority", help="The value to boost (default: the rarest value of --target).")
    ] = None,
    tag_column: Annotated[
        str, typer.Option("--tag-column", help="Column added to say 'real' or 'synthetic' per row.")
    ] = "source",
    seed: SeedOpt = 0,
    table: TableOpt = None,
    encoding: EncodingOpt = "utf-8",
) -> None:
    """Real rows plus synthetic rows of the rare class, up to --minority-share; each row tagged; the mix is
    in the output's manifest (Parquet metadata, or OUTPUT.manifest.json beside a CSV)."""
    import privsynth as ps

    io.format_of(output, None)
    io.check_output(output, {"input": data, "model": model_path})
    catalog = open_catalog()
    frame = _read(data, table, encoding)
    with _progress("augmenting") as step:
        step("loading model")
        model = ps.load(model_path)
        step("generating minority rows")
        mixed = ps.augment(frame, model, target, minority_share, tag_column=tag_column, minority=minority, seed=seed)
        step("writing")
        real_parent, _ = input_parent(catalog, data, table, frame)
        params = {
            "target": target,
            "minority_share": minority_share,
            "minority": minority,
            "tag_column": tag_column,
            "seed": seed,
        }
        origin = model.origin("augmented", {"command": "augment", "params": params})
        origin["parents"].append({**real_parent, "role": "real"})
        origin["extra"] = {"mix": mixed.attrs["privsynth"]}
        with intent(catalog, output):
            where, manifest = write_output(mixed, output, origin=origin)
        record_output(catalog, manifest, output, "augment")
    mix = mixed.attrs["privsynth"]
    out.print(
        f"wrote {mix['real_rows']:,} real + {mix['synthetic_rows']:,} synthetic rows -> {where}; "
        f"{target}={mix['minority']} now {mix['minority_share_after']:.1%} (was {mix['minority_share_before']:.1%})"
    )
    _print_rejections(mixed)


@app.command()
def perturb(
    data: DataArg,
    output: Annotated[str, typer.Option("-o", "--output", help="A .csv/.parquet file for the perturbed table.")],
    scenario: Annotated[Path, typer.Option("--scenario", help="Scenario YAML: the steps to apply, in order.")],
    seed: SeedOpt = 0,
    table: TableOpt = None,
    encoding: EncodingOpt = "utf-8",
) -> None:
    """Make DATA harder on purpose (noise, missing values, outliers, drift, shift, duplicates, disorder), seeded;
    what each step changed is in the output's manifest (Parquet metadata, or OUTPUT.manifest.json beside a CSV)."""
    from privsynth.augment.perturb import load_scenario
    from privsynth.augment.perturb import perturb as run_perturb

    io.format_of(output, None)
    io.check_output(output, {"input": data, "scenario": scenario})
    plan = load_scenario(scenario)
    frame = _read(data, table, encoding)
    catalog = open_catalog()
    changed, records = run_perturb(frame, plan, seed=seed)
    parent, synthetic = input_parent(catalog, data, table, frame)
    params = {"scenario": str(scenario), "scenario_sha256": file_sha256(scenario), "seed": seed}
    origin = {
        "kind": "perturbed",
        "operation": {"command": "perturb", "params": params},
        "parents": [{**parent, "role": "input"}],
        "synthetic": synthetic,
        "extra": {"steps": records},
    }
    with intent(catalog, output):
        where, manifest = write_output(changed, output, origin=origin)
    record_output(catalog, manifest, output, "perturb")
    summary = ", ".join(f"{r['type']} {r['changed']:,}" for r in records)
    out.print(f"wrote {len(changed):,} rows -> {where}; changed: {summary}")


@app.command()
def simulate(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML: columns, rules, entities and events.")],
    output: Annotated[str, typer.Option("-o", "--output", help="A .csv/.parquet file for the simulated rows.")],
    rows: Annotated[
        int | None, typer.Option("-n", "--rows", min=1, help="Rows (or entities, with events); default: the file's.")
    ] = None,
    model_path: Annotated[
        Path | None, typer.Option("--model", help="Hybrid: this model fills the columns the scenario does not set.")
    ] = None,
    seed: SeedOpt = 0,
) -> None:
    """Generate data from rules (named distributions, conditional rules, entities making events over time with
    injected patterns); with --model, the model fills the other columns conditioned on the simulated ones."""
    import privsynth as ps
    from privsynth.augment.simulate import load_scenario
    from privsynth.augment.simulate import simulate as run_simulate

    io.format_of(output, None)
    io.check_output(output, {"scenario": scenario, "model": model_path})
    plan = load_scenario(scenario)
    model = ps.load(model_path) if model_path is not None else None
    catalog = open_catalog()
    started = time.perf_counter()
    frame = run_simulate(plan, rows, seed=seed, model=model)
    params = {"scenario": str(scenario), "scenario_sha256": file_sha256(scenario), "rows": rows, "seed": seed}
    operation = {"command": "simulate", "params": params}
    if model is not None:
        origin = model.origin("simulated", operation)
    else:
        rules = {"mechanism": "none", "guarantee": "rule-based simulation: no real records were learned"}
        origin = {"kind": "simulated", "operation": operation, "parents": [], "model": {"privacy": rules}}
    with intent(catalog, output):
        where, manifest = write_output(frame, output, origin=origin)
    record_output(catalog, manifest, output, "simulate")
    out.print(
        f"wrote {len(frame):,} rows x {frame.shape[1]} columns in {time.perf_counter() - started:.1f} s -> {where}"
    )


def _print_rejections(frame) -> None:
    """The redraws of a sampled frame (its attrs) or of a streamed sample (`sampling.Blocks.stats`)."""
    stats = frame.stats if hasattr(frame, "stats") else frame.attrs.get("privsynth") or {}
    stats = stats.get("sampling") or stats  # augment: the synthetic rows' sampling figures
    if stats.get("rejected_by"):
        rules = ", ".join(f"{rule} ({count:,})" for rule, count in stats["rejected_by"].items())
        out.print(f"rejection rate {stats['rejection_rate']:.1%} ({stats['drawn']:,} rows drawn); redrawn for: {rules}")


def _fair(model, rows: int, sensitive: str, equalise: str, outcome: str | None, seed: int, conditions):
    """Per-row fairness conditions (see `privsynth.augment.rebalance.fair_conditions`)."""
    from privsynth.augment.rebalance import fair_conditions

    target, positive = None, None
    if outcome is not None:
        target, sep, positive = outcome.partition("=")
        if not sep or not target:
            raise PrivsynthError(f"--outcome takes TARGET=POSITIVE_VALUE, got {outcome!r}")
    if conditions:
        raise PrivsynthError("--sensitive cannot be combined with --condition (the groups are set per row)")
    return fair_conditions(model, rows, sensitive, equalise, target, positive, seed)


def _conditions(items: list[str]) -> dict | None:
    """--condition strings -> {column: value or Range}; the model converts values to the column's kind."""
    from privsynth.augment.conditions import parse_condition

    return dict(parse_condition(item) for item in items) or None


def _rebalance(items: list[str]) -> dict | None:
    """--rebalance COLUMN=VALUE:SHARE strings -> {column: {value: share}}."""
    from privsynth.augment.conditions import parse_rebalance

    out: dict[str, dict] = {}
    for item in items:
        name, value, share = parse_rebalance(item)
        out.setdefault(name, {})[value] = share
    return out or None
