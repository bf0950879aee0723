"""Which columns an evaluation scores, and as what.

The schema is the one the generator was fitted with when it is known (the model, or the synthetic file's
manifest, which links to its model), otherwise the one fitting would infer from the real table
(`Schema.infer`: the same rules, never a copy of them). From it:
- identifier and free-text columns are left out of every scored figure (fidelity, privacy, utility
  features, fairness) and listed with the reason: synthetic identifiers are fresh surrogates or fakes and
  free text is not learned, so comparing their values with the real ones measures nothing (fresh keys scored
  0.80 accuracy and topped the association differences); columns a schema drops are left out too;
- datetimes held as text (or as epoch / YYYYMMDD numbers) are parsed with the schema's format, so they are
  binned, compared and distanced as time, not as one "(other)" category.
Columns the user named (target, sensitive, focus, entity, time) are always kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from privsynth import dates
from privsynth.errors import InputError, SchemaError
from privsynth.schema import Schema

LEFT_OUT_KINDS = {
    "identifier": "identifier ({pii}): synthetic values are fresh surrogates or fakes, not comparable",
    "text": "free text: not learned by the generator (placeholder text)",
}


@dataclass(frozen=True)
class ColumnPlan:
    """What evaluation does with each column: `left_out` maps a column to why it is not scored, `parsed`
    maps a datetime column read from text or numbers to its format, `timezones` the zone its clock is read in."""

    source: str
    kinds: dict[str, str] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)
    parsed: dict[str, str] = field(default_factory=dict)
    timezones: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "kinds": self.kinds,
            "left_out": self.left_out,
            "datetimes_parsed": self.parsed,
        }


def plan(real: pd.DataFrame, schema: Schema | None, source: str | None, keep: set[str]) -> ColumnPlan:
    """The plan for `real` under `schema`, or under the schema inferred from `real` when None. `source` says
    where `schema` came from, or (without one) why none was found."""
    notes = []
    if schema is not None:
        source = source or "the schema given"
    else:
        why = f" ({source})" if source else ""
        try:
            schema, source = Schema.infer(real), f"inferred from the real table by the rules fitting uses{why}"
        except SchemaError as exc:
            note = f"column kinds could not be inferred ({exc}); every column is scored as its dtype"
            return ColumnPlan(source="none", notes=[note.splitlines()[0]])
    kinds, left_out, parsed, timezones = {}, {}, {}, {}
    for column in schema.columns:
        if column.name not in real.columns:
            continue
        kinds[column.name] = column.kind
        if column.name in keep:
            continue
        if column.policy == "drop":
            left_out[column.name] = "dropped by the schema: not in synthetic output"
        elif column.kind in LEFT_OUT_KINDS:
            left_out[column.name] = LEFT_OUT_KINDS[column.kind].format(pii=column.pii or "key")
        elif column.kind == "datetime":
            if column.datetime_format is not None and not pd.api.types.is_datetime64_any_dtype(real[column.name]):
                parsed[column.name] = column.datetime_format
            if column.timezone:
                timezones[column.name] = column.timezone
    if len(left_out) == len(real.columns):
        notes.append("every column is an identifier or free text: all are scored as they are")
        left_out = {}
    return ColumnPlan(source, kinds, left_out, parsed, timezones, notes)


def apply(plan: ColumnPlan, frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """`frame` without the left-out columns and with its text datetimes parsed (UTC, naive; unparseable
    values become missing)."""
    if frame is None:
        return None
    frame = frame.drop(columns=[c for c in plan.left_out if c in frame.columns])
    parsed = {name: _as_datetime(frame[name], fmt) for name, fmt in plan.parsed.items() if name in frame.columns}
    return frame.assign(**parsed) if parsed else frame


def _as_datetime(values: pd.Series, fmt: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    try:
        seconds = dates.to_seconds(values, fmt)
    except (ValueError, TypeError, OverflowError):  # a synthetic or holdout value off the format: missing
        seconds = np.array([_one_value(v, fmt) for v in values], dtype="float64")
    micros = np.where(np.isnan(seconds), 0, np.round(seconds * 1e6)).astype("int64")
    stamps = pd.Series(micros.astype("datetime64[us]"), index=values.index)
    return stamps.where(~np.isnan(seconds))


def _one_value(value, fmt: str) -> float:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    try:
        return float(dates.to_seconds(pd.Series([value]), fmt)[0])
    except (ValueError, TypeError, OverflowError):
        return np.nan


def schema_of_model(model) -> Schema | None:
    """A model's schema (None for kinds without one table schema, e.g. history models)."""
    schema = getattr(model, "schema", None)
    return schema if isinstance(schema, Schema) else None


def schema_from_manifest(synthetic: str | os.PathLike, catalog) -> tuple[Schema | None, str]:
    """The schema of the model that made the file `synthetic`, found through the file's manifest (its model
    parent) and the catalog's record of where that model file lies; (None, why not) when it cannot be."""
    from privsynth.governance.manifest import schema_sha256
    from privsynth.governance.output import read_manifest

    try:
        manifest = read_manifest(synthetic)
    except InputError:
        return None, "the synthetic file has no manifest"
    model_id = next((p["id"] for p in manifest.get("parents", []) if p.get("role") == "model"), None)
    if model_id is None:
        return None, "the synthetic file's manifest names no model"
    paths = []
    if catalog is not None:
        try:
            paths = [f["path"] for f in catalog.get(model_id).files]
        except InputError:
            paths = []
    for path in paths:
        schema = _schema_in_model_file(Path(path), model_id)
        if schema is not None and schema_sha256(schema) == manifest.get("schema_sha256"):
            return schema, f"the schema of model {model_id} (named by the synthetic file's manifest)"
    return None, f"the synthetic file's manifest names model {model_id}, whose file the catalog does not locate"


def _schema_in_model_file(path: Path, model_id: str) -> Schema | None:
    """The schema stored in a model file (its model.json entry, checked against the manifest's checksum),
    without loading the engine; None when the file is missing, altered or another model."""
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read("manifest.json"))
            body = zf.read("model.json")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    if manifest.get("id") != model_id or hashlib.sha256(body).hexdigest() != manifest.get("contents", {}).get(
        "model.json"
    ):
        return None
    try:
        return Schema.model_validate(json.loads(body)["schema"])
    except (ValueError, KeyError, TypeError):
        return None
