"""The reference side: a column summary fitted once per champion, and the window's numeric sample.

:class:`ReferenceProfile` holds per numeric column the sorted non-missing
values, quantile bin edges and bin counts (:class:`NumericProfile`), per
categorical column the category counts (:class:`CategoricalProfile`); it turns
into plain numpy arrays and back (:meth:`ReferenceProfile.to_arrays` /
:meth:`ReferenceProfile.from_arrays`). :class:`NumericSample` is what a numeric
drift method receives about the current window. The binning and counting
helpers here serve both sides. See the package docstring for the costs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from modelwatch.errors import StatisticsError
from modelwatch.stats.drift._checks import N_BINS, _check_columns, _check_declared, _check_frame
from modelwatch.stats.kernels import FloatArray, IntArray
from modelwatch.stats.params import check_param

ColumnKind: TypeAlias = Literal["numeric", "categorical"]


def _share(part: int, whole: int) -> float:
    return float(part) / float(whole) if whole > 0 else 0.0


# --------------------------------------------------------------------------- profiles


class _ColumnSummary:
    """What both column profiles answer: the column, its rows and how many are not missing."""

    column: str
    n_rows: int

    @property
    def n_valid(self) -> int:
        raise NotImplementedError

    @property
    def missing_share(self) -> float:
        return _share(self.n_rows - self.n_valid, self.n_rows)


_Summary = TypeVar("_Summary", bound=_ColumnSummary)


def _find(profiles: Sequence[_Summary], column: str, kind: ColumnKind) -> _Summary:
    for profile in profiles:
        if profile.column == column:
            return profile
    raise StatisticsError(
        f"column {column!r} is not a {kind} column of the reference profile; "
        f"it has {[p.column for p in profiles]}"
    )


@dataclass(frozen=True, eq=False)
class NumericProfile(_ColumnSummary):
    """Reference summary of one numeric column."""

    column: str
    sorted_values: FloatArray
    """Non-missing values, ascending (may hold ±inf)."""
    n_rows: int
    bin_edges: FloatArray
    """Inner quantile edges (unique, ascending); bin i is ``[edge[i-1], edge[i])``."""
    bin_counts: IntArray
    """Reference counts per bin, ``len(bin_edges) + 1`` of them."""
    mean: float
    std: float
    """Population standard deviation (NaN when the column holds ±inf)."""

    @property
    def n_valid(self) -> int:
        return int(self.sorted_values.size)


@dataclass(frozen=True, eq=False)
class CategoricalProfile(_ColumnSummary):
    """Reference summary of one categorical column (categories compared as strings)."""

    column: str
    categories: tuple[str, ...]
    counts: IntArray
    n_rows: int

    @property
    def n_valid(self) -> int:
        return int(self.counts.sum())


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """Everything drift detection needs from the reference, fitted once per champion.

    Build it with :meth:`fit` (or :func:`fit_reference_profile`) and pass it to
    :func:`detect_drift` in place of the reference DataFrame.
    """

    numeric: tuple[NumericProfile, ...]
    categorical: tuple[CategoricalProfile, ...]
    n_rows: int
    n_bins: int

    @classmethod
    def fit(
        cls,
        reference: pd.DataFrame,
        *,
        numeric: Sequence[str] = (),
        categorical: Sequence[str] = (),
        n_bins: int = 10,
    ) -> ReferenceProfile:
        """Summarize ``reference`` (see :func:`fit_reference_profile`)."""
        return fit_reference_profile(
            reference, numeric=numeric, categorical=categorical, n_bins=n_bins
        )

    @property
    def numeric_columns(self) -> list[str]:
        return [p.column for p in self.numeric]

    @property
    def categorical_columns(self) -> list[str]:
        return [p.column for p in self.categorical]

    def numeric_profile(self, column: str) -> NumericProfile:
        return _find(self.numeric, column, "numeric")

    def categorical_profile(self, column: str) -> CategoricalProfile:
        return _find(self.categorical, column, "categorical")

    def to_arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        """Plain numpy arrays (no objects) for ``np.savez``: persist the profile with the model.

        :meth:`from_arrays` restores an equal profile; ``np.load(...,
        allow_pickle=False)`` reads the file back (no pickle involved).
        """
        meta = {
            "version": 1,
            "n_rows": self.n_rows,
            "n_bins": self.n_bins,
            "numeric": [
                {"column": p.column, "n_rows": p.n_rows, "mean": p.mean, "std": p.std}
                for p in self.numeric
            ],
            "categorical": [{"column": p.column, "n_rows": p.n_rows} for p in self.categorical],
        }
        arrays: dict[str, npt.NDArray[np.generic]] = {"meta": np.array(json.dumps(meta))}
        for i, num in enumerate(self.numeric):
            arrays[f"numeric_{i}_sorted"] = num.sorted_values
            arrays[f"numeric_{i}_edges"] = num.bin_edges
            arrays[f"numeric_{i}_counts"] = num.bin_counts
        for i, cat in enumerate(self.categorical):
            arrays[f"categorical_{i}_categories"] = np.array(cat.categories, dtype=np.str_)
            arrays[f"categorical_{i}_counts"] = cat.counts
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[np.generic]]) -> ReferenceProfile:
        """The profile saved by :meth:`to_arrays` (e.g. an ``np.load`` of its ``.npz``)."""
        try:
            meta = json.loads(str(np.asarray(arrays["meta"])[()]))
            if meta.get("version") != 1:
                raise StatisticsError(
                    f"reference profile format version {meta.get('version')!r} is not supported"
                )
            numeric = tuple(
                NumericProfile(
                    column=m["column"],
                    sorted_values=np.asarray(arrays[f"numeric_{i}_sorted"], dtype=np.float64),
                    n_rows=int(m["n_rows"]),
                    bin_edges=np.asarray(arrays[f"numeric_{i}_edges"], dtype=np.float64),
                    bin_counts=np.asarray(arrays[f"numeric_{i}_counts"], dtype=np.int64),
                    mean=float(m["mean"]),
                    std=float(m["std"]),
                )
                for i, m in enumerate(meta["numeric"])
            )
            categorical = tuple(
                CategoricalProfile(
                    column=m["column"],
                    categories=tuple(str(c) for c in arrays[f"categorical_{i}_categories"]),
                    counts=np.asarray(arrays[f"categorical_{i}_counts"], dtype=np.int64),
                    n_rows=int(m["n_rows"]),
                )
                for i, m in enumerate(meta["categorical"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StatisticsError(f"not a saved reference profile: {exc!r}") from exc
        return cls(
            numeric=numeric,
            categorical=categorical,
            n_rows=int(meta["n_rows"]),
            n_bins=int(meta["n_bins"]),
        )


@dataclass(frozen=True, eq=False)
class NumericSample:
    """What a numeric drift method receives about the current window of one column."""

    column: str
    sorted_values: FloatArray | None
    """Non-missing values ascending; ``None`` when the method declared ``needs_sorted=False``."""
    bin_counts: IntArray
    """Counts in the reference profile's bins."""
    n_valid: int


# --------------------------------------------------------------------------- profile fitting


def _column_as_float(frame: pd.DataFrame, column: str) -> FloatArray:
    """The column as float64 with NaN for missing; no copy for a float64 numpy column."""
    series = frame[column]
    if series.dtype == np.float64:
        return np.asarray(series.to_numpy(), dtype=np.float64)
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _numeric_matrix(frame: pd.DataFrame, columns: Sequence[str]) -> FloatArray:
    """Copy ``columns`` into one C-contiguous ``(k, n)`` float64 array (one column per row)."""
    out = np.empty((len(columns), len(frame)), dtype=np.float64)
    for j, column in enumerate(columns):
        out[j] = _column_as_float(frame, column)
    return out


def _n_non_nan_sorted(row: FloatArray) -> int:
    """Number of non-NaN values of an ascending array (numpy sorts NaN last)."""
    return int(np.searchsorted(row, np.nan, side="left"))


def _quantile_edges(sorted_values: FloatArray, n_bins: int) -> FloatArray:
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


def _counts_from_sorted(sorted_values: FloatArray, edges: FloatArray) -> IntArray:
    cut = np.searchsorted(sorted_values, edges, side="left").astype(np.int64)
    return np.diff(np.concatenate(([0], cut, [sorted_values.size]))).astype(np.int64)


_COMPARE_MAX_EDGES = 32


def _counts_unsorted(values: FloatArray, edges: FloatArray, n_valid: int) -> IntArray:
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


def _numeric_profile(
    column: str, sorted_values: FloatArray, n_rows: int, n_bins: int
) -> NumericProfile:
    edges = _quantile_edges(sorted_values, n_bins)
    finite = sorted_values.size > 0 and bool(
        np.isfinite(sorted_values[0]) and np.isfinite(sorted_values[-1])
    )
    mean = float(np.mean(sorted_values)) if finite else math.nan
    std = float(np.std(sorted_values)) if finite else math.nan
    return NumericProfile(
        column=column,
        sorted_values=sorted_values,
        n_rows=n_rows,
        bin_edges=edges,
        bin_counts=_counts_from_sorted(sorted_values, edges),
        mean=mean,
        std=std,
    )


def _category_counts(series: pd.Series) -> tuple[pd.Index, IntArray, int]:
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


def fit_reference_profile(
    reference: pd.DataFrame,
    *,
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    n_bins: int = 10,
) -> ReferenceProfile:
    """Summarize the reference once: sorted numeric values, quantile bins, category counts.

    All numeric columns are copied into one ``(k, n)`` array and sorted along its
    rows in a single ``np.sort`` call; each profile keeps a view of its row.
    """
    function = "fit_reference_profile"
    n_bins = check_param(function, "n_bins", n_bins, N_BINS)
    reference = _check_frame(reference, "reference", function)
    numeric, categorical = list(numeric), list(categorical)
    _check_declared(function, numeric, categorical)
    _check_columns(reference, numeric, categorical, "reference")
    n_rows = len(reference)
    matrix = _numeric_matrix(reference, numeric)
    matrix.sort(axis=1)
    numeric_profiles = tuple(
        _numeric_profile(column, matrix[j, : _n_non_nan_sorted(matrix[j])], n_rows, n_bins)
        for j, column in enumerate(numeric)
    )
    categorical_profiles = []
    for column in categorical:
        labels, counts, _ = _category_counts(reference[column])
        order = np.argsort(np.asarray(labels, dtype=object), kind="stable")
        keep = order[counts[order] > 0]
        categorical_profiles.append(
            CategoricalProfile(
                column=column,
                categories=tuple(str(label) for label in labels[keep]),
                counts=counts[keep],
                n_rows=n_rows,
            )
        )
    return ReferenceProfile(
        numeric=numeric_profiles,
        categorical=tuple(categorical_profiles),
        n_rows=n_rows,
        n_bins=n_bins,
    )
