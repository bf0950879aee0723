"""Per-column fidelity: how close each synthetic column's distribution is to the real one.

Definitions (the ones mostlyai-qa uses for "accuracy", so figures are comparable):
- total-variation distance TVD = 1/2 * sum_b |p_real(b) - p_syn(b)| over the column's categories; numeric and
  datetime columns are cut into 10 quantile bins of the real data, and nulls are a bin of their own.
  Range [0, 1], lower is better.
- Kolmogorov-Smirnov statistic for numeric and datetime columns on their non-null values: the largest gap
  between the two empirical CDFs. Range [0, 1], lower is better.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BINS = 10
_NULL = "\x00null"


def _as_number(series: pd.Series) -> pd.Series | None:
    if pd.api.types.is_bool_dtype(series):
        return None
    if pd.api.types.is_datetime64_any_dtype(series):
        stamps = series.dt.tz_convert("UTC").dt.tz_localize(None) if series.dt.tz is not None else series
        out = stamps.astype("datetime64[us]").astype("int64").astype("float64")
        return out.where(series.notna())
    if pd.api.types.is_numeric_dtype(series):
        return series.astype("float64")
    return None


def binned(real: pd.Series, synthetic: pd.Series, bins: int = BINS) -> tuple[pd.Series, pd.Series]:
    """Both columns as labels: quantile bins of the real data for numbers, categories otherwise,
    and a null label for missing values."""
    r_num, s_num = _as_number(real), _as_number(synthetic)
    if r_num is not None and s_num is not None and r_num.nunique() > bins:
        edges = np.unique(np.nanquantile(r_num.to_numpy(), np.linspace(0, 1, bins + 1))[1:-1])
        r_lab = pd.Series(np.searchsorted(edges, r_num.to_numpy(), side="right").astype(str), index=real.index)
        s_lab = pd.Series(np.searchsorted(edges, s_num.to_numpy(), side="right").astype(str), index=synthetic.index)
        return r_lab.where(real.notna(), _NULL), s_lab.where(synthetic.notna(), _NULL)
    return real.astype(object).where(real.notna(), _NULL).astype(str), synthetic.astype(object).where(
        synthetic.notna(), _NULL
    ).astype(str)


def tvd(real: pd.Series, synthetic: pd.Series) -> float:
    """Total-variation distance between the label distributions of two (binned) columns."""
    r_lab, s_lab = binned(real, synthetic)
    p = r_lab.value_counts(normalize=True)
    q = s_lab.value_counts(normalize=True)
    return float(0.5 * p.sub(q, fill_value=0.0).abs().sum())


def ks(real: pd.Series, synthetic: pd.Series) -> float | None:
    """Two-sample KS statistic on non-null values of numeric/datetime columns; None for other kinds."""
    from scipy.stats import ks_2samp

    r_num, s_num = _as_number(real), _as_number(synthetic)
    if r_num is None or s_num is None:
        return None
    r, s = r_num.dropna().to_numpy(), s_num.dropna().to_numpy()
    if r.size == 0 or s.size == 0:
        return None
    return float(ks_2samp(r, s).statistic)


def column_report(real: pd.DataFrame, synthetic: pd.DataFrame) -> pd.DataFrame:
    """One row per column present in both frames: TVD, KS (numbers only), null rates."""
    rows = []
    for name in real.columns:
        if name not in synthetic.columns:
            continue
        rows.append(
            {
                "column": name,
                "tvd": tvd(real[name], synthetic[name]),
                "ks": ks(real[name], synthetic[name]),
                "null_real": float(real[name].isna().mean()),
                "null_synthetic": float(synthetic[name].isna().mean()),
            }
        )
    return pd.DataFrame(rows)
