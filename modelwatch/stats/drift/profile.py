"""The reference side: a column summary fitted once per champion, and the window's numeric sample.

:class:`ReferenceProfile` holds per numeric column the sorted non-missing
values, quantile bin edges and bin counts (:class:`NumericProfile`), per
categorical column the category counts (:class:`CategoricalProfile`); it turns
into plain numpy arrays and back (:meth:`ReferenceProfile.to_arrays` /
:meth:`ReferenceProfile.from_arrays`). :class:`NumericSample` is what a numeric
drift method receives about the current window. Binning and counting are in
:mod:`~modelwatch.stats.drift._counting` (both sides use them). See the package
docstring for the costs.

Compact numeric profiles (bounded size)
---------------------------------------
A persisted profile keeps every sorted value only up to
:data:`COMPACT_MIN_ROWS` non-missing values per column. Above, the column is
*compact* (:meth:`NumericProfile.compacted`): it keeps the order statistics at
``K + 1`` equally spaced ranks ``I_0 = 0 < I_1 < … < I_K = n - 1``
(``round(linspace(0, n - 1, K + 1))``, ``K =`` :data:`COMPACT_QUANTILES`), i.e.
the exact values ``s[I_j]`` of the sorted column ``s`` and their ranks (the
counts), beside the exact bin edges / bin counts, mean and std of the full
column and its real ``n``. Between two knots the values are reconstructed
linearly in rank (:attr:`NumericProfile.sorted_values`, ``n`` values) and the
ECDF is interpolated (:meth:`NumericProfile.cdf`).

Error bound. For any ``x``, let ``j`` be the last knot with ``s[I_j] <= x``.
Every value of rank ``<= I_j`` is ``<= x`` and every value of rank ``>=
I_{j+1}`` is ``> x`` (``s[I_{j+1}] > x``), in the data and in the
reconstruction alike; only the ``I_{j+1} - I_j - 1`` ranks strictly between the
two knots are uncertain. Hence, for the right and the left limits of the ECDF,

    |F_compact(x) - F_exact(x)| <= eps = max_j (I_{j+1} - I_j - 1) / n
                                       <= (ceil((n - 1) / K) - 1) / n < 1 / K,

ties included: a tied run is a run of equal knot values, exact wherever a knot
falls in it, and a tie inside a gap is one of the uncertain ranks already
counted. (For 1M rows and ``K = 10 000``: ``eps = 99 / 10^6``.) ``eps`` is
stored per column (:attr:`NumericProfile.ecdf_error`). Consequences:

* **KS**: the statistic is a supremum of ``|F_cur - F_ref|`` over the window's
  points and their left limits, so ``|D_compact - D_exact| <= eps``; the p-value
  uses the real reference ``n`` (``n_valid``), not the number of knots.
* **PSI, Jensen–Shannon, Hellinger, KL** (bin counts) and every categorical
  method: exact — the bin edges and counts are those of the full column.
* **Wasserstein** (``∫ |F_ref - F_cur| dx``): both ECDFs differ only inside the
  gaps, by at most the gap's uncertain share, so ``|W_compact - W_exact| <=
  Σ_j (I_{j+1} - I_j - 1) / n · (s[I_{j+1}] - s[I_j])`` (``<= eps · range``),
  stored per column as :attr:`NumericProfile.wasserstein_error` (divide by the
  column's std for the normalized statistic).
* **Anderson–Darling, Cramér–von Mises**: computed on the reconstructed sample
  (an ECDF within ``eps`` of the reference's); no tighter bound is claimed and
  ``auto`` never picks them.
"""

from __future__ import annotations

import dataclasses
import functools
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
from modelwatch.stats.params import Interval, check_param

ColumnKind: TypeAlias = Literal["numeric", "categorical"]

COMPACT_MIN_ROWS = 100_000
"""A persisted numeric column with more non-missing values than this is stored compact."""

COMPACT_QUANTILES = 10_000
"""``K``: a compact column keeps ``K + 1`` order statistics (ECDF error ``< 1 / K``)."""

_FORMAT_VERSION = 2
"""``to_arrays`` format: 2 adds compact columns (``numeric_<i>_ranks``); 1 is read too."""


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
    """Reference summary of one numeric column: every sorted value, or a compact summary.

    Full (``ranks is None``): ``values`` holds every non-missing value ascending.
    Compact (``ranks`` given, see the module docstring): ``values[j]`` is the value
    of rank ``ranks[j]`` (0-based) in the sorted column of ``n_valid`` values; the
    first and last knots are the minimum and the maximum.
    """

    column: str
    values: FloatArray
    """Full: non-missing values, ascending (may hold ±inf). Compact: the knot values."""
    n_rows: int
    bin_edges: FloatArray
    """Inner quantile edges (unique, ascending); bin i is ``[edge[i-1], edge[i])``."""
    bin_counts: IntArray
    """Reference counts per bin, ``len(bin_edges) + 1`` of them (of the full column)."""
    mean: float
    std: float
    """Population standard deviation (NaN when the column holds ±inf)."""
    ranks: IntArray | None = None
    """Compact only: the 0-based rank of each knot in the sorted column (strictly increasing)."""

    @property
    def compact(self) -> bool:
        return self.ranks is not None

    @property
    def n_valid(self) -> int:
        if self.ranks is None:
            return int(self.values.size)
        return int(self.ranks[-1]) + 1 if self.ranks.size else 0

    @property
    def ecdf_error(self) -> float:
        """Largest possible ``|F_profile(x) - F_reference(x)|`` (0 for a full profile)."""
        if self.ranks is None or self.ranks.size < 2:
            return 0.0
        return float(np.max(np.diff(self.ranks) - 1)) / self.n_valid

    @property
    def wasserstein_error(self) -> float:
        """Bound on the absolute Wasserstein-1 error (not normalized; 0 when full)."""
        if self.ranks is None or self.ranks.size < 2:
            return 0.0
        widths = np.diff(self.values)
        inner = (np.diff(self.ranks) - 1).astype(np.float64)
        with np.errstate(invalid="ignore"):
            total = float(np.sum(np.where(inner > 0, inner * widths, 0.0)))
        return total / self.n_valid

    @functools.cached_property
    def sorted_values(self) -> FloatArray:
        """Every non-missing value ascending (compact: reconstructed linearly in rank)."""
        if self.ranks is None:
            return self.values
        return _reconstruct(self.values, self.ranks)

    def cdf(self, x: npt.ArrayLike, *, side: Literal["right", "left"] = "right") -> FloatArray:
        """The reference ECDF at ``x``: ``#{v <= x} / n`` (``side="left"``: ``#{v < x} / n``).

        Exact for a full profile; within :attr:`ecdf_error` for a compact one
        (linear interpolation of the rank between the two knots around ``x``).
        """
        points = np.asarray(x, dtype=np.float64)
        n = self.n_valid
        if n == 0:
            return np.zeros(points.shape, dtype=np.float64)
        if self.ranks is None:
            return np.searchsorted(self.values, points, side=side) / n
        knots, ranks = self.values, self.ranks
        k = np.searchsorted(knots, points, side=side)  # knots counted at x
        j = np.clip(k - 1, 0, knots.size - 2)
        low, high = knots[j], knots[j + 1]
        gap = (ranks[j + 1] - ranks[j]).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.clip((points - low) / (high - low), 0.0, 1.0)
        t = np.where(np.isfinite(t), t, 0.0)
        inside = ranks[j] + 1.0 + t * (gap - 1.0)
        count = np.where(k == 0, 0.0, np.where(k >= knots.size, float(n), inside))
        return np.asarray(count / n, dtype=np.float64)

    def compacted(
        self, *, max_exact_rows: int = COMPACT_MIN_ROWS, n_quantiles: int = COMPACT_QUANTILES
    ) -> NumericProfile:
        """This column compact (``n_quantiles + 1`` knots) when it has more than
        ``max_exact_rows`` values; itself otherwise (or when already compact)."""
        k = n_quantiles
        n = self.n_valid
        if self.ranks is not None or n <= max_exact_rows or n - 1 <= k:
            return self
        ranks = np.unique(np.round(np.linspace(0.0, n - 1.0, k + 1)).astype(np.int64))
        return dataclasses.replace(
            self, values=np.ascontiguousarray(self.values[ranks]), ranks=ranks
        )


def _reconstruct(knots: FloatArray, ranks: IntArray) -> FloatArray:
    """``n`` ascending values: the knots at their ranks, linear in rank between them."""
    n = int(ranks[-1]) + 1
    index = np.arange(n, dtype=np.float64)
    if np.isfinite(knots[0]) and np.isfinite(knots[-1]):
        values = np.interp(index, ranks.astype(np.float64), knots)
    else:  # a gap touching ±inf: its inner values take the gap's lower knot
        j = np.clip(np.searchsorted(ranks, index, side="right") - 1, 0, ranks.size - 2)
        low, high = knots[j], knots[j + 1]
        with np.errstate(invalid="ignore"):
            values = low + (high - low) * ((index - ranks[j]) / (ranks[j + 1] - ranks[j]))
        values = np.where(np.isfinite(high - low), values, low)
    values[ranks] = knots
    return np.asarray(values, dtype=np.float64)


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

    def compacted(
        self,
        *,
        max_exact_rows: int = COMPACT_MIN_ROWS,
        n_quantiles: int = COMPACT_QUANTILES,
    ) -> ReferenceProfile:
        """The profile with every numeric column of more than ``max_exact_rows`` values
        compact (``n_quantiles + 1`` knots; see the module docstring for the error bound)."""
        function = "ReferenceProfile.compacted"
        max_exact_rows = check_param(
            function, "max_exact_rows", max_exact_rows, Interval(int, 1, None)
        )
        n_quantiles = check_param(function, "n_quantiles", n_quantiles, Interval(int, 2, None))
        numeric = tuple(
            p.compacted(max_exact_rows=max_exact_rows, n_quantiles=n_quantiles)
            for p in self.numeric
        )
        return dataclasses.replace(self, numeric=numeric)

    def to_arrays(
        self, *, max_exact_rows: int | None = COMPACT_MIN_ROWS
    ) -> dict[str, npt.NDArray[np.generic]]:
        """Plain numpy arrays (no objects) for ``np.savez``: persist the profile with the model.

        Numeric columns of more than ``max_exact_rows`` non-missing values are
        stored compact (:meth:`compacted`; ``None``: every column as it is).
        :meth:`from_arrays` restores the profile; ``np.load(..., allow_pickle=False)``
        reads the file back (no pickle involved).
        """
        profile = self if max_exact_rows is None else self.compacted(max_exact_rows=max_exact_rows)
        meta = {
            "version": _FORMAT_VERSION,
            "n_rows": profile.n_rows,
            "n_bins": profile.n_bins,
            "numeric": [
                {
                    "column": p.column,
                    "n_rows": p.n_rows,
                    "mean": p.mean,
                    "std": p.std,
                    "compact": p.compact,
                }
                for p in profile.numeric
            ],
            "categorical": [{"column": p.column, "n_rows": p.n_rows} for p in profile.categorical],
        }
        arrays: dict[str, npt.NDArray[np.generic]] = {"meta": np.array(json.dumps(meta))}
        for i, num in enumerate(profile.numeric):
            arrays[f"numeric_{i}_sorted"] = num.values
            arrays[f"numeric_{i}_edges"] = num.bin_edges
            arrays[f"numeric_{i}_counts"] = num.bin_counts
            if num.ranks is not None:
                arrays[f"numeric_{i}_ranks"] = num.ranks
        for i, cat in enumerate(profile.categorical):
            arrays[f"categorical_{i}_categories"] = np.array(cat.categories, dtype=np.str_)
            arrays[f"categorical_{i}_counts"] = cat.counts
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[np.generic]]) -> ReferenceProfile:
        """The profile saved by :meth:`to_arrays` (e.g. an ``np.load`` of its ``.npz``)."""
        try:
            meta = json.loads(str(np.asarray(arrays["meta"])[()]))
            if meta.get("version") not in (1, _FORMAT_VERSION):
                raise StatisticsError(
                    f"reference profile format version {meta.get('version')!r} is not supported"
                )
            numeric = tuple(
                NumericProfile(
                    column=m["column"],
                    values=np.asarray(arrays[f"numeric_{i}_sorted"], dtype=np.float64),
                    n_rows=int(m["n_rows"]),
                    bin_edges=np.asarray(arrays[f"numeric_{i}_edges"], dtype=np.float64),
                    bin_counts=np.asarray(arrays[f"numeric_{i}_counts"], dtype=np.int64),
                    mean=float(m["mean"]),
                    std=float(m["std"]),
                    ranks=(
                        np.asarray(arrays[f"numeric_{i}_ranks"], dtype=np.int64)
                        if m.get("compact")
                        else None
                    ),
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
        for profile in numeric:
            _check_compact(profile)
        return cls(
            numeric=numeric,
            categorical=categorical,
            n_rows=int(meta["n_rows"]),
            n_bins=int(meta["n_bins"]),
        )


def _check_compact(profile: NumericProfile) -> None:
    """A compact column read from a file: knots and ranks aligned, ranks increasing from 0."""
    ranks = profile.ranks
    if ranks is None:
        return
    ok = (
        ranks.ndim == 1
        and ranks.shape == profile.values.shape
        and ranks.size >= 2
        and int(ranks[0]) == 0
        and bool(np.all(np.diff(ranks) > 0))
        and bool(np.all(profile.values[1:] >= profile.values[:-1]))
    )
    if not ok:
        raise StatisticsError(
            f"not a saved reference profile: compact column {profile.column!r} has "
            "misaligned or unordered knots"
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
        values=sorted_values,
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
