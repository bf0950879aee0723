"""Fidelity of event histories: tables with many rows per entity (transactions per card, readings per
sensor), ordered by a time (or order) column.

Metrics (TVD = 1/2 sum |p_real - p_syn| over bins; lower is better):
- sequence lengths: TVD of the number of events per entity, over 10 quantile bins of both samples pooled
  (`pooled_tvd`: a spike in the real data, such as hourly readings, must not hide a spread-out copy);
- inter-event gaps: the same for the time from each event to the entity's previous one (seconds for
  datetimes, order units otherwise);
- per-entity means: TVD as in `fidelity` (10 quantile bins of the real data);
- time of day / day of week (datetime time columns): TVD over the 24 hours / 7 days;
- first vs later events: each numeric column's mean over first events minus its mean over later ones, real
  and synthetic (how a history starts differs from how it goes on);
- lag-1 autocorrelation: per numeric column, the mean over entities with at least 3 events of
  corr(x_t, x_t+1); real, synthetic and their absolute difference (histories are not shuffled rows);
- event-level accuracy: `fidelity.accuracy` of the event rows (entity key left out); entity-level accuracy:
  the same on one row per entity (length, the mean of each numeric column, the first event's categories).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from privsynth.evaluate.common import as_numbers
from privsynth.evaluate.fidelity import accuracy, tvd

MIN_EVENTS_FOR_AUTOCORRELATION = 3


def pooled_tvd(real: pd.Series, synthetic: pd.Series, bins: int = 10) -> float:
    """TVD over bins cut at quantiles of both samples pooled (equal weight each). Real-quantile bins with
    clipping (the table metric) cannot see a spike spread out: hourly readings jittered by 20 minutes all fall
    back into the 1-hour bin. Pooled edges give each side's mass its own bins."""
    r = real.dropna().to_numpy(dtype="float64")
    s = synthetic.dropna().to_numpy(dtype="float64")
    if r.size == 0 or s.size == 0:
        return 1.0 if r.size != s.size else 0.0
    probs = np.linspace(0, 1, bins + 1)[1:-1]
    edges = np.unique(np.concatenate([np.quantile(r, probs), np.quantile(s, probs)]))
    p = np.bincount(np.searchsorted(edges, r, side="right"), minlength=edges.size + 1) / r.size
    q = np.bincount(np.searchsorted(edges, s, side="right"), minlength=edges.size + 1) / s.size
    return float(0.5 * np.abs(p - q).sum())


def _exact_tvd(real: pd.Series, synthetic: pd.Series) -> float:
    """TVD over the values themselves (hours, weekdays: few known levels, no binning)."""
    p, q = real.value_counts(normalize=True), synthetic.value_counts(normalize=True)
    return float(0.5 * p.sub(q, fill_value=0.0).abs().sum())


def ordered(frame: pd.DataFrame, entity: str, time: str) -> pd.DataFrame:
    """Events sorted by entity, then time (stable: equal times keep their order); the input is untouched."""
    for name in (entity, time):
        if name not in frame.columns:
            raise ValueError(f"no column {name!r}")
    return frame.sort_values([entity, time], kind="stable").reset_index(drop=True)


def _clock(values: pd.Series) -> tuple[pd.Series, bool]:
    """The time column as float (seconds for datetimes and date strings) and whether it is a datetime."""
    numbers = as_numbers(values)
    if numbers is not None:
        return numbers, pd.api.types.is_datetime64_any_dtype(values)
    parsed = pd.to_datetime(values, errors="coerce", utc=True)
    if parsed.notna().mean() < 0.95:
        raise ValueError(f"time column {values.name!r} is neither numeric nor datetime")
    return as_numbers(parsed), True


def lengths(frame: pd.DataFrame, entity: str) -> pd.Series:
    """Number of events per entity."""
    return frame.groupby(entity, sort=False).size().rename("events")


def gaps(frame: pd.DataFrame, entity: str, time: str) -> pd.Series:
    """Time from each event to its entity's previous event (first events have none)."""
    events = ordered(frame, entity, time)
    clock, _ = _clock(events[time])
    return clock.groupby(events[entity].to_numpy(), sort=False).diff().dropna().rename("gap")


def lag1_autocorrelation(frame: pd.DataFrame, entity: str, time: str, column: str) -> float | None:
    """Mean over entities with >= 3 events (and some variation) of corr(x_t, x_t+1); None if none qualifies."""
    events = ordered(frame, entity, time)
    x = as_numbers(events[column])
    if x is None:
        return None
    keys = events[entity].to_numpy()
    following = x.groupby(keys, sort=False).shift(-1)
    pairs = pd.DataFrame({"key": keys, "x": x, "next": following}).dropna()
    counts = pairs.groupby("key", sort=False).size()
    pairs = pairs[pairs["key"].isin(counts[counts >= MIN_EVENTS_FOR_AUTOCORRELATION - 1].index)]
    if pairs.empty:
        return None
    grouped = pairs.groupby("key", sort=False)
    mean_x, mean_n = grouped["x"].transform("mean"), grouped["next"].transform("mean")
    dx, dn = pairs["x"] - mean_x, pairs["next"] - mean_n
    num = (dx * dn).groupby(pairs["key"], sort=False).sum()
    den = np.sqrt((dx**2).groupby(pairs["key"], sort=False).sum() * (dn**2).groupby(pairs["key"], sort=False).sum())
    correlations = (num / den.where(den > 0)).dropna()
    return None if correlations.empty else float(correlations.mean())


def entity_table(frame: pd.DataFrame, entity: str, time: str) -> pd.DataFrame:
    """One row per entity: its number of events, the mean of each numeric column, its first event's other
    columns (the entity-level table that entity-level accuracy is computed on)."""
    events = ordered(frame, entity, time)
    groups = events.groupby(entity, sort=False)
    out = {"events": groups.size()}
    for name in events.columns:
        if name in (entity, time):
            continue
        numbers = as_numbers(events[name])
        if numbers is not None and not pd.api.types.is_bool_dtype(events[name]):
            out[f"mean {name}"] = numbers.groupby(events[entity].to_numpy(), sort=False).mean()
        else:
            out[f"first {name}"] = groups[name].first()
    return pd.DataFrame(out).reset_index(drop=True)


def sequence_fidelity(real: pd.DataFrame, synthetic: pd.DataFrame, entity: str, time: str, seed: int = 0) -> dict:
    """Every sequence metric of the module docstring, as a JSON-able dict."""
    real, synthetic = ordered(real, entity, time), ordered(synthetic, entity, time)
    r_len, s_len = lengths(real, entity), lengths(synthetic, entity)
    r_gap, s_gap = gaps(real, entity, time), gaps(synthetic, entity, time)
    result: dict = {
        "entities": {"real": int(r_len.size), "synthetic": int(s_len.size)},
        "lengths": {
            "tvd": pooled_tvd(r_len, s_len),
            "real_mean": float(r_len.mean()),
            "synthetic_mean": float(s_len.mean()),
        },
        "gaps": {
            "tvd": pooled_tvd(r_gap, s_gap) if len(r_gap) and len(s_gap) else None,
            "real_median": float(r_gap.median()) if len(r_gap) else None,
            "synthetic_median": float(s_gap.median()) if len(s_gap) else None,
        },
    }
    r_clock, is_datetime = _clock(real[time])
    if is_datetime:
        s_clock, _ = _clock(synthetic[time])
        r_when, s_when = pd.to_datetime(r_clock, unit="s"), pd.to_datetime(s_clock, unit="s")
        result["hour_of_day_tvd"] = _exact_tvd(r_when.dt.hour, s_when.dt.hour)
        result["day_of_week_tvd"] = _exact_tvd(r_when.dt.dayofweek, s_when.dt.dayofweek)
    numeric = [
        c
        for c in real.columns
        if c not in (entity, time)
        and c in synthetic.columns
        and not pd.api.types.is_bool_dtype(real[c])
        and as_numbers(real[c]) is not None
    ]
    per_entity, first_later, autocorrelation = {}, {}, {}
    for name in numeric:
        means = [as_numbers(f[name]).groupby(f[entity].to_numpy(), sort=False).mean() for f in (real, synthetic)]
        per_entity[name] = tvd(*means)
        first_later[name] = {
            "real": _first_minus_later(real, entity, name),
            "synthetic": _first_minus_later(synthetic, entity, name),
        }
        r_ac = lag1_autocorrelation(real, entity, time, name)
        s_ac = lag1_autocorrelation(synthetic, entity, time, name)
        autocorrelation[name] = {
            "real": r_ac,
            "synthetic": s_ac,
            "abs_difference": None if r_ac is None or s_ac is None else abs(r_ac - s_ac),
        }
    result["per_entity_mean_tvd"] = per_entity
    result["first_minus_later_mean"] = first_later
    result["lag1_autocorrelation"] = autocorrelation
    events = [c for c in real.columns if c != entity and c in synthetic.columns]
    result["event_accuracy"] = accuracy(real[events], synthetic[events], seed=seed)
    r_ent, s_ent = entity_table(real, entity, time), entity_table(synthetic, entity, time)
    result["entity_accuracy"] = accuracy(r_ent, s_ent[r_ent.columns], seed=seed)
    return result


def histograms(real: pd.DataFrame, synthetic: pd.DataFrame, entity: str, time: str) -> dict:
    """Binned shares (real, synthetic) of lengths, gaps and hour of day, for the report's plots."""
    from privsynth.evaluate.fidelity import bin_column

    pairs = {"events per entity": (lengths(real, entity), lengths(synthetic, entity))}
    pairs["gap to the previous event"] = (gaps(real, entity, time), gaps(synthetic, entity, time))
    r_clock, is_datetime = _clock(real[time])
    if is_datetime:
        s_clock, _ = _clock(synthetic[time])
        pairs["hour of day"] = tuple(pd.Series(pd.to_datetime(c, unit="s").dt.hour) for c in (r_clock, s_clock))
    out = {}
    for name, (r, s) in pairs.items():
        if len(r) == 0 or len(s) == 0:
            continue
        r_codes, s_codes, labels = bin_column(r.reset_index(drop=True), s.reset_index(drop=True), bins=24)
        keys = sorted(set(np.unique(r_codes)) | set(np.unique(s_codes)))
        names = {-1: "(null)", -2: "(other)", **{i: str(label) for i, label in enumerate(labels)}}
        out[name] = {
            "bins": [names.get(int(k), str(k)) for k in keys],
            "real": [float(np.mean(r_codes == k)) for k in keys],
            "synthetic": [float(np.mean(s_codes == k)) for k in keys],
        }
    return out


def entity_privacy(
    train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame, entity: str, time: str, seed: int = 0
) -> dict:
    """DCR, exact match and membership inference with a whole history as the unit: each entity becomes one
    row (`entity_table`), so an attacker's question is "was this person's history used", not "this event"."""
    from privsynth.evaluate.privacy import copying_figures

    tables = [entity_table(frame, entity, time) for frame in (train, synthetic, holdout)]
    columns = list(tables[0].columns)
    return {
        "entities": {"train": len(tables[0]), "synthetic": len(tables[1]), "holdout": len(tables[2])},
        **copying_figures(tables[0], tables[1][columns], tables[2][columns], seed=seed),
    }


def _first_minus_later(events: pd.DataFrame, entity: str, column: str) -> float | None:
    first = ~events[entity].duplicated()
    values = as_numbers(events[column])
    if first.all() or values is None:
        return None
    return float(values[first].mean() - values[~first].mean())
