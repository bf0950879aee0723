"""Operations as JSON recipes: what a manifest records so that `privsynth reproduce` can run it again.

`plain_params` turns an operation's parameters into JSON (ranges, numpy scalars and dates included);
values it cannot record faithfully (per-row conditions given as a DataFrame or an array) are replaced by
their fingerprint and the recipe is marked not reproducible, rather than recorded wrongly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

NOT_REPRODUCIBLE = "reproducible"


class _Unrecordable(Exception):
    pass


def plain_params(params: dict) -> dict:
    """`params` as JSON values; {"reproducible": false} added when some value could not be recorded."""
    out: dict[str, Any] = {}
    faithful = True
    for key, value in params.items():
        try:
            out[key] = _plain(value)
        except _Unrecordable:
            out[key] = {"not_recorded": type(value).__name__, "sha256": _digest(value)}
            faithful = False
    if not faithful:
        out[NOT_REPRODUCIBLE] = False
    return out


def _plain(value):
    from privsynth.augment.conditions import Range

    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Range):
        # the display text is not part of the request: manifests record the range itself
        return {"range": {k: v for k, v in dataclasses.asdict(value).items() if k != "shown"}}
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) and len(value) <= 1000:
        return [_plain(v) for v in value]
    raise _Unrecordable


def _digest(value) -> str:
    from privsynth.governance.manifest import sha256

    if isinstance(value, pd.DataFrame):
        from privsynth.fingerprint import fingerprint

        return fingerprint(value)["sha256"]
    if isinstance(value, dict):
        return sha256(repr(sorted((str(k), _digest(v)) for k, v in value.items())).encode())
    try:
        hashed = pd.util.hash_pandas_object(pd.Series(np.asarray(value, dtype=object).ravel()), index=False)
    except (TypeError, ValueError):  # values pandas cannot hash: their text stands in
        return sha256(repr(value).encode())
    return sha256(hashed.to_numpy().tobytes())


def conditions_from(recorded: dict | None) -> dict | None:
    """Recorded sample conditions back to what `Model.sample` takes (ranges rebuilt)."""
    from privsynth.augment.conditions import Range

    if recorded is None:
        return None
    return {k: Range(**v["range"]) if isinstance(v, dict) and "range" in v else v for k, v in recorded.items()}
