"""A salted content sketch of a table that recognises the same data under another name or form.

The budget ledger must not be escapable by trivial changes (issue 22): an exact hash of the rows in order
(`privsynth.fingerprint`) changes when rows are shuffled, a column is renamed, reordered or added, 12 is
written 12.0, an index column is dropped or one row removed. The sketch ignores all of those:

- every value is normalised first: numbers (and text that reads as numbers) rounded to 9 significant digits
  (12 == 12.0 == "12"), text stripped and case-folded, dates at midnight written as days; nulls alike;
- columns that carry no content are left out: constants (an added column of one value) and row numbers
  (integers, all distinct, spanning at most twice the row count: 0..n-1, 1..n, ids with gaps);
- values are hashed with SipHash keyed by the ledger's secret salt (`pandas.util.hash_array`), so what is
  stored is keyed 64-bit hashes, never values;
- `digest`: SHA-256 of the sorted multiset of row hashes, a row hashed as the sorted multiset of its value
  hashes: equal for the same rows in any order, under any column names and order;
- `rows`: a bottom-k MinHash (the K smallest hashes of (row, occurrence)) of that multiset: its Jaccard
  similarity to another table's survives removed or added rows ((n - 1) / n for one row removed);
- `row_minima_without`: the same for the rows without each one column (tables up to 64 columns): a copy
  that dropped one column still matches;
- `column_minima`: a bottom-k sketch of each column's multiset of values, matched by content, not by name
  (so an added column drops out of the row comparison); `informative` marks columns with at least 20
  distinct values that are at least half distinct (measurements and ids, not categories, which any sample of
  the same population shares).

`Content.similarity` is 1 for equal digests, else the larger of the rows' Jaccard estimate (rows hashed over
the columns that best match the stored ones) and the share of the smaller table's informative columns that
have a partner with Jaccard at least THRESHOLD (one to one).
THRESHOLD 0.7: a copy that lost up to 30% of its rows, or kept 70% of its informative columns, is the same
source; the estimate's standard error at 0.7 with K=128 is about 0.04, and unrelated real tables score 0
(benchmarks/RESULTS.md). A table whose rows are mostly repeats of a few category tuples cannot be told from
another sample of the same size from its population: such samples are taken as the same source (the safe
side for a ledger; registering each as its own source keeps them apart, as a registered file matches first).

What a stored sketch reveals: to a reader without the salt, nothing but the row count, column count and the
distinct-value shares. To a reader of the whole ledger (which holds the salt), a dictionary attack tests
whether a guessed value (or row) is among the K smallest hashes of its column: keep the ledger with the
custodian, as before. What it does not recognise: data transformed beyond the normalisation (values rounded
or rescaled, text recoded, categories merged), a small subset of rows, a join with other data, or only a few
categorical columns of the source with some rows removed. Registering sources is the real control.
"""

from __future__ import annotations

import base64
import hashlib

import numpy as np
import pandas as pd

K = 128
THRESHOLD = 0.7
MIN_DISTINCT = 20
MAX_DROPPED_SKETCHES = 64  # tables up to this wide also keep their rows' sketch without each one column
_NULL = "\x00null"
_MIX = np.uint64(0x9E3779B97F4A7C15)


class Content:
    """A table's normalised, salted value hashes, one array per content column (constants and row numbers
    left out), computed once and compared with every stored sketch."""

    def __init__(self, frame: pd.DataFrame, secret: str):
        self.key = secret[:16]
        self.n = len(frame)
        self.columns = []
        for name in frame.columns:
            tokens = _tokens(frame[name])
            if tokens is not None:
                self.columns.append(pd.util.hash_array(tokens, hash_key=self.key, categorize=True))
        self.minima = [_bottom(values) for values in self.columns]
        self.rows = self.row_hashes(range(len(self.columns)))

    def row_hashes(self, columns) -> np.ndarray:
        """Each row's hash over `columns`: the sorted multiset of its value hashes (column names and order,
        and which column a value sits in, do not matter)."""
        columns = list(columns)
        if not columns:
            return np.zeros(self.n, dtype=np.uint64)
        matrix = np.sort(np.stack([self.columns[i] for i in columns], axis=1), axis=1)
        return pd.util.hash_pandas_object(pd.DataFrame(matrix), index=False).to_numpy(dtype=np.uint64)

    def sketch(self) -> dict:
        """What the ledger stores (JSON-able): no values, only keyed hashes' minima and counts."""
        return {
            "format": 1,
            "rows": self.n,
            "columns": len(self.columns),
            "digest": self.digest(),
            "row_minima": _encode(_bottom(self.rows)) if self.n else None,
            # the rows without column i: a copy that dropped one column still matches its rows
            "row_minima_without": [
                _encode(_bottom(self.row_hashes(j for j in range(len(self.columns)) if j != i)))
                for i in range(len(self.columns))
            ]
            if self.n and 1 < len(self.columns) <= MAX_DROPPED_SKETCHES
            else [],
            "column_minima": [_encode(m) for m in self.minima],
            "informative": [_informative(values) for values in self.columns],
        }

    def similarity(self, stored: dict) -> float:
        """How surely this table is the data of a stored sketch (made under the same secret): 1 for equal
        content in any order and form; else the larger of (a) the Jaccard estimate of shared rows, the rows
        hashed over this table's columns that best match the stored ones (so added columns drop out), and
        (b) the share of the smaller side's informative columns that have a partner at THRESHOLD or more."""
        if self.digest() == stored["digest"]:
            return 1.0
        theirs = [_decode(c) for c in stored["column_minima"]]
        scores = np.array([[jaccard(t, m) for m in self.minima] for t in theirs]).reshape(len(theirs), -1)
        pairs = _one_to_one(scores)
        best = 0.0
        if stored.get("row_minima") and len(pairs) == len(theirs) and pairs:
            mine = _bottom(self.row_hashes(j for _i, j in pairs))
            best = jaccard(_decode(stored["row_minima"]), mine)
        elif stored.get("row_minima_without") and len(pairs) == len(theirs) - 1 == len(self.columns):
            [dropped] = set(range(len(theirs))) - {i for i, _j in pairs}
            best = jaccard(_decode(stored["row_minima_without"][dropped]), _bottom(self.rows))
        informative_theirs = {i for i, flag in enumerate(stored.get("informative", [])) if flag}
        informative_mine = {j for j, m in enumerate(self.columns) if _informative(m)}
        if informative_theirs and informative_mine:
            matched = sum(
                1 for i, j in pairs if i in informative_theirs and j in informative_mine and scores[i, j] >= THRESHOLD
            )
            best = max(best, matched / min(len(informative_theirs), len(informative_mine)))
        return best

    def digest(self) -> str:
        """SHA-256 of the sorted row hashes (and the salt): equal for the same rows in any order and form."""
        return hashlib.sha256(np.sort(self.rows).tobytes() + self.key.encode()).hexdigest()


def sketch(frame: pd.DataFrame, secret: str) -> dict:
    """The frame's stored sketch under the ledger's `secret` (hex, at least 16 characters)."""
    return Content(frame, secret).sketch()


def _informative(values: np.ndarray) -> bool:
    """Measurements and ids, not categories (which any sample of the same population shares)."""
    distinct = len(np.unique(values))
    return distinct >= MIN_DISTINCT and distinct >= 0.5 * len(values)


def _one_to_one(scores: np.ndarray) -> list[tuple[int, int]]:
    """Stored column i paired with this table's column j, best Jaccard first, each used once."""
    order = np.dstack(np.unravel_index(np.argsort(-scores, axis=None, kind="stable"), scores.shape))[0]
    used_i, used_j, pairs = set(), set(), []
    for i, j in order:
        if i in used_i or j in used_j:
            continue
        used_i.add(int(i))
        used_j.add(int(j))
        pairs.append((int(i), int(j)))
    return sorted(pairs)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """The bottom-k estimate of the Jaccard similarity of two sets from their K smallest hashes: the share of
    the union's K smallest that both hold (exact when both sets have fewer than K elements)."""
    if not len(a) or not len(b):
        return 0.0
    union = np.union1d(a, b)[:K]
    return float((np.isin(union, a) & np.isin(union, b)).sum() / len(union))


def _tokens(column: pd.Series) -> np.ndarray | None:
    """The column's values as normalised text (None: a constant or a row-number column, left out)."""
    if column.nunique(dropna=False) <= 1:
        return None
    numbers = _as_numbers(column)
    if numbers is not None:
        finite = numbers[np.isfinite(numbers)]
        if (
            len(finite) == len(numbers)
            and np.all(finite == np.round(finite))
            and len(np.unique(finite)) == len(finite)
            and finite.max() - finite.min() + 1 <= 2 * len(finite)
        ):
            return None  # row numbers: 0..n-1, 1..n, or ids with a few gaps
        rounded = _round(numbers) + 0.0  # -0.0 becomes 0.0
        text = rounded.astype(str).astype(object)
        text[np.isnan(numbers)] = _NULL
        return text
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        stamps = pd.to_datetime(column)
        midnight = (stamps.dropna() == stamps.dropna().dt.normalize()).all()
        text = stamps.dt.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M:%S.%f").to_numpy(dtype=object)
    else:
        text = column.astype(str).str.strip().str.casefold().to_numpy(dtype=object)
    text[column.isna().to_numpy()] = _NULL
    return text


def _as_numbers(column: pd.Series) -> np.ndarray | None:
    """float64 values when every non-null value is a number (booleans as 0/1, "12.0" as 12), else None."""
    if pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_numeric_dtype(column.dtype):
        return pd.to_numeric(column, errors="coerce").astype("float64").to_numpy()
    if pd.api.types.is_datetime64_any_dtype(column.dtype) or isinstance(column.dtype, pd.CategoricalDtype):
        return None
    present = column.dropna()
    if present.empty:
        return None
    parsed = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
    if parsed.isna().any():
        return None
    return pd.to_numeric(column.astype(str).str.strip(), errors="coerce").astype("float64").to_numpy()


def _round(x: np.ndarray) -> np.ndarray:
    """x rounded to 9 significant digits (so 0.1 + 0.2 == 0.3 and a float32 round trip changes nothing)."""
    out = x.copy()
    nonzero = np.isfinite(x) & (x != 0)
    magnitude = np.floor(np.log10(np.abs(x[nonzero])))
    scale = 10.0 ** (8 - magnitude)
    out[nonzero] = np.round(x[nonzero] * scale) / scale
    return out


def _bottom(hashes: np.ndarray) -> np.ndarray:
    """The K smallest hashes of a multiset: each element hashed with its occurrence number (so repeats count)."""
    occurrence = pd.Series(hashes).groupby(hashes).cumcount().to_numpy(dtype=np.uint64)
    distinct = pd.util.hash_array(hashes ^ (occurrence * _MIX))
    return np.unique(distinct)[:K]


def _encode(minima: np.ndarray) -> str:
    return base64.b64encode(minima.astype("<u8").tobytes()).decode()


def _decode(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<u8")
