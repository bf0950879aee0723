"""The model file: one zip holding JSON and .npy arrays. Loading never executes code (no pickle).

Entries, written in a fixed order with fixed timestamps so that equal models give equal bytes:
  manifest.json   format, versions, engine and params, seed, source fingerprint, privacy, the SHA-256 of
                  every other entry (`contents`) and `manifest_sha256`, a checksum over the manifest itself
  model.json      schema, encoder state, engine state, replacement state (JSON only)
  arrays/<key>.npy  numeric arrays
(a history model holds sequence.json and two nested table models, entity.psm and events.psm, instead),
and, optionally, signature.json: an Ed25519 signature over manifest.json's bytes (`modelsign`).

A model file is untrusted input (people share them): `modelzip` reads it with bounds on every size and
`modelcheck` validates every part before anything is built. The checksums prove integrity (no entry and no
manifest field changed since the file was sealed), not authenticity: whoever edits a file can seal it again.
Authenticity needs a key: `modelsign` signs files and, when asked, refuses files no trusted key signed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from privsynth import modelcheck, modelsign, modelzip
from privsynth.errors import ModelFileError, PrivsynthError
from privsynth.governance import manifest as manifests

FORMAT = "privsynth-model"
FORMAT_VERSION = manifests.MODEL_FORMAT_VERSION
SEAL = "manifest_sha256"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _entry(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)


def _npy(array: np.ndarray) -> bytes:
    if array.dtype == object:
        raise TypeError("object arrays cannot be stored without pickle")
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _json(obj) -> bytes:
    return json.dumps(obj, indent=1, ensure_ascii=False, allow_nan=False, default=_plain).encode()


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON-able: {type(value).__name__}")


def save(model, path: str | os.PathLike) -> Path:
    from privsynth.io import write_bytes_atomic

    return write_bytes_atomic(path, lambda handle: handle.write(to_bytes(model)))


def to_bytes(model) -> bytes:
    """The model file's bytes (what `save` writes)."""
    encoder_params, encoder_arrays = model.encoder.state()
    engine_params, engine_arrays = model.fitted.state()
    arrays = dict(sorted({**encoder_arrays, **{f"engine/{k}": v for k, v in engine_arrays.items()}}.items()))
    body = _json(
        {
            "schema": model.schema.model_dump(mode="json"),
            "encoder": encoder_params,
            "engine_state": engine_params,
            "extras": model.extras,
        }
    )
    blobs = {"model.json": body, **{f"arrays/{key}.npy": _npy(value) for key, value in arrays.items()}}
    return pack(model.manifest, blobs)


def pack(manifest: dict, blobs: dict[str, bytes]) -> bytes:
    """A model zip: manifest.json (with the SHA-256 of every other entry, then sealed by `manifest_sha256`)
    and the entries, in a fixed order with fixed timestamps (equal models, equal bytes)."""
    body = {k: v for k, v in manifest.items() if k not in ("contents", SEAL)}
    body["contents"] = {name: hashlib.sha256(data).hexdigest() for name, data in blobs.items()}
    body = json.loads(_json(body))  # sealed as it will be read back (numpy scalars, tuples, int keys)
    sealed = _json({**body, SEAL: seal(body)})
    signature = modelsign.signature(sealed)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        _entry(zf, "manifest.json", sealed)
        if signature is not None:
            _entry(zf, modelsign.ENTRY, signature)
        for name, data in blobs.items():
            _entry(zf, name, data)
    return buffer.getvalue()


def seal(manifest: dict) -> str:
    """The manifest's checksum: SHA-256 of its canonical JSON without the checksum itself."""
    return manifests.sha256(manifests.canonical({k: v for k, v in manifest.items() if k != SEAL}))


def read_manifest(path: str | os.PathLike) -> dict:
    """The manifest of a model file, checked for format, version, structure and checksum (what `describe`
    prints): the other entries are not read, their checksums are in the checked manifest."""
    with _open(path) as zf:
        return _manifest(zf, modelzip.check_members(zf, path), path)


def _open(path: str | os.PathLike) -> zipfile.ZipFile:
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file not found: {path}")
    if path.is_dir():
        raise ModelFileError(f"model path is a directory, not a model file: {path}")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    if magic != b"PK\x03\x04":
        raise ModelFileError(f"{path} is not a privsynth model file")
    try:
        return modelzip.open_zip(path, path)
    except ModelFileError:
        raise ModelFileError(f"model file {path} is corrupt or truncated; fit it again") from None


def _manifest(zf: zipfile.ZipFile, members: dict, path) -> dict:
    if "manifest.json" not in members:
        raise ModelFileError(f"{path} is not a privsynth model file (no manifest.json)")
    data, _ = modelzip.read_member(zf, members["manifest.json"], path)
    signed = members.get(modelsign.ENTRY)
    modelsign.check(data, None if signed is None else modelzip.read_member(zf, signed, path)[0], path)
    manifest = modelzip.parse_json(data, path, "manifest.json")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a privsynth model file")
    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise modelzip.corrupt(path, "its format version is not a positive integer")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} uses model format {version}, newer than this privsynth reads ({FORMAT_VERSION}); "
            "upgrade privsynth to load it"
        )
    modelcheck.check_manifest(manifest, path)
    if version >= 2 and manifest.get(SEAL) != seal(manifest):
        raise ModelFileError(f"model file {path} was altered (its manifest does not match its checksum)")
    # format 1 files from before ids have nothing to check against
    if (version >= 2 or "id" in manifest) and not manifests.id_matches_content(manifest, ("contents", SEAL)):
        raise ModelFileError(f"model file {path} was altered (its manifest does not match its id)")
    return manifest


def load(path: str | os.PathLike):
    with _open(path) as zf:
        return _load(zf, path)


def from_bytes(data: bytes, label: str):
    """A model from a model file's bytes (a model nested in another file)."""
    if data[:4] != b"PK\x03\x04":
        raise modelzip.corrupt(label, "not a zip")
    with modelzip.open_zip(data, label) as zf:
        return _load(zf, label)


def _load(zf: zipfile.ZipFile, path):
    from privsynth.model import rebuild

    members = modelzip.check_members(zf, path)
    manifest = _manifest(zf, members, path)
    expected = manifest.get("contents", {})
    if set(members) - {"manifest.json", modelsign.ENTRY} != set(expected):
        raise ModelFileError(f"model file {path} is incomplete or has foreign entries; fit it again")
    blobs = {}
    for name in expected:
        blobs[name], digest = modelzip.read_member(zf, members[name], path)
        if digest != expected[name]:
            raise ModelFileError(f"model file {path} was altered ({name} does not match its checksum)")
    if manifest["engine"]["name"] == "sequence":
        from privsynth.sequence import rebuild as rebuild_sequence

        model = rebuild_sequence(manifest, blobs, path)
    else:
        if "model.json" not in blobs:
            raise modelzip.corrupt(path, "no model.json")
        body = modelzip.parse_json(blobs["model.json"], path, "model.json")
        arrays = {
            name[len("arrays/") : -len(".npy")]: modelzip.read_npy(data, path, name)
            for name, data in blobs.items()
            if name.startswith("arrays/")
        }
        if set(blobs) - {"model.json"} != {f"arrays/{key}.npy" for key in arrays}:
            raise ModelFileError(f"model file {path} has foreign entries; fit it again")
        modelcheck.check_body(manifest, body, arrays, path)
        try:
            model = rebuild(manifest, body, arrays)
        except PrivsynthError as exc:
            raise ModelFileError(f"model file {path} cannot be read: {exc}") from None
        except Exception as exc:  # what validation did not foresee is still a corrupt file, not a crash
            raise modelzip.corrupt(path, f"{type(exc).__name__}: {str(exc)[:160]}") from None
    model.loaded_from = str(path)
    return model
