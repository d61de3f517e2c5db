"""Performance estimation without labels: confidence-based performance estimation (CBPE).

Rule
----
Fit once per champion on its reference (features scored by the champion, with
the true labels), then estimate every window from its scores alone.

1. **Calibration decided on the reference.** With ``calibration="auto"`` the
   reference is split in two halves (seeded); an isotonic map (pool-adjacent-
   violators, pure numpy: :func:`isotonic_fit`) fitted on one half calibrates
   the other, and the cross-fitted expected calibration error (ECE,
   ``ece_bins`` equal-width bins) is compared with the raw scores' ECE.
   Calibration is used iff it lowers the ECE; the map is then refitted on the
   whole reference. Multiclass: one isotonic map per class (one-vs-rest), rows
   renormalized to sum to 1.
2. **Expected confusion matrix per row.** With calibrated probabilities
   ``p_ik`` and the predicted class ``ŷ_i`` (the logged prediction, or
   ``score >= threshold`` for binary), row ``i`` adds ``p_ik`` to cell
   ``(true k, predicted ŷ_i)``. Accuracy, precision, recall and F1 (binary: the
   positive class; multiclass: macro averages) are the realized formulas on the
   expected matrix; ``zero_division = 0``. Multiclass also gives ``f1_macro``
   (= ``f1``) and ``f1_weighted`` (per-class F1 weighted by the expected true
   support), the names a multiclass spec watches.
3. **Expected ROC AUC.** Ranking by the raw score of the class, with positive
   weight ``p_ik`` and negative weight ``1 - p_ik`` per row:
   ``Σ_{i≠j} p_i (1 - p_j) [s_i > s_j (+½ tie)] / Σ_{i≠j} p_i (1 - p_j)``
   (macro one-vs-rest for multiclass). With 0/1 weights this is the realized
   (Mann–Whitney) AUC, which is how the realized reference values are computed:
   the realized and estimated metrics share one implementation.
4. **Sampling-error bands from reference chunks.** The realized metric is
   computed on ``n_resamples`` (200) reference chunks of ``c = n_ref //
   n_chunks`` rows drawn at random without replacement; its standard deviation
   over them, divided by the finite-population factor ``sqrt(1 - c / n_ref)``,
   is ``σ_c`` (200 random chunks estimate it far more stably than 10
   contiguous ones, which leave the band 25 % off at random). ``σ_c`` scaled to
   the window's ``n`` rows,
   ``σ_c · sqrt(c / n)``, is the standard error of a window's metric, where
   ``c`` and ``n`` are the metric's *effective* sample sizes on a chunk (mean
   over chunks) and in the window (binary: rows for accuracy, predicted
   positives for precision, expected positives for recall, their mean for F1,
   ``P·N/n`` for ROC AUC; multiclass: rows) — a window that predicts fewer
   positives gets a wider precision band. The band is
   ``estimate ± z · σ_c · sqrt(c / n)`` with ``z`` the normal quantile of
   ``confidence`` (default 0.95); it is stored as the estimate's
   ``ci_low`` / ``ci_high``. The ``n_chunks`` contiguous reference chunks give
   alert thresholds (``mean - 3·std`` over them), reported in
   :attr:`CBPE.reference_thresholds`.

Fitted once
-----------
:func:`fit_cbpe` is the only costly step (the champion's reference scored, the
calibration decided, 210 chunk metrics); :meth:`CBPE.estimate` costs one pass
over the window. A fitted estimator turns into plain arrays and JSON and back
(:meth:`CBPE.to_arrays` / :meth:`CBPE.from_arrays`, no pickle) and is stored with
the model version (:mod:`modelwatch.champion_state`), so a monitor run only
estimates. Class labels must be JSON scalars (text, int, float, bool).

Assumption (as for every CBPE): the relation between score and outcome,
``P(y | score)``, is the reference's (covariate shift only). Under concept drift
the estimate stays confident while the realized metric falls: the realized
metric, when labels arrive, is the arbiter.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy import stats

from modelwatch.errors import StatisticsError
from modelwatch.stats.kernels import FloatArray, IntArray, calibration_errors, weighted_roc_auc
from modelwatch.stats.params import Interval, Options, check_param, param_error
from modelwatch.stats.performance import MetricValue

__all__ = [
    "CBPE",
    "ESTIMATED_METRICS",
    "MULTICLASS_ESTIMATED_METRICS",
    "IsotonicCalibrator",
    "expected_calibration_error",
    "fit_cbpe",
    "isotonic_fit",
]

Calibration: TypeAlias = Literal["auto", "isotonic", "none"]

ESTIMATED_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "roc_auc")
"""What :meth:`CBPE.estimate` returns (binary: positive class; multiclass: macro)."""

MULTICLASS_ESTIMATED_METRICS: tuple[str, ...] = (*ESTIMATED_METRICS, "f1_macro", "f1_weighted")
"""What :meth:`CBPE.estimate` returns for more than two classes."""


def _names(binary: bool) -> tuple[str, ...]:
    return ESTIMATED_METRICS if binary else MULTICLASS_ESTIMATED_METRICS


# --------------------------------------------------------------------------- isotonic (PAV)


@dataclass(frozen=True, eq=False)
class IsotonicCalibrator:
    """A non-decreasing map score -> probability, linear between knots, clipped outside."""

    knots: FloatArray
    """Distinct reference scores, ascending."""
    values: FloatArray
    """Fitted (non-decreasing) probability at each knot."""

    def __call__(self, scores: npt.ArrayLike) -> FloatArray:
        x = np.asarray(scores, dtype=np.float64)
        return np.asarray(np.interp(x, self.knots, self.values), dtype=np.float64)


def _pav(y: FloatArray, w: FloatArray) -> FloatArray:
    """Pool-adjacent-violators: the weighted least-squares non-decreasing fit of ``y``."""
    n = y.size
    level = np.empty(n, dtype=np.float64)
    weight = np.empty(n, dtype=np.float64)
    size = np.empty(n, dtype=np.int64)
    top = -1
    for i in range(n):
        top += 1
        level[top], weight[top], size[top] = y[i], w[i], 1
        while top > 0 and level[top - 1] >= level[top]:
            total = weight[top - 1] + weight[top]
            level[top - 1] = (level[top - 1] * weight[top - 1] + level[top] * weight[top]) / total
            weight[top - 1] = total
            size[top - 1] += size[top]
            top -= 1
    return np.repeat(level[: top + 1], size[: top + 1])


def isotonic_fit(scores: npt.ArrayLike, y: npt.ArrayLike) -> IsotonicCalibrator:
    """Isotonic regression of 0/1 outcomes ``y`` on ``scores`` (like sklearn's, clipped).

    Tied scores are pooled first (their mean outcome, weighted by their count);
    predictions interpolate linearly between the distinct scores, as
    ``sklearn.isotonic.IsotonicRegression(out_of_bounds="clip")`` does.
    """
    function = "isotonic_fit"
    x = np.asarray(scores, dtype=np.float64)
    target = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != target.shape or x.size == 0:
        raise StatisticsError(
            f"{function} needs two 1-D arrays of the same non-zero length; "
            f"got shapes {x.shape} and {target.shape}"
        )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(target))):
        raise StatisticsError(f"{function}: scores and outcomes must be finite")
    knots, inverse = np.unique(x, return_inverse=True)
    counts = np.bincount(inverse).astype(np.float64)
    means = np.bincount(inverse, weights=target) / counts
    return IsotonicCalibrator(knots=knots, values=_pav(means, counts))


def expected_calibration_error(
    y: npt.ArrayLike, probability: npt.ArrayLike, *, n_bins: int = 10
) -> float:
    """``Σ_b |Σ_{i∈b} (y_i − p_i)| / n`` over ``n_bins`` equal-width bins of ``p``."""
    truth = np.asarray(y, dtype=np.float64)
    p = np.asarray(probability, dtype=np.float64)
    if truth.shape != p.shape or truth.ndim != 1 or truth.size == 0:
        raise StatisticsError(
            "expected_calibration_error needs two 1-D arrays of the same non-zero length; "
            f"got shapes {truth.shape} and {p.shape}"
        )
    n_bins = check_param("expected_calibration_error", "n_bins", n_bins, Interval(int, 1, None))
    return float(calibration_errors(truth, p, n_bins=n_bins)[0])


# --------------------------------------------------------------------------- metric kernel


_SIZE = "size:"
"""Prefix of the effective sample sizes :func:`_metrics` returns beside the metrics."""


def _metrics(
    probabilities: FloatArray, predicted: IntArray, scores: FloatArray, binary: bool
) -> dict[str, float]:
    """Label and AUC metrics from per-row class probabilities (one-hot rows = realized).

    Also returns, under ``"size:<metric>"``, the metric's effective sample size
    (binary: rows, predicted positives, expected positives, their mean, and
    ``P·N/n`` for ROC AUC; multiclass: rows), which scales the chunk spread.
    """
    n, k = probabilities.shape
    matrix = np.zeros((k, k), dtype=np.float64)  # [true class, predicted class]
    for column in range(k):
        matrix[:, column] = probabilities[predicted == column].sum(axis=0)
    tp = np.diag(matrix)
    predicted_total = matrix.sum(axis=0)
    true_total = matrix.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted_total > 0, tp / predicted_total, 0.0)
        recall = np.where(true_total > 0, tp / true_total, 0.0)
        denominator = predicted_total + true_total
        f1 = np.where(denominator > 0, 2 * tp / denominator, 0.0)
    out = {"accuracy": float(tp.sum() / n)}
    if binary:
        positives, negatives = float(true_total[1]), float(true_total[0])
        predicted_positives = float(predicted_total[1])
        auc_size = positives * negatives / n if positives > 0 and negatives > 0 else 0.0
        sizes = {
            "accuracy": float(n),
            "precision": predicted_positives,
            "recall": positives,
            "f1": (predicted_positives + positives) / 2.0,
            "roc_auc": auc_size,
        }
        for name, size in sizes.items():
            out[f"{_SIZE}{name}"] = size
        out.update(precision=float(precision[1]), recall=float(recall[1]), f1=float(f1[1]))
        out["roc_auc"] = weighted_roc_auc(scores[:, 1], probabilities[:, 1])
    else:
        out.update(
            precision=float(precision.mean()), recall=float(recall.mean()), f1=float(f1.mean())
        )
        out["f1_macro"] = out["f1"]
        out["f1_weighted"] = float(np.dot(f1, true_total) / n)
        aucs = [weighted_roc_auc(scores[:, c], probabilities[:, c]) for c in range(k)]
        defined = [a for a in aucs if not math.isnan(a)]
        out["roc_auc"] = float(np.mean(defined)) if defined else math.nan
        for name in MULTICLASS_ESTIMATED_METRICS:
            out[f"{_SIZE}{name}"] = float(n)
    return out


# --------------------------------------------------------------------------- CBPE


@dataclass(frozen=True, eq=False)
class CBPE:
    """A fitted estimator: calibration maps and the reference's chunk statistics."""

    classes: tuple[object, ...]
    """Class labels in the order of the score columns (binary: ``(negative, positive)``)."""
    calibrators: tuple[IsotonicCalibrator, ...] | None
    """One map per score column (binary: one, of the positive score); ``None``: scores as is."""
    ece_before: float
    ece_after: float
    """Cross-fitted ECE of the isotonic map on the reference (``nan`` when not evaluated)."""
    threshold: float
    chunk_size: int
    chunk_effective_sizes: dict[str, float] = field(default_factory=dict)
    """Mean effective sample size per metric over the reference chunks."""
    reference_values: dict[str, float] = field(default_factory=dict)
    """Realized metric on the whole reference."""
    reference_chunk_std: dict[str, float] = field(default_factory=dict)
    """Standard deviation of the realized metric over reference chunks of ``chunk_size`` rows."""
    reference_thresholds: dict[str, float] = field(default_factory=dict)
    """``mean - 3·std`` of the realized metric over the reference chunks."""
    confidence: float = 0.95

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    @property
    def calibrated(self) -> bool:
        return self.calibrators is not None

    def to_arrays(self, prefix: str = "cbpe.") -> dict[str, npt.NDArray[np.generic]]:
        """Plain arrays (JSON metadata + the isotonic knots) for ``np.savez``; see :meth:`from_arrays`."""
        bad = [c for c in self.classes if not isinstance(c, str | int | float | bool)]
        if bad:
            raise StatisticsError(
                f"CBPE.to_arrays stores class labels as JSON; {bad[0]!r} "
                f"({type(bad[0]).__name__}) is not text or a number"
            )
        meta = {
            "classes": list(self.classes),
            "calibrated": self.calibrators is not None,
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
            "threshold": self.threshold,
            "chunk_size": self.chunk_size,
            "chunk_effective_sizes": self.chunk_effective_sizes,
            "reference_values": self.reference_values,
            "reference_chunk_std": self.reference_chunk_std,
            "reference_thresholds": self.reference_thresholds,
            "confidence": self.confidence,
        }
        arrays: dict[str, npt.NDArray[np.generic]] = {f"{prefix}meta": np.array(json.dumps(meta))}
        for i, calibrator in enumerate(self.calibrators or ()):
            keep = _needed_knots(calibrator.values)
            arrays[f"{prefix}knots_{i}"] = calibrator.knots[keep]
            arrays[f"{prefix}values_{i}"] = calibrator.values[keep]
        return arrays

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, npt.NDArray[np.generic]], prefix: str = "cbpe."
    ) -> CBPE:
        """The estimator saved by :meth:`to_arrays` (estimates equal to the original's)."""
        try:
            meta = json.loads(str(np.asarray(arrays[f"{prefix}meta"])[()]))
            classes = tuple(meta["classes"])
            calibrators = None
            if meta["calibrated"]:
                count = 1 if len(classes) == 2 else len(classes)
                calibrators = tuple(
                    IsotonicCalibrator(
                        knots=np.asarray(arrays[f"{prefix}knots_{i}"], dtype=np.float64),
                        values=np.asarray(arrays[f"{prefix}values_{i}"], dtype=np.float64),
                    )
                    for i in range(count)
                )

            def floats(key: str) -> dict[str, float]:
                return {str(k): float(v) for k, v in meta[key].items()}

            return cls(
                classes=classes,
                calibrators=calibrators,
                ece_before=float(meta["ece_before"]),
                ece_after=float(meta["ece_after"]),
                threshold=float(meta["threshold"]),
                chunk_size=int(meta["chunk_size"]),
                chunk_effective_sizes=floats("chunk_effective_sizes"),
                reference_values=floats("reference_values"),
                reference_chunk_std=floats("reference_chunk_std"),
                reference_thresholds=floats("reference_thresholds"),
                confidence=float(meta["confidence"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StatisticsError(f"not a saved CBPE estimator: {exc!r}") from exc

    def probabilities(self, scores: npt.ArrayLike) -> FloatArray:
        """``(n, k)`` calibrated class probabilities of raw scores."""
        return _probabilities(_score_matrix(scores, len(self.classes), "CBPE"), self.calibrators)

    def estimate(
        self, scores: npt.ArrayLike, y_pred: npt.ArrayLike | None = None
    ) -> dict[str, MetricValue]:
        """Estimated metrics of a window with sampling-error bands (``kind="estimated"``).

        ``y_pred``: the logged predicted labels (binary default: ``score >=
        threshold``; multiclass default: the arg-max score).
        """
        matrix = _score_matrix(scores, len(self.classes), "CBPE.estimate")
        n = matrix.shape[0]
        predicted = _predicted_index(matrix, y_pred, self.classes, self.threshold)
        values = _metrics(_probabilities(matrix, self.calibrators), predicted, matrix, self.binary)
        z = float(stats.norm.ppf(0.5 + self.confidence / 2.0))
        result: dict[str, MetricValue] = {}
        for name in _names(self.binary):
            value = values[name]
            if math.isnan(value):
                continue
            std = self.reference_chunk_std.get(name, math.nan)
            chunk_size = self.chunk_effective_sizes.get(name, float(self.chunk_size))
            size = values[f"{_SIZE}{name}"]
            low = high = None
            if math.isfinite(std) and size > 0:
                half = z * std * math.sqrt(chunk_size / size)
                low, high = value - half, value + half
            result[name] = MetricValue(
                name=name,
                value=value,
                ci_low=low,
                ci_high=high,
                n=n,
                kind="estimated",
                confidence=self.confidence if low is not None else None,
            )
        return result


def _needed_knots(values: FloatArray) -> npt.NDArray[np.bool_]:
    """The knots an isotonic map needs: the ends of each run of equal fitted values.

    PAV's fit is a step function; a knot inside a run interpolates between two equal
    values, so dropping it changes no ``np.interp`` result (slope 0 either way), while
    a 1M-row reference has ~1M distinct scores but a few thousand steps.
    """
    keep = np.ones(values.size, dtype=np.bool_)
    if values.size > 2:
        inner = values[1:-1]
        keep[1:-1] = (inner != values[:-2]) | (inner != values[2:])
    return keep


def _score_matrix(scores: npt.ArrayLike, n_classes: int, function: str) -> FloatArray:
    try:
        array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatisticsError(f"The 'scores' argument of {function} must be numeric.") from exc
    if array.ndim == 1 and n_classes == 2:
        array = np.column_stack([1.0 - array, array])
    if array.ndim != 2 or array.shape[1] != n_classes or array.shape[0] == 0:
        raise StatisticsError(
            f"The 'scores' argument of {function} must be a non-empty 1-D array of positive-class "
            f"probabilities (binary) or an (n, {n_classes}) matrix. Got shape {array.shape}."
        )
    if not np.all(np.isfinite(array)):
        raise StatisticsError(f"The 'scores' argument of {function} holds non-finite values.")
    return array


def _probabilities(
    matrix: FloatArray, calibrators: tuple[IsotonicCalibrator, ...] | None
) -> FloatArray:
    p = np.clip(matrix, 0.0, 1.0)
    if calibrators is None:
        return p if p.shape[1] > 2 else np.column_stack([1.0 - p[:, 1], p[:, 1]])
    if p.shape[1] == 2:
        positive = calibrators[0](p[:, 1])
        return np.column_stack([1.0 - positive, positive])
    out = np.column_stack([calibrator(p[:, c]) for c, calibrator in enumerate(calibrators)])
    total = out.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total > 0, out / total, 1.0 / out.shape[1])
    return np.asarray(out, dtype=np.float64)


def _predicted_index(
    matrix: FloatArray, y_pred: npt.ArrayLike | None, classes: Sequence[object], threshold: float
) -> IntArray:
    if y_pred is None:
        if len(classes) == 2:
            return (matrix[:, 1] >= threshold).astype(np.int64)
        return np.asarray(np.argmax(matrix, axis=1), dtype=np.int64)
    predicted = np.asarray(y_pred)
    if predicted.shape != (matrix.shape[0],):
        raise StatisticsError(
            f"'y_pred' has shape {predicted.shape}; the scores have {matrix.shape[0]} rows"
        )
    lookup = {label: i for i, label in enumerate(classes)}
    try:
        return np.fromiter((lookup[v] for v in predicted.tolist()), np.int64, predicted.size)
    except KeyError as exc:
        raise StatisticsError(
            f"'y_pred' holds the label {exc.args[0]!r}; the classes are {list(classes)}"
        ) from exc


def _onehot(index: IntArray, k: int) -> FloatArray:
    out = np.zeros((index.size, k), dtype=np.float64)
    out[np.arange(index.size), index] = 1.0
    return out


def _fit_calibrators(matrix: FloatArray, truth: IntArray) -> tuple[IsotonicCalibrator, ...]:
    if matrix.shape[1] == 2:
        return (isotonic_fit(matrix[:, 1], (truth == 1).astype(np.float64)),)
    return tuple(
        isotonic_fit(matrix[:, c], (truth == c).astype(np.float64)) for c in range(matrix.shape[1])
    )


def _ece(truth: IntArray, probabilities: FloatArray, n_bins: int) -> float:
    """Binary: ECE of the positive class; multiclass: mean one-vs-rest ECE."""
    k = probabilities.shape[1]
    columns = [1] if k == 2 else list(range(k))
    return float(
        np.mean(
            [
                expected_calibration_error(
                    (truth == c).astype(np.float64), probabilities[:, c], n_bins=n_bins
                )
                for c in columns
            ]
        )
    )


def fit_cbpe(
    reference_scores: npt.ArrayLike,
    reference_y: npt.ArrayLike,
    reference_pred: npt.ArrayLike | None = None,
    *,
    classes: Sequence[object] | None = None,
    threshold: float = 0.5,
    calibration: Calibration = "auto",
    n_chunks: int = 10,
    n_resamples: int = 200,
    confidence: float = 0.95,
    ece_bins: int = 10,
    seed: int = 0,
) -> CBPE:
    """Fit CBPE on the reference: calibration decision, chunk spreads (see the module docstring).

    ``reference_scores``: positive-class probabilities (binary, ``classes``
    default ``(0, 1)``) or an ``(n, k)`` probability matrix whose columns are
    ``classes`` (default: the sorted labels of ``reference_y``).
    ``reference_pred``: predicted labels on the reference (default from the scores).
    """
    function = "fit_cbpe"
    check_param(function, "calibration", calibration, Options(("auto", "isotonic", "none")))
    n_chunks = check_param(function, "n_chunks", n_chunks, Interval(int, 2, None))
    n_resamples = check_param(function, "n_resamples", n_resamples, Interval(int, 2, None))
    confidence = check_param(
        function, "confidence", confidence, Interval(float, 0, 1, closed="neither")
    )
    check_param(function, "threshold", threshold, Interval(float, 0, 1, closed="both"))
    ece_bins = check_param(function, "ece_bins", ece_bins, Interval(int, 1, None))
    seed = check_param(function, "seed", seed, Interval(int, 0, None))
    y = np.asarray(reference_y)
    raw = np.asarray(reference_scores, dtype=np.float64)
    if classes is None:
        classes = (0, 1) if raw.ndim == 1 else tuple(np.unique(y).tolist())
    classes = tuple(classes)
    if len(classes) < 2:
        raise param_error(function, "classes", "at least two class labels", classes)
    matrix = _score_matrix(raw, len(classes), function)
    n = matrix.shape[0]
    if y.shape != (n,):
        raise StatisticsError(
            f"'reference_y' of {function} has shape {y.shape}; the scores have {n} rows"
        )
    if n < 2 * n_chunks:
        raise StatisticsError(
            f"{function} needs at least {2 * n_chunks} reference rows for {n_chunks} chunks; got {n}"
        )
    truth = _predicted_index(matrix, y, classes, threshold)  # labels -> class indices
    predicted = _predicted_index(matrix, reference_pred, classes, threshold)

    ece_before = _ece(truth, _probabilities(matrix, None), ece_bins)
    ece_after = math.nan
    calibrators: tuple[IsotonicCalibrator, ...] | None = None
    if calibration != "none":
        halves = np.random.default_rng(seed).permutation(n) % 2 == 0
        crossfit = np.empty_like(matrix)
        for part in (halves, ~halves):
            fitted = _fit_calibrators(matrix[~part], truth[~part])
            crossfit[part] = _probabilities(matrix[part], fitted)
        ece_after = _ece(truth, crossfit, ece_bins)
        if calibration == "isotonic" or ece_after < ece_before:
            calibrators = _fit_calibrators(matrix, truth)

    binary = len(classes) == 2
    names = _names(binary)
    chunk_size = n // n_chunks
    onehot = _onehot(truth, len(classes))
    chunk_values: dict[str, list[float]] = {name: [] for name in names}
    for i in range(n_chunks):
        part = slice(i * chunk_size, (i + 1) * chunk_size)
        values = _metrics(onehot[part], predicted[part], matrix[part], binary)
        for name in names:
            chunk_values[name].append(values[name])
    random_values: dict[str, list[float]] = {name: [] for name in names}
    chunk_sizes: dict[str, list[float]] = {name: [] for name in names}
    rng = np.random.default_rng(seed)
    for _ in range(n_resamples):
        part = rng.choice(n, size=chunk_size, replace=False)
        values = _metrics(onehot[part], predicted[part], matrix[part], binary)
        for name in names:
            random_values[name].append(values[name])
            chunk_sizes[name].append(values[f"{_SIZE}{name}"])
    finite_population = math.sqrt(1.0 - chunk_size / n)
    whole = _metrics(onehot, predicted, matrix, binary)
    stds, thresholds = {}, {}
    for name in names:
        spread = np.asarray(random_values[name], dtype=np.float64)
        spread = spread[~np.isnan(spread)]
        if spread.size >= 2:
            stds[name] = float(spread.std(ddof=1)) / finite_population
        contiguous = np.asarray(chunk_values[name], dtype=np.float64)
        contiguous = contiguous[~np.isnan(contiguous)]
        if contiguous.size >= 2:
            thresholds[name] = float(contiguous.mean() - 3.0 * contiguous.std(ddof=1))
    return CBPE(
        classes=classes,
        calibrators=calibrators,
        ece_before=ece_before,
        ece_after=ece_after,
        threshold=float(threshold),
        chunk_size=chunk_size,
        chunk_effective_sizes={k: float(np.mean(v)) for k, v in chunk_sizes.items()},
        reference_values={k: v for k, v in whole.items() if k in names and not math.isnan(v)},
        reference_chunk_std=stds,
        reference_thresholds=thresholds,
        confidence=confidence,
    )


def realized_metrics(
    scores: npt.ArrayLike,
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike | None = None,
    *,
    classes: Sequence[object] = (0, 1),
    threshold: float = 0.5,
) -> dict[str, float]:
    """The realized metrics with the same definitions as :meth:`CBPE.estimate` (for tests)."""
    classes = tuple(classes)
    matrix = _score_matrix(scores, len(classes), "realized_metrics")
    truth = _predicted_index(matrix, y_true, classes, threshold)
    predicted = _predicted_index(matrix, y_pred, classes, threshold)
    values = _metrics(_onehot(truth, len(classes)), predicted, matrix, len(classes) == 2)
    return {k: v for k, v in values.items() if k in _names(len(classes) == 2)}
