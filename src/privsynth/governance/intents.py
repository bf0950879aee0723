"""Write intents: a writing command announces each output in the audit log ("pending": its path and the
SHA-256 of its complete bytes) just before renaming it into place, and the artifact's record then commits it
(a record entry listing that path with those bytes). A run killed between the rename and the record leaves
a complete file the catalog would not know; `catalog verify` finds it from the uncommitted intent.

Intents live in the audit table (hash-chained like every entry), so they need no table of their own.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from privsynth import atomic, io
from privsynth.governance import manifest as manifests


@contextlib.contextmanager
def intent(catalog, output: str | os.PathLike | None, artifact_id: str | None = None) -> Iterator[None]:
    """While the block runs, a write of the file `output` appends a "pending" audit entry to `catalog` just
    before its rename (nothing for a database table, or without a catalog). Record the artifact after."""
    if catalog is None or output is None or io.is_url(output):
        yield
        return
    path = str(Path(output).absolute())  # as Catalog.record writes it

    def pending(tmp: Path) -> None:
        sha256 = manifests.file_sha256(tmp)
        catalog.audit("pending", artifact_id, path=path, sha256=sha256, writer=atomic.writer())

    with atomic.announce(output, pending):
        yield


def unrecorded(
    entries: list[dict], in_files: set[tuple[str, str | None]], paths: Iterable[str | os.PathLike] | None = None
) -> list[str]:
    """Outputs written but never recorded. A writing command appends a "pending" entry (the path and the
    SHA-256 of the complete bytes) just before it renames the file into place, and records the artifact
    after; a record entry listing that path with those bytes commits it. An uncommitted intent whose file
    is there with exactly those bytes was written and never recorded (killed between the rename and the
    record); if the files table has it, it was recorded without its audit entry. An intent whose file is
    absent or holds other bytes never reached its rename (or was replaced since): nothing was lost. An
    intent of another process still running on this host is a write in flight, not a problem."""
    committed, pending = set(), {}
    for entry in entries:
        details = json.loads(entry["details"])
        if entry["event"] == "pending":
            pending.setdefault(details.get("path"), []).append((entry, details))
        elif "kind" in details:
            committed.update((f.get("path"), f.get("sha256")) for f in details.get("files", []))
    roots = None if paths is None else [Path(p).absolute() for p in paths]
    problems = []
    for path_text, intents in sorted(pending.items(), key=lambda item: str(item[0])):
        path = Path(str(path_text))
        if roots is not None and (path in roots or not any(root in path.parents for root in roots)):
            continue  # a file named itself is reported by verify as "not recorded" already
        open_intents = [(e, d) for e, d in intents if (path_text, d.get("sha256")) not in committed]
        if not open_intents or not path.is_file():
            continue
        current = manifests.file_sha256(path)
        for entry, details in open_intents:
            if details.get("sha256") != current or atomic.writing_elsewhere(details.get("writer")):
                continue
            what = f" (artifact {entry['artifact_id']})" if entry["artifact_id"] else ""
            if (path_text, current) in in_files:
                problems.append(
                    f"{path}: recorded{what}, but no audit entry commits its write intent (entry {entry['seq']})"
                )
            else:
                problems.append(
                    f"{path}: written{what} but never recorded in the catalog (its write intent, audit entry "
                    f"{entry['seq']}, was never committed: the run stopped between writing and recording)"
                )
            break
    return problems
