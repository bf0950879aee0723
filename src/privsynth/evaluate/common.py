"""What the evaluation metrics share: "not computed" results, column roles, and one numeric encoding of
mixed tables for distances and models, fitted on the real (training) data only.

`MixedEncoder` maps every table the same way: numbers and datetimes through the real data's empirical CDF
to [0, 1] (so distances are not dominated by one column's unit), categories to one-hot indicators of the
real data's most frequent values (others share one "other" indicator), and each column's missingness to
an indicator. Distances between rows are then comparable across columns and across tables.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_LEVELS = 50


class NotComputed(Exception):
    """A metric that cannot be computed on this input; the message is the reason shown in the report."""


def not_computed(reason: str) -> dict:
    return {"status": "not computed", "reason": reason}


class Stopwatch:
    """Seconds spent per stage (a metric family), summed over repeated entries: the evaluation's `timing`,
    which says where its time goes (a stage entered twice, e.g. accuracy on synthetic and on holdout, adds)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()  # stages timed in threads (anonymeter's attacks) add up safely

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started

    def rounded(self) -> dict[str, float]:
        return {stage: round(seconds, 3) for stage, seconds in self.seconds.items()}


@contextlib.contextmanager
def one_openmp_thread() -> Iterator[None]:
    """Run scikit-learn's gradient boosting on one OpenMP thread. Its threads spin-wait at every barrier, and
    on a machine whose cores are busy they thrash: one detection fit took 46.6 CPU-seconds on two threads
    against 8.0 on one (2 cores, load 6.5). Parallelism comes from running independent fits side by side."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="openmp"):
        yield


def as_numbers(series: pd.Series) -> pd.Series | None:
    """A numeric or datetime column as float64 (datetimes in seconds); None for other columns."""
    if pd.api.types.is_bool_dtype(series):
        return None
    if pd.api.types.is_datetime64_any_dtype(series):
        stamps = series.dt.tz_convert("UTC").dt.tz_localize(None) if series.dt.tz is not None else series
        out = stamps.astype("datetime64[us]").astype("int64").astype("float64") / 1e6
        return out.where(series.notna())
    if pd.api.types.is_numeric_dtype(series):
        return series.astype("float64")
    return None


@dataclass(frozen=True)
class _Numeric:
    name: str
    grid: np.ndarray  # sorted real values (a subsample above 100k), the empirical CDF's support


@dataclass(frozen=True)
class _Categorical:
    name: str
    levels: list


class MixedEncoder:
    """Fit on the real table, then `transform` any table with the same columns to a float32 matrix."""

    def __init__(self, columns: list, nullable: list[str]):
        self.columns = columns
        self.nullable = nullable

    @classmethod
    def fit(cls, real: pd.DataFrame, max_levels: int = MAX_LEVELS) -> MixedEncoder:
        columns = []
        for name in real.columns:
            numbers = as_numbers(real[name])
            if numbers is not None and numbers.nunique() > 2:
                values = np.sort(numbers.dropna().to_numpy())
                if values.size > 100_000:
                    values = values[np.linspace(0, values.size - 1, 100_000).astype(int)]
                columns.append(_Numeric(name, values))
            else:
                top = real[name].dropna().astype(str).value_counts().index[:max_levels].tolist()
                columns.append(_Categorical(name, top))
        nullable = [name for name in real.columns if real[name].isna().any()]
        return cls(columns, nullable)

    @property
    def width(self) -> int:
        return sum(1 if isinstance(c, _Numeric) else len(c.levels) + 1 for c in self.columns) + len(self.nullable)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        parts = []
        for column in self.columns:
            series = frame[column.name]
            if isinstance(column, _Numeric):
                numbers = as_numbers(series)
                x = numbers.to_numpy() if numbers is not None else np.full(len(series), np.nan)
                cdf = np.searchsorted(column.grid, x, side="right") / max(column.grid.size, 1)
                parts.append(np.where(np.isnan(x), 0.5, cdf)[:, None])
            else:
                text = series.astype(str).where(series.notna(), None)
                codes = pd.Categorical(text, categories=column.levels).codes
                onehot = np.zeros((len(series), len(column.levels) + 1), dtype=np.float32)
                present = series.notna().to_numpy()
                onehot[np.flatnonzero(present), np.where(codes[present] < 0, len(column.levels), codes[present])] = 1
                parts.append(onehot)
        for name in self.nullable:
            parts.append(frame[name].isna().to_numpy(dtype=np.float32)[:, None])
        return np.hstack(parts).astype(np.float32) if parts else np.empty((len(frame), 0), np.float32)


class TreeFeatures:
    """Inputs of the gradient-boosting models (utility, detection): numbers as they are (datetimes in seconds,
    missing as NaN), categories as codes of the real data's 250 most frequent values (others and nulls NaN),
    split natively by the model (`categorical_mask`). One column per column: one-hot categories made the
    detection model 3.5x slower (20.3 against 5.8 CPU-seconds at 20,000 rows a side, 20 columns)."""

    def __init__(self, real: pd.DataFrame, target: str | None):
        self.columns = [c for c in real.columns if c != target]
        self.levels = {
            c: real[c].dropna().astype(str).value_counts().index[:250].tolist()
            for c in self.columns
            if as_numbers(real[c]) is None
        }

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        parts = []
        for c in self.columns:
            if c in self.levels:
                codes = pd.Categorical(frame[c].astype(str).where(frame[c].notna(), None), categories=self.levels[c])
                parts.append(np.where(codes.codes < 0, np.nan, codes.codes).astype("float64"))
            else:
                parts.append(as_numbers(frame[c]).to_numpy(dtype="float64"))
        return np.column_stack(parts) if parts else np.empty((len(frame), 0))

    @property
    def categorical_mask(self) -> list[bool]:
        return [c in self.levels for c in self.columns]


def subsample(frame: pd.DataFrame | pd.Series, n: int, seed: int) -> pd.DataFrame | pd.Series:
    """At most `n` rows, drawn without replacement with a fixed seed (the whole frame if smaller); a Series
    of the same length gets the same positions."""
    if len(frame) <= n:
        return frame
    return frame.sample(n=n, random_state=np.random.RandomState(seed)).reset_index(drop=True)
