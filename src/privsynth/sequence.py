"""Event histories (many rows per entity, in time order): learn and generate whole histories.

`privsynth fit EVENTS --entity KEY --time TIME [--context ENTITIES]` / `fit_sequences`;
`privsynth sample MODEL -n ENTITIES [--condition CONTEXT=VALUE]` / `SequenceModel.sample` (`sample_tables`
with a context table); `privsynth continue MODEL HISTORY [--events N]` / `SequenceModel.continue_histories`.
A schema file may declare the history (`history: {entity: KEY, time: TIME}`) and override its columns' kinds
and identifier policies. With `epsilon` (and a public schema file) the fit is differentially private per
entity: see `privsynth.sequence_private`. The model file nests the two table models (their own checksummed
zips) beside `sequence.json`.

Built on the table engines rather than beside them, as two models:
- the entity model learns one row per entity: its number of events (0 allowed with a context table), its first
  event's time, the context table's columns and the event columns that never change within an entity;
- the event model (argn by default: any-order, so it samples given any fixed columns) learns each event
  given the entity's context, its position from the start and from the end of the history, the gap to the
  previous event (in seconds for dates), the previous event's own columns and, for numbers that move by small
  steps (a storm's wind), their previous change. Dated events at irregular gaps (more distinct gaps than argn
  has exact tokens: card purchases) also learn their own time of day, and each drawn gap is moved onto it:
  a clock summed from binned gaps would spread the hours out (cards: hour-of-day TVD 0.105 -> 0.031).
Generation draws new entities (fresh keys, never real ones), then their events step by step: at step t every
entity with more than t events gets one event conditioned on its context, position and previous event; the
times are the first time plus the running sum of the gaps, written back in the time column's own format.
Continuing a history runs the same steps from the entity's last known event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from privsynth import replacements, sampling
from privsynth.errors import InputError
from privsynth.governance.output import ORIGIN
from privsynth.governance.recipes import plain_params
from privsynth.modelcheck import guarded
from privsynth.schema import Settings, _decimals

MAX_POSITION = 31  # positions from the start / the end beyond this share one token
LENGTH, START, GAP, POSITION, LEFT = "__events", "__start", "__gap", "__position", "__left"
START_CLOCK = "__start time of day"  # dates: the first event's day and time of day are learned apart
SEASON = "__start day of year"  # seasonal data only: every event knows the season its history began in
SEASONAL_SHARE = 0.25  # share of an event column's variance between entities explained by the start month
DAY = 86400.0
CLOCK = "time of day"
WHEN = "__time of day"  # irregular dated gaps: each event's own time of day, the gap moved to reach it
SHORTEST_MOVE = 1800.0  # seconds a gap may always be moved by to reach its time of day (else half the gap)
PREVIOUS = "__previous "
CHANGE = "__previous change "  # smooth numbers: the previous event's change (where a storm was heading)
SMOOTH_CORRELATION = 0.8  # lag-1 correlation from which a number column's last change is learned
# argn's exact-token limit (tokens.MAX_LEVELS; a copy, so importing this module needs no torch, kept equal by a
# test): a binned column's change would be mostly binning noise
MAX_LEVELS = 128


def _seconds(values: pd.Series) -> tuple[np.ndarray, dict]:
    from privsynth import dates

    try:
        return dates.as_seconds(values)
    except ValueError:
        raise InputError(f"time column {values.name!r} holds neither numbers nor dates") from None


def _resolution(spec: dict, clock: np.ndarray) -> dict:
    """The time spec plus the time column's resolution, which generated times keep as a table's columns keep
    theirs: decimal places for numbers (None: not rounded; times 0.0, 2.0, 12.5 stay at one decimal, not a
    float's sum of gaps), the coarsest whole step (day, hour, ..., us) for dates."""
    from privsynth import dates

    if spec["kind"] == "number":
        return {**spec, "precision": _decimals(clock)}
    return {**spec, "step": dates.resolution(clock)}


def _restore(spec: dict, seconds: np.ndarray) -> pd.Series:
    """Times (seconds or numbers) in the time column's own form, rounded to its resolution when known."""
    from privsynth import dates
    from privsynth.transforms import numeric

    seconds = numeric.finish(seconds, None, None, spec.get("precision"), spec.get("step"))
    return dates.restore(spec, seconds)


@dataclass
class SequenceModel:
    loaded_from: ClassVar[str | None] = None  # the model file it was read from (sampling errors then name it)
    entity: str
    time: str
    context: list[str]
    events: list[str]
    entity_model: object
    event_model: object
    time_spec: dict
    key_dtype: str
    manifest: dict
    table_context: list[str] = field(default_factory=list)  # columns of a separate context table (--context)
    smooth: dict[str, dict] = field(default_factory=dict)  # number columns generated as steps (see `_smooth`)
    gap_log: bool = False  # gaps learned as log(1 + gap) (DP fits: public cells over the time span)
    time_bounds: list[float] | None = None  # DP fits: the time column's public min and max (times kept inside)
    key_state: dict = field(default_factory=dict)  # fresh entity keys: layouts and a namespace no real key is in

    @property
    def engine(self) -> str:
        return "sequence"

    @property
    def all_context(self) -> list[str]:
        """Every entity-level column the event model conditions on (not those a schema file keeps out of
        learning, e.g. a dropped or faked identifier)."""
        learned = self._learned()
        return [name for name in [*self.table_context, *self.context] if name in learned]

    def _learned(self) -> set[str]:
        return {codec.name for codec in self.event_model.encoder.codecs}

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
            "table_context": self.table_context,
            "smooth": self.smooth,
            "gap_log": self.gap_log,
            "time_bounds": self.time_bounds,
            "key_state": self.key_state,
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
        `conditions` fixes context columns (those constant within an entity, or of the context table), e.g.
        {"segment": "business"}: every history is then drawn given that context. With a context table, the
        context table's columns are not in the events: `sample_tables` gives both tables."""
        return self.sample_tables(entities, seed, conditions)[1]

    @guarded
    def sample_tables(
        self, entities: int, seed: int = 0, conditions: dict | None = None
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(context, events): one row per new entity (its fresh key and context-table columns; entities may have
        no events when the training context table had such) and their events, as `sample`."""
        unknown = sorted(set(conditions or {}) - set(self.all_context))
        if unknown:
            raise InputError(
                "histories can be conditioned on their context columns "
                f"({', '.join(self.all_context) or 'none'}), not on {', '.join(map(repr, unknown))}"
            )
        rng = np.random.default_rng(seed)
        seeds = rng.integers(0, 2**31 - 1, size=2)
        self._check_memory(entities, int(seeds[0]), conditions)
        heads = self.entity_model.sample(entities, seed=int(seeds[0]), conditions=conditions or None)
        heads = heads.reset_index(drop=True)
        fewest = 0 if self.table_context else 1
        lengths = np.maximum(fewest, np.round(np.nan_to_num(heads[LENGTH].to_numpy(dtype="float64"))).astype(int))
        starts = np.nan_to_num(heads[START].to_numpy(dtype="float64"))
        if START_CLOCK in heads.columns:
            clock = np.nan_to_num(heads[START_CLOCK].to_numpy(dtype="float64"))
            starts = np.floor(starts / DAY) * DAY + np.clip(clock, 0, DAY - 1)
        if self.time_bounds is not None:
            starts = np.clip(starts, *self.time_bounds)
        state = _State.new(entities, self.events, starts)
        fixed = self._when(heads[self.all_context], starts)
        events = self._steps(fixed, lengths, np.zeros(entities, dtype=int), state, int(seeds[1]))
        keys = self._keys(np.arange(entities), rng)
        context = pd.DataFrame({self.entity: keys})
        for name in self.table_context:
            context[name] = heads[name].to_numpy()
        out = self._frame(events, keys, heads, [*self.context])
        params = {"rows": entities, "seed": seed, "conditions": conditions}
        context.attrs[ORIGIN] = self._origin({**params, "table": "entities"})
        out.attrs[ORIGIN] = self._origin(params)
        return context, out

    def _check_memory(self, entities: int, seed: int, conditions: dict | None) -> None:
        """Histories are generated in memory: refuse, before any is, a sample whose events (by the lengths a
        pilot of the entity model draws) would not fit (`sampling.refuse_beyond_memory`)."""
        if entities <= sampling.BLOCK_ROWS:
            return
        pilot = self.entity_model.sample(2_000, seed=seed, conditions=conditions or None)
        length = float(np.nanmean(np.maximum(1, np.nan_to_num(pilot[LENGTH].to_numpy(dtype="float64")))))
        columns = self.event_model.schema.columns
        per_row = sum(8 if c.dtype != "object" else 64 for c in columns) + 64  # + the key
        what = "a history model's events are generated in memory"
        sampling.refuse_beyond_memory(int(entities * length), per_row, what)

    def continue_histories(self, history: pd.DataFrame, events: int | None = None, seed: int = 0) -> pd.DataFrame:
        """The next events of the given histories (their own keys: these entities exist already). `history` holds
        each entity's events so far in the training table's columns (context-table columns too, when the model
        has a context table; their values condition the continuation). `events` new events per entity; by default
        each history's total length is drawn from the entity model given its context and its length so far.
        Only the new events are returned, in the events' columns, ordered by entity and time."""
        learned = self._learned()
        need = [self.entity, self.time, *self.all_context, *(name for name in self.events if name in learned)]
        missing = [c for c in need if c not in history.columns]
        if missing:
            raise InputError(f"the history to continue lacks column(s) {', '.join(map(repr, missing))}")
        if len(history) == 0:
            raise InputError("the history to continue has no events")
        if events is not None and events < 1:
            raise InputError("events to add must be at least 1")
        clock, _ = _seconds(history[self.time])
        order = np.lexsort((np.arange(len(history)), clock, history[self.entity].astype(str).to_numpy()))
        frame, clock = history.iloc[order].reset_index(drop=True), clock[order]
        groups = frame.groupby(self.entity, sort=False)
        last = groups.tail(1).index.to_numpy()
        known = groups.size().to_numpy()
        heads = frame.loc[last, self.all_context].reset_index(drop=True)
        rng = np.random.default_rng(seed)
        seeds = rng.integers(0, 2**31 - 1, size=2)
        totals = known + events if events is not None else self._totals(heads, known, int(seeds[0]))
        state = _State.new(len(known), self.events, clock[last])
        second = frame.groupby(self.entity, sort=False).nth(-2)  # entities with one event have none
        where = pd.Series(np.arange(len(last)), index=frame.loc[last, self.entity].to_numpy())
        for name in (name for name in self.events if name in learned):
            state.previous[name][:] = frame.loc[last, name].to_numpy(dtype=object)
            state.before[name][where[second[self.entity]].to_numpy()] = second[name].to_numpy(dtype=object)
        gaps = pd.Series(clock).groupby(frame[self.entity].to_numpy(), sort=False).diff().to_numpy()
        state.last_gap[:] = gaps[last]
        firsts = clock[groups.head(1).index.to_numpy()]
        drawn = self._steps(self._when(heads, firsts), totals, known, state, int(seeds[1]))
        keys = frame.loc[last, self.entity].to_numpy()
        out = self._frame(drawn, keys, heads, self.context)
        out.attrs[ORIGIN] = self._origin({"continue": len(known), "events": events, "seed": seed})
        out.attrs[ORIGIN]["operation"]["command"] = "continue"
        return out

    def _totals(self, heads: pd.DataFrame, known: np.ndarray, seed: int, draws: int = 32) -> np.ndarray:
        """Total lengths given each entity's context and that it has `known` events already: `draws` lengths from
        the entity model given the context; the first longer than `known` (else one more event)."""
        conditions = heads.loc[np.repeat(np.arange(len(heads)), draws)].reset_index(drop=True)
        drawn = self.entity_model.sample(
            len(conditions), seed=seed, conditions=conditions if self.all_context else None
        )
        lengths = np.round(np.nan_to_num(drawn[LENGTH].to_numpy(dtype="float64"))).astype(int).reshape(-1, draws)
        longer = lengths > known[:, None]
        first = np.where(longer.any(axis=1), lengths[np.arange(len(known)), longer.argmax(axis=1)], known + 1)
        return first.astype(int)

    def _when(self, context: pd.DataFrame, firsts: np.ndarray) -> pd.DataFrame:
        """The context plus the season each history began in, when the event model learned it (else as is)."""
        out = context.reset_index(drop=True).copy()
        if SEASON in self._learned():
            out[SEASON] = _day_of_year(firsts)
        return out

    def _steps(self, heads, lengths, first_step, state, seed: int) -> pd.DataFrame:
        """Events of every entity from step `first_step[i]` to `lengths[i] - 1`, one step for all at once: each
        drawn given the entity's context, its position, the events left and its previous event (`state`)."""
        todo = lengths - first_step
        rounds = int(todo.max()) if todo.size and todo.max() > 0 else 0
        step_seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=max(rounds, 1))
        learned = self._learned()
        dated = PREVIOUS + CLOCK in learned
        regular = self._regular_gap()  # one gap between all events: not learned, empty only for first events
        calendar = WHEN in learned
        rows = []
        for j in range(rounds):
            active = np.flatnonzero(todo > j)
            t = first_step[active] + j
            fixed = heads.iloc[active].reset_index(drop=True)
            fixed[POSITION] = np.minimum(t, MAX_POSITION)
            fixed[LEFT] = np.minimum(lengths[active] - t - 1, MAX_POSITION)
            for name in self.events:  # columns the schema keeps out of learning (a dropped one) give no condition
                if PREVIOUS + name in learned:
                    fixed[PREVIOUS + name] = self._known(PREVIOUS + name, state.previous[name][active])
            for name in self.smooth:
                change = state.previous[name][active].astype("float64") - state.before[name][active].astype("float64")
                fixed[CHANGE + name] = change
            fixed[PREVIOUS + GAP] = np.log1p(state.last_gap[active]) if self.gap_log else state.last_gap[active]
            if dated:
                fixed[PREVIOUS + CLOCK] = np.where(t > 0, np.mod(state.now[active], DAY), np.nan)
            if calendar:  # a first event happens at its history's start time
                fixed[WHEN] = np.where(t == 0, np.mod(state.now[active], DAY), np.nan)
            # a derived column that took one value in training (a counter's change, always 1) is constant, not
            # learned: nothing to condition on
            fixed = fixed[[name for name in fixed.columns if name in learned]]
            conditions = fixed if len(fixed.columns) else None
            drawn = self.event_model.sample(len(active), seed=int(step_seeds[j]), conditions=conditions)
            gap = drawn[GAP].to_numpy(dtype="float64")
            gap = np.maximum(np.nan_to_num(np.where(np.isnan(gap), regular, gap)), 0.0)
            gap = np.expm1(gap) if self.gap_log else gap
            if calendar:
                gap = _to_clock(gap, drawn[WHEN].to_numpy(dtype="float64"), state.now[active])
            gap = np.where(t > 0, gap, 0.0)
            state.now[active] += gap
            if self.time_bounds is not None:  # a DP model's noisy gaps may add up past the public range
                state.now[active] = np.minimum(state.now[active], self.time_bounds[1])
            state.last_gap[active] = np.where(t > 0, gap, np.nan)
            for name in self.events:
                state.before[name][active] = state.previous[name][active]
                if name in drawn:
                    state.previous[name][active] = drawn[name].to_numpy(dtype=object)
            drawn.index = active
            drawn["__row"], drawn["__t"], drawn["__clock"] = active, t, state.now[active]
            rows.append(drawn)
        if not rows:
            return pd.DataFrame({"__row": [], "__t": [], "__clock": [], **{n: [] for n in self.events}})
        return pd.concat(rows, ignore_index=True).sort_values(["__row", "__t"], kind="stable")

    def _frame(self, events: pd.DataFrame, keys, heads: pd.DataFrame, context: list[str]) -> pd.DataFrame:
        """Events in the training table's column order: key, time, event-level context, event columns."""
        rows = events["__row"].to_numpy(dtype=int)
        out = pd.DataFrame({self.entity: np.asarray(keys)[rows]})
        out[self.time] = _restore(self.time_spec, events["__clock"].to_numpy(dtype="float64")).to_numpy()
        for name in context:  # a column the schema drops is not written
            if name in heads:
                out[name] = heads[name].to_numpy()[rows]
        for name in self.events:
            if name in events:
                out[name] = events[name].to_numpy()
        return out.reset_index(drop=True)

    def _origin(self, params: dict) -> dict:
        origin_model = {k: self.manifest.get(k) for k in ("id", "kind", "engine", "schema_sha256", "privacy")}
        return {
            "kind": "synthetic",
            "operation": {"command": "sample", "params": plain_params(params)},
            "parents": [{"id": self.manifest["id"], "role": "model", "kind": "model"}],
            "model": origin_model,
        }

    def _regular_gap(self) -> float:
        """The gap between consecutive events when the training histories had one only (visits numbered 0, 1,
        2: a constant column, which the event model leaves empty at its first events' rate, not at step 0
        only); NaN otherwise."""
        for column in self.event_model.schema.columns:
            if column.name == GAP and column.kind == "constant" and column.value is not None:
                return float(column.value)
        return np.nan

    def _known(self, name: str, values: np.ndarray) -> pd.Series:
        """Previous values as conditions (NaN: none, left free); a category the event model does not know for
        that column is left free rather than refused."""
        series = pd.Series(values).infer_objects()
        for codec in self.event_model.encoder.codecs:
            if codec.name == name and codec.transform == "categorical":
                allowed = set(codec.params["categories"])
                return series.where(series.isin(allowed))
        return series

    def _keys(self, rows: np.ndarray, rng: np.random.Generator):
        """Fresh entity keys: in the real keys' layout and never a real key (`privsynth.replacements`); models
        fitted without that state (DP fits measure nothing outside their mechanism) number them 1..n."""
        if self.key_state:
            return replacements.draw("key", "surrogate", self.key_state, len(rows), rng, self.key_dtype)[rows]
        if "int" in self.key_dtype:
            return rows + 1
        return pd.Series(rows + 1).map(lambda i: f"synthetic-{i}").to_numpy()


def _to_clock(gap: np.ndarray, when: np.ndarray, now: np.ndarray) -> np.ndarray:
    """Each drawn gap moved to the nearest time that falls on the drawn time of day `when` (learned given the
    gap and the previous time of day): gaps are binned, and a clock summed from their within-bin positions
    spreads the hours of the day out. A move is taken only when it is at most half the gap or half an hour
    (else the two draws disagree, and the gap wins) and never runs time backwards."""
    reached = np.mod(now + gap, DAY)
    move = np.mod(np.nan_to_num(when, nan=0.0) - reached + DAY / 2, DAY) - DAY / 2
    take = ~np.isnan(when) & (np.abs(move) <= np.maximum(gap / 2, SHORTEST_MOVE)) & (gap + move >= 0)
    return np.where(take, gap + move, gap)


@dataclass
class _State:
    """Where each entity's history stands while it is generated: its clock, last gap and previous event."""

    now: np.ndarray
    last_gap: np.ndarray
    previous: dict[str, np.ndarray]
    before: dict[str, np.ndarray]  # the event before the previous one

    @classmethod
    def new(cls, entities: int, columns: list[str], starts: np.ndarray) -> _State:
        previous = {name: np.full(entities, np.nan, dtype=object) for name in columns}
        before = {name: np.full(entities, np.nan, dtype=object) for name in columns}
        return cls(np.asarray(starts, dtype="float64").copy(), np.full(entities, np.nan), previous, before)


def fit_sequences(
    events: pd.DataFrame,
    entity: str,
    time: str,
    *,
    context: pd.DataFrame | None = None,
    engine: str = "argn",
    entity_engine: str = "copula",
    seed: int = 0,
    schema=None,
    **params,
) -> SequenceModel:
    """Learn the histories in `events` (one row per event; `entity` the key, `time` a time or order column).
    `context` (optional) is a table with one row per entity, keyed by the same `entity` column (customers of
    transactions); its entities may have no events, and every event is learned given its entity's context.
    `schema` (a schema file's path, SchemaFile or its dict) overrides what is inferred of the columns, e.g. an
    identifier policy; its overrides go to the entity and event models by column (an event column's also to its
    previous value). `params` go to the event model's engine (e.g. max_epochs for argn). The inputs are never
    modified."""
    import privsynth as ps

    _check_events(events, entity, time)
    given = _schema_file(schema, [*events.columns, *(context.columns if context is not None else [])])
    if params.get("epsilon") is not None:  # entity-level differential privacy: sequence_private
        from privsynth.sequence_private import fit_private

        return fit_private(events, entity, time, context, given, engine, entity_engine, seed, params)
    clock, spec = _seconds(events[time])
    if np.isnan(clock).any():
        raise InputError(f"the time column {time!r} has empty values")
    spec = _resolution(spec, clock)
    parts = _prepare(events, entity, time, clock, context)
    heads, table = parts.heads, parts.table
    from privsynth.governance import manifest as manifests

    for_entities, for_events = _split_schema(given, [entity, time], list(heads.columns), list(table.columns))
    if given is not None:
        params["schema"] = given.model_dump(mode="json", exclude_none=True)  # recorded: `reproduce` refits with it
    engine_params = {k: v for k, v in params.items() if k != "schema"}
    with manifests.pinned(created=manifests.created_now()):  # one creation time for the model and both parts
        entity_model = ps.fit(heads, entity_engine, seed=seed, schema=for_entities)
        event_model = ps.fit(table, engine, seed=seed, schema=for_events, **engine_params)
        manifest = _manifest(
            events, context, entity, time, engine, entity_engine, seed, params, entity_model, event_model
        )
    known = pd.concat([events[entity], context[entity]]) if context is not None else events[entity]
    k = given.rare_category_threshold if given is not None else Settings().rare_category_threshold
    key_state = replacements.learn("key", "surrogate", pd.Series(pd.unique(known)), k)
    dtype = str(events[entity].dtype)
    return parts.model(entity, time, entity_model, event_model, spec, dtype, manifest, key_state=key_state)


def _check_events(events: pd.DataFrame, entity: str, time: str) -> None:
    for name in (entity, time):
        if name not in events.columns:
            raise InputError(f"no column {name!r} in the events")
    if events[entity].isna().any():
        raise InputError(f"the entity key {entity!r} has empty values")
    if len(events) == 0:
        raise InputError("the events table is empty")


@dataclass
class _Parts:
    """What the two models learn: `heads` one row per entity, `table` one row per event (see the module doc)."""

    heads: pd.DataFrame
    table: pd.DataFrame
    constant: list[str]
    moving: list[str]
    table_context: list[str]
    smooth: dict
    owners: np.ndarray  # each event's entity, 0..entities-1 (the privacy unit under DP)

    def model(self, entity, time, entity_model, event_model, spec, key_dtype, manifest, **extra) -> SequenceModel:
        """The fitted SequenceModel of these parts."""
        return SequenceModel(
            entity,
            time,
            self.constant,
            self.moving,
            entity_model,
            event_model,
            spec,
            key_dtype,
            manifest,
            self.table_context,
            self.smooth,
            **extra,
        )


def _prepare(
    events: pd.DataFrame,
    entity: str,
    time: str,
    clock: np.ndarray,
    context: pd.DataFrame | None,
    constant: list[str] | None = None,
    private: bool = False,
) -> _Parts:
    """The entity and event tables. `constant`: the columns constant within an entity (default: those that are);
    `private`: nothing decided from the data (no smooth or seasonal columns) and gaps learned as log(1 + gap)."""
    is_date = not (pd.api.types.is_numeric_dtype(events[time]) and not pd.api.types.is_bool_dtype(events[time]))
    order = np.lexsort((np.arange(len(events)), clock, events[entity].astype(str).to_numpy()))
    frame = events.iloc[order].reset_index(drop=True)
    clock = clock[order]
    keys = frame[entity].to_numpy()
    groups = frame.groupby(entity, sort=False)
    others = [c for c in frame.columns if c not in (entity, time)]
    if constant is None:
        constant = [c for c in others if (groups[c].nunique(dropna=False) <= 1).all()]
    moving = [c for c in others if c not in constant]
    heads = groups[constant].first() if constant else pd.DataFrame(index=groups.size().index)
    heads[LENGTH] = groups.size()
    starts = pd.Series(clock).groupby(keys, sort=False).first().to_numpy()
    if is_date:  # readings on the hour keep starting on the hour: the time of day is a column of its own
        heads[START], heads[START_CLOCK] = np.floor(starts / DAY) * DAY, np.mod(starts, DAY)
    else:
        heads[START] = starts
    table_context: list[str] = []
    if context is not None:
        heads, table_context = _with_context_table(heads, context, entity, events)
    owners = groups.ngroup().to_numpy()
    heads = heads.reset_index(drop=True)
    position = groups.cumcount().to_numpy()
    length = groups[entity].transform("size").to_numpy()
    table = frame[moving].copy()
    for name in constant:  # the entity's value (declared constant columns may vary: the first one counts)
        table[name] = groups[name].transform("first").to_numpy()
    for name in table_context:  # each event learned given its entity's context-table row
        table[name] = frame[entity].map(context.set_index(entity)[name]).to_numpy()
    table = table[[*table_context, *constant, *moving]]
    began = pd.Series(clock).groupby(keys, sort=False).transform("first").to_numpy()
    if is_date and not private and _seasonal(frame, moving, entity, began):
        table[SEASON] = _day_of_year(began)
    table[POSITION] = np.minimum(position, MAX_POSITION)
    table[LEFT] = np.minimum(length - position - 1, MAX_POSITION)
    gaps = pd.Series(clock).groupby(keys, sort=False).diff().to_numpy()
    if not is_date and not private:  # 85.3 - 72.5 is 12.799999999999997: gaps at the times' own decimals
        places = _decimals(clock)
        gaps = gaps if places is None else np.round(gaps, places)
    table[GAP] = np.log1p(np.maximum(gaps, 0.0)) if private else gaps
    if is_date and not private and pd.Series(gaps).nunique() > MAX_LEVELS:  # binned gaps would smear the clock
        table[WHEN] = np.mod(clock, DAY)  # drawn after the gap, given it and the previous time of day
    for name in moving:
        table[PREVIOUS + name] = groups[name].shift(1).to_numpy()
    smooth = {} if private else _smooth(frame, moving, entity)
    for name in smooth:  # lag 1 alone gives a level, not where it was heading (a storm strengthening)
        before = groups[name].shift(2).to_numpy(dtype="float64", na_value=np.nan)
        table[CHANGE + name] = table[PREVIOUS + name].to_numpy(dtype="float64", na_value=np.nan) - before
    table[PREVIOUS + GAP] = pd.Series(table[GAP].to_numpy()).groupby(keys, sort=False).shift(1).to_numpy()
    if is_date:  # where in the day the previous event was: gaps that return to a grid (storms' 6-hourly fixes)
        table[PREVIOUS + CLOCK] = pd.Series(np.mod(clock, DAY)).groupby(keys, sort=False).shift(1).to_numpy()
    return _Parts(heads, table, constant, moving, table_context, smooth, owners)


def _schema_file(schema, columns: list):
    """The schema file given to a history fit (path, SchemaFile, its dict or None), every named column checked."""
    from pydantic import ValidationError

    from privsynth.errors import SchemaError
    from privsynth.schema import SchemaFile, _unknown, load_yaml

    if schema is None:
        return None
    if isinstance(schema, dict):
        try:
            schema = SchemaFile.model_validate(schema)
        except ValidationError as exc:
            raise SchemaError(str(exc).splitlines()[0]) from None
    elif not isinstance(schema, SchemaFile):
        schema = load_yaml(schema, columns)
    unknown = [_unknown(c.name, columns) for c in schema.columns if c.name not in set(map(str, columns))]
    if unknown:
        raise SchemaError(unknown)
    return schema


def _split_schema(schema, skipped: list[str], entity_columns: list[str], event_columns: list[str]):
    """(entity model's, event model's) schema files: the table-wide settings for both, each column's override
    where that column is learned (an event column's also for its previous value), constraints with the events.
    The key and time columns' entries are not passed on (the history model handles them itself)."""
    if schema is None:
        return None, None
    columns = [c for c in schema.columns if c.name not in skipped]
    settings = schema.model_dump(exclude={"columns", "constraints", "history"})
    mine = [c for c in columns if c.name in entity_columns]
    theirs = [c for c in columns if c.name in event_columns]
    theirs += [c.model_copy(update={"name": PREVIOUS + c.name}) for c in columns if PREVIOUS + c.name in event_columns]
    return (
        type(schema)(**settings, columns=mine),
        type(schema)(**settings, columns=theirs, constraints=schema.constraints),
    )


def _day_of_year(seconds: np.ndarray) -> np.ndarray:
    return pd.to_datetime(np.asarray(seconds, dtype="float64"), unit="s").dayofyear.to_numpy()


def _seasonal(frame: pd.DataFrame, columns: list[str], entity: str, began: np.ndarray) -> bool:
    """Whether some number column's per-entity mean depends on the month its history began in: at least
    SEASONAL_SHARE of its variance between entities explained by that month, and four times what chance gives
    with that many months and entities (weather readings follow the seasons; storm tracks and card purchases
    do not, and there the extra column only costs fidelity)."""
    month = pd.to_datetime(began, unit="s").month.to_numpy()
    for name in columns:
        values = frame[name]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        x = pd.Series(values.to_numpy(dtype="float64", na_value=np.nan))
        means = pd.DataFrame({"x": x.groupby(frame[entity].to_numpy(), sort=False).mean()})
        means["month"] = pd.Series(month).groupby(frame[entity].to_numpy(), sort=False).first()
        means = means.dropna()
        months = means["month"].nunique()
        if months < 3 or len(means) <= months:
            continue
        spread = ((means["x"] - means["x"].mean()) ** 2).sum()
        between = ((means.groupby("month")["x"].transform("mean") - means["x"].mean()) ** 2).sum()
        chance = (months - 1) / (len(means) - 1)
        if spread > 0 and between / spread >= max(SEASONAL_SHARE, 4 * chance):
            return True
    return False


def _smooth(frame: pd.DataFrame, columns: list[str], entity: str) -> dict[str, dict]:
    """Number columns with few values (argn's exact tokens) that move by small steps within an entity (lag-1
    correlation of consecutive events at least SMOOTH_CORRELATION, at most 5% empty): a storm's wind and
    pressure. Their previous change is learned and conditioned on, so a history keeps its direction (a storm
    strengthening goes on strengthening) instead of drifting back to the middle."""
    out = {}
    for name in columns:
        values = frame[name]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        if values.isna().mean() > 0.05 or not 3 <= values.nunique() <= MAX_LEVELS:
            continue
        x = values.to_numpy(dtype="float64", na_value=np.nan)
        before = frame.groupby(entity, sort=False)[name].shift(1).to_numpy(dtype="float64", na_value=np.nan)
        known = ~np.isnan(x) & ~np.isnan(before)
        if known.sum() < 10 or np.std(x[known]) == 0 or np.std(before[known]) == 0:
            continue
        if np.corrcoef(x[known], before[known])[0, 1] >= SMOOTH_CORRELATION:
            integer = pd.api.types.is_integer_dtype(values) or bool(np.all(np.mod(x[~np.isnan(x)], 1) == 0))
            out[name] = {"min": float(np.nanmin(x)), "max": float(np.nanmax(x)), "integer": integer}
    return out


def _with_context_table(
    heads: pd.DataFrame, context: pd.DataFrame, entity: str, events: pd.DataFrame
) -> tuple[pd.DataFrame, list[str]]:
    """The per-entity rows joined to the context table (one row per entity of the table, entities without
    events getting 0 events), and the context table's own columns."""
    if entity not in context.columns:
        raise InputError(f"the context table has no column {entity!r} (the entity key)")
    if context[entity].isna().any() or context[entity].duplicated().any():
        raise InputError(f"the context table's {entity!r} must be unique and non-empty (one row per entity)")
    clash = sorted(set(context.columns) & set(events.columns) - {entity})
    if clash:
        raise InputError(f"column(s) {', '.join(map(repr, clash))} are in both the events and the context table")
    unknown = pd.Index(heads.index).difference(pd.Index(context[entity]))
    if len(unknown):
        raise InputError(f"{len(unknown):,} entities of the events are not in the context table (e.g. {unknown[0]!r})")
    columns = [c for c in context.columns if c != entity]
    joined = context.set_index(entity)[columns].join(heads, how="left")
    joined[LENGTH] = joined[LENGTH].fillna(0).astype(int)
    return joined, columns


def _manifest(events, context, entity, time, engine, entity_engine, seed, params, entity_model, event_model) -> dict:
    from privsynth.fingerprint import fingerprint
    from privsynth.governance import manifest as manifests

    source = fingerprint(events)
    parents = [{"id": manifests.source_id(source), "role": "source", "kind": "source"}]
    extra = {}
    if context is not None:  # the second real input: its own fingerprint and source id
        extra["context_source"] = fingerprint(context)
        parents.append({"id": manifests.source_id(extra["context_source"]), "role": "context", "kind": "source"})
    lineage = {
        "source": source,
        "privacy": {"mechanism": "none", "guarantee": manifests.NO_GUARANTEE},
        "rare_category_threshold": event_model.manifest.get("rare_category_threshold"),
        "parents": parents,
        **extra,
    }
    return model_manifest(entity, time, engine, entity_engine, seed, params, entity_model, event_model, lineage)


def model_manifest(entity, time, engine, entity_engine, seed, params, entity_model, event_model, lineage) -> dict:
    """A history model's manifest; `lineage` gives its source, privacy, rare-category threshold and parents
    (and anything else, appended)."""
    from privsynth.governance import manifest as manifests

    schemas = [m.manifest["schema_sha256"] for m in (entity_model, event_model)]
    body = {
        "format": "privsynth-model",
        "format_version": manifests.MODEL_FORMAT_VERSION,
        "kind": "model",
        "privsynth_version": manifests.versions()["privsynth"],
        "created": manifests.created_now(),
        "author": manifests.author(),
        "engine": {
            "name": "sequence",
            "params": {"entity": entity, "time": time, "events": engine, "entities": entity_engine, **params},
        },
        "seed": seed,
        "source": None,
        "privacy": None,
        "rare_category_threshold": None,
        "schema_sha256": manifests.sha256(manifests.canonical(schemas)),
        "parents": [],
        "operation": {"command": "fit"},
        "versions": manifests.versions(engine),
        "models": {"entities": entity_model.manifest["id"], "events": event_model.manifest["id"]},
    }
    body.update(lineage)  # known keys keep their place
    return manifests.with_id(body)


def rebuild(manifest: dict, blobs: dict[str, bytes], label) -> SequenceModel:
    """A SequenceModel from a model file's checked entries (see `privsynth.modelfile`): sequence.json is
    validated (`modelcheck.Layout`) and the nested table models are loaded with every check of their own."""
    from privsynth import modelcheck, modelfile, modelzip
    from privsynth.errors import ModelFileError

    if set(blobs) != {"sequence.json", "entity.psm", "events.psm"}:
        raise ModelFileError(f"model file {label} is incomplete or has foreign entries; fit it again")
    layout = modelcheck.check_layout(modelzip.parse_json(blobs["sequence.json"], label, "sequence.json"), label)
    entity_model = modelfile.from_bytes(blobs["entity.psm"], f"{label} (entity model)")
    event_model = modelfile.from_bytes(blobs["events.psm"], f"{label} (event model)")
    try:
        return SequenceModel(
            layout.entity,
            layout.time,
            layout.context,
            layout.events,
            entity_model,
            event_model,
            layout.time_spec,
            layout.key_dtype,
            manifest,
            layout.table_context,
            layout.smooth,
            layout.gap_log,
            layout.time_bounds,
            layout.key_state,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"model file {label} cannot be read: {exc}") from None
