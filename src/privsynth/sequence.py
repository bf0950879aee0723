"""Event histories (many rows per entity, in time order): learn and generate whole histories.

EXPERIMENTAL (issue 8, first slice): `privsynth fit EVENTS --entity KEY --time TIME` / `fit_sequences`,
`privsynth sample MODEL -n ENTITIES [--condition CONTEXT=VALUE]` / `SequenceModel.sample`; no separate
context table, continuation of a given history, DP or `reproduce` yet. The model file nests the two table
models (their own checksummed zips) beside `sequence.json`.

Built on the table engines rather than beside them, as two models:
- the entity model learns one row per entity: its number of events, its first event's time, and the columns
  that never change within an entity (its context);
- the event model (argn by default: any-order, so it samples given any fixed columns) learns each event
  given the entity's context, its position from the start and from the end of the history, the gap to the
  previous event (in seconds for dates) and the previous event's own columns.
Generation draws new entities (fresh keys, never real ones), then their events step by step: at step t every
entity with more than t events gets one event conditioned on its context, position and previous event; the
times are the first time plus the running sum of the gaps, written back in the time column's own format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from privsynth.errors import InputError
from privsynth.governance.output import ORIGIN
from privsynth.governance.recipes import plain_params

MAX_POSITION = 31  # positions from the start / the end beyond this share one token
LENGTH, START, GAP, POSITION, LEFT = "__events", "__start", "__gap", "__position", "__left"
START_CLOCK = "__start time of day"  # dates: the first event's day and time of day are learned apart
DAY = 86400.0
CLOCK = "time of day"
PREVIOUS = "__previous "


def _seconds(values: pd.Series) -> tuple[np.ndarray, dict]:
    from privsynth import dates

    try:
        return dates.as_seconds(values)
    except ValueError:
        raise InputError(f"time column {values.name!r} holds neither numbers nor dates") from None


@dataclass
class SequenceModel:
    entity: str
    time: str
    context: list[str]
    events: list[str]
    entity_model: object
    event_model: object
    time_spec: dict
    key_dtype: str
    manifest: dict

    @property
    def engine(self) -> str:
        return "sequence"

    def save(self, path) -> Path:
        """One model file: manifest.json, sequence.json and the two table models nested (no pickle)."""
        from privsynth import modelfile
        from privsynth.io import write_bytes_atomic

        layout = {
            "entity": self.entity,
            "time": self.time,
            "context": self.context,
            "events": self.events,
            "time_spec": self.time_spec,
            "key_dtype": self.key_dtype,
        }
        blobs = {
            "sequence.json": json.dumps(layout, indent=1).encode(),
            "entity.psm": modelfile.to_bytes(self.entity_model),
            "events.psm": modelfile.to_bytes(self.event_model),
        }
        data = modelfile.pack(self.manifest, blobs)
        return write_bytes_atomic(path, lambda handle: handle.write(data))

    def sample(self, entities: int, seed: int = 0, conditions: dict | None = None) -> pd.DataFrame:
        """`entities` new histories (fresh keys), in the training table's columns, ordered by entity and time.
        `conditions` fixes context columns (those constant within an entity), e.g. {"segment": "business"}:
        every history is then drawn given that context."""
        from privsynth import dates

        unknown = sorted(set(conditions or {}) - set(self.context))
        if unknown:
            raise InputError(
                f"histories can be conditioned on their context columns ({', '.join(self.context) or 'none'}), "
                f"not on {', '.join(map(repr, unknown))}"
            )
        rng = np.random.default_rng(seed)
        seeds = rng.integers(0, 2**31 - 1, size=2)
        heads = self.entity_model.sample(entities, seed=int(seeds[0]), conditions=conditions or None)
        heads = heads.reset_index(drop=True)
        lengths = np.maximum(1, np.round(heads[LENGTH].to_numpy(dtype="float64")).astype(int))
        starts = heads[START].to_numpy(dtype="float64")
        dated = START_CLOCK in heads.columns
        if dated:
            starts = np.floor(starts / DAY) * DAY + np.clip(heads[START_CLOCK].to_numpy(dtype="float64"), 0, DAY - 1)
        now, last_gap = starts.copy(), np.full(entities, np.nan)
        rows, previous = [], None
        step_seeds = np.random.default_rng(int(seeds[1])).integers(0, 2**31 - 1, size=int(lengths.max()))
        for t in range(int(lengths.max())):
            active = np.flatnonzero(lengths > t)
            fixed = heads.loc[active, self.context].reset_index(drop=True)
            fixed[POSITION] = min(t, MAX_POSITION)
            fixed[LEFT] = np.minimum(lengths[active] - t - 1, MAX_POSITION)
            if previous is not None:
                for name in self.events:
                    fixed[PREVIOUS + name] = self._known(PREVIOUS + name, previous.loc[active, name])
                fixed[PREVIOUS + GAP] = last_gap[active] if t > 1 else np.nan
                if dated:
                    fixed[PREVIOUS + CLOCK] = np.mod(now[active], DAY)
            drawn = self.event_model.sample(len(active), seed=int(step_seeds[t]), conditions=fixed)
            drawn.index = active
            gap = np.maximum(np.nan_to_num(drawn[GAP].to_numpy(dtype="float64")), 0.0) if t else np.zeros(active.size)
            now[active] += gap
            last_gap[active] = gap
            drawn["__row"], drawn["__t"], drawn["__clock"] = active, t, now[active]
            rows.append(drawn)
            previous = drawn.reindex(range(entities)) if previous is None else previous.combine_first(drawn)
            previous.loc[active] = drawn
        events = pd.concat(rows, ignore_index=True).sort_values(["__row", "__t"], kind="stable")
        clock = events["__clock"].to_numpy(dtype="float64")
        out = pd.DataFrame({self.entity: self._keys(events["__row"].to_numpy())})
        out[self.time] = dates.restore(self.time_spec, clock).to_numpy()
        for name in self.context:
            out[name] = heads[name].to_numpy()[events["__row"].to_numpy()]
        for name in self.events:
            out[name] = events[name].to_numpy()
        out = out.reset_index(drop=True)
        origin_model = {k: self.manifest.get(k) for k in ("id", "kind", "engine", "schema_sha256", "privacy")}
        out.attrs[ORIGIN] = {
            "kind": "synthetic",
            "operation": {
                "command": "sample",
                "params": plain_params({"rows": entities, "seed": seed, "conditions": conditions}),
            },
            "parents": [{"id": self.manifest["id"], "role": "model", "kind": "model"}],
            "model": origin_model,
        }
        return out

    def _known(self, name: str, values: pd.Series) -> pd.Series:
        """Previous values as conditions; a category the event model does not know for that column is left
        free (NaN) rather than refused."""
        for codec in self.event_model.encoder.codecs:
            if codec.name == name and codec.transform == "categorical":
                allowed = set(codec.params["categories"])
                return values.where(values.isin(allowed)).reset_index(drop=True)
        return values.reset_index(drop=True)

    def _keys(self, rows: np.ndarray):
        if "int" in self.key_dtype:
            return rows + 1
        return pd.Series(rows + 1).map(lambda i: f"synthetic-{i}").to_numpy()


def fit_sequences(
    events: pd.DataFrame,
    entity: str,
    time: str,
    *,
    engine: str = "argn",
    entity_engine: str = "copula",
    seed: int = 0,
    **params,
) -> SequenceModel:
    """Learn the histories in `events` (one row per event; `entity` the key, `time` a time or order column).
    `params` go to the event model's engine (e.g. max_epochs for argn). The input is never modified."""
    import privsynth as ps

    for name in (entity, time):
        if name not in events.columns:
            raise InputError(f"no column {name!r} in the events")
    if events[entity].isna().any():
        raise InputError(f"the entity key {entity!r} has empty values")
    clock, spec = _seconds(events[time])
    is_date = not (pd.api.types.is_numeric_dtype(events[time]) and not pd.api.types.is_bool_dtype(events[time]))
    if np.isnan(clock).any():
        raise InputError(f"the time column {time!r} has empty values")
    order = np.lexsort((np.arange(len(events)), clock, events[entity].astype(str).to_numpy()))
    frame = events.iloc[order].reset_index(drop=True)
    clock = clock[order]
    keys = frame[entity].to_numpy()
    groups = frame.groupby(entity, sort=False)
    others = [c for c in frame.columns if c not in (entity, time)]
    context = [c for c in others if (groups[c].nunique(dropna=False) <= 1).all()]
    moving = [c for c in others if c not in context]
    heads = groups[context].first().reset_index(drop=True) if context else pd.DataFrame(index=range(groups.ngroups))
    heads[LENGTH] = groups.size().to_numpy()
    starts = pd.Series(clock).groupby(keys, sort=False).first().to_numpy()
    if is_date:  # readings on the hour keep starting on the hour: the time of day is a column of its own
        heads[START], heads[START_CLOCK] = np.floor(starts / DAY) * DAY, np.mod(starts, DAY)
    else:
        heads[START] = starts
    position = groups.cumcount().to_numpy()
    length = groups[entity].transform("size").to_numpy()
    table = frame[context + moving].copy()
    table[POSITION] = np.minimum(position, MAX_POSITION)
    table[LEFT] = np.minimum(length - position - 1, MAX_POSITION)
    table[GAP] = pd.Series(clock).groupby(keys, sort=False).diff().to_numpy()
    for name in moving:
        table[PREVIOUS + name] = frame.groupby(entity, sort=False)[name].shift(1).to_numpy()
    table[PREVIOUS + GAP] = pd.Series(table[GAP].to_numpy()).groupby(keys, sort=False).shift(1).to_numpy()
    if is_date:  # where in the day the previous event was: gaps that return to a grid (storms' 6-hourly fixes)
        table[PREVIOUS + CLOCK] = pd.Series(np.mod(clock, DAY)).groupby(keys, sort=False).shift(1).to_numpy()
    entity_model = ps.fit(heads, entity_engine, seed=seed)
    event_model = ps.fit(table, engine, seed=seed, **params)
    manifest = _manifest(events, entity, time, engine, entity_engine, seed, params, entity_model, event_model)
    key_dtype = str(events[entity].dtype)
    return SequenceModel(entity, time, context, moving, entity_model, event_model, spec, key_dtype, manifest)


def _manifest(events, entity, time, engine, entity_engine, seed, params, entity_model, event_model) -> dict:
    from privsynth.fingerprint import fingerprint
    from privsynth.governance import manifest as manifests

    source = fingerprint(events)
    schemas = [m.manifest["schema_sha256"] for m in (entity_model, event_model)]
    return manifests.with_id(
        {
            "format": "privsynth-model",
            "format_version": 1,
            "kind": "model",
            "privsynth_version": manifests.versions()["privsynth"],
            "created": manifests.created_now(),
            "author": manifests.author(),
            "engine": {
                "name": "sequence",
                "params": {"entity": entity, "time": time, "events": engine, "entities": entity_engine, **params},
            },
            "seed": seed,
            "source": source,
            "privacy": {"mechanism": "none", "guarantee": manifests.NO_GUARANTEE},
            "rare_category_threshold": event_model.manifest.get("rare_category_threshold"),
            "schema_sha256": manifests.sha256(manifests.canonical(schemas)),
            "parents": [{"id": manifests.source_id(source), "role": "source", "kind": "source"}],
            "operation": {"command": "fit"},
            "versions": manifests.versions(engine),
            "models": {"entities": entity_model.manifest["id"], "events": event_model.manifest["id"]},
        }
    )


def rebuild(manifest: dict, blobs: dict[str, bytes], label) -> SequenceModel:
    """A SequenceModel from a model file's checked entries (see `privsynth.modelfile`)."""
    from privsynth import modelfile
    from privsynth.errors import ModelFileError

    try:
        layout = json.loads(blobs["sequence.json"])
        entity_model = modelfile.from_bytes(blobs["entity.psm"], f"{label} (entity model)")
        event_model = modelfile.from_bytes(blobs["events.psm"], f"{label} (event model)")
        return SequenceModel(
            layout["entity"],
            layout["time"],
            layout["context"],
            layout["events"],
            entity_model,
            event_model,
            layout["time_spec"],
            layout["key_dtype"],
            manifest,
        )
    except (KeyError, ValueError) as exc:
        raise ModelFileError(f"model file {label} cannot be read: {exc}") from None
