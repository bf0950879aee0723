"""Differentially private history models: (epsilon, delta)-DP where the unit is an entity, i.e. adding or
removing one entity's context row and its whole history (up to `max_events` events).

`fit_sequences(..., epsilon=E, schema=PUBLIC)` / `privsynth fit EVENTS --schema PUBLIC --epsilon E`. The same
two models as without DP, each fitted through the DP pipeline of `privsynth.model` (every column fact from
the public schema file, noise from OS entropy), with the budget split between them:
- the entity model (mst, or aim) gets ENTITY_SHARE of epsilon and half of delta; each entity is one row of
  its table (its number of events, first time, context), so its guarantee is already per entity;
- the event model (argn, DP-SGD) gets the rest; its rows are events, so the entities are Poisson-sampled and
  each entity's summed gradient is clipped (`groups` of `train_private`): one entity moves the noisy sum by
  at most the clip, as one row does in a table fit.
The two compose: basic composition gives (epsilon, delta); the reported spend is the smaller of that sum and
the Rényi composition of both (the entity model's rho plus DP-SGD's curve) at delta, both valid bounds.
Nothing is decided from the data outside the mechanisms: the constant columns come from the schema file's
`history.constant` (not from looking), no number is made "smooth" and no season column is added (both
choices read the data), histories are cut to the public `history.max_events`, times are clipped to the time
column's public min/max, gaps are learned as log(1 + seconds) over the public span (linear cells over years
would put every hourly gap in one cell), and the model file keeps no fingerprint or count of the records.
"""

from __future__ import annotations

import secrets

import numpy as np
import pandas as pd

from privsynth import dates
from privsynth.errors import InputError, ParameterError, SchemaError
from privsynth.sequence import (
    CLOCK,
    DAY,
    GAP,
    LEFT,
    LENGTH,
    MAX_POSITION,
    POSITION,
    PREVIOUS,
    START,
    START_CLOCK,
    SequenceModel,
    _prepare,
    model_manifest,
)

ENTITY_SHARE = 0.25  # of epsilon for the entity model (one row per entity, few columns: marginals are cheap)
PRIVATE_ENTITY_ENGINES = ("mst", "aim")


def fit_private(events, entity, time, context, schema, engine, entity_engine, seed, params) -> SequenceModel:
    """See the module doc. `schema` is the checked SchemaFile (or None: refused)."""
    from privsynth.governance import manifest as manifests
    from privsynth.model import _fit_private
    from privsynth.privacy.accountant import Accountant, curve_of_record

    params = dict(params)
    epsilon, delta, ledger = params.pop("epsilon"), params.pop("delta", None) or 1e-6, params.pop("ledger", None)
    if params.pop("metadata_epsilon", None) is not None:
        raise ParameterError(
            "metadata_epsilon is not available for histories: one entity contributes up to max_events rows, and "
            "entity-level metadata measurements are not written yet; state the schema file's public domains"
        )
    if schema is None:
        raise SchemaError(
            "a differentially private history fit takes every column's facts from a public schema file (--schema): "
            "each column's kind and domain, the time column's min and max, and history.max_events"
        )
    if engine != "argn":
        raise InputError(f"DP histories learn their events with argn (DP-SGD), not {engine!r}")
    entity_engine = "mst" if entity_engine in (None, "copula") else entity_engine
    if entity_engine not in PRIVATE_ENTITY_ENGINES:
        raise InputError(f"DP histories learn their entities with mst or aim, not {entity_engine!r}")
    declared = schema.history
    max_events = declared.max_events if declared is not None else None
    if max_events is None:
        raise SchemaError(
            "a differentially private history fit needs history.max_events in the schema file: a public cap on "
            "events per entity (longer histories are cut to their first max_events events)"
        )
    constant = list(declared.constant) if declared is not None else []
    missing = [c for c in constant if c not in events.columns or c in (entity, time)]
    if missing:
        raise SchemaError(f"history.constant names {', '.join(map(repr, missing))}: not an event column")
    entries = {c.name: c for c in schema.columns}
    clock, spec, low, high = _public_clock(events[time], entries.get(time))
    frame = events.copy()  # the input stays untouched
    frame["__clock"] = np.clip(clock, low, high)  # outside the public range: clipped (per event, DP-safe)
    frame = frame.sort_values([entity, "__clock"], kind="stable")
    frame = frame.groupby(entity, sort=False).head(max_events)  # the public cap on one entity's events
    clipped = frame.pop("__clock").to_numpy(dtype="float64")
    parts = _prepare(frame, entity, time, clipped, context, constant=constant, private=True)
    is_date = spec["kind"] == "date"
    heads_schema = _public(schema, parts.heads.columns, _derived_heads(is_date, low, high, max_events, context))
    table_schema = _public(schema, parts.table.columns, _derived_events(is_date, low, high), previous=parts.moving)

    from privsynth.engines.base import make
    from privsynth.privacy.accountant import rho_for
    from privsynth.privacy.ledger import Ledger
    from privsynth.schema import text_names

    first = make(entity_engine, epsilon=ENTITY_SHARE * epsilon, delta=delta / 2)
    second = make(engine, epsilon=(1 - ENTITY_SHARE) * epsilon, delta=delta / 2, **params)
    book = _ledger(ledger, Ledger)
    source = text_names(events)  # booked against its registered or recognised source (the custodian's ledger)
    booked = {"engine": "sequence", "epsilon": epsilon, "delta": delta, "rho": rho_for(epsilon, delta)}
    token = book.reserve(source, booked) if book is not None else None
    try:
        with manifests.pinned(created=manifests.created_now()):
            step = lambda _message: None  # noqa: E731
            entity_model = _fit_private(parts.heads, first, heads_schema, seed, step, False)
            event_model = _fit_private(parts.table, second, table_schema, seed, step, False, groups=parts.owners)
            accountant = Accountant(epsilon, delta)
            entity_privacy, event_privacy = entity_model.manifest["privacy"], event_model.manifest["privacy"]
            accountant.spend_rho(entity_engine, "the entity model (one row per entity)", entity_privacy["rho_spent"])
            curve = curve_of_record(event_privacy)
            accountant.spend_curve("dp-sgd", "the event model (each entity's summed gradient clipped)", curve)
            spent = min(accountant.spent(), entity_privacy["epsilon_spent"] + event_privacy["epsilon_spent"])
            if spent > epsilon * (1 + 1e-6):
                raise RuntimeError(f"privacy accounting error: spent epsilon {spent:.6f} > budget {epsilon}")
            privacy = {
                "mechanism": f"{entity_engine} + dp-sgd",
                "guarantee": "differential privacy",
                "definition": "(epsilon, delta)-differential privacy, add/remove one entity: its context row and "
                f"its whole history (at most {max_events} events)",
                "unit": f"one entity's whole history (at most {max_events} events) and its context",
                "epsilon_budget": epsilon,
                "delta": delta,
                "epsilon_spent": spent,
                "rho_spent": entity_privacy["rho_spent"],
                "parts": {"entities": entity_privacy, "events": event_privacy},
            }
            manifest = _manifest(
                entity, time, engine, entity_engine, seed, params, privacy, entity_model, event_model, events
            )
    except BaseException:
        if book is not None:
            book.release(source, token)
        raise
    if book is not None:
        after = book.settle(source, token, entity_privacy["rho_spent"], curve, created=manifest["created"])
        manifest["privacy"]["ledger"] = {"path": str(book.path), "source_epsilon_after": after.epsilon}
        manifest = manifests.with_id({k: v for k, v in manifest.items() if k != "id"})
    key_dtype = str(events[entity].dtype)
    return parts.model(
        entity, time, entity_model, event_model, spec, key_dtype, manifest, gap_log=True, time_bounds=[low, high]
    )


def _ledger(ledger, ledger_class):
    from privsynth.governance.catalog import Catalog

    if ledger is False:
        return None
    if isinstance(ledger, ledger_class):
        return ledger
    if isinstance(ledger, Catalog):
        return ledger_class(catalog=ledger)
    return ledger_class(None if ledger in (None, True) else ledger)


def _public_clock(values: pd.Series, entry) -> tuple[np.ndarray, dict, float, float]:
    """The time column as seconds (or numbers), read with the schema file's format, and its public bounds."""
    if entry is None or entry.min is None or entry.max is None:
        raise SchemaError(f"the time column {values.name!r}: give its public min and max in the schema file")
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric:
        clock = values.to_numpy(dtype="float64", na_value=np.nan)
        # generated times are rounded to the declared precision only (the data's own decimals are not public)
        spec = {"kind": "number", "dtype": str(values.dtype), "precision": entry.precision}
        low, high = float(entry.min), float(entry.max)
    else:
        is_datetime = pd.api.types.is_datetime64_any_dtype(values)
        if not is_datetime and not entry.datetime_format:
            raise SchemaError(
                f"the time column {values.name!r}: state its datetime_format in the schema file (a DP fit does not "
                "read the format from the data)"
            )
        fmt = None if is_datetime else entry.datetime_format
        try:
            clock = dates.to_seconds(values, fmt)
        except ValueError:
            raise InputError(f"the time column {values.name!r} does not follow {fmt!r}") from None
        zone = entry.timezone if not is_datetime else dates.common_timezone(values, None)
        spec = {"kind": "date", "format": fmt, "dtype": dates.dtype_name(values), "zone": zone}
        low, high = (dates.from_iso(b) if isinstance(b, str) else float(b) for b in (entry.min, entry.max))
    if np.isnan(clock).any():
        raise InputError(f"the time column {values.name!r} has empty values")
    if not high > low:
        raise SchemaError(f"the time column {values.name!r}: its public max must be above its min")
    return clock, spec, low, high


def _number(name: str, low: float, high: float, kind: str = "numeric") -> dict:
    return {"name": name, "kind": kind, "min": low, "max": high, "nullable": False}


def _derived_heads(is_date: bool, low: float, high: float, max_events: int, context) -> list[dict]:
    """Public domains of the entity model's own columns."""
    fewest = 0 if context is not None else 1
    out = [_number(LENGTH, fewest, max_events, "integer")]
    if is_date:
        out += [_number(START, np.floor(low / DAY) * DAY, high), _number(START_CLOCK, 0, DAY - 1)]
    else:
        out += [_number(START, low, high)]
    if context is not None:  # entities without events have no first time
        out = [{**entry, "nullable": entry["name"] != LENGTH} for entry in out]
    return out


def _derived_events(is_date: bool, low: float, high: float) -> list[dict]:
    """Public domains of the event model's own columns (gaps as log(1 + gap) over the public span)."""
    gap = float(np.log1p(high - low))
    out = [
        _number(POSITION, 0, MAX_POSITION, "integer"),
        _number(LEFT, 0, MAX_POSITION, "integer"),
        {**_number(GAP, 0.0, gap), "nullable": True},
        {**_number(PREVIOUS + GAP, 0.0, gap), "nullable": True},
    ]
    if is_date:
        out.append({**_number(PREVIOUS + CLOCK, 0, DAY - 1), "nullable": True})
    return out


def _public(schema, columns, derived: list[dict], previous: list[str] = ()):
    """A public schema file for one of the two tables: the user's entries for its columns (an event column's
    also for its previous value, which may be empty), plus the derived columns' public domains."""
    from privsynth.schema import ColumnOverride

    entries = {c.name: c for c in schema.columns}
    out = [entries[name] for name in columns if name in entries]
    out += [
        entries[name].model_copy(update={"name": PREVIOUS + name, "nullable": True})
        for name in previous
        if name in entries and PREVIOUS + name in columns
    ]
    out += [ColumnOverride(**entry) for entry in derived if entry["name"] in columns]
    settings = schema.model_dump(exclude={"columns", "constraints", "history"})
    return type(schema)(**settings, columns=out, constraints=schema.constraints if previous else [])


def _manifest(entity, time, engine, entity_engine, seed, params, privacy, entity_model, event_model, events) -> dict:
    """Nothing of the records: no fingerprint, no count, no source id (the custodian's catalog keeps the link)."""
    lineage = {
        "seed_scope": "sampling only: the fit's noise comes from OS entropy and is not reproducible",
        "source": {
            "sha256": None,
            "rows": None,
            "columns": int(events.shape[1]),
            "note": "withheld under differential privacy (a hash or count of the records is not private)",
        },
        "privacy": privacy,
        "nonce": secrets.token_hex(8),  # two fits with equal settings differ (their noise does); not the noise
    }
    return model_manifest(entity, time, engine, entity_engine, seed, params, entity_model, event_model, lineage)
