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
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from modelwatch.errors import StatisticsError

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
    "segment_metrics",
]

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]

BOOTSTRAP_CHUNK_ELEMENTS = 1 << 22
"""Upper bound on ``resamples × rows`` held in memory at once by the bootstrap."""

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
    kind: Literal["realized", "estimated", "drift"] = "realized"
    """``realized`` (labels), ``estimated`` (CBPE, no labels) or ``drift`` (multivariate drift)."""
    segment: str | None = None
    confidence: float | None = None
    """Confidence level of ``[ci_low, ci_high]`` (``None`` without an interval)."""


# --------------------------------------------------------------------------- validation


def _param_error(function: str, name: str, requirement: str, value: object) -> StatisticsError:
    return StatisticsError(
        f"The {name!r} parameter of {function} must be {requirement}. Got {value!r} instead."
    )


def _check_int(function: str, name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise _param_error(function, name, f"an int >= {minimum}", value)
    return int(value)


def _check_confidence(function: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.floating)
        or not 0.0 < float(value) < 1.0
    ):
        raise _param_error(function, "confidence", "a float in (0, 1)", value)
    return float(value)


def _as_1d(values: object, name: str, function: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise StatisticsError(
            f"The {name!r} argument of {function} must be 1-D. Got shape {array.shape} instead."
        )
    if array.size == 0:
        raise StatisticsError(f"The {name!r} argument of {function} is empty.")
    if pd.isna(array).any():
        raise StatisticsError(
            f"The {name!r} argument of {function} holds {int(pd.isna(array).sum())} missing values."
        )
    return array


def _check_same_length(function: str, **arrays: np.ndarray) -> int:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise StatisticsError(f"The arguments of {function} have different lengths: {lengths}.")
    return next(iter(lengths.values()))


def _positive(
    y_true: np.ndarray, others: Sequence[tuple[str, np.ndarray]], pos_label: object, function: str
) -> tuple[BoolArray, list[BoolArray]]:
    """Binary labels as booleans ``label == pos_label``; more than two classes is an error."""
    labels = set(np.unique(y_true).tolist())
    for _, other in others:
        labels |= set(np.unique(other).tolist())
    if len(labels) > 2:
        raise StatisticsError(
            f"{function} supports binary labels only; got {len(labels)} classes "
            f"{sorted(labels, key=str)[:10]}"
        )
    if len(labels) == 2 and pos_label not in labels:
        raise _param_error(function, "pos_label", f"one of {sorted(labels, key=str)}", pos_label)
    return y_true == pos_label, [np.asarray(o == pos_label) for _, o in others]


def _as_scores(values: object, name: str, function: str) -> FloatArray:
    try:
        scores = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatisticsError(f"The {name!r} argument of {function} must be numeric.") from exc
    scores = _as_1d(scores, name, function)
    if not np.all(np.isfinite(scores)):
        raise StatisticsError(f"The {name!r} argument of {function} holds non-finite values.")
    return scores


# --------------------------------------------------------------------------- metric kernels


def _confusion_codes(truth: BoolArray, predicted: BoolArray) -> npt.NDArray[np.int8]:
    """0 = TN, 1 = FP, 2 = FN, 3 = TP."""
    return (2 * truth.astype(np.int8) + predicted.astype(np.int8)).astype(np.int8)


def _metrics_from_counts(counts: npt.NDArray[np.int64]) -> dict[str, FloatArray]:
    """Label metrics from ``(..., 4)`` counts [TN, FP, FN, TP], with ``zero_division=0``."""
    tn, fp, fn, tp = (counts[..., i].astype(np.float64) for i in range(4))
    n = tn + fp + fn + tp
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        accuracy = (tp + tn) / n
    return {"accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1}


def _score_groups(scores: FloatArray) -> tuple[IntArray, int]:
    """Tie-group id of every score in ascending order of score, and the number of groups."""
    uniques, inverse = np.unique(scores, return_inverse=True)
    return inverse.astype(np.int64), int(uniques.size)


def _group_counts(groups: IntArray, truth: BoolArray, n_groups: int) -> npt.NDArray[np.int64]:
    """``(b, n_groups, 2)`` counts of negatives / positives per score tie group and resample."""
    b = groups.shape[0]
    offset = (np.arange(b, dtype=np.int64) * n_groups)[:, None]
    cells = 2 * (groups + offset) + truth
    counts = np.bincount(cells.ravel(), minlength=2 * b * n_groups)
    return counts.reshape(b, n_groups, 2)


def _auc_from_counts(counts: npt.NDArray[np.int64]) -> FloatArray:
    """Mann–Whitney with ties counted one half: ``Σ_g P_g · (N_<g + N_g / 2) / (P · N)``."""
    negatives = counts[:, :, 0].astype(np.float64)
    positives = counts[:, :, 1].astype(np.float64)
    below = np.cumsum(negatives, axis=1) - negatives
    numerator = np.sum(positives * (below + 0.5 * negatives), axis=1)
    denominator = positives.sum(axis=1) * negatives.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def _average_precision_from_counts(counts: npt.NDArray[np.int64]) -> FloatArray:
    """``Σ_k (R_k − R_{k−1}) · P_k`` over distinct thresholds, as ``average_precision_score``."""
    negatives = counts[:, ::-1, 0].astype(np.float64)  # descending score
    positives = counts[:, ::-1, 1].astype(np.float64)
    true_positives = np.cumsum(positives, axis=1)
    predicted = true_positives + np.cumsum(negatives, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, true_positives / predicted, 0.0)
        total = positives.sum(axis=1)
        ap = np.sum(positives * precision, axis=1) / total
        has_negative = negatives.sum(axis=1) > 0
    return np.where((total > 0) & has_negative, ap, np.nan)


def _auc_from_groups(groups: IntArray, truth: BoolArray, n_groups: int) -> FloatArray:
    """ROC AUC of each row of ``(b, n)`` resampled group ids / labels (NaN with one class)."""
    return _auc_from_counts(_group_counts(groups, truth, n_groups))


def _bootstrap_chunks(
    n: int, n_bootstrap: int, seed: int, *, budget: int = BOOTSTRAP_CHUNK_ELEMENTS
) -> Iterator[IntArray]:
    """Index matrices ``(b, n)`` totalling ``n_bootstrap`` rows, ``b·n <= budget`` (b >= 1)."""
    rng = np.random.default_rng(seed)
    per_chunk = max(1, budget // max(n, 1))
    done = 0
    while done < n_bootstrap:
        b = min(per_chunk, n_bootstrap - done)
        yield rng.integers(0, n, size=(b, n), dtype=np.int64)
        done += b


def _percentile_interval(
    values: FloatArray, confidence: float
) -> tuple[float | None, float | None]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None, None
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return float(low), float(high)


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
    samples: dict[str, list[FloatArray]] = {name: [] for name in names}
    for index in _bootstrap_chunks(n, n_bootstrap, seed):
        for name, column in evaluate(index).items():
            if name in samples:
                samples[name].append(column)
    result: dict[str, MetricValue] = {}
    for name in names:
        low: float | None = None
        high: float | None = None
        if n_bootstrap > 0:
            low, high = _percentile_interval(np.concatenate(samples[name]), confidence)
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
    n_bootstrap = _check_int(function, "n_bootstrap", n_bootstrap, 0)
    confidence = _check_confidence(function, confidence)
    seed = _check_int(function, "seed", seed, 0)
    ece_bins = _check_int(function, "ece_bins", ece_bins, 1)
    wanted = _check_metrics(function, metrics)
    true_array = _as_1d(y_true, "y_true", function)
    pred_array = _as_1d(y_pred, "y_pred", function)
    arrays = {"y_true": true_array, "y_pred": pred_array}
    scores = None
    if y_score is not None:
        scores = _as_scores(y_score, "y_score", function)
        arrays["y_score"] = scores
    n = _check_same_length(function, **arrays)
    truth, (predicted,) = _positive(true_array, [("y_pred", pred_array)], pos_label, function)
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
        raise _param_error(
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
        self.codes = _confusion_codes(truth, predicted)
        n = truth.size
        both_classes = 0 < int(truth.sum()) < n
        self.ranked = {"roc_auc", "average_precision"} & self.wanted if both_classes else set()
        self.probabilistic = {"log_loss", "brier", "ece"} & self.wanted
        if scores is None:
            self.ranked, self.probabilistic = set(), set()
        self.groups: IntArray | None = None
        self.n_groups = 0
        if self.ranked and scores is not None:
            self.groups, self.n_groups = _score_groups(scores)
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
            self.row_residual = y - scores
            self.ece_bins = ece_bins
            self.row_bin = np.minimum((scores * ece_bins).astype(np.int64), ece_bins - 1)

    def evaluate(self, index: IntArray) -> dict[str, FloatArray]:
        b, n = index.shape
        out: dict[str, FloatArray] = {}
        offset = np.arange(b, dtype=np.int64)[:, None]
        cells = self.codes[index] + 4 * offset
        counts = np.bincount(cells.ravel(), minlength=4 * b).reshape(b, 4)
        for name, column in _metrics_from_counts(counts).items():
            if name in self.wanted:
                out[name] = column
        if "balanced_accuracy" in self.wanted:
            out["balanced_accuracy"] = _balanced_accuracy(counts)
        if self.ranked and self.groups is not None:
            grouped = _group_counts(self.groups[index], self.truth[index], self.n_groups)
            if "roc_auc" in self.ranked:
                out["roc_auc"] = _auc_from_counts(grouped)
            if "average_precision" in self.ranked:
                out["average_precision"] = _average_precision_from_counts(grouped)
        if "log_loss" in self.probabilistic:
            out["log_loss"] = self.row_log_loss[index].mean(axis=1)
        if "brier" in self.probabilistic:
            out["brier"] = self.row_brier[index].mean(axis=1)
        if "ece" in self.probabilistic:
            cells = (self.row_bin[index] + self.ece_bins * offset).ravel()
            sums = np.bincount(
                cells, weights=self.row_residual[index].ravel(), minlength=b * self.ece_bins
            )
            out["ece"] = np.abs(sums.reshape(b, self.ece_bins)).sum(axis=1) / n
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
    n_bootstrap = _check_int(function, "n_bootstrap", n_bootstrap, 0)
    confidence = _check_confidence(function, confidence)
    seed = _check_int(function, "seed", seed, 0)
    truth = _as_scores(y_true, "y_true", function)
    predicted = _as_scores(y_pred, "y_pred", function)
    n = _check_same_length(function, y_true=truth, y_pred=predicted)
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
    n_bootstrap = _check_int(function, "n_bootstrap", n_bootstrap, 0)
    confidence = _check_confidence(function, confidence)
    seed = _check_int(function, "seed", seed, 0)
    true_array = _as_1d(y_true, "y_true", function)
    pred_array = _as_1d(y_pred, "y_pred", function)
    n = _check_same_length(function, y_true=true_array, y_pred=pred_array)
    present = sorted(set(true_array.tolist()) | set(pred_array.tolist()), key=str)
    lookup = {label: i for i, label in enumerate(present)}
    k = len(present)
    truth = np.fromiter((lookup[v] for v in true_array.tolist()), np.int64, n)
    predicted = np.fromiter((lookup[v] for v in pred_array.tolist()), np.int64, n)
    row_loss: FloatArray | None = None
    if y_proba is not None:
        row_loss = _row_log_loss(y_proba, true_array, classes, n, function)

    def evaluate(index: IntArray) -> dict[str, FloatArray]:
        b = index.shape[0]
        offset = (np.arange(b, dtype=np.int64) * k * k)[:, None]
        cells = (truth[index] * k + predicted[index] + offset).ravel()
        matrix = np.bincount(cells, minlength=b * k * k).reshape(b, k, k).astype(np.float64)
        tp = np.diagonal(matrix, axis1=1, axis2=2)
        support = matrix.sum(axis=2)  # true rows per class
        predicted_total = matrix.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            denominator = support + predicted_total
            f1 = np.where(denominator > 0, 2 * tp / denominator, 0.0)
            recall = np.where(support > 0, tp / support, np.nan)
        rows = index.shape[1]
        out = {
            "accuracy": tp.sum(axis=1) / rows,
            "f1_macro": f1.mean(axis=1),
            "f1_weighted": (f1 * support).sum(axis=1) / rows,
        }
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


def _row_log_loss(
    y_proba: npt.ArrayLike,
    true_array: np.ndarray,
    classes: Sequence[object] | None,
    n: int,
    function: str,
) -> FloatArray:
    """``-log p_i,y_i`` per row, ``p`` clipped to ``[eps, 1 - eps]`` (scikit-learn's ``log_loss``)."""
    if classes is None:
        raise _param_error(function, "classes", "the labels of the y_proba columns", classes)
    labels = list(classes)
    try:
        proba = np.asarray(y_proba, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatisticsError(f"The 'y_proba' argument of {function} must be numeric.") from exc
    if proba.shape != (n, len(labels)):
        raise StatisticsError(
            f"The 'y_proba' argument of {function} must have shape ({n}, {len(labels)}) "
            f"(rows x classes {labels}). Got {proba.shape} instead."
        )
    if not np.all(np.isfinite(proba)) or proba.min() < 0 or proba.max() > 1:
        raise StatisticsError(
            f"The 'y_proba' argument of {function} must hold probabilities in [0, 1]."
        )
    totals = proba.sum(axis=1)
    if not np.allclose(totals, 1.0, atol=1e-6):
        worst = int(np.argmax(np.abs(totals - 1.0)))
        raise StatisticsError(
            f"The rows of 'y_proba' of {function} must sum to 1; row {worst} sums to "
            f"{totals[worst]:.6g}."
        )
    lookup = {label: i for i, label in enumerate(labels)}
    unknown = sorted({v for v in true_array.tolist() if v not in lookup}, key=str)
    if unknown:
        raise StatisticsError(
            f"The 'y_true' argument of {function} holds labels {unknown[:5]} that are not "
            f"among the y_proba classes {labels}."
        )
    column = np.fromiter((lookup[v] for v in true_array.tolist()), np.int64, n)
    eps = np.finfo(np.float64).eps
    return np.asarray(-np.log(np.clip(proba[np.arange(n), column], eps, 1 - eps)))


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
    min_rows = _check_int(function, "min_rows", min_rows, 1)
    if not isinstance(segments, pd.DataFrame):
        raise _param_error(function, "segments", "a pandas DataFrame", type(segments).__name__)
    true_array = _as_1d(y_true, "y_true", function)
    pred_array = _as_1d(y_pred, "y_pred", function)
    score_array = None if y_score is None else _as_scores(y_score, "y_score", function)
    if len(segments) != len(true_array):
        raise StatisticsError(
            f"The 'segments' argument of {function} has {len(segments)} rows; "
            f"the labels have {len(true_array)}."
        )
    out: list[MetricValue] = []
    for column, value, mask in _segment_masks(segments, min_rows):
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
        out.extend(_with_segment(metric, segment) for metric in computed.values())
    return out


def _with_segment(metric: MetricValue, segment: str) -> MetricValue:
    return MetricValue(
        name=metric.name,
        value=metric.value,
        ci_low=metric.ci_low,
        ci_high=metric.ci_high,
        n=metric.n,
        kind=metric.kind,
        segment=segment,
        confidence=metric.confidence,
    )


def _segment_masks(segments: pd.DataFrame, min_rows: int) -> Iterator[tuple[str, str, BoolArray]]:
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
    min_rows = _check_int(function, "min_rows", min_rows, 1)
    if not isinstance(segments, pd.DataFrame):
        raise _param_error(function, "segments", "a pandas DataFrame", type(segments).__name__)
    true_array = _as_1d(y_true, "y_true", function)
    pred_array = _as_1d(y_pred, "y_pred", function)
    _check_same_length(function, y_true=true_array, y_pred=pred_array)
    if len(segments) != len(true_array):
        raise StatisticsError(
            f"The 'segments' argument of {function} has {len(segments)} rows; "
            f"the labels have {len(true_array)}."
        )
    truth, (predicted,) = _positive(true_array, [("y_pred", pred_array)], pos_label, function)
    per_column: dict[str, list[tuple[int, float, float | None]]] = {}
    for column, _, mask in _segment_masks(segments, min_rows):
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
