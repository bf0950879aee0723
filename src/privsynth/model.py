"""A fitted model: schema + encoder + engine state + manifest; sampling; the fit pipeline."""

from __future__ import annotations

import dataclasses
import inspect
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from privsynth import __version__, engines, replacements, sampling
from privsynth.engines import auto
from privsynth.engines.base import fitted_class, params_of
from privsynth.errors import InputError, ParameterError, SchemaError
from privsynth.fingerprint import fingerprint
from privsynth.governance import manifest as manifests
from privsynth.governance.manifest import NO_GUARANTEE, created_now
from privsynth.governance.output import ORIGIN
from privsynth.modelcheck import guarded
from privsynth.schema import Schema, SchemaFile, load_yaml, text_names
from privsynth.transforms.encoder import Encoded, Encoder

MIN_ROWS = 10


def _rngs(seed: int, parts: int) -> list[np.random.Generator]:
    """Independent generators for the pipeline's stages, all derived from one user seed."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(parts)]


def _fresh_seed() -> int:
    return int(np.random.SeedSequence().generate_state(1, dtype=np.uint32)[0])


class Model:
    """What `fit` returns: everything needed to sample, and nothing of the raw data beyond the learned
    state (quantile grids pooled over >= k rows, frequent categories, correlations)."""

    loaded_from: str | None = None  # the model file it was read from (sampling errors then name it)

    def __init__(self, schema: Schema, encoder: Encoder, fitted: engines.Fitted, manifest: dict, extras: dict):
        self.schema = schema
        self.encoder = encoder
        self.fitted = fitted
        self.manifest = manifest
        self.extras = extras  # per non-learned column: replacement state (digit layouts, text lengths)

    @property
    def engine(self) -> str:
        return self.manifest["engine"]["name"]

    def __repr__(self) -> str:
        src = self.manifest["source"]
        rows = "an undisclosed number of" if src.get("rows") is None else src["rows"]
        return f"<privsynth.Model engine={self.engine} columns={len(self.schema.columns)} trained_on={rows} rows>"

    @guarded
    def sample(
        self,
        n: int,
        seed: int | None = None,
        conditions: Mapping[str, Any] | pd.DataFrame | None = None,
        temperature: float | None = None,
        rebalance: Mapping[str, Mapping[Any, float]] | None = None,
    ) -> pd.DataFrame:
        """`n` synthetic rows in the training data's shape (column order, dtypes, formats).

        `conditions` fixes columns: a mapping of column -> one value, n values or a `Range` (numbers and
        dates: met by redrawing rows outside it), or a DataFrame of n rows. `rebalance` sets the share of
        chosen values, e.g. {"default": {"Yes": 0.3}}: exactly that share of rows takes the value, drawn from
        the model's conditional distribution; the column's other values keep the model's proportions.
        Constraints declared in the schema always hold. `seed` None draws a fresh one; the same seed always
        gives the same rows. `temperature` (engines that sample token by token, e.g. argn) overrides the
        model's: below 1 more typical rows, above 1 more diverse. How many rows had to be drawn again is in
        `frame.attrs["privsynth"]`.
        """
        blocks = self.sample_blocks(n, seed, conditions, temperature, rebalance)
        if not sampling.whole_table_reason(self, rebalance):  # (sample_blocks checked a whole-table sample)
            sampling.check_memory(blocks, "Model.sample returns them as one table (Model.sample_to streams them)")
        frames = list(blocks.frames())
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, copy=False)
        if blocks.stats:
            frame.attrs["privsynth"] = blocks.stats
        frame.attrs[ORIGIN] = blocks.origin
        return frame

    def sample_blocks(
        self,
        n: int,
        seed: int | None = None,
        conditions: Mapping[str, Any] | pd.DataFrame | None = None,
        temperature: float | None = None,
        rebalance: Mapping[str, Mapping[Any, float]] | None = None,
    ) -> sampling.Blocks:
        """The sample `sample` would return, planned and checked but not drawn: its `frames()` yield it
        block by block (`privsynth.sampling`), for writers that stream it to a file."""
        from privsynth.augment import conditions as cond

        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
            raise ParameterError(f"number of rows must be a positive integer, got {n!r}")
        n = int(n)
        seed = _fresh_seed() if seed is None else int(seed)
        asked = conditions
        fitted = self.fitted
        if temperature is not None:
            if not hasattr(fitted, "temperature"):
                raise ParameterError(f"the {self.engine} engine has no sampling temperature")
            if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not temperature > 0:
                raise ParameterError(f"temperature must be a positive number, got {temperature!r}")
            fitted = dataclasses.replace(fitted, temperature=float(temperature))
        ranges: dict[str, cond.Range] = {}
        if conditions is not None and not isinstance(conditions, pd.DataFrame):
            conditions, ranges = cond.split(dict(conditions))
            conditions = conditions or None
        sampling.check_lengths(conditions, n)
        if ranges:
            self._resolved(ranges)  # refuse bad ranges before any row is drawn
        params = {"rows": n, "seed": seed, "conditions": asked, "temperature": temperature, "rebalance": rebalance}
        origin = self.origin("synthetic", {"command": "sample", "params": params})
        blocks = sampling.Blocks(self, n, seed, conditions, ranges, temperature, rebalance, fitted, origin)
        reason = sampling.whole_table_reason(self, rebalance)
        if reason:
            sampling.check_memory(blocks, reason)
        return blocks

    def sample_to(
        self,
        location: str | os.PathLike,
        n: int,
        seed: int | None = None,
        *,
        table: str | None = None,
        fmt: str | None = None,
        conditions: Mapping[str, Any] | pd.DataFrame | None = None,
        temperature: float | None = None,
        rebalance: Mapping[str, Mapping[Any, float]] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[str, dict]:
        """Write `sample(n, ...)`'s rows to a CSV/Parquet file or a new database table, one block at a time:
        memory stays bounded by a block whatever `n`, and the file holds the same rows `sample` returns.
        Refuses up front (after the first block) a sample the output's disk cannot hold; a full disk or any
        error mid-way leaves nothing at `location`. `progress(rows_written, n)` is called after each block.
        Returns (where it went, the manifest attached to it)."""
        from privsynth.governance.output import write_stream

        blocks = self.sample_blocks(n, seed, conditions, temperature, rebalance)
        return write_stream(blocks, location, table=table, fmt=fmt, progress=progress)

    def origin(self, kind: str, operation: dict) -> dict:
        """What a table made from this model says about where it came from (`frame.attrs[ORIGIN]`); the
        writer turns it into the output's manifest (`privsynth.governance.output.write`)."""
        from privsynth.governance.recipes import plain_params

        model = {k: self.manifest.get(k) for k in ("id", "kind", "engine", "schema_sha256", "privacy")}
        model["privacy"] = {k: v for k, v in (model["privacy"] or {}).items() if k != "ledger"}
        operation = {**operation, "params": plain_params(operation.get("params", {}))}
        return {
            "kind": kind,
            "operation": operation,
            "parents": [manifests.parent(self.manifest, "model")],
            "model": model,
        }

    def _draw(
        self, n: int, fitted, fixed: Encoded | None, engine_rng, decode_rng, extra_rng, cursors: dict | None = None
    ) -> pd.DataFrame:
        """n rows from the engine, decoded, with the unlearned columns filled in (`cursors`: one dict per
        column, carried across the blocks of one sample so that keys continue: `replacements.draw`)."""
        encoded = fitted.sample(n, engine_rng, fixed)
        learned = self.encoder.decode(encoded, self.schema, decode_rng, fixed)
        out = {}
        for column in self.schema.columns:
            if column.policy == "drop":
                continue
            out[column.name] = (
                learned[column.name]
                if column.learned
                else self._replacement(column, n, extra_rng, None if cursors is None else cursors[column.name])
            )
        # concat keeps one block per column: the dict constructor would copy them into merged blocks
        return pd.concat(out, axis=1, copy=False) if out else pd.DataFrame(index=range(n))

    def _resolved(self, ranges: dict) -> dict:
        """Range ends as float64 in the order `enforce` compares (dates as seconds); unknown or
        non-numeric columns are refused with every problem listed."""
        from privsynth.augment.constraints import _bound

        kinds = {c.name: c.kind for c in self.schema.columns if c.learned}
        formats = {c.name: c.datetime_format for c in self.schema.columns}
        problems = [
            f"cannot condition on {name!r} with a range: "
            + ("not a learned column" if name in self.schema.names else "no such column")
            if name not in kinds
            else f"cannot condition on {name!r} with a range: it is {kinds[name]}, not a number or a date"
            for name in ranges
            if kinds.get(name) not in ("numeric", "integer", "datetime")
        ]
        if problems:
            raise ParameterError("; ".join(problems))
        try:
            return {k: r.resolved(lambda v, k=k: _bound(v, k, kinds, formats)) for k, r in ranges.items()}
        except (ValueError, TypeError) as exc:
            raise ParameterError(f"a range end is not a number or a date: {exc}") from None

    def _with_rebalance(self, n: int, seed: int, fitted, conditions, rebalance) -> pd.DataFrame:
        """The exact conditions plus, per rebalanced column, one value per row (see `sample`)."""
        from privsynth.augment.conditions import rebalanced_values

        pilot_rngs = _rngs(seed + 1, 5)  # a separate stream: the pilot never shifts the rows' own draws
        pilot = self._draw(min(max(n, 2_000), 20_000), fitted, None, *pilot_rngs[:3])
        unknown = [name for name in rebalance if name not in pilot.columns]
        if unknown:
            raise ParameterError(f"cannot rebalance {', '.join(map(repr, unknown))}: no such column")
        shares = {name: pilot[name].value_counts(normalize=True, dropna=False) for name in rebalance}
        targets = {}
        for name, wanted in rebalance.items():
            by_text = {str(v): v for v in shares[name].index}
            targets[name] = {by_text.get(str(v), v): float(s) for v, s in dict(wanted).items()}
        values = rebalanced_values(n, targets, shares, pilot_rngs[3])
        if conditions is None:
            return values
        base = (
            conditions
            if isinstance(conditions, pd.DataFrame)
            else pd.DataFrame({k: (v if np.ndim(v) else [v] * n) for k, v in dict(conditions).items()})
        )
        clash = sorted(set(base.columns) & set(values.columns))
        if clash:
            raise ParameterError(f"{', '.join(map(repr, clash))} is both conditioned on and rebalanced")
        return pd.concat([base.reset_index(drop=True), values], axis=1)

    def _fixed(self, n: int, conditions, rng: np.random.Generator) -> Encoded:
        frame = (
            conditions
            if isinstance(conditions, pd.DataFrame)
            else pd.DataFrame({k: (v if np.ndim(v) else [v] * n) for k, v in dict(conditions).items()})
        )
        if len(frame) != n:
            raise ParameterError(f"conditions have {len(frame)} rows but {n} were asked for")
        learned = {c.name for c in self.schema.columns if c.learned}
        problems = [
            f"cannot condition on {name!r}: "
            + ("not a learned column" if name in self.schema.names else "no such column")
            for name in frame.columns
            if name not in learned
        ]
        frame = self._typed_conditions(frame)
        for codec in self.encoder.codecs:
            if codec.name in frame.columns and codec.transform == "categorical":
                allowed = set(codec.params["categories"])
                bad = sorted({str(v) for v in frame[codec.name].dropna() if v not in allowed})
                if bad:
                    problems.append(
                        f"column {codec.name!r} has no category {', '.join(bad[:5])} the model may reproduce"
                    )
        if problems:
            raise ParameterError("; ".join(problems))
        try:
            return self.encoder.encode(frame, self.schema, rng, fill=False)
        except (ValueError, TypeError) as exc:
            raise ParameterError(f"conditions cannot be encoded: {exc}") from None

    def _typed_conditions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Condition values given as text (the command line's COLUMN=VALUE) in the column's own type: a
        category whose text form matches, a number for numeric columns; other values are left as they are."""
        frame = frame.copy()
        kinds = {c.name: c.kind for c in self.schema.columns}
        for codec in self.encoder.codecs:
            if codec.name not in frame.columns:
                continue
            values = frame[codec.name]
            if codec.transform == "categorical":
                by_text = {str(c): c for c in codec.params["categories"]}
                frame[codec.name] = values.map(lambda v, t=by_text: t.get(v, v) if isinstance(v, str) else v)
            elif kinds.get(codec.name) in ("numeric", "integer") and values.map(type).eq(str).any():
                converted = pd.to_numeric(values, errors="coerce")
                if (converted.isna() & values.notna()).any():
                    raise ParameterError(f"column {codec.name!r} is numeric: {values[converted.isna()].iloc[0]!r}")
                frame[codec.name] = converted
        return frame

    def _replacement(self, column, n: int, rng: np.random.Generator, cursor: dict | None = None) -> pd.Series:
        state = self.extras.get(column.name, {})
        if column.kind in ("constant", "empty"):
            series = pd.Series([column.value] * n, dtype=object)
        elif column.kind == "text":
            lengths = np.interp(rng.random(n), np.linspace(0, 1, len(state["lengths"])), state["lengths"])
            series = pd.Series(placeholder_text(np.round(lengths).astype(int), rng), dtype=object)
        else:
            kind = column.pii or "key"
            series = pd.Series(replacements.draw(kind, column.policy, state, n, rng, column.dtype, cursor))
        if column.nullable and state.get("null_rate"):
            series = series.where(rng.random(n) >= state["null_rate"], None)
        try:
            return series.astype(column.dtype) if column.kind != "text" and column.dtype != "object" else series
        except (TypeError, ValueError):
            return series

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model as one zip of JSON + .npy arrays (no pickle), atomically."""
        from privsynth import modelfile

        return modelfile.save(self, path)


def placeholder_text(lengths: np.ndarray, rng: np.random.Generator) -> list[str]:
    """Lorem-ipsum-like text of the given lengths: free text is never learned, only its length."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(int(rng.integers(0, 2**31 - 1)))
    words = fake.words(nb=200)
    out = []
    for length in lengths:
        picked = rng.choice(words, size=max(1, length // 4 + 1))
        out.append(" ".join(picked)[: max(int(length), 1)].strip() or "x")
    return out


def _extras(frame: pd.DataFrame, schema: Schema) -> dict:
    """Replacement state for columns that are not learned; carries no personal values.

    Identifier layouts are kept only when used by >= k rows, with the namespace no real value is in
    (`replacements.learn`); text keeps its length quantiles pooled like numeric grids.
    """
    out: dict[str, dict] = {}
    for column in schema.columns:
        if column.learned or column.policy == "drop":
            continue
        series = frame[column.name]
        state: dict[str, Any] = {"null_rate": float(series.isna().mean())}
        values = series.dropna().astype(str)
        if column.kind == "text":
            state["lengths"] = [float(q) for q in np.quantile(values.str.len(), np.linspace(0, 1, 11))]
        elif column.kind == "identifier":
            state.update(replacements.learn(column.pii or "key", column.policy, series, schema.rare_category_threshold))
        out[column.name] = state
    return out


def _as_schema(frame: pd.DataFrame, schema, strict: bool = False) -> Schema:
    if isinstance(schema, Schema):
        file = SchemaFile(**{k: v for k, v in schema.model_dump(exclude={"columns": {"__all__": {"problem"}}}).items()})
        return Schema.infer(frame, file, strict)
    if schema is None or isinstance(schema, SchemaFile):
        return Schema.infer(frame, schema, strict)
    return Schema.infer(frame, load_yaml(schema, list(frame.columns)), strict)


def _check_fit_input(frame: pd.DataFrame, schema: Schema) -> None:
    problems = []
    if len(frame) < MIN_ROWS:
        problems.append(f"need at least {MIN_ROWS} rows to learn from, got {len(frame)}")
    for column in schema.columns:
        if column.kind == "empty" and column.policy != "drop":
            problems.append(
                f"column {column.name!r} is entirely empty: drop it from the data, or set `policy: drop` "
                "(or `kind: constant` to keep it empty) for it in a schema file"
            )
    if not any(c.learned for c in schema.columns) and len(frame) >= MIN_ROWS:
        problems.append("no column is left to learn (all are identifiers, text, constants or dropped)")
    if problems:
        raise SchemaError(problems)


def fit(
    data: pd.DataFrame | str | os.PathLike,
    engine: str = "auto",
    *,
    schema: Schema | SchemaFile | str | os.PathLike | None = None,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
    table: str | None = None,
    ledger: str | os.PathLike | bool | None = None,
    strict: bool = False,
    metadata_epsilon: float | None = None,
    **params,
) -> Model:
    """Learn a synthetic-data model of `data` (a DataFrame, a CSV/Parquet path, or a database URL + table).

    `engine` "auto" (the default) takes `argn` when ten of its epochs fit the time budget (`max_time`, default
    600 s) by an estimate from the table's shape, else `copula`; the manifest records which and why
    (`manifest["engine"]["auto"]`, see `privsynth.engines.auto`). `schema` overrides inference (a Schema, or
    a schema YAML path); `seed` None draws a fresh one, which is recorded in the manifest. Engine parameters
    are passed as keywords. The input is never modified.
    DP engines (`mst`, `aim`, `argn` with epsilon) need `schema` to be a public schema file, and add their
    spend to the budget `ledger` (a file path, a `Catalog`, or a `privacy.ledger.Ledger`; None:
    $PRIVSYNTH_LEDGER if set, else the catalog, else .privsynth/budget.json; False: none kept), refusing a
    fit that would take the source past its limit. A column whose kind inference cannot settle (numbers
    mixed with other text) is fitted as the kind that holds every value, as `describe` shows; `strict`
    makes that an error instead.
    With `metadata_epsilon` (less than `epsilon`, and part of it), what the schema file leaves out
    (or every column's facts, without one) is measured under DP instead (`privacy.metadata`).
    """
    step = progress or (lambda _msg: None)
    if engine == auto.NAME:
        auto.check_params(params)
        engine_obj = None
    else:
        engine_obj = engines.make(engine, **params)
    if not isinstance(data, pd.DataFrame):
        from privsynth import io

        step("reading data")
        data = io.read(data, table=table)
    if isinstance(seed, bool) or (seed is not None and (not isinstance(seed, int | np.integer) or seed < 0)):
        raise ParameterError(f"seed must be a non-negative integer, got {seed!r}")
    seed = _fresh_seed() if seed is None else int(seed)
    data = text_names(data)  # a new frame if names were not text: the caller's is untouched
    if getattr(engine_obj, "differentially_private", False):
        return _fit_private(data, engine_obj, schema, seed, step, ledger, metadata_epsilon=metadata_epsilon)
    if metadata_epsilon is not None:
        raise ParameterError(
            f"metadata_epsilon applies to differentially private fits (mst, aim, argn with epsilon), not {engine}"
        )
    step("inferring schema")
    schema_obj = _as_schema(data, schema, strict)
    _check_fit_input(data, schema_obj)
    if schema_obj.constraints:
        from privsynth.augment.constraints import learn_combinations

        learned = learn_combinations(data, schema_obj.constraints, schema_obj.rare_category_threshold)
        schema_obj = schema_obj.model_copy(update={"constraints": learned})
    encode_rng, engine_rng = _rngs(seed, 2)
    step("encoding columns")
    encoder = Encoder.fit(data, schema_obj)
    encoded = encoder.encode(data, schema_obj, encode_rng)
    choice = None
    if engine_obj is None:
        engine, params, choice = auto.choose(encoded, params)
        engine_obj = engines.make(engine, **params)
        step(f"engine auto chose {choice['reason']}")
    step(f"fitting {engine}")
    takes_progress = "progress" in inspect.signature(engine_obj.fit).parameters
    fitted = engine_obj.fit(encoded, engine_rng, **({"progress": step} if takes_progress else {}))
    manifest = {
        "format": "privsynth-model",
        "format_version": manifests.MODEL_FORMAT_VERSION,
        "privsynth_version": __version__,
        "created": created_now(),
        "engine": {"name": engine, "params": params_of(engine_obj), **({"auto": choice} if choice else {})},
        **_training(fitted),
        "seed": seed,
        "source": fingerprint(data),
        "privacy": {"mechanism": "none", "guarantee": NO_GUARANTEE},
        "rare_category_threshold": schema_obj.rare_category_threshold,
    }
    source = {"id": manifests.source_id(manifest["source"]), "role": "source", "kind": "source"}
    manifest = _governed(manifest, schema_obj, engine, [source])
    return Model(schema_obj, encoder, fitted, manifest, _extras(data, schema_obj))


def _fit_private(
    data: pd.DataFrame,
    engine_obj,
    schema,
    seed: int,
    step: Callable[[str], None],
    ledger,
    groups=None,
    metadata_epsilon: float | None = None,
) -> Model:
    """The DP pipeline: every column fact from the public schema file, cells of its public domain, an engine
    whose noise comes from OS entropy. Nothing measured from the data outside the engine's mechanisms is
    kept: no fingerprint (a hash of the records would single out the last unknown one), no row count, no
    replacement state for unlearned columns. With `metadata_epsilon`, what the file leaves out is measured
    under DP first (`privacy.metadata`), in the same release: one accountant, one ledger booking."""
    from privsynth.privacy import metadata
    from privsynth.privacy.accountant import Accountant, curve_of_record, rho_for
    from privsynth.privacy.domain import PublicEncoder, public_schema
    from privsynth.privacy.ledger import Ledger

    if isinstance(schema, Schema) or (schema is None and metadata_epsilon is None):
        raise SchemaError(
            f"the {engine_obj.name} engine is differentially private: pass a public schema file (--schema) that "
            "states every column's kind and domain (min/max, categories), or spend part of the budget measuring "
            "them under DP (--metadata-epsilon); facts inferred from the data would leak"
        )
    file = (
        None if schema is None else schema if isinstance(schema, SchemaFile) else load_yaml(schema, list(data.columns))
    )
    reserved = 0.0
    if metadata_epsilon is None:
        step("reading the public schema")
        schema_obj = public_schema(data, file)
        if not any(c.learned for c in schema_obj.columns):
            raise SchemaError("no column is left to learn (all are identifiers, text, constants or dropped)")
    else:
        if isinstance(metadata_epsilon, bool) or not isinstance(metadata_epsilon, int | float):
            raise ParameterError(f"metadata_epsilon must be a number, got {metadata_epsilon!r}")
        if not 0 < metadata_epsilon < engine_obj.epsilon:
            raise ParameterError(
                f"metadata_epsilon must be positive and less than epsilon {engine_obj.epsilon:g} (it is part of "
                f"it), got {metadata_epsilon:g}"
            )
        reserved = metadata.threshold_delta(data, file, engine_obj.delta)
    from privsynth.governance.catalog import Catalog

    if ledger is False:
        book = None
    elif isinstance(ledger, Ledger):
        book = ledger
    elif isinstance(ledger, Catalog):
        book = Ledger(catalog=ledger)
    else:
        book = Ledger(None if ledger in (None, True) else ledger)
    source_id = data  # the ledger books it against its registered or recognised source (custodian's only)
    booked = {"engine": engine_obj.name, "epsilon": engine_obj.epsilon, "delta": engine_obj.delta}
    booked["rho"] = rho_for(engine_obj.epsilon, engine_obj.delta - reserved)
    if reserved:
        booked["delta_approx"] = reserved
    token = book.reserve(source_id, booked) if book else None
    accountant, measured = None, None
    try:
        if metadata_epsilon is not None:
            accountant = Accountant(engine_obj.epsilon, engine_obj.delta)
            step(f"measuring the metadata under DP (epsilon {metadata_epsilon:g} of {engine_obj.epsilon:g})")
            measured = metadata.measure(data, file, metadata_epsilon, accountant, step)
            data = measured.frame
            schema_obj = public_schema(data, measured.file)
            if not any(c.learned for c in schema_obj.columns):
                raise SchemaError("no column is left to learn: under DP no column's values rose above the noise")
        encode_rng, engine_rng = _rngs(seed, 2)
        encoder = PublicEncoder.fit(schema_obj, bins=engine_obj.bins or PublicEncoder.default_bins)
        encoded = encoder.encode(data, schema_obj, encode_rng)
        step(f"fitting {engine_obj.name} (epsilon {engine_obj.epsilon:g}, delta {engine_obj.delta:g})")
        unit = {} if groups is None else {"groups": groups}  # histories: an entity's rows are one unit (argn)
        if accountant is not None:
            unit["accountant"] = accountant  # the engine spends what the metadata left
        fitted = engine_obj.fit(encoded, engine_rng, progress=step, **unit)
    except BaseException:
        if book is not None and accountant is not None and accountant.spends:
            # the metadata was measured: an error from here on may reflect it, so its spend stays booked
            book.settle(source_id, token, accountant.rho_spent, None, delta_approx=accountant.delta_approx)
        elif book is not None:
            book.release(source_id, token)
        raise
    manifest = {
        "format": "privsynth-model",
        "format_version": manifests.MODEL_FORMAT_VERSION,
        "privsynth_version": __version__,
        "created": created_now(),
        "engine": {"name": engine_obj.name, "params": params_of(engine_obj)},
        **_training(fitted),
        "seed": seed,
        "seed_scope": "sampling only: the fit's noise comes from OS entropy and is not reproducible",
        "source": {
            "sha256": None,
            "rows": None,
            "columns": int(data.shape[1]),
            "note": "withheld under differential privacy (a hash or count of the records is not private)",
        },
        "privacy": {
            "mechanism": engine_obj.name,
            "guarantee": "differential privacy",
            **fitted.privacy,
            **({"metadata": measured.record} if measured is not None else {}),
        },
        "rare_category_threshold": None,
        # a random nonce keeps two fits with equal settings apart (their noise differs); it is not the noise
        "nonce": secrets.token_hex(8),
    }
    # the source's id is a hash of the records: withheld like the fingerprint (the catalog keeps the link)
    if book is not None:
        curve = curve_of_record(fitted.privacy)  # DP-SGD: its Rényi curve, not a zCDP rho
        approx = {"delta_approx": fitted.privacy["delta_approx"]} if fitted.privacy.get("delta_approx") else {}
        after = book.settle(source_id, token, fitted.privacy["rho_spent"], curve, created=manifest["created"], **approx)
        manifest["privacy"]["ledger"] = {"path": str(book.path), "source_epsilon_after": after.epsilon}
    manifest = _governed(manifest, schema_obj, engine_obj.name, [])
    return Model(schema_obj, encoder, fitted, manifest, {})


def _training(fitted) -> dict:
    """An engine's training record (argn: epochs run, why it stopped, the loss per epoch), for the manifest."""
    training = getattr(fitted, "training", None)
    return {"training": training} if training else {}


def _governed(manifest: dict, schema: Schema, engine: str, parents: list[dict]) -> dict:
    """The fit's manifest completed for governance: kind, author, versions, schema hash, lineage, id."""
    manifest = {
        **manifest,
        "kind": "model",
        "author": manifests.author(),
        "schema_sha256": manifests.schema_sha256(schema),
        "parents": parents,
        "operation": {"command": "fit"},
        "versions": manifests.versions(engine),
    }
    return manifests.with_id(manifest)


def load(path: str | os.PathLike) -> Model:
    """Read a model file written by `Model.save`. Never executes code from the file."""
    from privsynth import modelfile

    return modelfile.load(path)


def rebuild(manifest: dict, body: dict, arrays: dict[str, np.ndarray]) -> Model:
    """A Model from the parts of a model file (see `modelfile`)."""
    if "id" not in manifest:  # written before manifests had ids: give it its content address
        legacy = {**{k: v for k, v in manifest.items() if k != "contents"}, "kind": "model"}
        manifest = {**manifests.with_id(legacy), **manifest}
    schema = Schema.model_validate(body["schema"])
    encoder_arrays = {k: v for k, v in arrays.items() if k.startswith("encoder/")}
    if body["encoder"].get("kind") == "public-domain":
        from privsynth.privacy.domain import PublicEncoder

        encoder = PublicEncoder.from_state(body["encoder"], encoder_arrays)
    else:
        encoder = Encoder.from_state(body["encoder"], encoder_arrays)
    engine_arrays = {k[len("engine/") :]: v for k, v in arrays.items() if k.startswith("engine/")}
    try:
        cls = fitted_class(manifest["engine"]["name"])
    except KeyError:
        raise InputError(f"model uses engine {manifest['engine']['name']!r}, unknown to this privsynth") from None
    fitted = cls.from_state(body["engine_state"], engine_arrays)
    if tuple(fitted.names) != tuple(encoder.names) or tuple(fitted.cardinality) != tuple(encoder.cardinality):
        raise InputError("the engine's variables and their cardinalities are not the encoder's")
    return Model(schema, encoder, fitted, manifest, body.get("extras", {}))
