"""Run a recorded generation again from its manifest and confirm the output is byte-identical.

The manifest names the operation (fit, sample, augment, perturb, simulate), its parameters and seed, and its
parents by id; the parents' files come from the catalog (or are given). The creation time and author are
pinned to the manifest's, so an unchanged pipeline writes the very same bytes, manifest included. A
differentially private fit cannot be reproduced by design (its noise is never recorded); sampling from a DP
model can.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from privsynth.errors import InputError
from privsynth.governance import manifest as manifests
from privsynth.governance.output import read_manifest


@dataclass
class Reproduction:
    original: Path
    identical: bool
    manifest_id: str
    command: str
    notes: list[str] = field(default_factory=list)


def reproduce(
    target: str | os.PathLike,
    *,
    source: str | os.PathLike | None = None,
    model: str | os.PathLike | None = None,
    catalog=None,
) -> Reproduction:
    """Re-run what made `target` (a model file, an output file, or its .manifest.json) and compare bytes.
    `source` / `model` override the input locations the catalog recorded."""
    target = Path(target)
    manifest = read_manifest(target)
    original = Path(str(target)[: -len(manifests.SIDECAR_SUFFIX)]) if target.name.endswith(".json") else target
    if not original.exists():
        raise InputError(f"the file the manifest describes is missing: {original}")
    command = (manifest.get("operation") or {}).get("command")
    params = (manifest.get("operation") or {}).get("params") or {}
    if params.get("reproducible") is False:
        raise InputError(
            f"{target} was made with values its manifest could not record (per-row conditions): not reproducible"
        )
    runner = {
        "fit": _fit,
        "sample": _sample,
        "continue": _continue,
        "augment": _augment,
        "perturb": _perturb,
        "simulate": _simulate,
    }
    if command not in runner:
        raise InputError(f"{target}: cannot reproduce a {command or manifest.get('kind')!r} artifact")
    notes = _version_notes(manifest)
    pins = manifests.pinned(created=manifest["created"], author=manifest.get("author"))
    with pins, tempfile.TemporaryDirectory(prefix="privsynth-reproduce-") as folder:
        again = Path(folder) / original.name
        runner[command](manifest, params, again, _Inputs(source, model, catalog))
        identical = again.read_bytes() == original.read_bytes()
        if identical and original.suffix.lower() == ".csv":
            sidecar = Path(f"{original}{manifests.SIDECAR_SUFFIX}")
            identical = sidecar.read_bytes() == Path(f"{again}{manifests.SIDECAR_SUFFIX}").read_bytes()
    return Reproduction(original, identical, manifest["id"], command, notes)


def _version_notes(manifest: dict) -> list[str]:
    """Differences between the recorded library versions and this environment's (a likely cause of
    a mismatch)."""
    engine = (manifest.get("engine") or {}).get("name")
    now = manifests.versions(engine)
    return [
        f"{name} {version} recorded, {now.get(name, 'missing')} here"
        for name, version in (manifest.get("versions") or {}).items()
        if now.get(name) != version
    ]


@dataclass
class _Inputs:
    source: str | os.PathLike | None
    model: str | os.PathLike | None
    catalog: object

    def parent(self, manifest: dict, role: str) -> dict:
        found = [p for p in manifest.get("parents", []) if p.get("role") == role]
        if not found:
            raise InputError(f"the manifest records no {role} to reproduce from")
        return found[0]

    def path(self, manifest: dict, role: str, given) -> str:
        """Where the parent in `role` is: as given, else where the catalog recorded it."""
        if given is not None:
            return str(given)
        parent = self.parent(manifest, role)
        if self.catalog is None:
            raise InputError(f"give the {role} ({parent['id']}) with --{_option(role)}: no catalog to look it up in")
        artifact = self.catalog.get(parent["id"])
        location = artifact.manifest.get("location") or (artifact.files[0]["path"] if artifact.files else None)
        if location is None:
            raise InputError(f"the catalog has no file for {parent['id']}: give it with --{_option(role)}")
        return location

    def model_for(self, manifest: dict):
        import privsynth as ps

        model = ps.load(self.path(manifest, "model", self.model))
        expected = self.parent(manifest, "model")["id"]
        if model.manifest.get("id") != expected:
            raise InputError(f"that model is {model.manifest.get('id')}, not the recorded parent {expected}")
        return model

    def table(self, manifest: dict, role: str):
        """The parent table in `role`, checked against the recorded id (fingerprint or manifest)."""
        from privsynth import io
        from privsynth.fingerprint import fingerprint
        from privsynth.schema import text_names

        location = self.path(manifest, role, self.source)
        frame = io.read(location)
        expected = self.parent(manifest, role)["id"]
        if expected.startswith("src-"):
            found = manifests.source_id(fingerprint(text_names(frame)))
        else:
            found = read_manifest(location)["id"]
        if found != expected:
            raise InputError(f"{location} is not the recorded {role} ({expected}): its records differ")
        return frame


def _option(role: str) -> str:
    return "model" if role == "model" else "source"


def _fit(manifest, params, again: Path, inputs: _Inputs) -> None:
    import privsynth as ps
    from privsynth import io
    from privsynth.fingerprint import fingerprint
    from privsynth.schema import text_names

    if manifest["privacy"].get("mechanism", "none") != "none":
        raise InputError(
            "a differentially private fit cannot be reproduced: its noise came from OS entropy and was never "
            "recorded (by design); sampling from the model is reproducible"
        )
    if manifest["engine"]["name"] == "sequence":
        return _fit_histories(manifest, again, inputs)
    original = ps.load(inputs.model) if inputs.model else None
    location = inputs.path(manifest, "source", inputs.source)
    frame = io.read(location)
    if fingerprint(text_names(frame)) != manifest["source"]:
        raise InputError(f"{location} is not the recorded source: its fingerprint differs")
    schema = original.schema if original else None
    chosen = manifest["engine"].get("auto")  # engine auto: choose again from what it was given
    engine, params = (
        ("auto", chosen["params"]) if chosen else (manifest["engine"]["name"], manifest["engine"]["params"])
    )
    model = ps.fit(frame, engine, schema=schema, seed=manifest["seed"], **params)
    model.save(again)


def _fit_histories(manifest, again: Path, inputs: _Inputs) -> None:
    """A history model: the events (and the context table, found in the catalog) refitted with the recorded
    parameters; the events' and context's fingerprints checked first."""
    import privsynth as ps

    params = dict(manifest["engine"]["params"])
    entity, time, events, entities = (params.pop(k) for k in ("entity", "time", "events", "entities"))
    frame = inputs.table(manifest, "source")
    has_context = any(p.get("role") == "context" for p in manifest.get("parents", []))
    context = _Inputs(None, None, inputs.catalog).table(manifest, "context") if has_context else None
    model = ps.fit_sequences(
        frame, entity, time, context=context, engine=events, entity_engine=entities, seed=manifest["seed"], **params
    )
    model.save(again)


def _sample(manifest, params, again: Path, inputs: _Inputs) -> None:
    from privsynth.governance.output import write, write_stream
    from privsynth.governance.recipes import conditions_from

    model = inputs.model_for(manifest)
    conditions = conditions_from(params.get("conditions"))
    if model.engine == "sequence":  # histories: the events, or with a context table the entities' table
        tables = model.sample_tables(params["rows"], seed=params["seed"], conditions=conditions)
        write(tables[0] if params.get("table") == "entities" else tables[1], again)
        return
    fair = params.get("fair")
    if fair:
        from privsynth.augment.rebalance import fair_conditions

        target, _, positive = (fair.get("outcome") or "").partition("=")
        conditions = fair_conditions(
            model, params["rows"], fair["sensitive"], fair["equalise"], target or None, positive or None, params["seed"]
        )
    blocks = model.sample_blocks(  # written as `privsynth sample` writes it: block by block, the same bytes
        params["rows"],
        seed=params["seed"],
        conditions=conditions,
        temperature=params.get("temperature"),
        rebalance=params.get("rebalance"),
    )
    if fair:
        blocks.origin["operation"]["params"].update(conditions=None, fair=fair)
        blocks.origin["operation"]["params"].pop("reproducible", None)
    write_stream(blocks, again)


def _continue(manifest, params, again: Path, inputs: _Inputs) -> None:
    """Continued histories: the same model continues the recorded history table (checked by its id)."""
    from privsynth.governance.output import ORIGIN, write

    model = inputs.model_for(manifest)
    history = inputs.table(manifest, "history")
    added = model.continue_histories(history, events=params.get("events"), seed=params["seed"])
    added.attrs[ORIGIN]["parents"].append(inputs.parent(manifest, "history"))
    write(added, again)


def _augment(manifest, params, again: Path, inputs: _Inputs) -> None:
    import privsynth as ps
    from privsynth.governance.output import write

    model = inputs.model_for(manifest)
    real_parent = inputs.parent(manifest, "real")
    frame = inputs.table(manifest, "real")
    mixed = ps.augment(
        frame,
        model,
        params["target"],
        params["minority_share"],
        tag_column=params["tag_column"],
        minority=params.get("minority"),
        seed=params["seed"],
    )
    origin = model.origin("augmented", {"command": "augment", "params": params})
    origin["parents"].append({**real_parent, "role": "real"})
    origin["extra"] = {"mix": mixed.attrs["privsynth"]}
    write(mixed, again, origin=origin)


def _scenario(params: dict) -> Path:
    path = Path(params["scenario"])
    if not path.exists() or manifests.file_sha256(path) != params["scenario_sha256"]:
        raise InputError(f"the scenario file {path} is missing or changed since the run (its SHA-256 differs)")
    return path


def _perturb(manifest, params, again: Path, inputs: _Inputs) -> None:
    from privsynth.augment.perturb import load_scenario, perturb
    from privsynth.governance.output import write

    frame = inputs.table(manifest, "input")
    changed, records = perturb(frame, load_scenario(_scenario(params)), seed=params["seed"])
    origin = {
        "kind": "perturbed",
        "operation": manifest["operation"],
        "parents": manifest["parents"],
        "synthetic": manifest["synthetic"],
        "extra": {"steps": records},
    }
    write(changed, again, origin=origin)


def _simulate(manifest, params, again: Path, inputs: _Inputs) -> None:
    from privsynth.augment.simulate import load_scenario, simulate
    from privsynth.governance.output import write

    hybrid = any(p.get("role") == "model" for p in manifest.get("parents", []))
    model = inputs.model_for(manifest) if hybrid else None
    frame = simulate(load_scenario(_scenario(params)), params.get("rows"), seed=params["seed"], model=model)
    if model is not None:
        origin = model.origin("simulated", manifest["operation"])
    else:
        origin = {
            "kind": "simulated",
            "operation": manifest["operation"],
            "parents": [],
            "model": {"privacy": manifest["privacy"]},
        }
    write(frame, again, origin=origin)
