"""Rule-based simulation: data where no real data exists, or where logic must be exact.

A scenario file (YAML, validated; errors name the line and field) declares columns drawn from named
distributions, with rules that switch the distribution by the values of earlier columns, and optionally an
entity process in time: entities (customers, patients) with their own columns, each producing events at a
Poisson rate (scaled by `rate_rules` on the entity's columns) between `start` and `end`, at hours drawn
from a daily profile, with injected patterns
(bursts of events, night-time activity, unusual values) on a share of the entities, labelled.

    rows: 1000
    columns:
      - {name: segment, categorical: {retail: 0.7, business: 0.3}}
      - name: amount
        rules:
          - {when: {segment: business}, lognormal: {mean: 6, sigma: 1}}
          - {lognormal: {mean: 4, sigma: 0.8}}          # no `when`: the default
        round: 2
      - {name: fee, formula: "round(amount * 0.02, 2)"}

With `events:` the output is one row per event (entity columns repeated, a fresh key per entity). Hybrid mode
(`simulate(..., model=MODEL)`): the scenario's columns are fixed and the model draws every other column it
learned from its conditional distribution given them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from privsynth.augment.formula import evaluate, parse_formula
from privsynth.errors import ParameterError

DISTRIBUTIONS = ("normal", "lognormal", "uniform", "poisson", "exponential", "categorical", "constant", "formula")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Draw(_Spec):
    """Exactly one named distribution."""

    normal: dict[str, float] | None = None  # mean, sd
    lognormal: dict[str, float] | None = None  # mean, sigma (of the log)
    uniform: dict[str, float] | None = None  # low, high
    poisson: dict[str, float] | None = None  # lam
    exponential: dict[str, float] | None = None  # scale
    categorical: dict[str, float] | None = None  # value: weight
    constant: Any = None
    formula: str | None = None

    @model_validator(mode="after")
    def _one(self):
        _check_one(self)
        return self


def _check_one(spec) -> None:
    given = [d for d in DISTRIBUTIONS if getattr(spec, d) is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of {', '.join(DISTRIBUTIONS)} (got {', '.join(given) or 'none'})")
    needs = {"normal": {"mean", "sd"}, "lognormal": {"mean", "sigma"}, "uniform": {"low", "high"},
             "poisson": {"lam"}, "exponential": {"scale"}}  # fmt: skip
    kind = given[0]
    if kind in needs and set(getattr(spec, kind)) != needs[kind]:
        raise ValueError(f"{kind} takes {', '.join(sorted(needs[kind]))}")
    if kind == "categorical" and (not spec.categorical or min(spec.categorical.values()) < 0):
        raise ValueError("categorical takes value: weight pairs with weights >= 0")
    if kind == "formula":
        parse_formula(spec.formula)


class Rule(Draw):
    when: dict[str, Any] | None = None  # column: value, [values] or {min:, max:}


class ColumnSpec(Draw):
    name: str
    rules: list[Rule] | None = None
    round: int | None = None
    clip: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _one(self):  # a column is either one distribution or rules
        if self.rules is None:
            _check_one(self)
        elif any(getattr(self, d) is not None for d in DISTRIBUTIONS):
            raise ValueError("give either rules or one distribution, not both")
        return self


class Pattern(_Spec):
    """An injected pattern on flagged entities: extra events in a burst, events at night, or unusual values."""

    burst: dict[str, float] | None = None  # events, within_minutes
    night: dict[str, float] | None = None  # share (of the entity's events moved to night), from_hour, to_hour
    values: dict[str, list[Any]] | None = None  # column: unusual values (on the flagged entity's events)


class RateRule(_Spec):
    """Entities matching `when` make events `multiply` times as often."""

    when: dict[str, Any]
    multiply: Annotated[float, Field(ge=0)]


class Events(_Spec):
    start: str
    end: str
    rate_per_day: Annotated[float, Field(gt=0)]
    rate_rules: list[RateRule] = []
    time_column: str = "time"
    hourly_profile: Annotated[list[float], Field(min_length=24, max_length=24)] | None = None
    columns: list[ColumnSpec] = []
    flagged_share: Annotated[float, Field(ge=0, le=1)] = 0.0
    label: str = "flagged"
    patterns: list[Pattern] = []


class Entities(_Spec):
    count: Annotated[int, Field(gt=0)]
    key: str = "entity_id"
    columns: list[ColumnSpec] = []


class Scenario(_Spec):
    rows: Annotated[int, Field(gt=0)] = 1000
    columns: list[ColumnSpec] = []
    entities: Entities | None = None
    events: Events | None = None

    @model_validator(mode="after")
    def _shape(self):
        if self.events is not None and self.entities is None:
            raise ValueError("events need entities (who makes them)")
        if self.entities is None and not self.columns:
            raise ValueError("declare columns, or entities with events")
        return self


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; errors name the file, the line and the field."""
    from privsynth.augment.yamlfile import load

    return load(path, Scenario)


# ------------------------------------------------------------------------------------------- drawing
def _draw(spec: Draw, frame: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Values of one distribution for the given rows (formulas see the columns drawn so far)."""
    n = rows.size
    if spec.normal is not None:
        return rng.normal(spec.normal["mean"], spec.normal["sd"], n)
    if spec.lognormal is not None:
        return rng.lognormal(spec.lognormal["mean"], spec.lognormal["sigma"], n)
    if spec.uniform is not None:
        return rng.uniform(spec.uniform["low"], spec.uniform["high"], n)
    if spec.poisson is not None:
        return rng.poisson(spec.poisson["lam"], n).astype("float64")
    if spec.exponential is not None:
        return rng.exponential(spec.exponential["scale"], n)
    if spec.categorical is not None:
        values = np.array(list(spec.categorical), dtype=object)
        weights = np.array(list(spec.categorical.values()), dtype="float64")
        return rng.choice(values, size=n, p=weights / weights.sum())
    if spec.formula is not None:  # an undefined row (division by zero, overflow) is an error, never a null
        result = evaluate(spec.formula, frame.iloc[rows])
        if result.undefined.any():
            first = int(rows[np.flatnonzero(result.undefined)[0]])
            raise ParameterError(
                f"formula {spec.formula!r} is undefined (division by zero, overflow or a root of a negative "
                f"number) in {int(result.undefined.sum()):,} of {rows.size:,} rows, the first at row {first}"
            )
        return result.values
    return np.full(n, spec.constant, dtype=object)


def _matches(when: dict[str, Any], frame: pd.DataFrame) -> np.ndarray:
    ok = np.ones(len(frame), dtype=bool)
    for name, want in when.items():
        if name not in frame.columns:
            raise ParameterError(f"a rule's `when` names {name!r}, which is not declared before it")
        column = frame[name]
        if isinstance(want, dict):
            numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64")
            with np.errstate(invalid="ignore"):
                if "min" in want:
                    ok &= numbers >= float(want["min"])
                if "max" in want:
                    ok &= numbers <= float(want["max"])
        else:
            wanted = {str(v) for v in (want if isinstance(want, list) else [want])}
            ok &= column.astype(str).isin(wanted).to_numpy()
    return ok


def draw_columns(specs: list[ColumnSpec], n: int, rng: np.random.Generator, base: pd.DataFrame | None = None):
    """A frame of `n` rows with `specs` drawn in order (rules see `base`'s columns and earlier ones)."""
    frame = base.copy() if base is not None else pd.DataFrame(index=range(n))
    for spec in specs:
        if spec.rules is None:
            values = _draw(spec, frame, np.arange(n), rng)
        else:
            values = np.full(n, np.nan, dtype=object)
            todo = np.ones(n, dtype=bool)
            for rule in spec.rules:
                hit = todo & (_matches(rule.when, frame) if rule.when else True)
                rows = np.flatnonzero(hit)
                if rows.size:
                    values[rows] = _draw(rule, frame, rows, rng)
                todo &= ~hit
            values = pd.Series(values).infer_objects().to_numpy()
        if spec.clip is not None:
            values = np.clip(values.astype("float64"), *spec.clip)
        if spec.round is not None:
            values = np.round(values.astype("float64"), spec.round)
            if spec.round == 0:
                values = values.astype("int64")
        frame[spec.name] = values
    return frame


# ------------------------------------------------------------------------------------ entity events
def _events(scenario: Scenario, entities: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    ev = scenario.events
    key = scenario.entities.key
    start, end = pd.Timestamp(ev.start), pd.Timestamp(ev.end)
    days = (end - start).total_seconds() / 86_400
    if days <= 0:
        raise ParameterError("events: end must come after start")
    flagged = np.zeros(len(entities), dtype=bool)
    flagged[rng.choice(len(entities), size=round(ev.flagged_share * len(entities)), replace=False)] = True
    rate = np.full(len(entities), ev.rate_per_day)
    for rule in ev.rate_rules:
        rate = np.where(_matches(rule.when, entities), rate * rule.multiply, rate)
    counts = rng.poisson(rate * days)
    owner = np.repeat(np.arange(len(entities)), counts)
    profile = np.asarray(ev.hourly_profile or [1.0] * 24, dtype="float64")
    day = rng.integers(0, max(int(np.floor(days)), 1), owner.size)
    hour = rng.choice(24, size=owner.size, p=profile / profile.sum())
    seconds = day * 86_400 + hour * 3_600 + rng.integers(0, 3_600, owner.size)
    extra_owner, extra_seconds = [], []
    for pattern in ev.patterns:
        if pattern.burst is not None:  # a run of events within a few minutes, once per flagged entity
            size, window = int(pattern.burst.get("events", 5)), pattern.burst.get("within_minutes", 30) * 60
            for i in np.flatnonzero(flagged):
                at = rng.integers(0, max(int(days * 86_400 - window), 1))
                extra_owner += [i] * size
                extra_seconds += list(at + np.sort(rng.integers(0, int(window), size)))
        if pattern.night is not None:  # a share of the flagged entities' events moved to the night hours
            lo, hi = int(pattern.night.get("from_hour", 0)), int(pattern.night.get("to_hour", 5))
            move = flagged[owner] & (rng.random(owner.size) < pattern.night.get("share", 0.5))
            seconds[move] = (
                day[move] * 86_400 + rng.integers(lo, hi + 1, move.sum()) * 3_600 + rng.integers(0, 3_600, move.sum())
            )
    owner = np.concatenate([owner, np.asarray(extra_owner, dtype=int)])
    seconds = np.concatenate([seconds, np.asarray(extra_seconds, dtype="int64")])
    order = np.lexsort((seconds, owner))  # each entity's events in time order
    owner, seconds = owner[order], seconds[order]
    frame = entities.iloc[owner].reset_index(drop=True)
    frame[ev.time_column] = start + pd.to_timedelta(seconds, unit="s")
    if ev.flagged_share > 0:
        frame[ev.label] = flagged[owner]
    frame = draw_columns(ev.columns, len(frame), rng, base=frame)
    for pattern in ev.patterns:
        for name, unusual in (pattern.values or {}).items():
            if name not in frame.columns:
                raise ParameterError(f"events: a pattern sets {name!r}, which is not an event column")
            rows = np.flatnonzero(flagged[owner] & (rng.random(len(frame)) < 0.5))
            frame[name] = frame[name].astype(object)
            frame.loc[rows, name] = rng.choice(np.array(unusual, dtype=object), size=rows.size)
    frame = frame.sort_values([ev.time_column, key], kind="stable").reset_index(drop=True)
    return frame[[key, ev.time_column, *[c for c in frame.columns if c not in (key, ev.time_column)]]]


def simulate(scenario: Scenario | dict, n: int | None = None, seed: int = 0, model=None) -> pd.DataFrame:
    """Rows from the scenario (`n` overrides its `rows`; with entities, `n` overrides the entity count).
    With `model`, the model fills every column it learned that the scenario does not set, conditioned on the
    scenario's columns that it knows (hybrid mode)."""
    scenario = scenario if isinstance(scenario, Scenario) else Scenario.model_validate(scenario)
    rng = np.random.default_rng(seed)
    if scenario.entities is None:
        frame = draw_columns(scenario.columns, n or scenario.rows, rng)
    else:
        count = n or scenario.entities.count
        entities = draw_columns(scenario.entities.columns, count, rng)
        entities.insert(0, scenario.entities.key, [f"E{i + 1:06d}" for i in range(count)])
        frame = _events(scenario, entities, rng) if scenario.events is not None else entities
        if scenario.columns:
            frame = draw_columns(scenario.columns, len(frame), rng, base=frame)
    if model is None:
        return frame
    learned = [c.name for c in model.schema.columns if c.learned]
    given = [c for c in frame.columns if c in learned]
    if not given:
        raise ParameterError("hybrid mode: the scenario sets none of the model's columns, so nothing links them")
    filled = model.sample(len(frame), seed=seed, conditions=frame[given].reset_index(drop=True))
    extra = [c for c in filled.columns if c not in frame.columns]
    return pd.concat([frame.reset_index(drop=True), filled[extra]], axis=1)
