"""Univariate data drift: statistics, a method registry and dataset-level reports.

Reference side and current side
-------------------------------
The reference (the champion's training/validation data) is summarized once into
a :class:`ReferenceProfile`: per numeric column the sorted non-missing values,
quantile bin edges and bin counts; per categorical column the category counts.
:func:`detect_drift` accepts either a profile or a reference DataFrame (then the
profile is fitted on the fly). :meth:`ReferenceProfile.to_arrays` /
:meth:`ReferenceProfile.from_arrays` turn a profile into plain numpy arrays and
back (``np.savez`` / ``np.load(allow_pickle=False)``), so it can be stored with
the model version it describes. Each window then costs one 2-D ``np.sort`` of the
numeric columns whose method needs the full distribution (KS, Wasserstein,
Anderson–Darling, Cramér–von Mises), bin counts against the reference's edges
for the binned methods (PSI, Jensen–Shannon, Hellinger, KL: one vectorized
comparison per edge, no sort) and one ``factorize`` + ``bincount`` per
categorical column. KS and the binned methods never touch more
of the reference than a ``searchsorted`` into it; Wasserstein, Anderson–Darling
and Cramér–von Mises merge the two sorted samples (cost ``O(n_ref + n_cur)``).

Methods (``DRIFT_METHODS``)
---------------------------
==============  ===========  ==========  ===============================================
key             kinds        kind        agrees with
==============  ===========  ==========  ===============================================
``ks``          numeric      test        ``scipy.stats.ks_2samp(ref, cur, method="asymp")``
``chi2``        categorical  test        ``scipy.stats.chi2_contingency`` on the 2×K table
                                         (default ``correction=True``: Yates when K = 2)
``z``           categorical  test        two-proportion pooled z-test (binary columns);
                                         statistic is ``|z|``
``anderson``    numeric      test        ``scipy.stats.anderson_ksamp([ref, cur],
                                         variant="midrank")`` (p-value capped to
                                         [0.001, 0.25] like scipy)
``cvm``         numeric      test        ``scipy.stats.cramervonmises_2samp(ref, cur,
                                         method="asymptotic")``
``psi``         both         distance    population stability index on reference
                                         quantile bins (numeric) or categories
``jensenshannon``  both      distance    ``scipy.spatial.distance.jensenshannon(p, q,
                                         base=2)`` on the same bins, in [0, 1]
``hellinger``   both         distance    ``sqrt(sum((sqrt p - sqrt q)^2) / 2)``, in [0, 1]
``kl``          both         distance    ``scipy.stats.entropy(p_ref, p_cur)`` (KL of
                                         reference from current) after ``eps`` smoothing
``wasserstein`` numeric      distance    ``scipy.stats.wasserstein_distance(ref, cur) /
                                         std(ref)`` (raw distance when ``std(ref) == 0``)
==============  ===========  ==========  ===============================================

The KS p-value is Smirnov's asymptotic distribution (``kstwo.sf(D, round(n·m/(n+m)))``),
i.e. what ``ks_2samp`` uses with ``method="asymp"`` and with ``method="auto"`` as
soon as a sample has more than 10 000 rows; the exact small-sample recursion is
not used (it is a Python-level double loop). The statistic equals ``ks_2samp``'s.

``"auto"`` picks per column, from the non-missing row counts ``n = min(n_ref,
n_cur)``: numeric → ``ks`` when ``n <= AUTO_TEST_MAX_ROWS`` (5000) else ``psi``;
categorical → ``chi2`` when ``n <= AUTO_TEST_MAX_ROWS`` else ``psi``. P-values
flag every column at 10^5–10^6 rows, so large samples use an effect size.

Calibrated defaults (the rule behind ``"auto"``)
------------------------------------------------
* Small samples (``n <= 5000`` per side): KS / chi-squared p-values with
  Benjamini–Hochberg at ``alpha = 0.05`` across the window's columns (the
  default ``correction`` of :func:`detect_drift` and of the spec; without a
  correction 5 % of the columns are flagged on no-drift data). Under no drift BH keeps the family-wise error at
  ``alpha``, i.e. about ``alpha / m`` of the ``m`` columns flagged on average.
* Large samples: PSI on 10 reference-quantile bins (numeric) or on the
  categories (categorical, unseen categories as cells of their own), with a
  threshold that depends on the sample sizes and the number of cells ``K``::

      threshold = max(PSI_MIN_EFFECT, chi2.ppf(1 - PSI_FALSE_ALARM, K - 1) · (1/n_ref + 1/n_cur))

  Under no drift ``PSI · n_ref·n_cur/(n_ref+n_cur)`` is asymptotically
  chi-squared with ``K - 1`` degrees of freedom (PSI is the symmetric KL
  divergence, whose second-order term is Pearson's statistic), so the second
  term is the PSI that sampling noise alone exceeds with probability
  ``PSI_FALSE_ALARM = 0.001`` per column; it grows with the number of levels
  of a categorical column and shrinks as ``1/n``. ``PSI_MIN_EFFECT = 0.005``
  is the smallest shift worth reporting however large the sample (a normal
  column: mean shift ≈ 0.07 std, or variance × 1.15). For reference, PSI of
  a mean shift of 0.1 std is 0.009 (normal) to 0.29 (exponential); of a
  variance × 1.2, 0.009 (Student t5) to 0.05; of a 10-point frequency shift
  between two levels, ≥ 0.02.
  Measured (``benchmarks/drift_benchmark.py``, 40 numeric columns from 8
  distributions and 10 categorical with 5–50 levels): no-drift share flagged
  ≤ 1 % at n = 1k, 10k, 100k, 1M; the three subtle drifts above flagged at
  n ≥ 10k.
* An explicit ``psi_threshold`` (e.g. the textbook 0.2) replaces the rule by a
  constant; ``column_thresholds`` (e.g. from
  :func:`modelwatch.stats.thresholds.calibrate_thresholds`, chunks of the
  reference against the rest) replaces it per column, for any method, on the
  statistic.

Decisions
---------
* Tests: drifted iff ``p_value <= threshold`` where the threshold is ``alpha``,
  ``alpha / m`` (Bonferroni over the ``m`` tested columns) or the
  Benjamini–Hochberg step-up cut-off ``k·alpha/m`` (``alpha/m`` when nothing is
  rejected).
* Distances: drifted iff ``statistic > threshold`` (PSI: the sample-size rule
  above, or ``psi_threshold``; others: ``DEFAULT_THRESHOLDS`` or the
  ``thresholds`` argument).
* ``column_thresholds[column]`` (any method): drifted iff ``statistic >
  threshold`` (the p-value is still reported).
* Prediction and target drift use the same machinery; their results carry
  ``role = "prediction"`` / ``"target"`` and are left out of
  ``share_drifted`` (see :func:`with_output_drift`).
* Dataset drift iff ``share_drifted >= dataset_drift_share``.

Missing values, unseen categories, degenerate columns
-----------------------------------------------------
Missing values (NaN / None / pd.NA) are dropped before every statistic and
their share is reported per side. Unseen categories (in the current window but
not in the reference) are cells of their own in every categorical method and
are listed in ``DriftResult.unseen_categories``. Categories are compared as
strings (``str(value)``). ±inf are ordinary values for the rank and binned
methods; Wasserstein rejects them with a :class:`StatisticsError`. A column with
no non-missing value on one side (or both) gets ``statistic = 0.0``,
``p_value = 1.0`` (tests) or ``None`` (distances), ``drifted = False`` and a
``note``; its missing shares show the problem. An empty frame (0 rows) raises.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special, stats

from modelwatch.errors import StatisticsError

__all__ = [
    "AUTO_TEST_MAX_ROWS",
    "DEFAULT_THRESHOLDS",
    "DRIFT_METHODS",
    "PSI_FALSE_ALARM",
    "PSI_MIN_EFFECT",
    "CategoricalProfile",
    "DriftMethod",
    "DriftReport",
    "DriftResult",
    "NumericProfile",
    "NumericSample",
    "ReferenceProfile",
    "detect_drift",
    "drift_statistic",
    "fit_reference_profile",
    "population_stability_index",
    "psi_noise_threshold",
    "with_output_drift",
]

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
ColumnKind: TypeAlias = Literal["numeric", "categorical"]
Correction: TypeAlias = Literal["none", "bonferroni", "benjamini-hochberg"]

AUTO_TEST_MAX_ROWS = 5000
"""``"auto"`` uses a p-value test up to this many non-missing rows per side, an effect size above."""

DEFAULT_EPS = 1e-6
"""Floor applied to bin proportions by PSI and KL (empty bins would give infinities)."""

DEFAULT_THRESHOLDS: Mapping[str, float] = {
    "psi": 0.2,
    "jensenshannon": 0.1,
    "hellinger": 0.1,
    "kl": 0.1,
    "wasserstein": 0.1,
}
"""Constant distance thresholds (drifted iff statistic > threshold); PSI uses the sample-size rule unless ``psi_threshold`` is given."""

PSI_FALSE_ALARM = 0.001
"""Per-column probability that sampling noise alone exceeds the default PSI threshold."""

PSI_MIN_EFFECT = 0.005
"""Smallest PSI the default rule reports, however large the samples."""

_CORRECTIONS: tuple[str, ...] = ("none", "bonferroni", "benjamini-hochberg")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class DriftResult:
    """Drift of one column: the statistic, the threshold, the decision and the evidence."""

    column: str
    kind: ColumnKind
    method: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool
    missing_share_reference: float
    missing_share_current: float
    unseen_categories: tuple[str, ...] = ()
    n_reference: int = 0
    """Non-missing reference values used."""
    n_current: int = 0
    """Non-missing current values used."""
    unseen_share: float = 0.0
    """Share of the current non-missing values that fall in unseen categories."""
    note: str = ""
    role: Literal["feature", "prediction", "target"] = "feature"
    """``feature`` columns make ``share_drifted``; prediction/target drift is reported beside."""


@dataclass(frozen=True)
class DriftReport:
    """Drift of a dataset: one :class:`DriftResult` per column and the dataset decision."""

    columns: tuple[DriftResult, ...]
    n_reference: int
    n_current: int
    share_drifted: float
    dataset_drift: bool
    dataset_drift_share: float = 0.5
    correction: str = "none"

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the drifted columns (features, predictions, target), in report order."""
        return [result.column for result in self.columns if result.drifted]

    @property
    def features(self) -> tuple[DriftResult, ...]:
        """The feature columns' results (those behind ``share_drifted``)."""
        return tuple(r for r in self.columns if r.role == "feature")

    @property
    def drifted_features(self) -> list[str]:
        """Names of the drifted feature columns, in report order."""
        return [r.column for r in self.features if r.drifted]

    def __getitem__(self, column: str) -> DriftResult:
        for result in self.columns:
            if result.column == column:
                return result
        raise KeyError(column)

    def to_frame(self) -> pd.DataFrame:
        """One row per column (what a drift table artifact or a store row needs)."""
        rows = [asdict(result) for result in self.columns]
        for row in rows:
            row["unseen_categories"] = ", ".join(row["unseen_categories"])
        return pd.DataFrame(rows)


# --------------------------------------------------------------------------- profiles


@dataclass(frozen=True, eq=False)
class NumericProfile:
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

    @property
    def missing_share(self) -> float:
        return _share(self.n_rows - self.n_valid, self.n_rows)


@dataclass(frozen=True, eq=False)
class CategoricalProfile:
    """Reference summary of one categorical column (categories compared as strings)."""

    column: str
    categories: tuple[str, ...]
    counts: IntArray
    n_rows: int

    @property
    def n_valid(self) -> int:
        return int(self.counts.sum())

    @property
    def missing_share(self) -> float:
        return _share(self.n_rows - self.n_valid, self.n_rows)


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
        for profile in self.numeric:
            if profile.column == column:
                return profile
        raise StatisticsError(
            f"column {column!r} is not a numeric column of the reference profile; "
            f"it has {self.numeric_columns}"
        )

    def categorical_profile(self, column: str) -> CategoricalProfile:
        for profile in self.categorical:
            if profile.column == column:
                return profile
        raise StatisticsError(
            f"column {column!r} is not a categorical column of the reference profile; "
            f"it has {self.categorical_columns}"
        )

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


# --------------------------------------------------------------------------- validation


def _param_error(function: str, name: str, requirement: str, value: object) -> StatisticsError:
    return StatisticsError(
        f"The {name!r} parameter of {function} must be {requirement}. Got {value!r} instead."
    )


def _check_int(function: str, name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise _param_error(function, name, f"an int >= {minimum}", value)
    return int(value)


def _check_fraction(function: str, name: str, value: object, *, closed_high: bool = False) -> float:
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = 0.0 < v < 1.0 or (closed_high and v == 1.0)
    if not ok:
        bound = "(0, 1]" if closed_high else "(0, 1)"
        raise _param_error(function, name, f"a float in {bound}", value)
    return float(value)  # type: ignore[arg-type]


def _check_positive(function: str, name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.floating | np.integer)
        or not math.isfinite(float(value))
        or float(value) <= 0.0
    ):
        raise _param_error(function, name, "a finite float > 0", value)
    return float(value)


def _share(part: int, whole: int) -> float:
    return float(part) / float(whole) if whole > 0 else 0.0


def _check_frame(frame: object, side: str, function: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise _param_error(function, side, "a pandas DataFrame", type(frame).__name__)
    if len(frame) == 0:
        raise StatisticsError(f"the {side} data of {function} has 0 rows")
    return frame


def _check_columns(
    frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str], side: str
) -> None:
    for column in [*numeric, *categorical]:
        if column not in frame.columns:
            raise StatisticsError(f"column {column!r} is missing from the {side} data")
    for column in numeric:
        dtype = frame[column].dtype
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            raise StatisticsError(
                f"column {column!r} in the {side} data has dtype {dtype}; it is declared numeric"
            )


def _as_1d_float(values: object, name: str, function: str) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatisticsError(
            f"The {name!r} argument of {function} must be numeric. Got {exc}"
        ) from exc
    if array.ndim != 1:
        raise StatisticsError(
            f"The {name!r} argument of {function} must be 1-D. Got shape {array.shape} instead."
        )
    return array


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
    n_bins = _check_int(function, "n_bins", n_bins, 2)
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


def _check_declared(function: str, numeric: Sequence[str], categorical: Sequence[str]) -> None:
    both = sorted(set(numeric) & set(categorical))
    if both:
        raise StatisticsError(
            f"columns {both} are declared both numeric and categorical in {function}"
        )
    for name, columns in (("numeric", numeric), ("categorical", categorical)):
        duplicated = sorted({c for c in columns if list(columns).count(c) > 1})
        if duplicated:
            raise StatisticsError(
                f"columns {duplicated} are listed twice in {name!r} of {function}"
            )


# --------------------------------------------------------------------------- method implementations


def _proportions(counts: IntArray) -> FloatArray:
    total = counts.sum()
    return counts / total if total > 0 else np.zeros(counts.shape, dtype=np.float64)


def _psi_counts(reference: IntArray, current: IntArray, eps: float = DEFAULT_EPS) -> float:
    p_ref = np.maximum(_proportions(reference), eps)
    p_cur = np.maximum(_proportions(current), eps)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def _kl_counts(reference: IntArray, current: IntArray, eps: float = DEFAULT_EPS) -> float:
    p_ref = np.maximum(_proportions(reference), eps)
    p_cur = np.maximum(_proportions(current), eps)
    p_ref, p_cur = p_ref / p_ref.sum(), p_cur / p_cur.sum()
    return float(max(np.sum(special.rel_entr(p_ref, p_cur)), 0.0))


def _js_counts(reference: IntArray, current: IntArray) -> float:
    p, q = _proportions(reference), _proportions(current)
    m = (p + q) / 2.0
    js = (np.sum(special.rel_entr(p, m)) + np.sum(special.rel_entr(q, m))) / 2.0
    return float(math.sqrt(max(js / math.log(2.0), 0.0)))


def _hellinger_counts(reference: IntArray, current: IntArray) -> float:
    p, q = _proportions(reference), _proportions(current)
    return float(min(math.sqrt(np.sum((np.sqrt(p) - np.sqrt(q)) ** 2) / 2.0), 1.0))


def _chi2_counts(reference: IntArray, current: IntArray) -> tuple[float, float]:
    """Chi-squared homogeneity test on the 2×K table, like ``chi2_contingency``."""
    observed = np.vstack([reference, current]).astype(np.float64)
    observed = observed[:, observed.sum(axis=0) > 0]
    rows = observed.sum(axis=1)
    if observed.shape[1] < 2 or np.any(rows == 0):
        return 0.0, 1.0
    expected = rows[:, None] * observed.sum(axis=0)[None, :] / observed.sum()
    dof = observed.shape[1] - 1
    if dof == 1:  # Yates' continuity correction, as chi2_contingency(correction=True)
        diff = expected - observed
        observed = observed + np.minimum(0.5, np.abs(diff)) * np.sign(diff)
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return statistic, float(stats.chi2.sf(statistic, dof))


def _z_counts(reference: IntArray, current: IntArray) -> tuple[float, float]:
    """Pooled two-proportion z-test; the column must have at most two categories."""
    present = (reference + current) > 0
    if int(present.sum()) > 2:
        raise StatisticsError(
            f"method 'z' needs a binary column; it has {int(present.sum())} categories"
        )
    if int(present.sum()) < 2:
        return 0.0, 1.0
    first = int(np.flatnonzero(present)[0])
    n1, n2 = float(reference.sum()), float(current.sum())
    p1, p2 = reference[first] / n1, current[first] / n2
    pooled = (reference[first] + current[first]) / (n1 + n2)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    if se == 0.0:
        return 0.0, 1.0
    z = abs(float(p2 - p1)) / se
    return z, float(2.0 * stats.norm.sf(z))


def _ks(reference: NumericProfile, current: NumericSample) -> tuple[float, float]:
    """Two-sample KS: the ECDFs compared at every point, via searchsorted into the reference.

    Between two consecutive current values the current ECDF is flat, so the
    largest gaps are ``F_cur(c_j) - F_ref(c_j)`` and ``F_ref(c_j^-) - F_cur(c_{j-1})``:
    ``searchsorted`` of the sorted window into the sorted reference is enough.
    """
    ref = reference.sorted_values
    cur = _sorted(current)
    n, m = ref.size, cur.size
    j = np.arange(m, dtype=np.float64)
    right = np.searchsorted(ref, cur, side="right") / n
    left = np.searchsorted(ref, cur, side="left") / n
    d_cur_above = float(np.max((j + 1.0) / m - right))
    d_ref_above = float(np.max(left - j / m))
    d = min(max(d_cur_above, d_ref_above, 0.0), 1.0)
    big, small = max(float(n), float(m)), min(float(n), float(m))
    en = big * small / (big + small)
    p = float(np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0))
    return d, p


def _sorted(sample: NumericSample) -> FloatArray:
    if sample.sorted_values is None:  # pragma: no cover - guarded by needs_sorted
        raise StatisticsError(f"column {sample.column!r}: the method needs the sorted window")
    return sample.sorted_values


def _check_finite(reference: FloatArray, current: FloatArray, column: str, method: str) -> None:
    for side, values in (("reference", reference), ("current", current)):
        if values.size and not (np.isfinite(values[0]) and np.isfinite(values[-1])):
            raise StatisticsError(
                f"column {column!r} in the {side} data holds ±inf; "
                f"method {method!r} needs finite values"
            )


def _wasserstein(reference: NumericProfile, current: NumericSample) -> tuple[float, None]:
    ref, cur = reference.sorted_values, _sorted(current)
    _check_finite(ref, cur, current.column, "wasserstein")
    pooled = np.concatenate([ref, cur])
    pooled.sort(kind="stable")  # two ascending runs: a linear merge
    deltas = np.diff(pooled)
    u_cdf = np.searchsorted(ref, pooled[:-1], side="right") / ref.size
    v_cdf = np.searchsorted(cur, pooled[:-1], side="right") / cur.size
    distance = float(np.dot(np.abs(u_cdf - v_cdf), deltas))
    std = reference.std
    return (distance / std if std > 0.0 and math.isfinite(std) else distance), None


def _midranks(pooled: FloatArray, values: FloatArray) -> FloatArray:
    left = np.searchsorted(pooled, values, side="left")
    right = np.searchsorted(pooled, values, side="right")
    return (left + right + 1) / 2.0


def _cdf_cvm_inf(x: float) -> float:
    """Limiting CDF of the Cramér–von Mises statistic (Csörgő & Faraway 1996), as scipy."""
    total, k = 0.0, 0
    while True:
        u = math.exp(special.gammaln(k + 0.5) - special.gammaln(k + 1)) / (
            math.pi**1.5 * math.sqrt(x)
        )
        y = 4 * k + 1
        q = y**2 / (16 * x)
        term = u * math.sqrt(y) * math.exp(-q) * float(special.kv(0.25, q))
        total += term
        k += 1
        if abs(term) < 1e-7:
            return total


def _cvm(reference: NumericProfile, current: NumericSample) -> tuple[float, float]:
    ref, cur = reference.sorted_values, _sorted(current)
    nx, ny = ref.size, cur.size
    if nx < 2 or ny < 2:
        raise StatisticsError(
            f"method 'cvm' needs at least 2 non-missing values on each side of column "
            f"{current.column!r}; got {nx} and {ny}"
        )
    pooled = np.concatenate([ref, cur])
    pooled.sort(kind="stable")
    rx = _midranks(pooled, ref)
    ry = _midranks(pooled, cur)
    u = nx * np.sum((rx - np.arange(1, nx + 1)) ** 2) + ny * np.sum(
        (ry - np.arange(1, ny + 1)) ** 2
    )
    k, big_n = float(nx) * float(ny), float(nx + ny)
    t = float(u / (k * big_n) - (4 * k - 1) / (6 * big_n))
    et = (1 + 1 / big_n) / 6
    vt = (big_n + 1) * (4 * k * big_n - 3 * (float(nx) ** 2 + float(ny) ** 2) - 2 * k)
    vt = vt / (45 * big_n**2 * 4 * k)
    tn = 1 / 6 + (t - et) / math.sqrt(45 * vt)
    p = max(1.0 - _cdf_cvm_inf(tn), 0.0) if tn >= 0.003 else 1.0
    return t, p


_AD_SIG = np.array([0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.001])
_AD_B0 = np.array([0.675, 1.281, 1.645, 1.96, 2.326, 2.573, 3.085])
_AD_B1 = np.array([-0.245, 0.25, 0.678, 1.149, 1.822, 2.364, 3.615])
_AD_B2 = np.array([-0.105, -0.305, -0.362, -0.391, -0.396, -0.345, -0.154])


def _anderson(reference: NumericProfile, current: NumericSample) -> tuple[float, float]:
    """k-sample Anderson–Darling (k = 2, midrank variant, Scholz & Stephens 1987)."""
    samples = (reference.sorted_values, _sorted(current))
    pooled = np.concatenate(samples)
    pooled.sort(kind="stable")
    distinct = np.unique(pooled)
    if distinct.size < 2:
        return 0.0, 1.0
    k, big_n = 2, pooled.size
    sizes = np.array([s.size for s in samples], dtype=np.float64)
    left = pooled.searchsorted(distinct, "left")
    lj = pooled.searchsorted(distinct, "right") - left if big_n != distinct.size else 1.0
    bj = left + lj / 2.0
    a2 = 0.0
    for i, sample in enumerate(samples):
        right_i = sample.searchsorted(distinct, side="right")
        mij = right_i - (right_i - sample.searchsorted(distinct, "left")) / 2.0
        inner = (
            lj
            / float(big_n)
            * (big_n * mij - bj * sizes[i]) ** 2
            / (bj * (big_n - bj) - big_n * lj / 4.0)
        )
        a2 += inner.sum() / sizes[i]
    a2 *= (big_n - 1.0) / big_n
    h_big = float((1.0 / sizes).sum())
    hs_cs = (1.0 / np.arange(big_n - 1, 1, -1)).cumsum()
    h = hs_cs[-1] + 1
    g = (hs_cs / np.arange(2, big_n)).sum()
    a = (4 * g - 6) * (k - 1) + (10 - 6 * g) * h_big
    b = (2 * g - 4) * k**2 + 8 * h * k + (2 * g - 14 * h - 4) * h_big - 8 * h + 4 * g - 6
    c = (6 * h + 2 * g - 2) * k**2 + (4 * h - 4 * g + 6) * k + (2 * h - 6) * h_big + 4 * h
    d = (2 * h + 6) * k**2 - 4 * h * k
    n = float(big_n)
    sigmasq = (a * n**3 + b * n**2 + c * n + d) / ((n - 1.0) * (n - 2.0) * (n - 3.0))
    m = k - 1
    statistic = float((a2 - m) / math.sqrt(sigmasq))
    critical = _AD_B0 + _AD_B1 / math.sqrt(m) + _AD_B2 / m
    if statistic < critical.min():
        p = float(_AD_SIG.max())
    elif statistic > critical.max():
        p = float(_AD_SIG.min())
    else:
        fit = np.polyfit(critical, np.log(_AD_SIG), 2)
        p = float(math.exp(np.polyval(fit, statistic)))
    return statistic, p


def _binned(
    counts_method: Callable[[IntArray, IntArray], float],
) -> Callable[[NumericProfile, NumericSample], tuple[float, None]]:
    def method(reference: NumericProfile, current: NumericSample) -> tuple[float, None]:
        return counts_method(reference.bin_counts, current.bin_counts), None

    return method


def _distance(
    counts_method: Callable[[IntArray, IntArray], float],
) -> Callable[[IntArray, IntArray], tuple[float, None]]:
    def method(reference: IntArray, current: IntArray) -> tuple[float, None]:
        return counts_method(reference, current), None

    return method


NumericMethod: TypeAlias = Callable[[NumericProfile, NumericSample], tuple[float, float | None]]
CategoricalMethod: TypeAlias = Callable[[IntArray, IntArray], tuple[float, float | None]]


@dataclass(frozen=True)
class DriftMethod:
    """One entry of :data:`DRIFT_METHODS`.

    ``numeric`` receives the column's :class:`NumericProfile` and the window's
    :class:`NumericSample`; ``categorical`` receives reference and current counts
    aligned on the reference categories followed by the unseen ones. Both return
    ``(statistic, p_value)``, ``p_value`` being ``None`` for distances.
    """

    key: str
    description: str
    is_test: bool
    numeric: NumericMethod | None = None
    categorical: CategoricalMethod | None = None
    needs_sorted: bool = False
    """Numeric only: the window's sorted values are needed (else bin counts suffice)."""

    @property
    def kinds(self) -> tuple[ColumnKind, ...]:
        kinds: list[ColumnKind] = []
        if self.numeric is not None:
            kinds.append("numeric")
        if self.categorical is not None:
            kinds.append("categorical")
        return tuple(kinds)


DRIFT_METHODS: dict[str, DriftMethod] = {
    "ks": DriftMethod("ks", "two-sample Kolmogorov–Smirnov test", True, _ks, None, True),
    "chi2": DriftMethod("chi2", "chi-squared homogeneity test", True, None, _chi2_counts),
    "z": DriftMethod("z", "two-proportion z-test (binary)", True, None, _z_counts),
    "anderson": DriftMethod(
        "anderson", "k-sample Anderson–Darling test", True, _anderson, None, True
    ),
    "cvm": DriftMethod("cvm", "two-sample Cramér–von Mises test", True, _cvm, None, True),
    "psi": DriftMethod(
        "psi", "population stability index", False, _binned(_psi_counts), _distance(_psi_counts)
    ),
    "jensenshannon": DriftMethod(
        "jensenshannon",
        "Jensen–Shannon distance (base 2)",
        False,
        _binned(_js_counts),
        _distance(_js_counts),
    ),
    "hellinger": DriftMethod(
        "hellinger",
        "Hellinger distance",
        False,
        _binned(_hellinger_counts),
        _distance(_hellinger_counts),
    ),
    "kl": DriftMethod(
        "kl", "Kullback–Leibler divergence", False, _binned(_kl_counts), _distance(_kl_counts)
    ),
    "wasserstein": DriftMethod(
        "wasserstein", "Wasserstein distance / std(reference)", False, _wasserstein, None, True
    ),
}
"""Registry of drift methods: key -> :class:`DriftMethod`."""


def _get_method(function: str, name: str, key: object) -> DriftMethod:
    if not isinstance(key, str) or key not in DRIFT_METHODS:
        raise _param_error(function, name, f"one of {sorted(DRIFT_METHODS)}", key)
    return DRIFT_METHODS[key]


# --------------------------------------------------------------------------- single-column API


def population_stability_index(
    reference: npt.ArrayLike, current: npt.ArrayLike, *, n_bins: int = 10, eps: float = 1e-6
) -> float:
    """PSI of a numeric sample against a reference, on quantile bins of the reference.

    Inner edges are the reference quantiles ``1/n_bins, …, (n_bins-1)/n_bins``
    (linear interpolation, deduplicated so ties make fewer bins); bin ``i`` is
    ``[edge_{i-1}, edge_i)`` with open outer bins. Proportions are floored at
    ``eps``: ``PSI = Σ (p_cur − p_ref) · ln(p_cur / p_ref)``. NaNs are dropped.
    """
    function = "population_stability_index"
    n_bins = _check_int(function, "n_bins", n_bins, 2)
    eps = _check_fraction(function, "eps", eps)
    ref = _nonmissing_sorted(reference, "reference", function)
    cur = _nonmissing_sorted(current, "current", function)
    edges = _quantile_edges(ref, n_bins)
    return _psi_counts(_counts_from_sorted(ref, edges), _counts_from_sorted(cur, edges), eps)


def _nonmissing_sorted(values: npt.ArrayLike, name: str, function: str) -> FloatArray:
    array = np.sort(_as_1d_float(values, name, function))
    array = array[: _n_non_nan_sorted(array)]
    if array.size == 0:
        raise StatisticsError(f"The {name!r} argument of {function} has no non-missing values.")
    return array


def drift_statistic(
    reference: npt.ArrayLike | pd.Series,
    current: npt.ArrayLike | pd.Series,
    *,
    method: str,
    kind: ColumnKind = "numeric",
    n_bins: int = 10,
) -> tuple[float, float | None]:
    """``(statistic, p_value)`` of one registry method on two 1-D samples (NaNs dropped)."""
    function = "drift_statistic"
    spec = _get_method(function, "method", method)
    if kind not in ("numeric", "categorical"):
        raise _param_error(function, "kind", "'numeric' or 'categorical'", kind)
    reference_frame = pd.DataFrame({"x": pd.Series(np.asarray(reference))})
    current_frame = pd.DataFrame({"x": pd.Series(np.asarray(current))})
    report = detect_drift(
        reference_frame,
        current_frame,
        numeric=["x"] if kind == "numeric" else [],
        categorical=["x"] if kind == "categorical" else [],
        method=spec.key,
        n_bins=n_bins,
    )
    result = report.columns[0]
    if result.note:
        raise StatisticsError(f"{function}: {result.note}")
    return result.statistic, result.p_value


# --------------------------------------------------------------------------- dataset API


@dataclass(frozen=True)
class _Raw:
    column: str
    kind: ColumnKind
    method: DriftMethod
    statistic: float
    p_value: float | None
    n_reference: int
    n_current: int
    missing_reference: float
    missing_current: float
    unseen: tuple[str, ...] = ()
    unseen_share: float = 0.0
    note: str = ""
    n_cells: int = 0
    """Bins or categories (with unseen ones) holding at least one value on either side."""


def _occupied(reference: IntArray, current: IntArray) -> int:
    return int(np.count_nonzero((reference + current) > 0))


def psi_noise_threshold(
    n_reference: int,
    n_current: int,
    n_cells: int,
    *,
    false_alarm: float = PSI_FALSE_ALARM,
    min_effect: float = PSI_MIN_EFFECT,
) -> float:
    """The default PSI threshold: ``max(min_effect, chi2.ppf(1 - false_alarm, K - 1)·(1/n + 1/m))``.

    Under no drift, ``PSI · n·m / (n + m)`` is asymptotically chi-squared with
    ``K - 1`` degrees of freedom (``K`` = occupied cells), so PSI exceeds the
    second term with probability ``false_alarm``. See the module docstring.
    """
    function = "psi_noise_threshold"
    n_reference = _check_int(function, "n_reference", n_reference, 1)
    n_current = _check_int(function, "n_current", n_current, 1)
    n_cells = _check_int(function, "n_cells", n_cells, 0)
    false_alarm = _check_fraction(function, "false_alarm", false_alarm)
    min_effect = _check_positive(function, "min_effect", min_effect)
    return _psi_rule(n_reference, n_current, n_cells, false_alarm, min_effect)


@functools.lru_cache(maxsize=1024)
def _chi2_isf(false_alarm: float, dof: int) -> float:
    return float(stats.chi2.isf(false_alarm, dof))


def _psi_rule(
    n_reference: int, n_current: int, n_cells: int, false_alarm: float, min_effect: float
) -> float:
    if n_cells < 2:
        return min_effect
    noise = _chi2_isf(false_alarm, n_cells - 1) * (1.0 / n_reference + 1.0 / n_current)
    return max(min_effect, noise)


def _choose(
    column: str,
    kind: ColumnKind,
    method: str,
    methods: Mapping[str, str],
    n_reference: int,
    n_current: int,
) -> DriftMethod:
    key = methods.get(column, method)
    if key == "auto":
        small = min(n_reference, n_current) <= AUTO_TEST_MAX_ROWS
        key = ("ks" if small else "psi") if kind == "numeric" else ("chi2" if small else "psi")
    spec = DRIFT_METHODS[key]
    if kind not in spec.kinds:
        raise StatisticsError(
            f"method {key!r} for column {column!r} does not support {kind} columns; "
            f"choose one of {sorted(k for k, m in DRIFT_METHODS.items() if kind in m.kinds)}"
        )
    return spec


def _empty_note(n_reference: int, n_current: int) -> str:
    sides = [s for s, n in (("reference", n_reference), ("current", n_current)) if n == 0]
    return f"no non-missing values in the {' and '.join(sides)} data; drift not computed"


def _numeric_results(
    profile: ReferenceProfile,
    current: pd.DataFrame,
    columns: Sequence[str],
    method: str,
    methods: Mapping[str, str],
) -> list[_Raw]:
    n_rows = len(current)
    arrays = {column: _column_as_float(current, column) for column in columns}
    n_valid = {c: n_rows - int(np.count_nonzero(np.isnan(a))) for c, a in arrays.items()}
    chosen = {
        c: _choose(c, "numeric", method, methods, profile.numeric_profile(c).n_valid, n_valid[c])
        for c in columns
    }
    sorted_columns = [c for c in columns if chosen[c].needs_sorted]
    matrix = np.empty((len(sorted_columns), n_rows), dtype=np.float64)
    for j, column in enumerate(sorted_columns):
        matrix[j] = arrays[column]
    matrix.sort(axis=1)  # one vectorized sort for every column that needs it
    row_of = {column: j for j, column in enumerate(sorted_columns)}

    results: list[_Raw] = []
    for column in columns:
        ref = profile.numeric_profile(column)
        spec = chosen[column]
        if column in row_of:
            row = matrix[row_of[column]]
            values: FloatArray | None = row[: n_valid[column]]
            counts = _counts_from_sorted(row[: n_valid[column]], ref.bin_edges)
        else:
            values = None
            counts = _counts_unsorted(arrays[column], ref.bin_edges, n_valid[column])
        sample = NumericSample(column, values, counts, n_valid[column])
        note = ""
        if ref.n_valid == 0 or sample.n_valid == 0:
            statistic, p_value = 0.0, (1.0 if spec.is_test else None)
            note = _empty_note(ref.n_valid, sample.n_valid)
        else:
            assert spec.numeric is not None
            statistic, p_value = spec.numeric(ref, sample)
        results.append(
            _Raw(
                column=column,
                kind="numeric",
                method=spec,
                statistic=statistic,
                p_value=p_value,
                n_reference=ref.n_valid,
                n_current=sample.n_valid,
                missing_reference=ref.missing_share,
                missing_current=_share(n_rows - sample.n_valid, n_rows),
                note=note,
                n_cells=_occupied(ref.bin_counts, counts),
            )
        )
    return results


def _categorical_result(
    ref: CategoricalProfile, series: pd.Series, method: str, methods: Mapping[str, str]
) -> _Raw:
    column = ref.column
    n_rows = len(series)
    labels, counts, n_missing = _category_counts(series)
    position = pd.Index(ref.categories, dtype=object).get_indexer(labels)
    seen = position >= 0
    current_counts = np.zeros(len(ref.categories), dtype=np.int64)
    current_counts[position[seen]] = counts[seen]
    unseen_mask = ~seen & (counts > 0)
    unseen_labels = np.asarray(labels, dtype=object)[unseen_mask]
    order = np.argsort(unseen_labels, kind="stable")
    unseen = tuple(str(label) for label in unseen_labels[order])
    unseen_counts = counts[unseen_mask][order]
    reference_all = np.concatenate([ref.counts, np.zeros(len(unseen), dtype=np.int64)])
    current_all = np.concatenate([current_counts, unseen_counts]).astype(np.int64)
    n_current = int(current_all.sum())
    spec = _choose(column, "categorical", method, methods, ref.n_valid, n_current)
    note = ""
    if ref.n_valid == 0 or n_current == 0:
        statistic, p_value = 0.0, (1.0 if spec.is_test else None)
        note = _empty_note(ref.n_valid, n_current)
    else:
        assert spec.categorical is not None
        try:
            statistic, p_value = spec.categorical(reference_all, current_all)
        except StatisticsError as exc:
            raise StatisticsError(f"column {column!r}: {exc}") from exc
    return _Raw(
        column=column,
        kind="categorical",
        method=spec,
        statistic=statistic,
        p_value=p_value,
        n_reference=ref.n_valid,
        n_current=n_current,
        missing_reference=ref.missing_share,
        missing_current=_share(n_missing, n_rows),
        unseen=unseen,
        unseen_share=_share(int(unseen_counts.sum()), n_current),
        note=note,
        n_cells=_occupied(reference_all, current_all),
    )


def _test_thresholds(p_values: Sequence[float], alpha: float, correction: str) -> float:
    """The per-column p-value cut-off after correction over ``len(p_values)`` tests."""
    m = len(p_values)
    if m == 0 or correction == "none":
        return alpha
    if correction == "bonferroni":
        return alpha / m
    ordered = np.sort(np.asarray(p_values, dtype=np.float64))
    below = np.flatnonzero(ordered <= alpha * np.arange(1, m + 1) / m)
    k = int(below[-1]) + 1 if below.size else 1
    return alpha * k / m


def detect_drift(
    reference: pd.DataFrame | ReferenceProfile,
    current: pd.DataFrame,
    *,
    numeric: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    method: str = "auto",
    methods: Mapping[str, str] | None = None,
    alpha: float = 0.05,
    psi_threshold: float | None = None,
    dataset_drift_share: float = 0.5,
    correction: Correction = "benjamini-hochberg",
    thresholds: Mapping[str, float] | None = None,
    column_thresholds: Mapping[str, float] | None = None,
    n_bins: int = 10,
    role: Literal["feature", "prediction", "target"] = "feature",
) -> DriftReport:
    """Drift of every declared column of ``current`` against the reference.

    ``reference`` is a DataFrame or a fitted :class:`ReferenceProfile` (then
    ``numeric`` / ``categorical`` default to the profile's columns and ``n_bins``
    is the profile's). ``method`` applies to every column, ``methods`` overrides
    it per column; both take a :data:`DRIFT_METHODS` key or ``"auto"``.
    ``correction`` (``"none"``, ``"bonferroni"``, ``"benjamini-hochberg"``)
    adjusts ``alpha`` across the tested columns; ``psi_threshold=None`` uses
    the sample-size rule :func:`psi_noise_threshold`, a number a constant;
    ``thresholds`` overrides the other distance thresholds by method key;
    ``column_thresholds`` sets the threshold of single columns on their
    statistic (any method). ``role`` marks every result (``"prediction"`` /
    ``"target"`` for output drift). See the module docstring for the rules.
    """
    function = "detect_drift"
    if method != "auto" and method not in DRIFT_METHODS:
        raise _param_error(function, "method", f"'auto' or one of {sorted(DRIFT_METHODS)}", method)
    alpha = _check_fraction(function, "alpha", alpha)
    if psi_threshold is not None:
        psi_threshold = _check_positive(function, "psi_threshold", psi_threshold)
    dataset_drift_share = _check_fraction(
        function, "dataset_drift_share", dataset_drift_share, closed_high=True
    )
    if correction not in _CORRECTIONS:
        raise _param_error(function, "correction", f"one of {list(_CORRECTIONS)}", correction)
    distance_thresholds = dict(DEFAULT_THRESHOLDS)
    for key, value in (thresholds or {}).items():
        if key not in DRIFT_METHODS or DRIFT_METHODS[key].is_test:
            distances = sorted(k for k, m in DRIFT_METHODS.items() if not m.is_test)
            raise _param_error(function, "thresholds", f"keyed by one of {distances}", key)
        distance_thresholds[key] = _check_positive(function, f"thresholds[{key!r}]", value)

    if isinstance(reference, ReferenceProfile):
        profile = reference
        numeric = list(profile.numeric_columns if numeric is None else numeric)
        categorical = list(profile.categorical_columns if categorical is None else categorical)
        for column in numeric:
            profile.numeric_profile(column)
        for column in categorical:
            profile.categorical_profile(column)
    else:
        if numeric is None or categorical is None:
            raise StatisticsError(
                "detect_drift needs 'numeric' and 'categorical' when the reference is a DataFrame"
            )
        numeric, categorical = list(numeric), list(categorical)
        _check_declared(function, numeric, categorical)
        profile = fit_reference_profile(
            _check_frame(reference, "reference", function),
            numeric=numeric,
            categorical=categorical,
            n_bins=n_bins,
        )
    if not numeric and not categorical:
        raise StatisticsError("detect_drift needs at least one numeric or categorical column")
    _check_declared(function, numeric, categorical)
    current = _check_frame(current, "current", function)
    _check_columns(current, numeric, categorical, "current")
    methods = dict(methods or {})
    declared = set(numeric) | set(categorical)
    per_column: dict[str, float] = {}
    for column, value in (column_thresholds or {}).items():
        if column not in declared:
            raise StatisticsError(
                f"column {column!r} in 'column_thresholds' of detect_drift is not a declared column"
            )
        per_column[column] = _check_positive(function, f"column_thresholds[{column!r}]", value)
    for column, key in methods.items():
        if column not in declared:
            raise StatisticsError(
                f"column {column!r} in 'methods' of detect_drift is not a declared column"
            )
        if key != "auto" and key not in DRIFT_METHODS:
            raise _param_error(
                function, f"methods[{column!r}]", f"'auto' or one of {sorted(DRIFT_METHODS)}", key
            )

    raw = _numeric_results(profile, current, numeric, method, methods)
    raw += [
        _categorical_result(profile.categorical_profile(c), current[c], method, methods)
        for c in categorical
    ]

    tested = [r.p_value for r in raw if r.p_value is not None and not r.note]
    test_threshold = _test_thresholds(tested, alpha, correction)
    results = []
    for r in raw:
        if r.column in per_column:
            threshold = per_column[r.column]
            drifted = not r.note and r.statistic > threshold
        elif r.method.is_test:
            threshold = test_threshold
            drifted = r.p_value is not None and not r.note and r.p_value <= threshold
        elif r.method.key == "psi":
            threshold = (
                psi_threshold
                if psi_threshold is not None
                else _psi_rule(
                    max(r.n_reference, 1),
                    max(r.n_current, 1),
                    r.n_cells,
                    PSI_FALSE_ALARM,
                    PSI_MIN_EFFECT,
                )
            )
            drifted = not r.note and r.statistic > threshold
        else:
            threshold = distance_thresholds[r.method.key]
            drifted = not r.note and r.statistic > threshold
        results.append(
            DriftResult(
                column=r.column,
                kind=r.kind,
                method=r.method.key,
                statistic=float(r.statistic),
                p_value=None if r.p_value is None else float(r.p_value),
                threshold=float(threshold),
                drifted=bool(drifted),
                missing_share_reference=r.missing_reference,
                missing_share_current=r.missing_current,
                unseen_categories=r.unseen,
                n_reference=r.n_reference,
                n_current=r.n_current,
                unseen_share=r.unseen_share,
                note=r.note,
                role=role,
            )
        )
    share = sum(r.drifted for r in results) / len(results)
    return DriftReport(
        columns=tuple(results),
        n_reference=profile.n_rows,
        n_current=len(current),
        share_drifted=share,
        dataset_drift=share >= dataset_drift_share,
        dataset_drift_share=dataset_drift_share,
        correction=correction,
    )


def with_output_drift(report: DriftReport, *others: DriftReport) -> DriftReport:
    """``report`` with the columns of ``others`` (prediction / target drift) appended.

    ``share_drifted`` and ``dataset_drift`` stay those of ``report``'s feature
    columns; the appended results keep their own ``role``.
    """
    extra = tuple(r for other in others for r in other.columns)
    if any(r.role == "feature" for r in extra):
        raise StatisticsError(
            "with_output_drift appends prediction or target drift; got feature results "
            f"{[r.column for r in extra if r.role == 'feature']}"
        )
    return replace(report, columns=report.columns + extra)
