"""Drift of a dataset: per-column decisions (tests, distances, PSI rule) and the report.

:func:`detect_drift` measures every declared column of a window against a
:class:`~modelwatch.stats.drift.profile.ReferenceProfile` (or a reference
frame), picks the method (``"auto"``), corrects the p-values across columns and
decides per column and for the dataset. The rules are in the package docstring.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from modelwatch.errors import StatisticsError
from modelwatch.stats.drift._checks import (
    FRACTION,
    POSITIVE,
    SHARE,
    check_columns,
    check_declared,
    check_frame,
)
from modelwatch.stats.drift._counting import (
    category_counts,
    column_as_float,
    counts_from_sorted,
    counts_unsorted,
    share_of,
)
from modelwatch.stats.drift.methods import DRIFT_METHODS, DriftMethod, MethodKey, get_method
from modelwatch.stats.drift.profile import (
    CategoricalProfile,
    ColumnKind,
    NumericProfile,
    NumericSample,
    ReferenceProfile,
    fit_reference_profile,
)
from modelwatch.stats.kernels import FloatArray, IntArray
from modelwatch.stats.params import Interval, Options, check_param, param_error

Correction: TypeAlias = Literal["none", "bonferroni", "benjamini-hochberg"]

AUTO_TEST_MAX_ROWS = 5000
"""``"auto"`` uses a p-value test up to this many non-missing rows per side, an effect size above."""

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


# --------------------------------------------------------------------------- single-column API


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
    spec = get_method(function, "method", method)
    check_param(function, "kind", kind, Options(("numeric", "categorical")))
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
class _Measured:
    """A column measured but not decided yet (``result.threshold`` is NaN until then)."""

    result: DriftResult
    method: DriftMethod
    n_cells: int
    """Bins or categories (with unseen ones) holding at least one value on either side."""


def _measure(
    reference: NumericProfile | CategoricalProfile,
    method: DriftMethod,
    statistic: Callable[[], tuple[float, float | None]],
    *,
    n_current: int,
    missing_current: float,
    n_cells: int,
    unseen: tuple[str, ...] = (),
    unseen_share: float = 0.0,
) -> _Measured:
    """The method's ``(statistic, p_value)`` on one column, or a note when a side has no value."""
    n_reference = reference.n_valid
    if n_reference == 0 or n_current == 0:
        value, p_value = 0.0, (1.0 if method.is_test else None)
        note = empty_note(n_reference, n_current)
    else:
        value, p_value = statistic()
        note = ""
    kind: ColumnKind = "numeric" if isinstance(reference, NumericProfile) else "categorical"
    result = DriftResult(
        column=reference.column,
        kind=kind,
        method=method.key,
        statistic=float(value),
        p_value=None if p_value is None else float(p_value),
        threshold=math.nan,
        drifted=False,
        missing_share_reference=reference.missing_share,
        missing_share_current=missing_current,
        unseen_categories=unseen,
        n_reference=n_reference,
        n_current=n_current,
        unseen_share=unseen_share,
        note=note,
    )
    return _Measured(result, method, n_cells)


def occupied_cells(reference: IntArray, current: IntArray) -> int:
    """Cells (bins / categories) with a count on either side."""
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
    n_reference = check_param(function, "n_reference", n_reference, Interval(int, 1, None))
    n_current = check_param(function, "n_current", n_current, Interval(int, 1, None))
    n_cells = check_param(function, "n_cells", n_cells, Interval(int, 0, None))
    false_alarm = check_param(function, "false_alarm", false_alarm, FRACTION)
    min_effect = check_param(function, "min_effect", min_effect, POSITIVE)
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


def choose_method(
    column: str, kind: str, key: str, n_reference: int, n_current: int
) -> DriftMethod:
    """The method of a column: ``key`` (``auto``: KS / chi² up to ``AUTO_TEST_MAX_ROWS``
    rows on the smaller side, else PSI), refused when it does not fit the column's kind.
    Shared with the streamed path (:mod:`modelwatch.stats.streaming`)."""
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


def _choose(
    column: str,
    kind: ColumnKind,
    method: str,
    methods: Mapping[str, str],
    n_reference: int,
    n_current: int,
) -> DriftMethod:
    return choose_method(column, kind, methods.get(column, method), n_reference, n_current)


def empty_note(n_reference: int, n_current: int) -> str:
    """Why a column has no drift result (a side without non-missing values)."""
    sides = [s for s, n in (("reference", n_reference), ("current", n_current)) if n == 0]
    return f"no non-missing values in the {' and '.join(sides)} data; drift not computed"


def _numeric_results(
    profile: ReferenceProfile,
    current: pd.DataFrame,
    columns: Sequence[str],
    method: str,
    methods: Mapping[str, str],
) -> list[_Measured]:
    n_rows = len(current)
    arrays = {column: column_as_float(current, column) for column in columns}
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

    results: list[_Measured] = []
    for column in columns:
        ref = profile.numeric_profile(column)
        spec = chosen[column]
        if column in row_of:
            row = matrix[row_of[column]]
            values: FloatArray | None = row[: n_valid[column]]
            counts = counts_from_sorted(row[: n_valid[column]], ref.bin_edges)
        else:
            values = None
            counts = counts_unsorted(arrays[column], ref.bin_edges, n_valid[column])
        sample = NumericSample(column, values, counts, n_valid[column])
        numeric_method = spec.numeric
        assert numeric_method is not None  # _choose checked the kind
        results.append(
            _measure(
                ref,
                spec,
                functools.partial(numeric_method, ref, sample),
                n_current=sample.n_valid,
                missing_current=share_of(n_rows - sample.n_valid, n_rows),
                n_cells=occupied_cells(ref.bin_counts, counts),
            )
        )
    return results


def _categorical_result(
    ref: CategoricalProfile, series: pd.Series, method: str, methods: Mapping[str, str]
) -> _Measured:
    column = ref.column
    n_rows = len(series)
    labels, counts, n_missing = category_counts(series)
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
    categorical_method = spec.categorical
    assert categorical_method is not None  # _choose checked the kind
    try:
        return _measure(
            ref,
            spec,
            functools.partial(categorical_method, reference_all, current_all),
            n_current=n_current,
            missing_current=share_of(n_missing, n_rows),
            n_cells=occupied_cells(reference_all, current_all),
            unseen=unseen,
            unseen_share=share_of(int(unseen_counts.sum()), n_current),
        )
    except StatisticsError as exc:
        raise StatisticsError(f"column {column!r}: {exc}") from exc


def corrected_p_threshold(p_values: Sequence[float], alpha: float, correction: str) -> float:
    """The per-column p-value cut-off after correction over ``len(p_values)`` tests: alpha,
    Bonferroni or the Benjamini–Hochberg step-up (shared with the streamed path)."""
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
    check_param(function, "method", method, MethodKey(auto=True))
    alpha = check_param(function, "alpha", alpha, FRACTION)
    if psi_threshold is not None:
        psi_threshold = check_param(function, "psi_threshold", psi_threshold, POSITIVE)
    dataset_drift_share = check_param(function, "dataset_drift_share", dataset_drift_share, SHARE)
    check_param(function, "correction", correction, Options(_CORRECTIONS))
    distance_thresholds = dict(DEFAULT_THRESHOLDS)
    for key, value in (thresholds or {}).items():
        if key not in DRIFT_METHODS or DRIFT_METHODS[key].is_test:
            distances = sorted(k for k, m in DRIFT_METHODS.items() if not m.is_test)
            raise param_error(function, "thresholds", f"keyed by one of {distances}", key)
        distance_thresholds[key] = check_param(function, f"thresholds[{key!r}]", value, POSITIVE)

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
        check_declared(function, numeric, categorical)
        profile = fit_reference_profile(
            check_frame(reference, "reference", function),
            numeric=numeric,
            categorical=categorical,
            n_bins=n_bins,
        )
    if not numeric and not categorical:
        raise StatisticsError("detect_drift needs at least one numeric or categorical column")
    check_declared(function, numeric, categorical)
    current = check_frame(current, "current", function)
    check_columns(current, numeric, categorical, "current")
    methods = dict(methods or {})
    declared = set(numeric) | set(categorical)
    per_column: dict[str, float] = {}
    for column, value in (column_thresholds or {}).items():
        if column not in declared:
            raise StatisticsError(
                f"column {column!r} in 'column_thresholds' of detect_drift is not a declared column"
            )
        per_column[column] = check_param(
            function, f"column_thresholds[{column!r}]", value, POSITIVE
        )
    for column, key in methods.items():
        if column not in declared:
            raise StatisticsError(
                f"column {column!r} in 'methods' of detect_drift is not a declared column"
            )
        check_param(function, f"methods[{column!r}]", key, MethodKey(auto=True))

    measured = _numeric_results(profile, current, numeric, method, methods)
    measured += [
        _categorical_result(profile.categorical_profile(c), current[c], method, methods)
        for c in categorical
    ]

    tested = [
        m.result.p_value for m in measured if m.result.p_value is not None and not m.result.note
    ]
    test_threshold = corrected_p_threshold(tested, alpha, correction)
    results = []
    for m in measured:
        r = m.result
        if r.column in per_column:
            threshold = per_column[r.column]
            drifted = not r.note and r.statistic > threshold
        elif m.method.is_test:
            threshold = test_threshold
            drifted = r.p_value is not None and not r.note and r.p_value <= threshold
        elif m.method.key == "psi":
            threshold = (
                psi_threshold
                if psi_threshold is not None
                else _psi_rule(
                    max(r.n_reference, 1),
                    max(r.n_current, 1),
                    m.n_cells,
                    PSI_FALSE_ALARM,
                    PSI_MIN_EFFECT,
                )
            )
            drifted = not r.note and r.statistic > threshold
        else:
            threshold = distance_thresholds[m.method.key]
            drifted = not r.note and r.statistic > threshold
        results.append(replace(r, threshold=float(threshold), drifted=bool(drifted), role=role))
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
