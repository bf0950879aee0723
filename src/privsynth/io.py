"""Read and write tables: CSV, Parquet, and database tables by SQLAlchemy URL.

Inputs are never modified. Outputs are written to a temporary file beside the target and renamed into
place (or, for databases, inside one transaction), so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import csv
import json
import os
import warnings
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from privsynth.atomic import (  # noqa: F401  (io's own API: the safe writes)
    atomic_path,
    check_output,
    distinct_outputs,
    write_bytes_atomic,
)
from privsynth.errors import InputError
from privsynth.redact import mask, mask_url

FORMATS = ("csv", "parquet")


def is_url(location: str | os.PathLike) -> bool:
    """True when `location` is a database URL such as ``sqlite:///file.db`` (not a file path)."""
    text = str(location)
    return "://" in text and not text.startswith("file://")


def format_of(location: str | os.PathLike, fmt: str | None = None) -> str:
    """The table format: the explicit `fmt`, else from the URL scheme or the file suffix."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
        return fmt
    if is_url(location):
        return "sql"
    suffix = Path(location).suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise InputError(
        f"cannot tell the format of {str(location)!r} from its suffix: use .csv or .parquet, "
        "a database URL with --table, or pass --format"
    )


def read(location: str | os.PathLike, table: str | None = None, encoding: str = "utf-8") -> pd.DataFrame:
    """Read a whole table from a CSV or Parquet file, or a database table (URL + `table`).

    Raises InputError for a missing, empty, header-only, non-UTF-8 (unless `encoding` says otherwise)
    file or for duplicate column names, which pandas would otherwise rename silently.
    """
    fmt = format_of(location)
    if fmt == "sql":
        frame = _read_sql(str(location), table)
    else:
        path = Path(location)
        if not path.exists():
            raise InputError(f"input file not found: {path}")
        if path.is_dir():
            raise InputError(f"input is a directory, not a file: {path}")
        if path.stat().st_size == 0:
            raise InputError(f"input file is empty: {path}")
        frame = _read_csv(path, encoding) if fmt == "csv" else _read_parquet(path)
    if frame.shape[1] == 0:
        raise InputError(f"no columns found in {mask_url(location)}")
    if len(frame) == 0:
        raise InputError(f"{mask_url(location)} has a header but no rows")
    return frame


def _check_unique_names(names: list[str], where: str) -> None:
    dupes = sorted(name for name, count in Counter(names).items() if count > 1)
    if dupes:
        raise InputError(f"duplicate column names in {where}: {', '.join(map(repr, dupes))}; rename them")


def _read_csv(path: Path, encoding: str) -> pd.DataFrame:
    if encoding.lower().replace("-", "").replace("_", "") == "utf8":
        encoding = "utf-8-sig"  # a leading byte-order mark is not part of the first column's name
    try:
        with path.open(encoding=encoding, newline="") as handle:
            header = next(csv.reader(handle), None)
        if not header or all(not name.strip() for name in header):
            raise InputError(f"input file has no header row: {path}")
        _check_unique_names(header, str(path))
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)  # pandas would drop surplus fields
            try:
                return pd.read_csv(path, encoding=encoding, low_memory=False, index_col=False)
            except pd.errors.ParserWarning:
                raise InputError(
                    f"{path}: some rows have more fields than the header's {len(header)} columns"
                ) from None
    except UnicodeDecodeError:
        offset, byte = _bad_byte(path, encoding)
        name = "utf-8" if encoding == "utf-8-sig" else encoding
        raise InputError(
            f"{path} is not valid {name} (byte {byte!r} at offset {offset}); "
            "re-save it as UTF-8 or pass --encoding (e.g. latin-1)"
        ) from None
    except LookupError:
        raise InputError(f"unknown text encoding {encoding!r}") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"cannot parse {path} as CSV: {str(exc).strip().splitlines()[-1]}") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"input file is empty: {path}") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.lib
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        _check_unique_names(list(schema.names), str(path))
        table = pq.read_table(path)
        # Keep datetimes outside pandas' nanosecond range (before 1677, after 2262) at their own unit.
        return table.to_pandas(coerce_temporal_nanoseconds=False)
    except (pyarrow.lib.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read {path} as Parquet: {str(exc).splitlines()[0]}") from None


def _engine(url: str):
    import sqlalchemy
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        return sqlalchemy.create_engine(url)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise InputError(f"cannot use database URL {mask_url(url)!r}: {mask(str(exc), url)}") from None


def _sqlite_file_missing(url: str) -> Path | None:
    """For a sqlite URL naming a file that does not exist, that file (SQLite would create it silently)."""
    if not url.startswith("sqlite:///"):
        return None
    name = url[len("sqlite:///") :].split("?")[0]
    if name in ("", ":memory:"):
        return None
    path = Path(name)
    return None if path.exists() else path


def _read_sql(url: str, table: str | None) -> pd.DataFrame:
    import sqlalchemy
    from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError

    shown = mask_url(url)  # every message shows the URL without its password
    if not table:
        raise InputError(f"reading from a database needs --table NAME ({shown})")
    missing = _sqlite_file_missing(url)
    if missing is not None:
        raise InputError(f"database file not found: {missing}")
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            if not sqlalchemy.inspect(conn).has_table(table):
                raise InputError(f"table {table!r} not found in {shown}")
            columns = [c["name"] for c in sqlalchemy.inspect(conn).get_columns(table)]
            _check_unique_names(columns, f"table {table!r}")
            return pd.read_sql_table(table, conn)
    except NoSuchTableError:
        raise InputError(f"table {table!r} not found in {shown}") from None
    except SQLAlchemyError as exc:
        raise InputError(f"cannot read table {table!r} from {shown}: {mask(str(exc).splitlines()[0], url)}") from None
    finally:
        engine.dispose()


def write(
    frame: pd.DataFrame,
    location: str | os.PathLike,
    table: str | None = None,
    fmt: str | None = None,
    manifest: dict | None = None,
    inputs=None,
) -> str:
    """Write `frame` to a CSV/Parquet file (atomic rename) or a new database table (one transaction).

    With a `manifest` (see `privsynth.governance.manifest`), a Parquet file holds it in its key-value
    metadata (and is marked synthetic or not); a CSV file gets it beside it as LOCATION.manifest.json, with
    the SHA-256 of the CSV's bytes added. A database table gets none (the catalog keeps it).
    Returns a human description of where it went. Refuses to overwrite an existing database table, and a
    file that is one of `inputs` (paths, or {role: path}) or the catalog (see `privsynth.atomic`).
    """
    import pyarrow.lib

    kind = format_of(location, fmt) if not is_url(location) else "sql"
    if kind == "sql":
        return _write_sql(frame, str(location), table)
    with atomic_path(location, inputs) as tmp:
        if kind == "csv":
            _integral_floats_as_ints(frame).to_csv(tmp, index=False, lineterminator="\n")
            if manifest is not None:
                _write_sidecar(location, tmp, manifest)
        else:
            try:
                _write_parquet(frame, tmp, manifest)
            except (pyarrow.lib.ArrowException, ValueError, TypeError) as exc:
                raise InputError(f"cannot write {location} as Parquet: {str(exc).splitlines()[0]}") from None
    return str(location)


def _write_parquet(frame: pd.DataFrame, path: Path, manifest: dict | None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from privsynth.governance.manifest import PARQUET_KEY, PARQUET_SYNTHETIC_KEY, canonical

    table = pa.Table.from_pandas(frame, preserve_index=False)
    if manifest is not None:
        extra = {
            PARQUET_KEY: canonical(manifest),
            PARQUET_SYNTHETIC_KEY: b"true" if manifest["synthetic"] else b"false",
        }
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    pq.write_table(table, path)


def _write_sidecar(location: str | os.PathLike, data_file: Path, manifest: dict) -> None:
    """LOCATION.manifest.json: the manifest plus the SHA-256 of the data file's bytes (written first, so a
    reader never finds a new data file with an old manifest)."""
    from privsynth.governance.manifest import SIDECAR_SUFFIX, file_sha256

    body = {**manifest, "file_sha256": file_sha256(data_file)}
    text = json.dumps(body, indent=1, ensure_ascii=False, sort_keys=True, default=str) + "\n"
    write_bytes_atomic(f"{location}{SIDECAR_SUFFIX}", lambda fh: fh.write(text.encode()))


def _write_sql(frame: pd.DataFrame | Iterable[pd.DataFrame], url: str, table: str | None) -> str:
    """A new table holding `frame` (or the frames of an iterator, appended in order: `privsynth.streamio`),
    all rows or none."""
    import sqlalchemy
    from sqlalchemy.exc import SQLAlchemyError

    shown = mask_url(url)  # every message shows the URL without its password
    if not table:
        raise InputError(f"writing to a database needs --table NAME ({shown})")
    if url.startswith("sqlite:///"):
        parent = Path(url[len("sqlite:///") :].split("?")[0]).parent
        if str(parent) and not parent.is_dir():
            raise InputError(f"output directory does not exist: {parent}")
    engine = _engine(url)
    created = False
    try:
        with engine.begin() as conn:  # one transaction: all rows or none
            if sqlalchemy.inspect(conn).has_table(table):
                raise InputError(f"table {table!r} already exists in {shown}; choose another --table")
            created = True
            for part in [frame] if isinstance(frame, pd.DataFrame) else frame:
                part.to_sql(table, conn, index=False, chunksize=50_000, if_exists="append")
    except BaseException as exc:
        if created:  # some drivers (sqlite3) create the table outside the transaction: remove it
            quoted = engine.dialect.identifier_preparer.quote(table)
            with engine.begin() as conn:
                conn.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {quoted}"))
        if not isinstance(exc, SQLAlchemyError | ValueError | TypeError):
            raise
        raise InputError(f"cannot write table {table!r} to {shown}: {mask(str(exc).splitlines()[0], url)}") from None
    finally:
        engine.dispose()
    return f"{shown} (table {table})"


def _bad_byte(path: Path, encoding: str) -> tuple[int, bytes]:
    """File offset and value of the first byte that does not decode (pandas reports chunk offsets)."""
    import codecs

    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return offset + exc.start, chunk[exc.start : exc.start + 1]
            offset += len(chunk)
    return offset, b""


def _integral_floats_as_ints(frame: pd.DataFrame, among: set | None = None) -> pd.DataFrame:
    """For CSV text only: float columns holding only whole numbers (integers with nulls, as pandas reads
    them) are written as `12`, not `12.0`, as they stood in a CSV input (of the columns `among`, if given).
    The frame is not modified."""
    out = frame
    for name in frame.columns if among is None else [c for c in frame.columns if c in among]:
        column = frame[name]
        if pd.api.types.is_float_dtype(column):
            values = column.dropna().to_numpy()
            if values.size and (abs(values) < 2**53).all() and (values == values.round()).all():
                out = out.copy() if out is frame else out
                out[name] = column.astype("Int64")
    return out
