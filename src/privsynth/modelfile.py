"""The model file: one zip holding JSON and .npy arrays. Loading never executes code (no pickle).

Entries, written in a fixed order with fixed timestamps so that equal models give equal bytes:
  manifest.json   format, versions, engine and params, seed, source fingerprint, privacy, SHA-256 of the rest
  model.json      schema, encoder state, engine state, replacement state (JSON only)
  arrays/<key>.npy  numeric arrays, read with allow_pickle=False
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from privsynth.errors import ModelFileError

FORMAT = "privsynth-model"
FORMAT_VERSION = 1
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
    """A model zip: manifest.json (with the SHA-256 of every other entry) and the entries, in a fixed order
    with fixed timestamps (equal models, equal bytes)."""
    manifest = {**manifest, "contents": {name: hashlib.sha256(data).hexdigest() for name, data in blobs.items()}}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        _entry(zf, "manifest.json", _json(manifest))
        for name, data in blobs.items():
            _entry(zf, name, data)
    return buffer.getvalue()


def read_manifest(path: str | os.PathLike) -> dict:
    """The manifest of a model file, checked for format and version."""
    with _open(path) as zf:
        return _manifest(zf, path)


def _open(path: str | os.PathLike) -> zipfile.ZipFile:
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file not found: {path}")
    if path.is_dir():
        raise ModelFileError(f"model path is a directory, not a model file: {path}")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        if magic == b"PK\x03\x04":
            raise ModelFileError(f"model file {path} is corrupt or truncated; fit it again") from None
        raise ModelFileError(f"{path} is not a privsynth model file") from None


def _manifest(zf: zipfile.ZipFile, path) -> dict:
    try:
        manifest = json.loads(zf.read("manifest.json"))
    except KeyError:
        raise ModelFileError(f"{path} is not a privsynth model file (no manifest.json)") from None
    except (ValueError, zipfile.BadZipFile, zlib.error, EOFError):
        raise ModelFileError(f"model file {path} is corrupt; fit it again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a privsynth model file")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} uses model format {version}, newer than this privsynth reads ({FORMAT_VERSION}); "
            "upgrade privsynth to load it"
        )
    return manifest


def load(path: str | os.PathLike):
    with _open(path) as zf:
        return _load(zf, path)


def from_bytes(data: bytes, label: str):
    """A model from a model file's bytes (a model nested in another file)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ModelFileError(f"{label} is corrupt; fit it again") from None
    with zf:
        return _load(zf, label)


def _load(zf: zipfile.ZipFile, path):
    from privsynth.model import rebuild

    manifest = _manifest(zf, path)
    expected = manifest.get("contents", {})
    try:
        blobs = {name: zf.read(name) for name in zf.namelist() if name != "manifest.json"}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError):
        raise ModelFileError(f"model file {path} is corrupt; fit it again") from None
    if set(blobs) != set(expected):
        raise ModelFileError(f"model file {path} is incomplete or has foreign entries; fit it again")
    for name, data in blobs.items():
        if hashlib.sha256(data).hexdigest() != expected[name]:
            raise ModelFileError(f"model file {path} was altered ({name} does not match its checksum)")
    if manifest.get("engine", {}).get("name") == "sequence":
        from privsynth.sequence import rebuild as rebuild_sequence

        return rebuild_sequence(manifest, blobs, path)
    try:
        body = json.loads(blobs["model.json"])
        arrays = {
            name[len("arrays/") : -len(".npy")]: np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
            for name, data in blobs.items()
            if name.startswith("arrays/")
        }
        return rebuild(manifest, body, arrays)
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"model file {path} cannot be read: {exc}") from None
