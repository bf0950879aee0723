"""Manifests: what every model file and every output table says about itself.

A manifest records what was made (kind, content fingerprint), from what (parent ids: data -> model ->
synthetic -> augmented), how (the operation and its parameters, engine, seed, schema hash), under which
guarantee (DP mechanism and budget, or "no formal guarantee"), by whom, when, and with which versions of
privsynth and of the libraries that shaped the result. Never raw values.

Ids are content addresses: a hash of the manifest itself. Two runs with the same data, parameters, seed,
author and creation time (SOURCE_DATE_EPOCH, or the time `reproduce` pins) give the same id and the same
bytes; anything else that differs gives a different id.
"""

from __future__ import annotations

import contextlib
import contextvars
import getpass
import hashlib
import json
import os
import platform
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata

import numpy as np

NO_GUARANTEE = "none: no formal privacy guarantee (privacy is measured by attacks, not claimed)"
DATASET_FORMAT = "privsynth-dataset"
# model files: 2 added `manifest_sha256`, a checksum over the manifest (which lists every other entry's SHA-256)
MODEL_FORMAT_VERSION = 2
PARQUET_KEY = b"privsynth.manifest"
PARQUET_SYNTHETIC_KEY = b"privsynth.synthetic"
SIDECAR_SUFFIX = ".manifest.json"
PREFIX = {"model": "mdl", "source": "src", "evaluation": "evl"}  # every other kind is a dataset: "ds"

# Libraries whose versions can change what a run produces: the core for every run, and per engine.
CORE_PACKAGES = ("numpy", "pandas", "pyarrow", "scipy", "scikit-learn", "pydantic", "pyyaml")
ENGINE_PACKAGES = {
    "argn": ("torch", "opacus"),
    "mst": ("mbi", "jax", "jaxlib"),
    "aim": ("mbi", "jax", "jaxlib"),
}

_pinned: contextvars.ContextVar[dict | None] = contextvars.ContextVar("privsynth_pinned", default=None)


@contextlib.contextmanager
def pinned(created: str | None = None, author: str | None = None) -> Iterator[None]:
    """Within the block, manifests get this creation time and author (what `reproduce` and `--author` use)."""
    outer = _pinned.get() or {}
    token = _pinned.set({**outer, **{k: v for k, v in (("created", created), ("author", author)) if v}})
    try:
        yield
    finally:
        _pinned.reset(token)


def created_now() -> str:
    """UTC time of creation, to the second: a pinned time, else SOURCE_DATE_EPOCH (the reproducible-builds
    convention), else now."""
    pinned_time = (_pinned.get() or {}).get("created")
    if pinned_time:
        return pinned_time
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def wall_clock() -> str:
    """The real UTC time to the second, never pinned: what the audit log records."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def author() -> str:
    """Who made it: a pinned author (`--author`, `reproduce`), else $PRIVSYNTH_AUTHOR, else the OS user."""
    return (_pinned.get() or {}).get("author") or os.environ.get("PRIVSYNTH_AUTHOR") or os_user()


def versions(engine: str | None = None) -> dict[str, str]:
    """Exact versions of privsynth, Python and every library that shaped a result made with `engine`."""
    from privsynth import __version__

    found = {"privsynth": __version__, "python": platform.python_version()}
    for name in (*CORE_PACKAGES, *ENGINE_PACKAGES.get(engine or "", ())):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def canonical(obj) -> bytes:
    """The JSON bytes hashes are taken over: sorted keys, no spaces, numpy scalars as plain numbers."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain).encode()


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"not JSON-able: {type(value).__name__}")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def with_id(manifest: dict) -> dict:
    """`manifest` with its content-addressed id: a kind prefix and 20 hex digits of the SHA-256 of the rest."""
    body = {k: v for k, v in manifest.items() if k != "id"}
    prefix = PREFIX.get(body.get("kind", ""), "ds")
    return {"id": f"{prefix}-{sha256(canonical(body))[:20]}", **body}


def id_matches_content(manifest: dict, ignore: tuple[str, ...] = ()) -> bool:
    """Whether `manifest["id"]` is the content address of the manifest (without the `ignore`d keys)."""
    body = {k: v for k, v in manifest.items() if k not in ignore}
    return isinstance(manifest.get("id"), str) and with_id(body)["id"] == manifest["id"]


def source_id(fingerprint: dict) -> str:
    """The id of a real input table: from its fingerprint only (the same table always gets the same id)."""
    return f"src-{fingerprint['sha256'][:20]}"


def schema_sha256(schema) -> str:
    return sha256(canonical(schema.model_dump(mode="json")))


def dataset(
    frame,
    *,
    kind: str,
    operation: dict,
    parents: list[dict],
    model: dict | None = None,
    synthetic: bool = True,
    extra: dict | None = None,
    content: dict | None = None,
) -> dict:
    """The manifest of an output table. `operation` is {"command": ..., "params": {...}}: enough, with the
    parents, to run it again (`privsynth reproduce`). `model` is the manifest of the model that generated
    rows, if any: its engine, schema hash and privacy statement carry over. `content`: the table's fingerprint,
    given when `frame` is not at hand (a sample written block by block: `privsynth.streamio`)."""
    from privsynth.fingerprint import fingerprint

    engine = (model or {}).get("engine", {}).get("name")
    manifest = {
        "format": DATASET_FORMAT,
        "format_version": 1,
        "kind": kind,
        "synthetic": synthetic,
        "privsynth_version": versions()["privsynth"],
        "created": created_now(),
        "author": author(),
        "operation": operation,
        "parents": parents,
        "content": content if content is not None else fingerprint(frame),
        "engine": (model or {}).get("engine"),
        "schema_sha256": (model or {}).get("schema_sha256"),
        "privacy": (model or {}).get("privacy") or {"mechanism": "none", "guarantee": NO_GUARANTEE},
        "versions": versions(engine),
        **(extra or {}),
    }
    return with_id(manifest)


def parent(manifest: dict, role: str) -> dict:
    return {"id": manifest["id"], "role": role, "kind": manifest.get("kind")}


def set_author(name: str | None) -> None:
    """The author for the rest of this command (the CLI's `--author`); None goes back to the default."""
    _pinned.set({"author": name} if name else None)
