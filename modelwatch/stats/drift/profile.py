"""The reference side: a column summary fitted once per champion, and the window's numeric sample.

:class:`ReferenceProfile` holds per numeric column the sorted non-missing
values, quantile bin edges and bin counts (:class:`NumericProfile`), per
categorical column the category counts (:class:`CategoricalProfile`); it turns
into plain numpy arrays and back (:meth:`ReferenceProfile.to_arrays` /
:meth:`ReferenceProfile.from_arrays`). :class:`NumericSample` is what a numeric
drift method receives about the current window. Binning and counting are in
:mod:`~modelwatch.stats.drift._counting` (both sides use them). See the package
docstring for the costs.
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
from modelwatch.stats.drift._checks import N_BINS, check_columns, check_declared, check_frame
from modelwatch.stats.drift._counting import (
    category_counts,
    column_as_float,
    counts_from_sorted,
    n_non_nan_sorted,
    quantile_edges,
    share_of,
)
from modelwatch.stats.kernels import FloatArray, IntArray
from modelwatch.stats.params import check_param

ColumnKind: TypeAlias = Literal["numeric", "categorical"]


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
        return share_of(self.n_rows - self.n_valid, self.n_rows)


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


def _numeric_matrix(frame: pd.DataFrame, columns: Sequence[str]) -> FloatArray:
    """Copy ``columns`` into one C-contiguous ``(k, n)`` float64 array (one column per row)."""
    out = np.empty((len(columns), len(frame)), dtype=np.float64)
    for j, column in enumerate(columns):
        out[j] = column_as_float(frame, column)
    return out


def _numeric_profile(
    column: str, sorted_values: FloatArray, n_rows: int, n_bins: int
) -> NumericProfile:
    edges = quantile_edges(sorted_values, n_bins)
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
        bin_counts=counts_from_sorted(sorted_values, edges),
        mean=mean,
        std=std,
    )


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
    reference = check_frame(reference, "reference", function)
    numeric, categorical = list(numeric), list(categorical)
    check_declared(function, numeric, categorical)
    check_columns(reference, numeric, categorical, "reference")
    n_rows = len(reference)
    matrix = _numeric_matrix(reference, numeric)
    matrix.sort(axis=1)
    numeric_profiles = tuple(
        _numeric_profile(column, matrix[j, : n_non_nan_sorted(matrix[j])], n_rows, n_bins)
        for j, column in enumerate(numeric)
    )
    categorical_profiles = []
    for column in categorical:
        labels, counts, _ = category_counts(reference[column])
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
