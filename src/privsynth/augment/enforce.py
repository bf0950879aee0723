"""The last step of sampling: constraints fixed by transformation, then rows that still break a
constraint or fall outside a range condition drawn again, row by row, until every row holds.

Each redraw keeps the row's own fixed values (conditions and rebalanced values stay where they were asked
for) and draws several candidates per broken row, as many as the acceptance seen so far suggests (at most
4,096), so rare ranges need few rounds. A rule that no candidate meets in `MAX_DRAWS_PER_ROW` draws per row is
reported by name as unsatisfiable instead of looping.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from privsynth.augment.constraints import _ordered, transform, violations
from privsynth.errors import ParameterError
from privsynth.transforms.encoder import Encoded

MAX_ROUNDS = 50
MAX_DRAWS_PER_ROW = 2_000
MAX_CANDIDATES = 4_096
MAX_ROUND_ROWS = 500_000  # candidates drawn in one round, at most


def broken(frame: pd.DataFrame, constraints: list, ranges: dict, kinds: dict, formats: dict) -> dict[str, np.ndarray]:
    """{rule: mask of rows that break it} for the schema's constraints and the range conditions."""
    out = violations(frame, constraints, kinds, formats)
    for name, rng in ranges.items():
        outside = ~rng.holds(_ordered(frame, name, kinds, formats))
        if outside.any():
            out[f"{name} {rng}"] = outside
    return out


def enforce(
    model, frame: pd.DataFrame, seed: int, fitted, fixed: Encoded | None, ranges: dict, stream: tuple = ()
) -> pd.DataFrame:
    """`frame` with every row meeting the model's constraints and `ranges` (see the module docstring);
    `frame.attrs["privsynth"]` records how many rows were drawn and rejected, per rule. `stream` tells the
    blocks of one sample apart (`privsynth.sampling`): block k >= 1 redraws from its own streams. A redrawn
    row keeps its own unlearned values (keys, identifiers, text) unless a rule reads them: a candidate's
    keys are numbered afresh and would repeat the sample's."""
    constraints = list(model.schema.constraints)
    kinds = {c.name: c.kind for c in model.schema.columns}
    formats = {c.name: c.datetime_format for c in model.schema.columns}
    n = len(frame)
    used = {name for c in constraints for name in c.columns_used()} | set(ranges)
    kept = [c.name for c in model.schema.columns if not c.learned and c.name in frame.columns and c.name not in used]
    transform(frame, constraints, kinds, formats)
    drawn, rejected_by, accepted, tried = n, {}, 1, 1
    for round_ in range(1, MAX_ROUNDS + 1):
        rules = broken(frame, constraints, ranges, kinds, formats)
        if not rules:
            break
        for rule, mask in rules.items():
            rejected_by[rule] = rejected_by.get(rule, 0) + int(mask.sum())
        rows = np.flatnonzero(np.logical_or.reduce(list(rules.values())))
        per_row = int(np.clip(np.ceil(2 * tried / max(accepted, 1)), 1, MAX_CANDIDATES))
        per_row = max(1, min(per_row, MAX_ROUND_ROWS // len(rows)))
        if drawn > n + MAX_DRAWS_PER_ROW * max(len(rows), 1) and accepted <= 1:
            break
        candidates_fixed = None
        if fixed is not None:
            values = np.repeat(fixed.values[rows], per_row, axis=0)
            candidates_fixed = Encoded(fixed.names, fixed.cardinality, values)
        m = len(rows) * per_row
        streams = np.random.SeedSequence([seed, 0x5EED, round_, *stream]).spawn(3)  # seeded, one stream set per round
        engine_rng, decode_rng, extra_rng = (np.random.default_rng(s) for s in streams)
        candidates = model._draw(m, fitted, candidates_fixed, engine_rng, decode_rng, extra_rng)
        drawn += m
        transform(candidates, constraints, kinds, formats)
        row_rules = [c for c in constraints if c.type != "unique"]  # uniqueness is judged on the whole frame
        bad = broken(candidates, row_rules, ranges, kinds, formats)
        ok = ~np.logical_or.reduce(list(bad.values())) if bad else np.ones(m, dtype=bool)
        tried, accepted = tried + m, accepted + int(ok.sum())
        ok = ok.reshape(len(rows), per_row)
        has = ok.any(axis=1)
        pick = np.flatnonzero(has) * per_row + ok[has].argmax(axis=1)
        if pick.size:
            replacement = candidates.iloc[pick].set_axis(rows[has])
            if kept:
                replacement[kept] = frame.loc[rows[has], kept]
            frame = pd.concat([frame.drop(index=rows[has]), replacement]).sort_index()
    else:
        rules = broken(frame, constraints, ranges, kinds, formats)
    if rules:
        worst = max(rules, key=lambda r: int(rules[r].sum()))
        raise ParameterError(
            f"cannot satisfy {worst!r}: {int(rules[worst].sum())} of {n} rows still break it after {drawn:,} rows "
            f"were drawn ({accepted - 1:,} of {tried - 1:,} redrawn rows passed); the model gives (almost) no "
            "probability there: check the rule, or loosen it"
        )
    frame.attrs["privsynth"] = {
        "rows": n,
        "drawn": int(drawn),
        "rejection_rate": float(1 - n / drawn),
        "rejected_by": rejected_by,
    }
    return frame
