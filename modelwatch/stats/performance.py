"""Realized performance metrics with bootstrap confidence intervals, overall and per segment.

Point values equal scikit-learn's for binary problems, the positive class being
``pos_label`` (default ``1``): ``accuracy_score``, ``precision_score``,
``recall_score``, ``f1_score`` (``zero_division=0``), ``roc_auc_score``,
``balanced_accuracy_score``, ``average_precision_score`` (PR AUC), ``log_loss``,
``brier_score_loss``; plus the expected calibration error (equal-width bins).
Regression: ``mean_absolute_error``, ``root_mean_squared_error``,
``mean_absolute_percentage_error`` (only when no target is 0), ``r2_score``.
Multiclass (:func:`multiclass_metrics`): ``accuracy_score``, ``f1_score``
(``average="macro"`` / ``"weighted"``, ``zero_division=0``), per-class
``recall_score`` and ``log_loss`` from the per-class probability matrix. :func:`fairness_gaps` gives the
demographic-parity and equal-opportunity differences across segment values.

Bootstrap
---------
Percentile intervals over ``n_bootstrap`` resamples of the rows, drawn as an
index matrix ``(resamples, n)`` in chunks of at most ``BOOTSTRAP_CHUNK_ELEMENTS``
entries (memory stays bounded at any ``n``). Per chunk, confusion counts come
from one ``bincount`` of ``2·y_true + y_pred`` offset by resample, and ROC AUC
from the Mann–Whitney formula on tie groups of the score (one ``bincount`` of
``(group, label)`` per resample, a ``cumsum`` over groups; average precision
the same counts cumulated from the top), per-row losses (log loss, Brier) and
ECE residuals are gathered and averaged per resample: no Python loop over
resamples. Resamples where a metric is undefined (AUC of a resample with a
single class) are left out of its interval. ``n_bootstrap=0`` gives no interval.
The kernels (resampling, confusion counts, AUC, ECE, log loss) are those of
:mod:`modelwatch.stats.kernels`, shared with the A/B comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from modelwatch.errors import StatisticsError
from modelwatch.stats.kernels import (
    BOOTSTRAP_CHUNK_ELEMENTS,
    BoolArray,
    FloatArray,
    IntArray,
    average_precision_from_counts,
    bootstrap_distribution,
    calibration_errors,
    check_bootstrap_params,
    confusion_codes,
    confusion_counts,
    confusion_matrices,
    encode_labels,
    group_label_counts,
    label_metrics_from_counts,
    multiclass_label_metrics,
    percentile_interval,
    roc_auc_from_counts,
    row_log_loss,
    score_groups,
)
from modelwatch.stats.params import (
    Interval,
    as_1d,
    as_scores,
    check_param,
    param_error,
    positive_labels,
    same_length,
)

__all__ = [
    "BOOTSTRAP_CHUNK_ELEMENTS",
    "CLASSIFICATION_METRICS",
    "DEFAULT_CLASSIFICATION_METRICS",
    "LABEL_METRICS",
    "METRICS",
    "MULTICLASS_METRICS",
    "REGRESSION_METRICS",
    "MetricValue",
    "classification_metrics",
    "fairness_gaps",
    "multiclass_metrics",
    "regression_metrics",
    "segment_masks",
    "segment_metrics",
]

LABEL_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1")
"""Metrics computed from predicted labels (the confusion matrix)."""

METRICS: tuple[str, ...] = (*LABEL_METRICS, "roc_auc")
"""Metrics the A/B module compares (paired bootstrap)."""

DEFAULT_CLASSIFICATION_METRICS: tuple[str, ...] = METRICS
"""What :func:`classification_metrics` computes unless ``metrics`` says otherwise."""

CLASSIFICATION_METRICS: tuple[str, ...] = (
    *METRICS,
    "balanced_accuracy",
    "average_precision",
    "log_loss",
    "brier",
    "ece",
)
"""Every metric :func:`classification_metrics` can compute."""

REGRESSION_METRICS: tuple[str, ...] = ("mae", "rmse", "mape", "r2")
"""What :func:`regression_metrics` computes."""

MULTICLASS_METRICS: tuple[str, ...] = ("accuracy", "f1_macro", "f1_weighted", "log_loss")
"""What :func:`multiclass_metrics` computes overall (plus ``recall[<class>]`` per class)."""


@dataclass(frozen=True)
class MetricValue:
    """One metric value with its bootstrap confidence interval."""

    name: str
    value: float
    ci_low: float | None
    ci_high: float | None
    n: int
    kind: Literal["realized", "estimated", "drift", "serving"] = "realized"
    """``realized`` (labels), ``estimated`` (CBPE, no labels), ``drift`` (multivariate drift)
    or ``serving`` (throughput, latency, null and erroring predictions)."""
    segment: str | None = None
    confidence: float | None = None
    """Confidence level of ``[ci_low, ci_high]`` (``None`` without an interval)."""


def _bootstrapped(
    evaluate: Callable[[IntArray], dict[str, FloatArray]],
    n: int,
    *,
    n_bootstrap: int,
    confidence: float,
    seed: int,
    order: Sequence[str] | None = None,
    drop_undefined: bool = False,
) -> dict[str, MetricValue]:
    """The one bootstrap driver: point values on the rows, percentile CIs on shared resamples.

    ``evaluate`` maps ``(b, n)`` index matrices to one column per metric. ``order``
    keeps (and orders) only those metrics; ``drop_undefined`` leaves out metrics
    whose point value is NaN.
    """
    identity = np.arange(n, dtype=np.int64)[None, :]
    values = {name: float(column[0]) for name, column in evaluate(identity).items()}
    if drop_undefined:
        values = {name: v for name, v in values.items() if not np.isnan(v)}
    names = [m for m in order if m in values] if order is not None else list(values)
    samples = bootstrap_distribution(evaluate, n, n_bootstrap=n_bootstrap, seed=seed, names=names)
    result: dict[str, MetricValue] = {}
    for name in names:
        low: float | None = None
        high: float | None = None
        if n_bootstrap > 0:
            low, high = percentile_interval(samples[name], confidence)
        result[name] = MetricValue(
            name=name,
            value=values[name],
            ci_low=low,
            ci_high=high,
            n=n,
            confidence=confidence if low is not None else None,
        )
    return result


# --------------------------------------------------------------------------- public API


def classification_metrics(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    y_score: npt.ArrayLike | None = None,
    *,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    pos_label: object = 1,
    metrics: Sequence[str] | None = None,
    ece_bins: int = 10,
) -> dict[str, MetricValue]:
    """Binary classification metrics with bootstrap CIs (same resamples for every metric).

    ``metrics`` defaults to :data:`DEFAULT_CLASSIFICATION_METRICS` (accuracy,
    precision, recall, f1, roc_auc); any of :data:`CLASSIFICATION_METRICS` may be
    asked for. Score metrics are present only when ``y_score`` is given;
    ``roc_auc`` and ``average_precision`` also need both classes in ``y_true``.
    ``log_loss``, ``brier`` and ``ece`` read ``y_score`` as the probability of
    ``pos_label`` (it must lie in [0, 1]); ``ece`` uses ``ece_bins`` equal-width
    bins: ``Σ_b |Σ_{i∈b} (y_i − p_i)| / n``.
    """
    function = "classification_metrics"
    n_bootstrap, confidence, seed = check_bootstrap_params(
        function, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed, min_resamples=0
    )
    ece_bins = check_param(function, "ece_bins", ece_bins, Interval(int, 1, None))
    wanted = _check_metrics(function, metrics)
    true_array = as_1d(y_true, "y_true", function)
    pred_array = as_1d(y_pred, "y_pred", function)
    arrays = {"y_true": true_array, "y_pred": pred_array}
    scores = None
    if y_score is not None:
        scores = as_scores(y_score, "y_score", function)
        arrays["y_score"] = scores
    n = same_length(function, **arrays)
    truth, (predicted,) = positive_labels(true_array, [pred_array], pos_label, function)
    kernel = _ClassificationKernel(truth, predicted, scores, wanted, ece_bins, function)

    return _bootstrapped(
        kernel.evaluate,
        n,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
        order=wanted,
    )


def _check_metrics(function: str, metrics: Sequence[str] | None) -> tuple[str, ...]:
    if metrics is None:
        return DEFAULT_CLASSIFICATION_METRICS
    if isinstance(metrics, str):
        metrics = [metrics]
    unknown = [m for m in metrics if m not in CLASSIFICATION_METRICS]
    if unknown or not metrics:
        raise param_error(
            function,
            "metrics",
            f"a non-empty list of {list(CLASSIFICATION_METRICS)}",
            unknown[0] if unknown else list(metrics),
        )
    return tuple(dict.fromkeys(metrics))


class _ClassificationKernel:
    """Evaluates the requested metrics on row-index matrices ``(b, n)``, vectorized over rows."""

    def __init__(
        self,
        truth: BoolArray,
        predicted: BoolArray,
        scores: FloatArray | None,
        wanted: tuple[str, ...],
        ece_bins: int,
        function: str,
    ) -> None:
        self.truth = truth
        self.wanted = set(wanted)
        self.codes = confusion_codes(truth, predicted)
        n = truth.size
        both_classes = 0 < int(truth.sum()) < n
        self.ranked = {"roc_auc", "average_precision"} & self.wanted if both_classes else set()
        self.probabilistic = {"log_loss", "brier", "ece"} & self.wanted
        if scores is None:
            self.ranked, self.probabilistic = set(), set()
        self.groups: IntArray | None = None
        self.n_groups = 0
        if self.ranked and scores is not None:
            self.groups, self.n_groups = score_groups(scores)
        if self.probabilistic and scores is not None:
            if float(scores.min()) < 0.0 or float(scores.max()) > 1.0:
                raise StatisticsError(
                    f"The 'y_score' argument of {function} must hold probabilities in [0, 1] "
                    f"for {sorted(self.probabilistic)}. Got values in "
                    f"[{float(scores.min()):.4g}, {float(scores.max()):.4g}]."
                )
            y = truth.astype(np.float64)
            eps = np.finfo(np.float64).eps
            self.row_log_loss = -(
                y * np.log(np.clip(scores, eps, 1 - eps))
                + (1.0 - y) * np.log(np.clip(1.0 - scores, eps, 1 - eps))
            )
            self.row_brier = (y - scores) ** 2
            self.y, self.scores, self.ece_bins = y, scores, ece_bins

    def evaluate(self, index: IntArray) -> dict[str, FloatArray]:
        out: dict[str, FloatArray] = {}
        counts = confusion_counts(self.codes, index)
        for name, column in label_metrics_from_counts(counts).items():
            if name in self.wanted:
                out[name] = column
        if "balanced_accuracy" in self.wanted:
            out["balanced_accuracy"] = _balanced_accuracy(counts)
        if self.ranked and self.groups is not None:
            grouped = group_label_counts(self.groups[index], self.truth[index], self.n_groups)
            if "roc_auc" in self.ranked:
                out["roc_auc"] = roc_auc_from_counts(grouped)
            if "average_precision" in self.ranked:
                out["average_precision"] = average_precision_from_counts(grouped)
        if "log_loss" in self.probabilistic:
            out["log_loss"] = self.row_log_loss[index].mean(axis=1)
        if "brier" in self.probabilistic:
            out["brier"] = self.row_brier[index].mean(axis=1)
        if "ece" in self.probabilistic:
            out["ece"] = calibration_errors(self.y, self.scores, n_bins=self.ece_bins, index=index)
        return out


def _balanced_accuracy(counts: npt.NDArray[np.int64]) -> FloatArray:
    """Mean recall over the classes present in ``y_true`` (as scikit-learn)."""
    tn, fp, fn, tp = (counts[..., i].astype(np.float64) for i in range(4))
    with np.errstate(divide="ignore", invalid="ignore"):
        recalls = np.stack([tp / (tp + fn), tn / (tn + fp)])
    present = np.isfinite(recalls)
    return np.where(present, recalls, 0.0).sum(axis=0) / present.sum(axis=0)


def regression_metrics(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, MetricValue]:
    """MAE, RMSE, MAPE and R² (scikit-learn's definitions) with bootstrap CIs.

    MAPE (a fraction, as scikit-learn's) is computed only where it is defined:
    it is omitted when any ``y_true`` is 0 (scikit-learn would divide by machine
    epsilon and report ~1e15). R² of a constant ``y_true`` is 1.0 for a perfect
    prediction else 0.0 (``force_finite``), and R² is omitted with fewer than 2 rows.
    """
    function = "regression_metrics"
    n_bootstrap, confidence, seed = check_bootstrap_params(
        function, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed, min_resamples=0
    )
    truth = as_scores(y_true, "y_true", function)
    predicted = as_scores(y_pred, "y_pred", function)
    n = same_length(function, y_true=truth, y_pred=predicted)
    error = truth - predicted
    mape_defined = bool(np.all(truth != 0))
    relative = np.abs(error) / np.maximum(np.abs(truth), np.finfo(np.float64).eps)

    def evaluate(index: IntArray) -> dict[str, FloatArray]:
        e = error[index]
        out = {"mae": np.abs(e).mean(axis=1), "rmse": np.sqrt((e**2).mean(axis=1))}
        if mape_defined:
            out["mape"] = relative[index].mean(axis=1)
        if n >= 2:
            y = truth[index]
            ss_res = (e**2).sum(axis=1)
            ss_tot = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                r2 = 1.0 - ss_res / ss_tot
            out["r2"] = np.where(ss_tot > 0, r2, np.where(ss_res == 0, 1.0, 0.0))
        return out

    return _bootstrapped(evaluate, n, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed)


def multiclass_metrics(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    y_proba: npt.ArrayLike | None = None,
    *,
    classes: Sequence[object] | None = None,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, MetricValue]:
    """Multiclass metrics with bootstrap CIs (same resamples for every metric).

    * ``accuracy``; ``f1_macro`` / ``f1_weighted``: ``f1_score(average=...,
      zero_division=0)`` over the classes present in ``y_true`` or ``y_pred``
      (scikit-learn's default label set), weights = true support;
    * ``recall[<class>]``: ``recall_score(average=None)`` of each class present
      in ``y_true``;
    * ``log_loss`` (only with ``y_proba``): ``-mean(log p_i,y_i)`` with ``p``
      clipped to ``[eps, 1 - eps]``, as ``log_loss(y_true, y_proba,
      labels=classes)``. ``y_proba`` is ``(n, k)``, its columns are ``classes``
      (required with ``y_proba``), its rows sum to 1 (within 1e-6).

    Labels are compared as given (``classes`` must contain every label of
    ``y_true`` when ``y_proba`` is passed). Bootstrap resamples where a class
    has no true row leave that class's recall out of its interval.
    """
    function = "multiclass_metrics"
    n_bootstrap, confidence, seed = check_bootstrap_params(
        function, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed, min_resamples=0
    )
    true_array = as_1d(y_true, "y_true", function)
    pred_array = as_1d(y_pred, "y_pred", function)
    n = same_length(function, y_true=true_array, y_pred=pred_array)
    present, (truth, predicted) = encode_labels(true_array, pred_array)
    row_loss: FloatArray | None = None
    if y_proba is not None:
        row_loss = row_log_loss(y_proba, true_array, classes, where=function)

    def evaluate(index: IntArray) -> dict[str, FloatArray]:
        scores = multiclass_label_metrics(confusion_matrices(truth, predicted, len(present), index))
        recall = scores.pop("recall")
        out = dict(scores)
        for c, label in enumerate(present):
            out[f"recall[{label}]"] = recall[:, c]
        if row_loss is not None:
            out["log_loss"] = row_loss[index].mean(axis=1)
        return out

    return _bootstrapped(
        evaluate,
        n,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
        drop_undefined=True,
    )


def segment_metrics(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    y_score: npt.ArrayLike | None,
    segments: pd.DataFrame,
    *,
    min_rows: int = 30,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    pos_label: object = 1,
    metrics: Sequence[str] | None = None,
) -> list[MetricValue]:
    """:func:`classification_metrics` per value of every column of ``segments``.

    ``segments`` is row-aligned with the labels (its index is ignored). Each
    :class:`MetricValue` carries ``segment="<column>=<value>"``. Values with fewer
    than ``min_rows`` rows, and rows whose segment value is missing, are skipped.
    Order: segment columns as given, values sorted as strings, metrics as in
    :func:`classification_metrics`.
    """
    function = "segment_metrics"
    min_rows = check_param(function, "min_rows", min_rows, Interval(int, 1, None))
    if not isinstance(segments, pd.DataFrame):
        raise param_error(function, "segments", "a pandas DataFrame", type(segments).__name__)
    true_array = as_1d(y_true, "y_true", function)
    pred_array = as_1d(y_pred, "y_pred", function)
    score_array = None if y_score is None else as_scores(y_score, "y_score", function)
    if len(segments) != len(true_array):
        raise StatisticsError(
            f"The 'segments' argument of {function} has {len(segments)} rows; "
            f"the labels have {len(true_array)}."
        )
    out: list[MetricValue] = []
    for column, value, mask in segment_masks(segments, min_rows):
        computed = classification_metrics(
            true_array[mask],
            pred_array[mask],
            None if score_array is None else score_array[mask],
            n_bootstrap=n_bootstrap,
            confidence=confidence,
            seed=seed,
            pos_label=pos_label,
            metrics=metrics,
        )
        segment = f"{column}={value}"
        out.extend(replace(metric, segment=segment) for metric in computed.values())
    return out


def segment_masks(segments: pd.DataFrame, min_rows: int) -> Iterator[tuple[str, str, BoolArray]]:
    """(column, value as text, row mask) of every segment value with at least ``min_rows`` rows."""
    for column in segments.columns:
        labels = segments[column].reset_index(drop=True)
        missing = labels.isna().to_numpy()
        as_text = labels.astype(object).map(str).to_numpy()
        for value in sorted(set(as_text[~missing].tolist())):
            mask = (as_text == value) & ~missing
            if int(mask.sum()) >= min_rows:
                yield str(column), value, mask


def fairness_gaps(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    segments: pd.DataFrame,
    *,
    min_rows: int = 30,
    pos_label: object = 1,
) -> list[MetricValue]:
    """Largest gaps between the values of each segment column (higher = less fair).

    * ``demographic_parity_difference``: max − min over values of the share of
      rows predicted ``pos_label``;
    * ``equal_opportunity_difference``: max − min of the true positive rate
      (values without a positive row are left out).

    Values with fewer than ``min_rows`` rows are ignored; a gap needs two values.
    Each :class:`MetricValue` has ``segment=<column>`` and ``n`` = rows compared.
    """
    function = "fairness_gaps"
    min_rows = check_param(function, "min_rows", min_rows, Interval(int, 1, None))
    if not isinstance(segments, pd.DataFrame):
        raise param_error(function, "segments", "a pandas DataFrame", type(segments).__name__)
    true_array = as_1d(y_true, "y_true", function)
    pred_array = as_1d(y_pred, "y_pred", function)
    same_length(function, y_true=true_array, y_pred=pred_array)
    if len(segments) != len(true_array):
        raise StatisticsError(
            f"The 'segments' argument of {function} has {len(segments)} rows; "
            f"the labels have {len(true_array)}."
        )
    truth, (predicted,) = positive_labels(true_array, [pred_array], pos_label, function)
    per_column: dict[str, list[tuple[int, float, float | None]]] = {}
    for column, _, mask in segment_masks(segments, min_rows):
        positives = truth & mask
        tpr = float((predicted & positives).sum() / positives.sum()) if positives.any() else None
        rate = float(predicted[mask].mean())
        per_column.setdefault(column, []).append((int(mask.sum()), rate, tpr))
    out: list[MetricValue] = []
    for column, groups in per_column.items():
        if len(groups) < 2:
            continue
        rows = sum(g[0] for g in groups)
        rates = [g[1] for g in groups]
        out.append(
            MetricValue(
                "demographic_parity_difference", max(rates) - min(rates), None, None, rows,
                segment=column,
            )
        )  # fmt: skip
        tprs = [g[2] for g in groups if g[2] is not None]
        if len(tprs) >= 2:
            out.append(
                MetricValue(
                    "equal_opportunity_difference", max(tprs) - min(tprs), None, None, rows,
                    segment=column,
                )
            )  # fmt: skip
    return out
