"""Bounded reading of an untrusted model zip: nothing is decompressed before the member list is checked.

A model file is shared between people, so it is parsed like hostile input (safetensors' discipline):
1. the central directory is checked first: only names a model file can hold, at most `MAX_MEMBERS`
   members, no duplicates, stored or deflated only, no encryption, each member's declared size under
   `MAX_MEMBER_BYTES` and the sum under `MAX_TOTAL_BYTES`, and no declared size beyond what deflate can
   produce from the compressed bytes (`MAX_RATIO`: a bigger claim is a lie meant to pass the caps);
2. each member is then read in chunks, hashed while read, and reading stops with an error as soon as it
   passes its declared size, so a lying header never makes us hold more than the caps;
3. JSON is parsed only after a depth check (no RecursionError) and without NaN/Infinity, and an .npy
   array only after its header (dtype, shape) agrees with the bytes that follow (no allocation from a
   header alone).
Every failure is a `ModelFileError` naming the file.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import re
import zipfile

import numpy as np

from privsynth.errors import ModelFileError

MAX_MEMBERS = 4096
MAX_MEMBER_BYTES = 1 << 30  # 1 GiB: far above any model privsynth writes (argn's largest nets are ~100 MB)
MAX_TOTAL_BYTES = 2 << 30
MAX_RATIO = 1100  # deflate cannot expand more than ~1032:1; a bigger declared ratio is a forged size
MAX_JSON_DEPTH = 64
MAX_ARRAY_DIMS = 8
CHUNK = 1 << 20

_NAMES = re.compile(
    r"manifest\.json|signature\.json|model\.json|sequence\.json|entity\.psm|events\.psm|arrays/[A-Za-z0-9_./-]{1,200}\.npy"
)
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
# plain numeric and boolean dtypes: no objects (pickle), no structured or void types, no sub-arrays
_DTYPES = set("?bBhHiIlLqQefdgFD") | {"U"}


def corrupt(label, what: str) -> ModelFileError:
    return ModelFileError(f"model file {label} is corrupt ({what}); fit it again")


def open_zip(source, label) -> zipfile.ZipFile:
    """A ZipFile over a path or bytes; anything the zip parser raises on hostile bytes becomes our error."""
    try:
        return zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise corrupt(label, f"not a readable zip: {type(exc).__name__}") from None
    except RuntimeError as exc:  # zipfile raises it for e.g. an invalid central directory encoding
        raise corrupt(label, f"not a readable zip: {exc}") from None


def check_members(zf: zipfile.ZipFile, label) -> dict[str, zipfile.ZipInfo]:
    """The members by name, after the checks of step 1 (module docstring); nothing is decompressed."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise corrupt(label, f"{len(infos):,} members, more than the {MAX_MEMBERS:,} a model file may hold")
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        name = info.filename
        if not _NAMES.fullmatch(name) or ".." in name or "//" in name:
            raise ModelFileError(f"{label} is not a privsynth model file (foreign entry {name[:80]!r})")
        if name in members:
            raise corrupt(label, f"entry {name!r} appears twice")
        if info.flag_bits & 0x1:
            raise corrupt(label, f"entry {name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise corrupt(label, f"entry {name!r} uses an unsupported compression")
        size, packed = info.file_size, info.compress_size
        if size > MAX_MEMBER_BYTES:
            raise corrupt(label, f"entry {name!r} declares {size:,} bytes, over the {MAX_MEMBER_BYTES:,} limit")
        if size > MAX_RATIO * max(packed, 1) or (info.compress_type == zipfile.ZIP_STORED and size != packed):
            raise corrupt(label, f"entry {name!r} declares {size:,} bytes from {packed:,} compressed")
        total += size
        if total > MAX_TOTAL_BYTES:
            raise corrupt(label, f"its entries declare more than {MAX_TOTAL_BYTES:,} bytes in all")
        members[name] = info
    return members


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label) -> tuple[bytes, str]:
    """(bytes, SHA-256) of one member, read in chunks and stopped past its declared size."""
    digest, parts, got = hashlib.sha256(), [], 0
    try:
        with zf.open(info) as handle:
            while chunk := handle.read(min(CHUNK, info.file_size - got + 1)):
                got += len(chunk)
                if got > info.file_size:
                    raise corrupt(label, f"entry {info.filename!r} holds more than its declared size")
                digest.update(chunk)
                parts.append(chunk)
    except ModelFileError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # zipfile/zlib on hostile bytes: BadZipFile, zlib.error, EOFError, OSError, ...
        raise corrupt(label, f"entry {info.filename!r} cannot be read: {type(exc).__name__}") from None
    if got != info.file_size:
        raise corrupt(label, f"entry {info.filename!r} is shorter than its declared size")
    return b"".join(parts), digest.hexdigest()


def json_depth(data: bytes) -> int:
    """How deeply arrays and objects nest in JSON text (strings skipped), computed without recursion."""
    stripped = np.frombuffer(_STRING.sub(b'""', data), dtype=np.uint8)
    steps = np.isin(stripped, (ord("["), ord("{"))).astype(np.int64) - np.isin(stripped, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_json(data: bytes, label, name: str):
    """JSON from a model file: depth-bounded, UTF-8, no NaN or Infinity."""
    if json_depth(data) > MAX_JSON_DEPTH:
        raise corrupt(label, f"{name} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise corrupt(label, f"{name} is not valid JSON: {str(exc)[:120]}") from None


def read_npy(data: bytes, label, name: str) -> np.ndarray:
    """An array from .npy bytes; the header's dtype and shape must account for exactly the bytes that follow,
    so a header claiming 1e11 elements is refused before anything is allocated."""
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"npy version {version}")
        header_len = int.from_bytes(stream.read(2 if version == (1, 0) else 4), "little")
        header = stream.read(header_len)
        if len(header) != header_len or header_len > 65536:
            raise ValueError("bad header length")
        fields = ast.literal_eval(header.decode("latin1" if version != (3, 0) else "utf-8"))
        if not isinstance(fields, dict) or set(fields) != {"descr", "fortran_order", "shape"}:
            raise ValueError("bad header keys")
        descr, fortran, shape = fields["descr"], fields["fortran_order"], fields["shape"]
        if not isinstance(descr, str) or not isinstance(fortran, bool) or not isinstance(shape, tuple):
            raise ValueError("bad header types")
        dtype = np.dtype(descr)
        if dtype.char not in _DTYPES or dtype.fields is not None or dtype.subdtype is not None:
            raise ValueError(f"dtype {descr!r} is not a plain number, boolean or text dtype")
        if len(shape) > MAX_ARRAY_DIMS or not all(isinstance(d, int) and 0 <= d < 1 << 40 for d in shape):
            raise ValueError(f"shape {shape!r}")
        count = 1
        for d in shape:
            count *= d
        body = memoryview(data)[stream.tell() :]
        if count * dtype.itemsize != len(body):
            raise ValueError(f"header declares {count:,} elements of {dtype.itemsize} bytes, file holds {len(body):,}")
        array = np.frombuffer(body, dtype=dtype, count=count).reshape(shape, order="F" if fortran else "C")
        return array.copy(order="K")  # writable, and independent of the file's bytes
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError, OverflowError) as exc:
        raise corrupt(label, f"array {name!r} has a bad header: {str(exc)[:120]}") from None
