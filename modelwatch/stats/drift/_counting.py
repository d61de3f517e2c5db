"""Counting the values of a column: float columns, quantile edges, bin and category counts.

Used on both sides: :mod:`~modelwatch.stats.drift.profile` summarizes the
reference with them, :mod:`~modelwatch.stats.drift.report` counts the window in
the reference's bins and categories, :mod:`~modelwatch.stats.drift.methods`
bins two plain samples for PSI.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelwatch.stats.kernels import FloatArray, IntArray


def share_of(part: int, whole: int) -> float:
    """``part / whole``, 0.0 for an empty whole."""
    return float(part) / float(whole) if whole > 0 else 0.0


def column_as_float(frame: pd.DataFrame, column: str) -> FloatArray:
    """The column as float64 with NaN for missing; no copy for a float64 numpy column."""
    series = frame[column]
    if series.dtype == np.float64:
        return np.asarray(series.to_numpy(), dtype=np.float64)
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def n_non_nan_sorted(row: FloatArray) -> int:
    """Number of non-NaN values of an ascending array (numpy sorts NaN last)."""
    return int(np.searchsorted(row, np.nan, side="left"))


def quantile_edges(sorted_values: FloatArray, n_bins: int) -> FloatArray:
    """Inner edges at quantiles 1/B..(B-1)/B (linear, like ``np.quantile``), deduplicated."""
    n = sorted_values.size
    if n == 0:
        return np.empty(0, dtype=np.float64)
    q = np.arange(1, n_bins, dtype=np.float64) / n_bins
    position = q * (n - 1)
    lo = np.floor(position).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    t = position - lo
    a = sorted_values[lo]
    b = sorted_values[hi]
    with np.errstate(invalid="ignore"):
        diff = b - a
        edges = np.where(t >= 0.5, b - diff * (1.0 - t), a + diff * t)
    edges = np.where((a == b) | np.isnan(edges), a, edges)
    return np.unique(edges)


def counts_from_sorted(sorted_values: FloatArray, edges: FloatArray) -> IntArray:
    """Counts of the ascending non-NaN ``sorted_values`` in the bins ``[edge_{i-1}, edge_i)``."""
    cut = np.searchsorted(sorted_values, edges, side="left").astype(np.int64)
    return np.diff(np.concatenate(([0], cut, [sorted_values.size]))).astype(np.int64)


_COMPARE_MAX_EDGES = 32


def counts_unsorted(values: FloatArray, edges: FloatArray, n_valid: int) -> IntArray:
    """Counts of the non-NaN ``values`` in the bins ``[edge_{i-1}, edge_i)``, without sorting.

    With few edges, one vectorized comparison per edge (``count(values < edge)``;
    NaN compares false) beats a ``searchsorted`` of every value (branchy binary
    search); with many edges, ``searchsorted`` + ``bincount`` (NaN lands last).
    """
    if edges.size <= _COMPARE_MAX_EDGES:
        below = np.empty(values.size, dtype=np.bool_)
        cut = np.empty(edges.size, dtype=np.int64)
        for i, edge in enumerate(edges):
            np.less(values, edge, out=below)
            cut[i] = np.count_nonzero(below)
        return np.diff(np.concatenate(([0], cut, [n_valid]))).astype(np.int64)
    bins = np.searchsorted(edges, values, side="right")
    counts = np.bincount(bins, minlength=edges.size + 1).astype(np.int64)
    counts[-1] -= values.size - n_valid
    return counts


def category_counts(series: pd.Series) -> tuple[pd.Index, IntArray, int]:
    """(labels as strings, counts, n_missing) of one column; labels unique, any order."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = np.asarray(series.cat.codes.to_numpy(), dtype=np.int64)
        uniques: object = series.cat.categories
    else:
        raw_codes, uniques = pd.factorize(series, use_na_sentinel=True)
        codes = np.asarray(raw_codes, dtype=np.int64)
    labels = pd.Index([str(u) for u in uniques], dtype=object)  # type: ignore[attr-defined]
    counts_with_missing = np.bincount(codes + 1, minlength=len(labels) + 1)
    n_missing = int(counts_with_missing[0])
    counts = counts_with_missing[1:].astype(np.int64)
    if not labels.is_unique:  # e.g. 1 and "1" both become "1"
        group, merged = pd.factorize(labels)
        counts = np.bincount(group, weights=counts, minlength=len(merged)).astype(np.int64)
        labels = pd.Index(merged, dtype=object)
    return labels, counts, n_missing
