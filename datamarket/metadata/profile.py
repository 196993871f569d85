"""Profiles of tabular data for the metadata document, made with pandas, that never reveal a real row.

A profile holds the row count and, per column, its dtype, missing count and statistics:

- numeric columns (ints and floats, not bools): min, max, mean, std (sample, ddof=1) and quantiles,
  over the finite values;
- every other column (strings, bools, categories, dates): the distinct count and the most frequent
  values with their counts, but only values that occur at least ``k`` times (default 5), so that a
  rare value, such as a name or an id, never leaves the publisher's machine.

Synthetic rows are drawn column by column, independently, from those statistics: numeric values from
a normal distribution with the column's mean and std, clipped to [min, max] and rounded like the
column; other values from the frequent values, weighted by their counts (null when a column has
none); null at the column's missing rate. A draw that equals a real row (compared on normalized
values: nulls alike, numbers as floats) is thrown away and drawn again, a bounded number of times:
a table whose every likely combination is a real row gets fewer synthetic rows, possibly none.

The whole file is read into memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_integer_dtype, is_numeric_dtype

from datamarket.canonical import MAX_SAFE_INTEGER
from datamarket.errors import DatamarketError

#: A categorical value must occur at least this many times to appear in a profile.
MIN_VALUE_COUNT = 5
TOP_VALUES = 10
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
SYNTHETIC_ROWS = 5
#: Draws allowed per synthetic row requested before giving up on the rest.
MAX_DRAWS_PER_ROW = 100
_MAX_DECIMALS = 8

Scalar = str | int | float | bool | None


class UnsupportedFormat(DatamarketError, ValueError):
    code = "unsupported_format"


class UnreadableTable(DatamarketError, ValueError):
    code = "unreadable_table"


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV (``.csv``, ``.tsv``) or Parquet (``.parquet``, ``.pq``) file by its suffix.

    A file that is not a readable table of its kind raises :class:`UnreadableTable`."""
    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix == ".tsv":
            return pd.read_csv(path, sep="\t")
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise UnreadableTable(
            f"cannot read {Path(path).name!r} as a {suffix[1:]} table: {str(exc).splitlines()[0][:200]}",
            details={"suffix": suffix},
        ) from None
    raise UnsupportedFormat(
        f"cannot profile {Path(path).name!r}: expected .csv, .tsv, .parquet or .pq",
        details={"suffix": suffix},
    )


def profile_file(
    path: str | os.PathLike[str],
    *,
    k: int = MIN_VALUE_COUNT,
    synthetic: int = SYNTHETIC_ROWS,
    seed: int | None = None,
) -> dict[str, Any]:
    """The ``profile`` section of a metadata document for a CSV or Parquet file."""
    return profile_frame(read_table(path), k=k, synthetic=synthetic, seed=seed)


def profile_frame(
    df: pd.DataFrame, *, k: int = MIN_VALUE_COUNT, synthetic: int = SYNTHETIC_ROWS, seed: int | None = None
) -> dict[str, Any]:
    return {
        "rows": len(df),
        "columns": [column_profile(df[name], name=name, k=k) for name in df.columns],
        "synthetic_rows": synthetic_rows(df, synthetic, seed=seed, k=k),
    }


def column_profile(series: pd.Series, *, name: Hashable, k: int = MIN_VALUE_COUNT) -> dict[str, Any]:
    numeric = _is_numeric(series)
    return {
        "name": str(name),
        "dtype": str(series.dtype),
        "kind": "numeric" if numeric else "categorical",
        "missing": int(series.isna().sum()),
        "stats": _numeric_stats(series) if numeric else _categorical_stats(series, k),
    }


def synthetic_rows(
    df: pd.DataFrame, n: int = SYNTHETIC_ROWS, *, seed: int | None = None, k: int = MIN_VALUE_COUNT
) -> list[dict[str, Scalar]]:
    """Up to ``n`` rows drawn independently per column, none equal to a real row of ``df``."""
    if n <= 0 or len(df) == 0:
        return []
    rng = np.random.default_rng(seed)
    names = [str(c) for c in df.columns]
    samplers = [_sampler(df.iloc[:, i], k) for i in range(df.shape[1])]
    real = _RealRows(df)
    rows: list[dict[str, Scalar]] = []
    for _ in range(n * MAX_DRAWS_PER_ROW):
        candidate = [draw(rng) for draw in samplers]
        if not real.contains(candidate):
            rows.append(dict(zip(names, candidate, strict=True)))
            if len(rows) == n:
                break
    return rows


# --- statistics -----------------------------------------------------------------------------------


def _is_numeric(series: pd.Series) -> bool:
    return is_numeric_dtype(series.dtype) and not is_bool_dtype(series.dtype)


def _finite(series: pd.Series) -> np.ndarray:
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    return values[np.isfinite(values)]


def _numeric_stats(series: pd.Series) -> dict[str, Any]:
    values = _finite(series)
    if values.size == 0:
        return {"min": None, "max": None, "mean": None, "std": None, "quantiles": {}}
    as_int = is_integer_dtype(series.dtype)
    low, high = values.min(), values.max()
    return {
        "min": _integral(low) if as_int else float(low),
        "max": _integral(high) if as_int else float(high),
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if values.size > 1 else None,
        "quantiles": {
            str(q): float(v) for q, v in zip(QUANTILES, np.quantile(values, QUANTILES), strict=True)
        },
    }


def _frequent(series: pd.Series, k: int) -> list[tuple[Scalar, int]]:
    """Values occurring at least ``k`` times, most frequent first (ties by value, for stable output)."""
    counts: dict[Scalar, int] = {}
    for value, count in series.dropna().value_counts().items():
        if count >= k:
            key = _json_scalar(value)
            counts[key] = counts.get(key, 0) + int(count)
    return sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))


def _categorical_stats(series: pd.Series, k: int) -> dict[str, Any]:
    return {
        "distinct": int(series.nunique(dropna=True)),
        "top": [{"value": v, "count": c} for v, c in _frequent(series, k)[:TOP_VALUES]],
    }


def _json_scalar(value: Any) -> Scalar:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        # Beyond 2^53 - 1 no JSON number is exact (canonical JSON refuses it): the digits, as text.
        return int(value) if abs(int(value)) <= MAX_SAFE_INTEGER else str(int(value))
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, str):
        return value
    return str(value)


# --- synthetic draws ------------------------------------------------------------------------------


def _sampler(series: pd.Series, k: int) -> Callable[[np.random.Generator], Scalar]:
    p_missing = float(series.isna().mean())
    draw = _numeric_sampler(series) if _is_numeric(series) else _categorical_sampler(series, k)

    def sample(rng: np.random.Generator) -> Scalar:
        if p_missing and rng.random() < p_missing:
            return None
        return draw(rng)

    return sample


def _numeric_sampler(series: pd.Series) -> Callable[[np.random.Generator], Scalar]:
    values = _finite(series)
    if values.size == 0:
        return lambda rng: None
    low, high, mean = float(values.min()), float(values.max()), float(values.mean())
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    as_int = is_integer_dtype(series.dtype)
    decimals = 0 if as_int else _decimals(values)

    def draw(rng: np.random.Generator) -> Scalar:
        x = min(max(float(rng.normal(mean, std)), low), high)
        if as_int:
            return _integral(x)
        return x if decimals is None else round(x, decimals)

    return draw


def _integral(value: float) -> int | float:
    """An integer column's statistic or draw: an int, or a float beyond 2^53 - 1, where an int would
    claim digits the float64 it came from does not hold (and canonical JSON refuses it)."""
    rounded = round(float(value))
    return rounded if abs(rounded) <= MAX_SAFE_INTEGER else float(rounded)


def _decimals(values: np.ndarray) -> int | None:
    """The fewest decimals that represent every value, or None when more than a few are needed."""
    tolerance = 1e-9 * np.maximum(1.0, np.abs(values))
    for decimals in range(_MAX_DECIMALS + 1):
        if np.all(np.abs(np.round(values, decimals) - values) <= tolerance):
            return decimals
    return None


def _categorical_sampler(series: pd.Series, k: int) -> Callable[[np.random.Generator], Scalar]:
    frequent = _frequent(series, k)
    if not frequent:
        return lambda rng: None
    choices = [value for value, _ in frequent]
    weights = np.array([count for _, count in frequent], dtype="float64")
    weights /= weights.sum()
    return lambda rng: choices[int(rng.choice(len(choices), p=weights))]


class _RealRows:
    """The real rows, normalized column by column, to test a candidate against all of them at once."""

    def __init__(self, df: pd.DataFrame) -> None:
        # (numeric?, values, null mask): numbers as float64, others as JSON scalars in an object array
        self._columns: list[tuple[bool, np.ndarray, np.ndarray]] = []
        for i in range(df.shape[1]):
            series = df.iloc[:, i]
            if _is_numeric(series):
                values = series.to_numpy(dtype="float64", na_value=np.nan)
                self._columns.append((True, values, ~np.isfinite(values)))
            else:
                values = np.array([_json_scalar(v) for v in series.to_numpy(dtype=object)], dtype=object)
                self._columns.append((False, values, np.equal(values, None)))

    def contains(self, candidate: Sequence[Scalar]) -> bool:
        matches = np.ones(len(self._columns[0][1]) if self._columns else 0, dtype=bool)
        for (numeric, values, null), value in zip(self._columns, candidate, strict=True):
            if value is None:
                matches &= null
            elif numeric:
                matches &= np.isclose(values, float(value), rtol=1e-9, atol=0.0)
            else:
                matches &= np.asarray(values == value, dtype=bool) & ~null
            if not matches.any():
                return False
        return True
