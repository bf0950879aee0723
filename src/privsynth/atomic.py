"""Write files without losing data: refuse an output that is an input, the model or the catalog; write to a
temporary file beside the target and rename it into place; clean up what killed writers left behind.

- Same file by identity, not by spelling: `X.csv`, `./X.csv`, a symlink and a hard link to it are all the
  same file (`os.path.samefile`, i.e. st_dev + st_ino), so an output that resolves to an input is refused
  before anything is written. A CSV output's sidecar (`X.csv.manifest.json`) must not be an input either.
- Protected files (the catalog database and its SQLite journal files, registered with `protect`) are refused
  as outputs by every atomic write in the process, checked again just before the rename: the catalog may
  only come into existence while the command runs.
- Temporary files are named `.NAME.PID-HOST-RANDOM.tmp`. A writer killed with SIGKILL cannot delete its
  own; the next write to the same target deletes those whose writer is gone (same host, process no longer
  alive), never a live writer's. Temporary files of the older `.NAME.RANDOM.tmp` naming are deleted once a
  day old.
- A caller can ask to be told just before a target is renamed into place (`announce`): the catalog records a
  "pending" write intent then, so a kill between the rename and the catalog record is found by `verify`.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO

from privsynth.errors import InputError

SIDECAR_SUFFIX = ".manifest.json"  # the same as governance.manifest's (io sits below governance)
LEGACY_TEMP_AGE_S = 24 * 3600  # an old-style temp file (no pid in its name) this old has no live writer
_protected: dict[str, str] = {}  # absolute path -> what it is ("catalog", ...)
_owning: contextvars.ContextVar[frozenset[str] | None] = contextvars.ContextVar("privsynth_owning", default=None)
_announced: contextvars.ContextVar[dict[str, Callable[[Path], None]] | None] = contextvars.ContextVar(
    "privsynth_announced", default=None
)


def protect(path: str | os.PathLike, role: str) -> None:
    """Refuse `path` as an output of every later write in this process (`role` names it in the error)."""
    _protected[str(Path(path).absolute())] = role


def unprotect(path: str | os.PathLike) -> None:
    _protected.pop(str(Path(path).absolute()), None)


@contextlib.contextmanager
def owned(path: str | os.PathLike) -> Iterator[None]:
    """While the block runs, the protected file `path` may be written by its owner (the budget ledger
    writing its own file); every other protected file stays refused."""
    key = str(Path(path).absolute())
    token = _owning.set((_owning.get() or frozenset()) | {key})
    try:
        yield
    finally:
        _owning.reset(token)


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same inode when both exist, else the same resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        with contextlib.suppress(OSError, RuntimeError):
            return a.resolve() == b.resolve()
        return False


def _named(inputs: Iterable | Mapping | None) -> list[tuple[str, Path]]:
    """(role, path) for each file input; database URLs and None are skipped."""
    if inputs is None:
        return []
    pairs = inputs.items() if isinstance(inputs, Mapping) else (("input", p) for p in inputs)
    named = []
    for role, item in pairs:
        items = item if isinstance(item, list | tuple) else [item]
        for path in items:
            if path is not None and "://" not in str(path):
                named.append((role, Path(path)))
    return named


def clash(target: str | os.PathLike, inputs: Iterable | Mapping | None = None) -> str | None:
    """Why `target` (or its CSV sidecar) must not be written — it is an input or a protected file — or None."""
    target = Path(target)
    owning = _owning.get() or frozenset()
    guarded = _named(inputs) + [(role, Path(p)) for p, role in list(_protected.items()) if p not in owning]
    for role, path in guarded:
        if _same(target, path):
            return f"output {target} is the {role} {path}; choose another output path"
    if str(target.absolute()) not in owning and _is_ledger(target):
        reason = "writing over it would reset the spend it records"
        return f"output {target} is a privacy-budget ledger ({reason}); choose another output path"
    sidecar = Path(f"{target}{SIDECAR_SUFFIX}")
    if target.suffix.lower() in (".csv", ".txt"):
        for role, path in guarded:
            if _same(sidecar, path):
                return f"output {target}'s manifest {sidecar} would overwrite the {role} {path}; choose another output"
    return None


def _is_ledger(path: Path) -> bool:
    """Whether `path` is an existing privsynth budget ledger file (its first bytes name the format)."""
    try:
        with open(path, "rb") as fh:
            return b'"privsynth-budget-ledger"' in fh.read(1024)
    except OSError:
        return False


def check_output(target: str | os.PathLike, inputs: Iterable | Mapping | None = None) -> None:
    """Fail early (before any long work) when a file output cannot be written where asked: a missing or
    read-only folder, a directory, or a file the command reads (`inputs`: paths, or {role: path(s)}) or
    that is protected (the catalog). Database URLs among `inputs` are ignored."""
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"output directory does not exist: {parent}")
    if target.is_dir():
        raise InputError(f"output path is a directory: {target}")
    if not os.access(parent, os.W_OK):
        raise InputError(f"output directory is not writable: {parent}")
    problem = clash(target, inputs)
    if problem:
        raise InputError(problem)


def distinct_outputs(*targets: str | os.PathLike | None) -> None:
    """Refuse two outputs of one command that are the same file (the second would replace the first)."""
    given = [Path(t) for t in targets if t is not None]
    for i, first in enumerate(given):
        for second in given[i + 1 :]:
            if _same(first, second):
                raise InputError(f"outputs {first} and {second} are the same file; give each its own path")


@contextlib.contextmanager
def announce(target: str | os.PathLike, callback: Callable[[Path], None]) -> Iterator[None]:
    """While the block runs, call `callback(temporary_file)` once that target's bytes are complete and
    synced, just before the rename (an exception from it cancels the write)."""
    key = str(Path(target).absolute())
    current = dict(_announced.get() or {})
    current[key] = callback
    token = _announced.set(current)
    try:
        yield
    finally:
        _announced.reset(token)


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _temp_pattern(name: str) -> re.Pattern:
    """Our temporary files for a target named `name`: new style (pid, host) and old style (random only)."""
    return re.compile(rf"^\.{re.escape(name)}\.(?:(\d+)-([0-9a-f]{{8}})-)?[a-z0-9_]{{8}}\.tmp$")


def writer() -> dict:
    """This process as a writer: {"pid", "host"} (the host as a short hash, never its name)."""
    return {"pid": os.getpid(), "host": _host_tag()}


def writing_elsewhere(who: dict | None) -> bool:
    """Whether `who` (a `writer()` of some process) is another process on this host that is still running:
    its write may be in flight."""
    if not isinstance(who, dict) or who.get("host") != _host_tag() or not isinstance(who.get("pid"), int):
        return False
    return who["pid"] != os.getpid() and _alive(who["pid"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_stale(target: str | os.PathLike) -> list[Path]:
    """Delete temporary files of `target` that killed writers left (their process is gone); returns them.
    A live writer's file, another host's (when the folder is shared) and anything not of our naming stay."""
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    pattern, host, removed = _temp_pattern(target.name), _host_tag(), []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    prefix = f".{target.name}."
    for name in names:
        found = pattern.match(name) if name.startswith(prefix) and name.endswith(".tmp") else None
        if found is None:
            continue
        path = folder / name
        pid, tag = found.group(1), found.group(2)
        try:
            if pid is None:
                stale = time.time() - path.stat().st_mtime > LEGACY_TEMP_AGE_S
            else:
                stale = tag == host and int(pid) != os.getpid() and not _alive(int(pid))
            if stale and path.is_file():
                path.unlink()
                removed.append(path)
        except OSError:
            continue  # gone already (another writer cleaned it) or not ours to delete
    return removed


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, inputs: Iterable | Mapping | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success rename it over `target`, else delete it."""
    check_output(target, inputs)
    target = Path(target)
    clean_stale(target)
    prefix = f".{target.name}.{os.getpid()}-{_host_tag()}-"
    handle, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; outputs get the usual permissions
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        problem = clash(target)  # a protected file (the catalog) may have appeared at the target meanwhile
        if problem:
            raise InputError(problem)
        callback = (_announced.get() or {}).get(str(target.absolute()))
        if callback is not None:
            callback(tmp)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(
    target: str | os.PathLike, writer: Callable[[IO[bytes]], None], inputs: Iterable | Mapping | None = None
) -> Path:
    """Write a file atomically: `writer` receives an open binary handle on a temporary file."""
    with atomic_path(target, inputs) as tmp, open(tmp, "wb") as handle:
        writer(handle)
    return Path(target)
