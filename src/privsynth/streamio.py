"""Write a table that arrives in pieces (an iterator of frames) without holding it: CSV appended block by
block, Parquet one row group per block (`pyarrow.parquet.ParquetWriter`), a database table in batches.

The same guarantees as `io.write`: a file is written beside the target and renamed into place only when every
row is in (a database table in one transaction), so a crash, an error or a full disk leaves nothing at the
target and no temporary file behind. After the first block, the bytes per row it took are compared with the
free space on the output's filesystem (`shutil.disk_usage`): a table the disk cannot hold is refused before
the rest is drawn, saying how much it needs and how much is free. The table's content fingerprint is computed
on the way (`RowsFingerprint`), and its manifest attached once the rows are counted.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from privsynth import io
from privsynth.errors import InputError

DISK_MARGIN = 1.05  # the estimate from the first block, with room for rows a little longer than its
DISK_RESERVE = 16 * 2**20  # and a few MiB for the manifest, the footer and the filesystem's own needs


class DiskSpaceError(InputError):
    """The output's filesystem cannot hold the table (refused up front), or filled up while it was written."""


class RowsFingerprint:
    """A SHA-256 over the column names and dtypes, then pandas' stable hash of each row
    (`pandas.util.hash_pandas_object` over the row's columns, index excluded, every NaN alike), row after
    row: fed block by block, it does not depend on how the rows were split. Stores none of the values."""

    scheme = "rows"

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._header: list[str] | None = None
        self.rows = 0

    def update(self, frame: pd.DataFrame) -> None:
        header = [f"{name}\x1f{frame[name].dtype}" for name in frame.columns]
        if self._header is None:
            self._header = header
            self._digest.update(("\x1e".join(header) + "\x1d").encode())
        elif header != self._header:
            changed = next(h for h, first in zip(header, self._header, strict=False) if h != first)
            raise InputError(f"a later block changed a column's type: {changed.replace(chr(31), ' -> ')}")
        if len(frame):
            canonical = frame.copy(deep=False)
            for name in frame.columns:
                if pd.api.types.is_float_dtype(frame[name].dtype) and frame[name].isna().any():
                    canonical[name] = frame[name].where(frame[name].notna(), np.nan)
            self._digest.update(pd.util.hash_pandas_object(canonical, index=False).to_numpy().tobytes())
        self.rows += len(frame)

    def result(self) -> dict:
        columns = len(self._header or [])
        return {"sha256": self._digest.hexdigest(), "rows": self.rows, "columns": columns, "scheme": self.scheme}


def parquet_fingerprint(path: str | Path, batch_rows: int = 65_536) -> dict:
    """`RowsFingerprint` of a Parquet file read in batches (memory bounded by a batch)."""
    import pyarrow.lib
    import pyarrow.parquet as pq

    digest = RowsFingerprint()
    try:
        file = pq.ParquetFile(path)
        for batch in file.iter_batches(batch_size=batch_rows):
            digest.update(batch.to_pandas(coerce_temporal_nanoseconds=False))
    except (pyarrow.lib.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read {path} as Parquet: {str(exc).splitlines()[0]}") from None
    return digest.result()


def write_frames(
    frames: Iterable[pd.DataFrame],
    location: str,
    *,
    rows: int,
    table: str | None = None,
    fmt: str | None = None,
    manifest: Callable[[dict], dict] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[str, dict]:
    """Write the frames, in order, as one table of `rows` rows; returns (where, content fingerprint).
    `manifest(content)` (optional) gives the manifest to attach once every row is written; `progress(done,
    rows)` is called after each block."""
    kind = "sql" if io.is_url(location) else io.format_of(location, fmt)
    digest = RowsFingerprint()
    counted = _counted(frames, digest, rows, progress)
    if kind == "sql":  # the database's disk is the server's: its space is not checked here
        where = io._write_sql(counted, location, table)
        return where, digest.result()
    try:
        with io.atomic_path(location) as tmp:
            if kind == "csv":
                file_sha = _write_csv(counted, tmp, location, rows)
                if manifest is not None:
                    _write_sidecar(location, manifest(digest.result()), file_sha)
            else:
                _write_parquet(counted, tmp, location, rows, manifest, digest)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(exc):
            raise DiskSpaceError(
                f"the disk filled up while writing {location} ({digest.rows:,} of {rows:,} rows written): "
                f"nothing was written there; free {gib(_free(location))} is left"
            ) from None
        raise
    return str(location), digest.result()


def _counted(frames: Iterable[pd.DataFrame], digest: RowsFingerprint, rows: int, progress) -> Iterator[pd.DataFrame]:
    for frame in frames:
        digest.update(frame)
        yield frame
        if progress is not None:
            progress(digest.rows, rows)
    if digest.rows != rows:
        raise InputError(f"the sample gave {digest.rows:,} rows where {rows:,} were asked for")


def _free(location: str | Path) -> int:
    parent = Path(location).parent
    return shutil.disk_usage(parent if str(parent) else ".").free


def check_space(location: str | Path, bytes_so_far: int, rows_so_far: int, rows: int) -> None:
    """Refuse a table whose remaining rows, at the bytes per row of the ones written, would not fit in the
    free space of `location`'s filesystem."""
    if rows_so_far >= rows or rows_so_far == 0:
        return
    needed = bytes_so_far / rows_so_far * (rows - rows_so_far) * DISK_MARGIN + DISK_RESERVE
    free = _free(location)
    if needed > free:
        total = needed + bytes_so_far
        raise DiskSpaceError(
            f"not enough disk space for {rows:,} rows in {location}: it needs about {gib(total)} "
            f"({bytes_so_far / rows_so_far:,.0f} bytes a row) and {gib(free + bytes_so_far)} is free there; "
            "write fewer rows, or to a disk with more room"
        )


def gib(size: float) -> str:
    """A byte count for people: '3.2 GiB', '512 MiB', '12 KiB'."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}"
    return f"{size / 2**10:,.0f} KiB"


def _write_csv(frames: Iterator[pd.DataFrame], tmp: Path, location: str, rows: int) -> str:
    """Append each block's text to `tmp`; returns the SHA-256 of the file's bytes. Float columns holding
    whole numbers in the first block are written as integers in every block where they still do (as
    `io.write` decides for a whole frame)."""
    sha = hashlib.sha256()
    integral: set[str] | None = None
    with open(tmp, "wb") as handle:
        for first, frame in _first_flag(frames):
            if integral is None:
                shown = io._integral_floats_as_ints(frame)
                integral = {name for name in frame.columns if shown[name].dtype is not frame[name].dtype}
            else:
                shown = io._integral_floats_as_ints(frame, among=integral)
            data = shown.to_csv(index=False, header=first, lineterminator="\n").encode()
            handle.write(data)
            sha.update(data)
            if first:
                handle.flush()
                check_space(location, handle.tell(), len(frame), rows)
    return sha.hexdigest()


def _first_flag(frames: Iterable[pd.DataFrame]) -> Iterator[tuple[bool, pd.DataFrame]]:
    for i, frame in enumerate(frames):
        yield i == 0, frame


def _write_sidecar(location: str, manifest: dict, file_sha256: str) -> None:
    """LOCATION.manifest.json, as `io.write` makes it (the data file's SHA-256 computed while writing)."""
    from privsynth.governance.manifest import SIDECAR_SUFFIX

    body = {**manifest, "file_sha256": file_sha256}
    text = json.dumps(body, indent=1, ensure_ascii=False, sort_keys=True, default=str) + "\n"
    io.write_bytes_atomic(f"{location}{SIDECAR_SUFFIX}", lambda fh: fh.write(text.encode()))


def _write_parquet(
    frames: Iterator[pd.DataFrame], tmp: Path, location: str, rows: int, manifest, digest: RowsFingerprint
) -> None:
    """One row group per block, every block cast to the first block's schema; the manifest goes into the
    footer's key-value metadata once the rows are counted."""
    import pyarrow as pa
    import pyarrow.lib
    import pyarrow.parquet as pq

    from privsynth.governance.manifest import PARQUET_KEY, PARQUET_SYNTHETIC_KEY, canonical

    writer, schema = None, None
    try:
        for first, frame in _first_flag(frames):
            if first:
                arrow = pa.Table.from_pandas(frame, preserve_index=False)
                schema = arrow.schema
                writer = pq.ParquetWriter(tmp, schema)
            else:
                arrow = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
            writer.write_table(arrow, row_group_size=max(len(frame), 1))
            if first:
                check_space(location, _size_of(arrow), len(frame), rows)
        if writer is not None and manifest is not None:
            made = manifest(digest.result())
            writer.add_key_value_metadata(
                {PARQUET_KEY: canonical(made), PARQUET_SYNTHETIC_KEY: b"true" if made["synthetic"] else b"false"}
            )
        if writer is not None:
            writer.close()
            writer = None
    except (pyarrow.lib.ArrowException, ValueError, TypeError) as exc:
        if isinstance(exc, OSError):
            raise
        raise InputError(f"cannot write {location} as Parquet: {str(exc).splitlines()[0]}") from None
    finally:
        if writer is not None:  # an error on the way: the file is removed, its footer does not matter
            with contextlib.suppress(Exception):
                writer.close()


def _size_of(arrow) -> int:
    """The Parquet bytes of one block, written to memory (the file's own size lags behind its buffers)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(arrow, sink, row_group_size=max(arrow.num_rows, 1))
    return sink.getvalue().size
