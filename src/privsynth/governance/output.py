"""Write tables with their manifest, and read any artifact's manifest back.

Parquet files hold the manifest in the file's key-value metadata (key `privsynth.manifest`) and say whether
the table is synthetic (`privsynth.synthetic`); CSV files get `FILE.manifest.json` beside them; model files
(.psm) carry `manifest.json` inside.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pandas as pd

from privsynth import io
from privsynth.errors import InputError
from privsynth.governance import manifest as manifests

ORIGIN = "privsynth_origin"


def manifest_for(frame: pd.DataFrame, origin: dict | None = None) -> dict | None:
    """The manifest of `frame` as it will be written: from `origin` or the frame's own (`attrs`), or None."""
    origin = origin or frame.attrs.get(ORIGIN)
    return None if origin is None else _dataset(origin, frame)


def _dataset(origin: dict, frame: pd.DataFrame | None, content: dict | None = None) -> dict:
    """A dataset manifest from an origin (what made the rows) and the rows (or their counted `content`)."""
    return manifests.dataset(
        frame,
        kind=origin["kind"],
        operation=origin["operation"],
        parents=origin["parents"],
        model=origin.get("model"),
        synthetic=origin.get("synthetic", True),
        extra=origin.get("extra"),
        content=content,
    )


def write(
    frame: pd.DataFrame,
    location: str | os.PathLike,
    table: str | None = None,
    fmt: str | None = None,
    origin: dict | None = None,
    inputs=None,
) -> tuple[str, dict | None]:
    """Write `frame` atomically with its manifest (when it has an origin); returns (where, manifest).
    Refuses a file `location` that is one of `inputs` (paths, or {role: path}; by inode, so a link or
    another spelling of the same file counts) or the catalog's database file; nothing is written then."""
    manifest = manifest_for(frame, origin)
    return io.write(frame, location, table=table, fmt=fmt, manifest=manifest, inputs=inputs), manifest


def write_stream(
    blocks,
    location: str | os.PathLike,
    table: str | None = None,
    fmt: str | None = None,
    progress=None,
) -> tuple[str, dict]:
    """Write a sample's blocks (`privsynth.sampling.Blocks`) as they are drawn, with the manifest of the whole
    table attached once its rows are counted (`privsynth.streamio`); returns (where, manifest)."""
    from privsynth import streamio

    origin = blocks.origin
    made: dict = {}

    def attach(content: dict) -> dict:
        made.update(_dataset(origin, None, content))
        return made

    where, content = streamio.write_frames(
        blocks.frames(), str(location), rows=blocks.n, table=table, fmt=fmt, manifest=attach, progress=progress
    )
    return where, made or attach(content)


def read_manifest(path: str | os.PathLike) -> dict:
    """The manifest of a model file, a Parquet or CSV output, or a `.manifest.json` file itself."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"file not found: {path}")
    name = path.name.lower()
    if name.endswith(".json"):
        return _json_file(path)
    if zipfile.is_zipfile(path):
        from privsynth import modelfile

        return modelfile.read_manifest(path)
    if name.endswith((".parquet", ".pq")):
        import pyarrow.lib
        import pyarrow.parquet as pq

        try:
            # the file's key-value metadata: a streamed file's manifest is added there once its rows are
            # counted, after the Arrow schema (whose own metadata pyarrow's read_schema shows) was written
            metadata = pq.read_metadata(path).metadata or {}
        except (pyarrow.lib.ArrowInvalid, OSError) as exc:
            raise InputError(f"cannot read {path} as Parquet: {str(exc).splitlines()[0]}") from None
        if manifests.PARQUET_KEY not in metadata:
            raise InputError(f"{path} carries no privsynth manifest (it was not written by privsynth)")
        return json.loads(metadata[manifests.PARQUET_KEY])
    sidecar = Path(f"{path}{manifests.SIDECAR_SUFFIX}")
    if sidecar.exists():
        return _json_file(sidecar)
    raise InputError(f"{path} has no manifest: expected {sidecar.name} beside it")


def _json_file(path: Path) -> dict:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a JSON manifest: {exc}") from None
    if not isinstance(body, dict) or "id" not in body:
        raise InputError(f"{path} is not a privsynth manifest (no id)")
    return body


def check_file(path: str | os.PathLike) -> list[str]:
    """Problems found by recomputing what the file's manifest says about it ([] when intact): a model
    file's entry checksums, a CSV file's bytes against its sidecar, a Parquet table's content fingerprint."""
    from privsynth import modelfile
    from privsynth.errors import ModelFileError

    path = Path(path)
    if not path.exists():
        return [f"{path}: missing"]
    if zipfile.is_zipfile(path):
        try:
            model = modelfile.load(path)
        except ModelFileError as exc:
            return [str(exc)]
        return [] if id_matches(model.manifest) else [f"{path}: its manifest was edited (its id does not match it)"]
    manifest = read_manifest(path)
    problems = [] if id_matches(manifest) else [f"{path}: its manifest was edited (its id does not match it)"]
    if "file_sha256" in manifest and manifests.file_sha256(path) != manifest["file_sha256"]:
        problems.append(f"{path}: its bytes do not match the SHA-256 in its manifest (edited since it was written)")
    if path.suffix.lower() in (".parquet", ".pq") and _content(path, manifest) != manifest.get("content"):
        problems.append(f"{path}: its rows do not match the content fingerprint in its manifest (edited)")
    return problems


def _content(path: Path, manifest: dict) -> dict:
    """A Parquet file's content fingerprint, by the scheme its manifest names (a streamed sample's is taken
    row by row, in batches: `privsynth.streamio.RowsFingerprint`)."""
    from privsynth import streamio
    from privsynth.fingerprint import fingerprint

    if (manifest.get("content") or {}).get("scheme") == streamio.RowsFingerprint.scheme:
        return streamio.parquet_fingerprint(path)
    return fingerprint(io.read(path))


def id_matches(manifest: dict) -> bool:
    """Whether a manifest's id is the hash of the rest (the entries added after the id, a model file's entry
    checksums and seal and a sidecar's file hash, are checked on their own)."""
    if manifest.get("kind") == "source":  # a real table's id comes from its records' fingerprint alone
        return manifest.get("id") == manifests.source_id(manifest.get("content") or {"sha256": ""})
    body = {k: v for k, v in manifest.items() if k not in ("contents", "manifest_sha256", "file_sha256")}
    return manifests.with_id(body)["id"] == manifest.get("id")
