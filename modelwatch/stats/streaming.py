"""Mergeable partial aggregates of a window: stream it in batches, split it across workers.

A window too large for memory is read in record batches; each batch becomes a
partial aggregate of plain data (numpy arrays, dicts, ints: picklable, so Dask
can ship it), partials merge by addition in any order, and the merged aggregate
finalizes into the same :class:`~modelwatch.stats.drift.DriftReport` and
:class:`~modelwatch.stats.performance.MetricValue` values as the in-memory
functions (:func:`~modelwatch.stats.drift.detect_drift`,
:func:`~modelwatch.stats.performance.classification_metrics`,
:func:`~modelwatch.stats.performance.regression_metrics`,
:func:`~modelwatch.stats.performance.multiclass_metrics`). A plan (``DriftPlan``)
holds the reference side a worker needs (bin edges, KS grids); it is passed to
``update`` so the partials stay small: ``plan.update(aggregate, batch)``,
``aggregate.merge(other)``, ``plan.finalize(aggregate, profile, ...)``.

What merges exactly
-------------------
* **Binned methods** (PSI, Jensen–Shannon, Hellinger, KL) and the PSI threshold
  rule: counts of the window in the reference's bins (``[edge_{i-1}, edge_i)``,
  the same ``counts_unsorted`` as the in-memory path).
* **Categorical methods** (chi², z, PSI, ...): category counts keyed by the text
  of the value (unseen categories included), missing counts.
* **KS** on a window of any size, exactly: between two consecutive distinct
  reference values ``r_k < r_{k+1}`` the reference ECDF is constant, so on
  ``[r_k, r_{k+1})`` the gap ``|F_ref − F_cur|`` is largest at ``r_k`` or at the
  left limit ``r_{k+1}^-`` (``F_cur`` is monotone); before ``r_1`` and after
  ``r_K`` the same holds with ``F_ref = 0`` / ``1``. Hence
  ``D = max_k max(|F_ref(r_k) − F_cur(r_k)|, |F_ref(r_k^-) − F_cur(r_k^-)|)``:
  it needs only the counts of window values ``< r_k`` and ``<= r_k``, i.e. a
  histogram over the ``2K + 1`` cells "below r_1, = r_1, between r_1 and r_2, ..."
  (cell = ``searchsorted(left) + searchsorted(right)``). The statistic is the
  same rational number as the in-memory sup (floating rounding aside, ≤ 1e-15),
  the p-value the same Smirnov asymptotic formula. The histogram holds
  ``2K + 1`` integers per column, ``K`` = distinct reference values. It needs a
  full profile: a compact one (a quantile summary) has an ECDF interpolated
  linearly between its knots, whose gap to the window's ECDF peaks at window
  values inside a gap — not mergeable from counts (see below).
* **Small windows**: up to :data:`EXACT_ROWS` non-missing values per numeric
  column are also kept (dropped beyond); when the window has no more, every
  method (KS, Anderson–Darling, Cramér–von Mises, Wasserstein) runs on them
  exactly as in memory. That is also how ``auto`` meets KS on a large reference:
  it picks KS only when the window has at most :data:`EXACT_ROWS` values.
* **Confusion counts** (accuracy, precision, recall, F1; multiclass matrix),
  **sums** (MAE, RMSE, MAPE, log loss) and R² (Chan's parallel merge of count,
  mean and squared deviations of the target).
* **ROC AUC** from score-group counts: sorted unique scores with the negatives /
  positives of each (merged by a sorted union); memory grows with the number of
  distinct scores.

What does not merge exactly (explicit, never silent)
----------------------------------------------------
* Anderson–Darling, Cramér–von Mises and Wasserstein on a window with more than
  :data:`EXACT_ROWS` values, and KS against a *compact* reference profile on
  such a window, need every value: :meth:`DriftPlan.finalize` raises a
  :class:`StatisticsError` naming the column and the method (``auto`` never gets
  there: it picks KS only when a side has at most :data:`EXACT_ROWS` values, and
  a compact profile has more than that).
* Confidence intervals are not the in-memory index bootstrap (that needs every
  row at once): label metrics use a Poisson bootstrap (the weighted count of a
  cell of ``n`` rows under Poisson(1) row weights is Poisson(``n``), drawn once
  per batch and cell), sums use Poisson(1) row weights, ROC AUC uses DeLong's
  variance from the score groups (exact, ``auc ± z·se`` clipped to [0, 1]). Each
  batch's draws come from ``default_rng([seed, partition, batch])``: deterministic
  and independent of which worker aggregates which batch; the point values
  equal the in-memory ones, the bounds are a different (equally valid) resample.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from modelwatch.errors import StatisticsError
from modelwatch.stats.drift import (
    AUTO_TEST_MAX_ROWS,
    DEFAULT_THRESHOLDS,
    CategoricalProfile,
    DriftMethod,
    DriftReport,
    DriftResult,
    NumericProfile,
    NumericSample,
    ReferenceProfile,
    psi_noise_threshold,
)
from modelwatch.stats.drift._checks import FRACTION, POSITIVE, SHARE
from modelwatch.stats.drift._counting import (
    category_counts,
    column_as_float,
    counts_unsorted,
    share_of,
)
from modelwatch.stats.drift.methods import MethodKey
from modelwatch.stats.drift.report import (
    choose_method,
    corrected_p_threshold,
    empty_note,
    occupied_cells,
)
from modelwatch.stats.kernels import (
    FloatArray,
    IntArray,
    label_metrics_from_counts,
    multiclass_label_metrics,
    percentile_interval,
    roc_auc_from_counts,
    row_log_loss,
)
from modelwatch.stats.params import Options, as_1d, as_scores, check_param, param_error
from modelwatch.stats.performance import MetricValue

__all__ = [
    "EXACT_ROWS",
    "N_BOOTSTRAP",
    "BatchKey",
    "BinaryAggregate",
    "DriftAggregate",
    "DriftPlan",
    "MulticlassAggregate",
    "RegressionAggregate",
    "batch_rng",
    "ks_from_cells",
    "segment_stream",
]

EXACT_ROWS = AUTO_TEST_MAX_ROWS
"""Non-missing values per numeric column kept whole (every method exact up to this many)."""

N_BOOTSTRAP = 200
"""Poisson bootstrap replicates of the streamed realized metrics."""

BatchKey = tuple[int, int]
"""``(partition, batch)``: seeds the batch's bootstrap draws."""

_POISSON_CHUNK = 1 << 22
"""Upper bound on ``replicates × rows`` of Poisson row weights drawn at once."""


def batch_rng(seed: int, key: BatchKey, *extra: int) -> np.random.Generator:
    """The generator of one batch's bootstrap draws: ``default_rng([seed, partition, batch, ...])``."""
    return np.random.default_rng([seed, *key, *extra])


# =========================================================================== drift


@dataclass(frozen=True, eq=False)
class DriftPlan:
    """The reference side a worker needs to aggregate batches of a window (small, picklable).

    Build it with :meth:`for_profile`. ``numeric`` / ``categorical`` are the
    report's column names; ``sources`` maps a report name to the batch column it
    reads (default: the same name). ``grids[j]`` (distinct reference values) is
    kept only for numeric columns where KS can be chosen on a large window.
    """

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    edges: tuple[FloatArray, ...]
    grids: tuple[FloatArray | None, ...]
    keys: Mapping[str, str]
    """Configured method key per column (``auto`` or a registry key)."""
    sources: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def for_profile(
        cls,
        profile: ReferenceProfile,
        *,
        numeric: Sequence[str] | None = None,
        categorical: Sequence[str] | None = None,
        method: str = "auto",
        methods: Mapping[str, str] | None = None,
        sources: Mapping[str, str] | None = None,
    ) -> DriftPlan:
        """The plan of the profile's (or the given) columns under ``method`` / ``methods``."""
        function = "DriftPlan.for_profile"
        check_param(function, "method", method, MethodKey(auto=True))
        methods = dict(methods or {})
        numeric = tuple(profile.numeric_columns if numeric is None else numeric)
        categorical = tuple(profile.categorical_columns if categorical is None else categorical)
        keys: dict[str, str] = {}
        for column in (*numeric, *categorical):
            keys[column] = check_param(
                function, f"methods[{column!r}]", methods.get(column, method), MethodKey(auto=True)
            )
        edges, grids = [], []
        for column in numeric:
            ref = profile.numeric_profile(column)
            edges.append(ref.bin_edges)
            key = keys[column]
            ks_possible = key == "ks" or (key == "auto" and ref.n_valid <= AUTO_TEST_MAX_ROWS)
            # a compact profile's ECDF is interpolated between its knots: no exact cells
            grids.append(np.unique(ref.values) if ks_possible and not ref.compact else None)
        for column in categorical:
            profile.categorical_profile(column)
        return cls(
            numeric=numeric,
            categorical=categorical,
            edges=tuple(edges),
            grids=tuple(grids),
            keys=keys,
            sources=dict(sources or {}),
        )

    def source(self, column: str) -> str:
        return self.sources.get(column, column)

    def empty(self) -> DriftAggregate:
        """The aggregate of no rows."""
        return DriftAggregate(
            n_rows=0,
            n_valid=np.zeros(len(self.numeric), dtype=np.int64),
            bins=[np.zeros(e.size + 1, dtype=np.int64) for e in self.edges],
            cells=[None if g is None else np.zeros(2 * g.size + 1, np.int64) for g in self.grids],
            buffers=[np.empty(0, dtype=np.float64) for _ in self.numeric],
            categories=[{} for _ in self.categorical],
            n_missing=np.zeros(len(self.categorical), dtype=np.int64),
        )

    def update(self, aggregate: DriftAggregate, frame: pd.DataFrame) -> DriftAggregate:
        """Add the rows of ``frame`` (one batch) to ``aggregate`` (in place; returned)."""
        n_rows = len(frame)
        aggregate.n_rows += n_rows
        for j, column in enumerate(self.numeric):
            values = column_as_float(frame, self.source(column))
            missing = np.isnan(values)
            n_valid = n_rows - int(np.count_nonzero(missing))
            aggregate.n_valid[j] += n_valid
            aggregate.bins[j] += counts_unsorted(values, self.edges[j], n_valid)
            valid = values[~missing] if n_valid < n_rows else values
            grid, cells = self.grids[j], aggregate.cells[j]
            if grid is not None and cells is not None and valid.size:
                cell = np.searchsorted(grid, valid, side="left")
                cell += np.searchsorted(grid, valid, side="right")
                cells += np.bincount(cell, minlength=cells.size)
            aggregate.buffers[j] = _keep(aggregate.buffers[j], valid)
        for j, column in enumerate(self.categorical):
            labels, counts, n_missing = category_counts(frame[self.source(column)])
            aggregate.n_missing[j] += n_missing
            seen = aggregate.categories[j]
            for label, count in zip(labels.tolist(), counts.tolist(), strict=True):
                seen[label] = seen.get(label, 0) + int(count)
        return aggregate

    def aggregate(self, frame: pd.DataFrame) -> DriftAggregate:
        """The partial aggregate of one batch."""
        return self.update(self.empty(), frame)

    def finalize(
        self,
        aggregate: DriftAggregate,
        profile: ReferenceProfile,
        *,
        alpha: float = 0.05,
        psi_threshold: float | None = None,
        dataset_drift_share: float = 0.5,
        correction: str = "benjamini-hochberg",
        thresholds: Mapping[str, float] | None = None,
        column_thresholds: Mapping[str, float] | None = None,
        methods: Mapping[str, str] | None = None,
        role: str = "feature",
    ) -> DriftReport:
        """The :class:`DriftReport` that ``detect_drift(profile, window, ...)`` gives.

        Same options and rules as :func:`~modelwatch.stats.drift.detect_drift`
        (``methods`` may replace the plan's keys, e.g. calibrated ones).
        """
        function = "detect_drift"
        alpha = check_param(function, "alpha", alpha, FRACTION)
        if psi_threshold is not None:
            psi_threshold = check_param(function, "psi_threshold", psi_threshold, POSITIVE)
        dataset_drift_share = check_param(
            function, "dataset_drift_share", dataset_drift_share, SHARE
        )
        check_param(function, "correction", correction, Options(_CORRECTIONS))
        if aggregate.n_rows == 0:
            raise StatisticsError("The current frame of detect_drift has no rows.")
        distance = dict(DEFAULT_THRESHOLDS)
        distance.update({k: float(v) for k, v in (thresholds or {}).items()})
        keys = {**self.keys, **(methods or {})}
        measured = [
            self._numeric(aggregate, j, profile.numeric_profile(c), keys[c])
            for j, c in enumerate(self.numeric)
        ]
        measured += [
            self._categorical(aggregate, j, profile.categorical_profile(c), keys[c])
            for j, c in enumerate(self.categorical)
        ]
        tested = [r.p_value for r, m, _ in measured if r.p_value is not None and not r.note]
        cut = corrected_p_threshold(tested, alpha, correction)
        per_column = dict(column_thresholds or {})
        results = []
        for r, method, n_cells in measured:
            if r.column in per_column:
                threshold = float(per_column[r.column])
                drifted = not r.note and r.statistic > threshold
            elif method.is_test:
                threshold = cut
                drifted = r.p_value is not None and not r.note and r.p_value <= threshold
            elif method.key == "psi":
                threshold = (
                    psi_threshold
                    if psi_threshold is not None
                    else psi_noise_threshold(max(r.n_reference, 1), max(r.n_current, 1), n_cells)
                )
                drifted = not r.note and r.statistic > threshold
            else:
                threshold = distance[method.key]
                drifted = not r.note and r.statistic > threshold
            results.append(
                replace(r, threshold=float(threshold), drifted=bool(drifted), role=role)  # type: ignore[arg-type]
            )
        share = sum(r.drifted for r in results) / len(results)
        return DriftReport(
            columns=tuple(results),
            n_reference=profile.n_rows,
            n_current=aggregate.n_rows,
            share_drifted=share,
            dataset_drift=share >= dataset_drift_share,
            dataset_drift_share=dataset_drift_share,
            correction=correction,
        )

    def _numeric(
        self, aggregate: DriftAggregate, j: int, ref: NumericProfile, key: str
    ) -> tuple[DriftResult, DriftMethod, int]:
        column = self.numeric[j]
        n_cur = int(aggregate.n_valid[j])
        counts = aggregate.bins[j]
        method = choose_method(column, "numeric", key, ref.n_valid, n_cur)
        value: float
        p_value: float | None
        note = ""
        if ref.n_valid == 0 or n_cur == 0:
            value, p_value, note = (
                0.0,
                (1.0 if method.is_test else None),
                empty_note(ref.n_valid, n_cur),
            )
        elif not method.needs_sorted:
            assert method.numeric is not None
            value, p_value = method.numeric(ref, NumericSample(column, None, counts, n_cur))
        elif aggregate.buffers[j] is not None:
            assert method.numeric is not None
            window = np.sort(aggregate.buffers[j])  # type: ignore[arg-type]
            value, p_value = method.numeric(ref, NumericSample(column, window, counts, n_cur))
        elif method.key == "ks" and aggregate.cells[j] is not None:
            value, p_value = ks_from_cells(ref, aggregate.cells[j])  # type: ignore[arg-type]
        elif method.key == "ks" and ref.compact:
            raise StatisticsError(
                f"column {column!r}: method 'ks' against a compact reference profile (a quantile "
                "summary, interpolated between its knots) needs every value of the window; the "
                f"streamed window has {n_cur} values (exact up to {EXACT_ROWS}). Use 'psi' or "
                "'auto' for this column (exact from bin counts), or raise "
                "execution.stream_above_rows"
            )
        else:
            raise StatisticsError(
                f"column {column!r}: method {method.key!r} needs every value of the window and "
                f"cannot be merged from batches; the streamed window has {n_cur} values (exact up "
                f"to {EXACT_ROWS}). Use 'ks', 'psi', 'jensenshannon', 'hellinger' or 'kl' for "
                "this column, or raise execution.stream_above_rows"
            )
        result = DriftResult(
            column=column,
            kind="numeric",
            method=method.key,
            statistic=float(value),
            p_value=None if p_value is None else float(p_value),
            threshold=math.nan,
            drifted=False,
            missing_share_reference=ref.missing_share,
            missing_share_current=share_of(aggregate.n_rows - n_cur, aggregate.n_rows),
            n_reference=ref.n_valid,
            n_current=n_cur,
            note=note,
        )
        return result, method, occupied_cells(ref.bin_counts, counts)

    def _categorical(
        self, aggregate: DriftAggregate, j: int, ref: CategoricalProfile, key: str
    ) -> tuple[DriftResult, DriftMethod, int]:
        column = self.categorical[j]
        seen = aggregate.categories[j]
        index = {c: i for i, c in enumerate(ref.categories)}
        current = np.zeros(len(ref.categories), dtype=np.int64)
        unseen_counts: dict[str, int] = {}
        for label, count in seen.items():
            if label in index:
                current[index[label]] += count
            elif count > 0:
                unseen_counts[label] = count
        unseen = tuple(sorted(unseen_counts))
        extra = np.array([unseen_counts[u] for u in unseen], dtype=np.int64)
        reference_all = np.concatenate([ref.counts, np.zeros(len(unseen), dtype=np.int64)])
        current_all = np.concatenate([current, extra]).astype(np.int64)
        n_cur = int(current_all.sum())
        method = choose_method(column, "categorical", key, ref.n_valid, n_cur)
        note = ""
        if ref.n_valid == 0 or n_cur == 0:
            value, p_value = 0.0, (1.0 if method.is_test else None)
            note = empty_note(ref.n_valid, n_cur)
        else:
            assert method.categorical is not None
            try:
                value, p_value = method.categorical(reference_all, current_all)
            except StatisticsError as exc:
                raise StatisticsError(f"column {column!r}: {exc}") from exc
        result = DriftResult(
            column=column,
            kind="categorical",
            method=method.key,
            statistic=float(value),
            p_value=None if p_value is None else float(p_value),
            threshold=math.nan,
            drifted=False,
            missing_share_reference=ref.missing_share,
            missing_share_current=share_of(int(aggregate.n_missing[j]), aggregate.n_rows),
            unseen_categories=unseen,
            n_reference=ref.n_valid,
            n_current=n_cur,
            unseen_share=share_of(int(extra.sum()), n_cur),
            note=note,
        )
        return result, method, occupied_cells(reference_all, current_all)


@dataclass
class DriftAggregate:
    """Partial drift aggregate of some rows of a window (plain data; merge by addition)."""

    n_rows: int
    n_valid: IntArray
    bins: list[IntArray]
    cells: list[IntArray | None]
    buffers: list[FloatArray | None]
    """Up to :data:`EXACT_ROWS` non-missing values per numeric column; ``None`` beyond."""
    categories: list[dict[str, int]]
    n_missing: IntArray

    def merge(self, other: DriftAggregate) -> DriftAggregate:
        """Add ``other`` into this aggregate (in place; returned). Order does not matter."""
        self.n_rows += other.n_rows
        self.n_valid += other.n_valid
        for j, counts in enumerate(other.bins):
            self.bins[j] += counts
        for j, cells in enumerate(other.cells):
            mine = self.cells[j]
            if mine is not None and cells is not None:
                mine += cells
        for j, buffer in enumerate(other.buffers):
            self.buffers[j] = None if buffer is None else _keep(self.buffers[j], buffer)
        for j, seen in enumerate(other.categories):
            mine_seen = self.categories[j]
            for label, count in seen.items():
                mine_seen[label] = mine_seen.get(label, 0) + count
        self.n_missing += other.n_missing
        return self


def _keep(buffer: FloatArray | None, values: FloatArray) -> FloatArray | None:
    if buffer is None or buffer.size + values.size > EXACT_ROWS:
        return None
    return np.concatenate([buffer, values])


_Draws = TypeVar("_Draws", IntArray, FloatArray)


def _add_draws(mine: _Draws | None, theirs: _Draws | None) -> _Draws | None:
    """The sum of two partials' bootstrap draws (either may have none yet)."""
    if theirs is None:
        return mine
    return theirs.copy() if mine is None else mine + theirs


def ks_from_cells(reference: NumericProfile, cells: IntArray) -> tuple[float, float]:
    """Two-sample KS ``(D, p)`` from the window's histogram over the reference's value cells.

    ``cells`` has ``2K + 1`` counts for the ``K`` distinct values ``r`` of a full
    (not compact) reference profile: cell ``2k`` holds window values in
    ``(r_{k-1}, r_k)``, cell ``2k + 1`` those equal to ``r_k`` (cell ``2K``: above
    ``r_K``). ``D`` is the largest gap of the two ECDFs at each ``r_k`` and at its
    left limit (module docstring); ``p`` is Smirnov's asymptotic
    ``kstwo.sf(D, round(n·m/(n+m)))`` as the in-memory KS.
    """
    if reference.compact:
        raise StatisticsError(
            f"column {reference.column!r}: KS from cell counts needs a full reference profile; "
            "this one is compact (its ECDF is interpolated between knots)"
        )
    grid = np.unique(reference.values)
    if cells.size != 2 * grid.size + 1:
        raise StatisticsError(
            f"column {reference.column!r}: {cells.size} KS cells do not match the "
            f"{grid.size} distinct reference values"
        )
    n, m = reference.n_valid, int(cells.sum())
    cumulative = np.cumsum(cells)
    cur_below = cumulative[0 : 2 * grid.size : 2] / m  # values < r_k
    cur_upto = cumulative[1 : 2 * grid.size : 2] / m  # values <= r_k
    ref_below = reference.cdf(grid, side="left")
    ref_upto = reference.cdf(grid, side="right")
    gap = max(
        float(np.max(np.abs(ref_upto - cur_upto))), float(np.max(np.abs(ref_below - cur_below)))
    )
    d = min(max(gap, 0.0), 1.0)
    big, small = max(float(n), float(m)), min(float(n), float(m))
    p = float(np.clip(stats.kstwo.sf(d, np.round(big * small / (big + small))), 0.0, 1.0))
    return d, p


_CORRECTIONS: tuple[str, ...] = ("none", "bonferroni", "benjamini-hochberg")


# =========================================================================== performance


def _interval(values: FloatArray, confidence: float) -> tuple[float | None, float | None]:
    return percentile_interval(np.asarray(values, dtype=np.float64), confidence)


def _metric(
    name: str, value: float, bounds: tuple[float | None, float | None], n: int, confidence: float
) -> MetricValue:
    low, high = bounds
    return MetricValue(
        name=name,
        value=float(value),
        ci_low=low,
        ci_high=high,
        n=n,
        confidence=confidence if low is not None else None,
    )


def _poisson_sums(rng: np.random.Generator, rows: FloatArray, n_bootstrap: int) -> FloatArray:
    """``(B, q + 1)``: ``Σ_i w_bi · rows_i`` and ``Σ_i w_bi`` for Poisson(1) row weights ``w``."""
    out = np.zeros((n_bootstrap, rows.shape[1] + 1), dtype=np.float64)
    step = max(1, _POISSON_CHUNK // max(n_bootstrap, 1))
    for start in range(0, rows.shape[0], step):
        chunk = rows[start : start + step]
        weights = rng.poisson(1.0, size=(n_bootstrap, chunk.shape[0])).astype(np.float64)
        out[:, :-1] += weights @ chunk
        out[:, -1] += weights.sum(axis=1)
    return out


_MAX_LABELS = 11


@dataclass
class BinaryAggregate:
    """Binary classification: confusion counts, score groups and Poisson replicates of the counts.

    ``update(y_true, y_pred, y_score, key=...)`` adds a batch, ``merge`` adds a
    partial, ``finalize`` gives ``classification_metrics``' default metrics
    (accuracy, precision, recall, F1, ROC AUC) with ``pos_label = 1``.
    """

    n_bootstrap: int = N_BOOTSTRAP
    seed: int = 0
    stream: int = 0
    """Extra seed word (e.g. a segment's id) so two aggregates of one batch draw apart."""
    labels: set[object] = field(default_factory=set)
    counts: IntArray = field(default_factory=lambda: np.zeros(4, dtype=np.int64))
    replicates: IntArray | None = None
    scores: FloatArray | None = None
    groups: IntArray | None = None

    def update(
        self,
        y_true: npt.ArrayLike,
        y_pred: npt.ArrayLike,
        y_score: npt.ArrayLike | None,
        *,
        key: BatchKey,
    ) -> BinaryAggregate:
        """Add one batch of labeled rows (in place; returned)."""
        function = "classification_metrics"
        truth_raw = as_1d(y_true, "y_true", function)
        pred_raw = as_1d(y_pred, "y_pred", function)
        if len(self.labels) < _MAX_LABELS:
            self.labels |= set(np.unique(truth_raw).tolist()) | set(np.unique(pred_raw).tolist())
        truth = np.asarray(truth_raw == 1)
        codes = 2 * truth.astype(np.int64) + np.asarray(pred_raw == 1).astype(np.int64)
        counts = np.bincount(codes, minlength=4).astype(np.int64)
        self.counts += counts
        if self.n_bootstrap > 0:
            draws = batch_rng(self.seed, key, self.stream).poisson(
                counts, size=(self.n_bootstrap, 4)
            )
            self.replicates = draws if self.replicates is None else self.replicates + draws
        if y_score is not None:
            scores = as_scores(y_score, "y_score", function)
            uniques, inverse = np.unique(scores, return_inverse=True)
            grouped = np.bincount(2 * inverse + truth, minlength=2 * uniques.size)
            self._add_groups(uniques, grouped.reshape(-1, 2).astype(np.int64))
        return self

    def _add_groups(self, scores: FloatArray, groups: IntArray) -> None:
        """Merge sorted unique ``scores`` with their counts (linear: searchsorted + insert)."""
        if self.scores is None or self.groups is None:
            self.scores, self.groups = scores.copy(), groups.copy()
            return
        position = np.searchsorted(self.scores, scores)
        hit = position < self.scores.size
        hit[hit] = self.scores[position[hit]] == scores[hit]
        self.groups[position[hit]] += groups[hit]  # positions of distinct scores are distinct
        new = ~hit
        if new.any():
            self.scores = np.insert(self.scores, position[new], scores[new])
            self.groups = np.insert(self.groups, position[new], groups[new], axis=0)

    def merge(self, other: BinaryAggregate) -> BinaryAggregate:
        """Add ``other`` (in place; returned)."""
        self.labels |= other.labels
        self.counts += other.counts
        self.replicates = _add_draws(self.replicates, other.replicates)
        if other.scores is not None and other.groups is not None:
            self._add_groups(other.scores, other.groups)
        return self

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def finalize(
        self, *, intervals: bool = True, confidence: float = 0.95
    ) -> dict[str, MetricValue]:
        """The point values of ``classification_metrics`` (and streamed intervals, see module)."""
        function = "classification_metrics"
        if self.n == 0:
            raise StatisticsError(f"The 'y_true' argument of {function} is empty.")
        if len(self.labels) > 2:
            at_least = "at least " if len(self.labels) >= _MAX_LABELS else ""
            raise StatisticsError(
                f"{function} supports binary labels only; got {at_least}{len(self.labels)} "
                f"classes {sorted(self.labels, key=str)[:10]}"
            )
        if len(self.labels) == 2 and 1 not in self.labels:
            raise param_error(function, "pos_label", f"one of {sorted(self.labels, key=str)}", 1)
        points = {k: float(v[0]) for k, v in label_metrics_from_counts(self.counts[None]).items()}
        use_ci = intervals and self.n_bootstrap > 0 and self.replicates is not None
        boot = label_metrics_from_counts(self.replicates) if use_ci else {}  # type: ignore[arg-type]
        out = {
            name: _metric(
                name,
                points[name],
                _interval(boot[name], confidence) if use_ci else (None, None),
                self.n,
                confidence,
            )
            for name in ("accuracy", "precision", "recall", "f1")
        }
        positives = int(self.counts[2] + self.counts[3])
        if self.groups is not None and 0 < positives < self.n:
            auc = float(roc_auc_from_counts(self.groups[None])[0])
            bounds = _delong_bounds(self.groups, auc, confidence) if use_ci else (None, None)
            out["roc_auc"] = _metric("roc_auc", auc, bounds, self.n, confidence)
        return out


def _delong_bounds(
    groups: IntArray, auc: float, confidence: float
) -> tuple[float | None, float | None]:
    """``auc ± z·se`` (clipped to [0, 1]) with DeLong's variance from score-group counts.

    A positive of group ``g`` has placement ``(N_<g + N_g/2)/N`` among the negatives,
    a negative ``(P_>g + P_g/2)/P``; ``var = s²(positives)/P + s²(negatives)/N``
    (``ddof=1``), equal to :func:`~modelwatch.stats.kernels.delong_covariance`.
    """
    negatives = groups[:, 0].astype(np.float64)
    positives = groups[:, 1].astype(np.float64)
    n_neg, n_pos = negatives.sum(), positives.sum()
    if n_neg < 2 or n_pos < 2:
        return None, None
    v_pos = (np.cumsum(negatives) - negatives + 0.5 * negatives) / n_neg
    above = positives.sum() - np.cumsum(positives)
    v_neg = (above + 0.5 * positives) / n_pos
    s_pos = float(np.sum(positives * (v_pos - auc) ** 2) / (n_pos - 1))
    s_neg = float(np.sum(negatives * (v_neg - auc) ** 2) / (n_neg - 1))
    se = math.sqrt(s_pos / n_pos + s_neg / n_neg)
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    return max(0.0, auc - z * se), min(1.0, auc + z * se)


@dataclass
class RegressionAggregate:
    """Regression: sums of |e|, e², |e|/|y|, Chan's (n, mean, M2) of y, Poisson-weighted sums."""

    n_bootstrap: int = N_BOOTSTRAP
    seed: int = 0
    n: int = 0
    abs_sum: float = 0.0
    sq_sum: float = 0.0
    rel_sum: float = 0.0
    any_zero: bool = False
    mean: float = 0.0
    m2: float = 0.0
    replicates: FloatArray | None = None
    """``(B, 6)``: weighted Σ|e|, Σe², Σrel, Σy, Σy², Σw."""

    def update(
        self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike, *, key: BatchKey
    ) -> RegressionAggregate:
        function = "regression_metrics"
        truth = as_scores(y_true, "y_true", function)
        predicted = as_scores(y_pred, "y_pred", function)
        if truth.size != predicted.size:
            raise StatisticsError(
                f"The arguments of {function} have different lengths: "
                f"{{'y_true': {truth.size}, 'y_pred': {predicted.size}}}."
            )
        error = truth - predicted
        absolute = np.abs(error)
        relative = absolute / np.maximum(np.abs(truth), np.finfo(np.float64).eps)
        mean = float(truth.mean())
        other = RegressionAggregate(
            n_bootstrap=0,
            n=int(truth.size),
            abs_sum=float(absolute.sum()),
            sq_sum=float((error**2).sum()),
            rel_sum=float(relative.sum()),
            any_zero=bool(np.any(truth == 0)),
            mean=mean,
            m2=float(((truth - mean) ** 2).sum()),
        )
        if self.n_bootstrap > 0:
            rows = np.column_stack([absolute, error**2, relative, truth, truth**2])
            other.replicates = _poisson_sums(batch_rng(self.seed, key), rows, self.n_bootstrap)
        return self.merge(other)

    def merge(self, other: RegressionAggregate) -> RegressionAggregate:
        if other.n == 0:
            return self
        total = self.n + other.n
        delta = other.mean - self.mean
        self.mean = self.mean + delta * other.n / total
        self.m2 = self.m2 + other.m2 + delta * delta * self.n * other.n / total
        self.n = total
        self.abs_sum += other.abs_sum
        self.sq_sum += other.sq_sum
        self.rel_sum += other.rel_sum
        self.any_zero = self.any_zero or other.any_zero
        self.replicates = _add_draws(self.replicates, other.replicates)
        return self

    def finalize(
        self, *, intervals: bool = True, confidence: float = 0.95
    ) -> dict[str, MetricValue]:
        """``regression_metrics``' point values: MAE, RMSE, MAPE (no zero target), R² (n >= 2)."""
        if self.n == 0:
            raise StatisticsError("The 'y_true' argument of regression_metrics is empty.")
        n = self.n
        points = {"mae": self.abs_sum / n, "rmse": math.sqrt(self.sq_sum / n)}
        if not self.any_zero:
            points["mape"] = self.rel_sum / n
        if n >= 2:
            points["r2"] = _r2(self.sq_sum, self.m2)
        boot: dict[str, FloatArray] = {}
        if intervals and self.replicates is not None:
            r = self.replicates
            with np.errstate(divide="ignore", invalid="ignore"):
                w = r[:, 5]
                boot = {"mae": r[:, 0] / w, "rmse": np.sqrt(r[:, 1] / w), "mape": r[:, 2] / w}
                ss_tot = r[:, 4] - r[:, 3] ** 2 / w
                boot["r2"] = np.where(
                    ss_tot > 0, 1.0 - r[:, 1] / ss_tot, np.where(r[:, 1] == 0, 1.0, 0.0)
                )
                boot = {k: np.where(w > 0, v, np.nan) for k, v in boot.items()}
        return {
            name: _metric(
                name,
                value,
                _interval(boot[name], confidence) if boot else (None, None),
                n,
                confidence,
            )
            for name, value in points.items()
        }


def _r2(ss_res: float, ss_tot: float) -> float:
    if ss_tot > 0:
        return 1.0 - ss_res / ss_tot
    return 1.0 if ss_res == 0 else 0.0


@dataclass
class MulticlassAggregate:
    """Multiclass: confusion cells keyed by (true, predicted) text, Poisson replicates, log loss."""

    classes: tuple[str, ...] | None = None
    """The probability columns' classes (log loss); None: no log loss."""
    n_bootstrap: int = N_BOOTSTRAP
    seed: int = 0
    cells: dict[tuple[str, str], int] = field(default_factory=dict)
    replicates: dict[tuple[str, str], IntArray] = field(default_factory=dict)
    loss_sum: float = 0.0
    loss_replicates: FloatArray | None = None
    """``(B, 2)``: Poisson-weighted Σ loss and Σw."""

    def update(
        self,
        y_true: Sequence[str] | npt.NDArray[np.object_],
        y_pred: Sequence[str] | npt.NDArray[np.object_],
        y_proba: npt.ArrayLike | None,
        *,
        key: BatchKey,
    ) -> MulticlassAggregate:
        function = "multiclass_metrics"
        truth = as_1d(np.asarray(y_true, dtype=object), "y_true", function)
        predicted = as_1d(np.asarray(y_pred, dtype=object), "y_pred", function)
        pairs = pd.DataFrame({"t": truth, "p": predicted}).value_counts(sort=False)
        rng = batch_rng(self.seed, key) if self.n_bootstrap > 0 else None
        for (t, p), count in sorted(
            pairs.items(), key=lambda item: (str(item[0][0]), str(item[0][1]))
        ):
            cell = (str(t), str(p))
            self.cells[cell] = self.cells.get(cell, 0) + int(count)
            if rng is not None:
                draw = rng.poisson(int(count), size=self.n_bootstrap).astype(np.int64)
                previous = self.replicates.get(cell)
                self.replicates[cell] = draw if previous is None else previous + draw
        if y_proba is not None and self.classes is not None:
            losses = row_log_loss(y_proba, truth, self.classes, where=function)
            self.loss_sum += float(losses.sum())
            if rng is not None:
                sums = _poisson_sums(rng, losses[:, None], self.n_bootstrap)
                self.loss_replicates = (
                    sums if self.loss_replicates is None else self.loss_replicates + sums
                )
        return self

    def merge(self, other: MulticlassAggregate) -> MulticlassAggregate:
        for cell, count in other.cells.items():
            self.cells[cell] = self.cells.get(cell, 0) + count
        for cell, draws in other.replicates.items():
            previous = self.replicates.get(cell)
            self.replicates[cell] = draws.copy() if previous is None else previous + draws
        self.loss_sum += other.loss_sum
        self.loss_replicates = _add_draws(self.loss_replicates, other.loss_replicates)
        return self

    def finalize(
        self, *, intervals: bool = True, confidence: float = 0.95
    ) -> dict[str, MetricValue]:
        """``multiclass_metrics``' point values (labels compared as text; NaN recalls left out)."""
        n = sum(self.cells.values())
        if n == 0:
            raise StatisticsError("The 'y_true' argument of multiclass_metrics is empty.")
        present = sorted({c for cell in self.cells for c in cell}, key=str)
        position = {c: i for i, c in enumerate(present)}
        k = len(present)
        matrix = np.zeros((1, k, k), dtype=np.float64)
        boot = np.zeros((self.n_bootstrap, k, k), dtype=np.float64)
        for (t, p), count in self.cells.items():
            matrix[0, position[t], position[p]] += count
            if self.replicates:
                boot[:, position[t], position[p]] += self.replicates[(t, p)]
        use_ci = intervals and bool(self.replicates)
        points = multiclass_label_metrics(matrix)
        samples = multiclass_label_metrics(boot) if use_ci else {}
        values: dict[str, tuple[float, FloatArray | None]] = {}
        for name in ("accuracy", "f1_macro", "f1_weighted"):
            values[name] = (float(points[name][0]), samples[name] if use_ci else None)
        for c, label in enumerate(present):
            values[f"recall[{label}]"] = (
                float(points["recall"][0, c]),
                samples["recall"][:, c] if use_ci else None,
            )
        if self.classes is not None:
            loss_boot = None
            if use_ci and self.loss_replicates is not None:
                with np.errstate(divide="ignore", invalid="ignore"):
                    loss_boot = self.loss_replicates[:, 0] / self.loss_replicates[:, 1]
            values["log_loss"] = (self.loss_sum / n, loss_boot)
        return {
            name: _metric(
                name,
                value,
                _interval(sample, confidence) if sample is not None else (None, None),
                n,
                confidence,
            )
            for name, (value, sample) in values.items()
            if not np.isnan(value)
        }


def segment_stream(segment: str) -> int:
    """A stable seed word for one segment (``"column=value"``), independent of the process."""
    return zlib.crc32(segment.encode("utf-8"))
