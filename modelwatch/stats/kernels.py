"""The shared statistical kernels: one implementation of each, vectorized over bootstrap resamples.

Every kernel that a bootstrap evaluates takes an ``index`` matrix ``(b, n)`` of
row numbers (one resample per row; ``None`` is the rows as they are, ``b = 1``)
and returns one value per resample, so a metric and its interval come from the
same code. No validation here: the public functions of
:mod:`~modelwatch.stats.performance`, :mod:`~modelwatch.stats.abtest`,
:mod:`~modelwatch.stats.estimation` and :mod:`modelwatch.multivariate` check
their inputs (:mod:`modelwatch.stats.params`) and call these.

Ranks and ROC AUC
-----------------
:func:`midranks` (``scipy.stats.rankdata(method="average")``, also against
another sorted sample). ROC AUC is the Mann–Whitney statistic on the tie groups
of the score: :func:`score_groups` numbers the distinct scores ascending,
:func:`group_label_counts` counts negatives / positives per group and resample
(one ``bincount``), :func:`roc_auc_from_counts` sums ``P_g · (N_<g + N_g / 2)``
(ties count one half, as ``sklearn.metrics.roc_auc_score``). The counts may be
weights: :func:`weighted_roc_auc` is CBPE's expected AUC with weight ``p`` as a
positive and ``1 − p`` as a negative per row. :func:`delong_covariance`:
DeLong's covariance of correlated AUCs (fast algorithm of Sun & Xu 2014).

Calibration and confusion
-------------------------
:func:`calibration_errors`: expected calibration error ``Σ_b |Σ_{i∈b} (y_i −
p_i)| / n`` on ``n_bins`` equal-width bins. Binary confusion counts
[TN, FP, FN, TP] (:func:`confusion_codes`, :func:`confusion_counts`,
:func:`label_metrics_from_counts`, ``zero_division=0``); multiclass confusion
matrices (:func:`encode_labels`, :func:`confusion_matrices`,
:func:`multiclass_label_metrics`); per-row log loss (:func:`row_log_loss`).

Bootstrap
---------
:func:`bootstrap_indices` draws the resamples as index matrices in chunks of at
most :data:`BOOTSTRAP_CHUNK_ELEMENTS` entries (``numpy.random.default_rng(seed)``,
one ``integers(0, n, (b, n))`` per chunk); :func:`bootstrap_distribution` runs a
kernel over them; :func:`percentile_interval` is the percentile CI of the finite
values; :func:`bootstrap_interval` is the two together for one statistic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from modelwatch.errors import StatisticsError
from modelwatch.stats.params import Interval, check_param, param_error

__all__ = [
    "BOOTSTRAP_CHUNK_ELEMENTS",
    "CONFIDENCE",
    "BoolArray",
    "FloatArray",
    "IntArray",
    "average_precision_from_counts",
    "bootstrap_distribution",
    "bootstrap_indices",
    "bootstrap_interval",
    "calibration_errors",
    "check_bootstrap_params",
    "confusion_codes",
    "confusion_counts",
    "confusion_matrices",
    "delong_covariance",
    "encode_labels",
    "group_label_counts",
    "label_metrics_from_counts",
    "midranks",
    "multiclass_label_metrics",
    "percentile_interval",
    "roc_auc",
    "roc_auc_from_counts",
    "row_log_loss",
    "score_groups",
    "weighted_roc_auc",
]

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]

BOOTSTRAP_CHUNK_ELEMENTS = 1 << 22
"""Upper bound on ``resamples × rows`` held in memory at once by the bootstrap."""


def _rows(n: int, index: IntArray | None) -> IntArray:
    return np.arange(n, dtype=np.int64)[None, :] if index is None else index


# --------------------------------------------------------------------------- ranks


def midranks(values: npt.ArrayLike, *, among: FloatArray | None = None) -> FloatArray:
    """1-based ranks with ties at their mean rank (``scipy.stats.rankdata``'s ``"average"``).

    With ``among`` (sorted ascending): the midrank each value has within ``among``
    (``(#below + #below-or-equal + 1) / 2``), as the two-sample rank statistics use.
    """
    x = np.asarray(values, dtype=np.float64)
    pool = np.sort(x, kind="stable") if among is None else among
    left = np.searchsorted(pool, x, side="left")
    right = np.searchsorted(pool, x, side="right")
    return np.asarray((left + right + 1) / 2.0, dtype=np.float64)


# --------------------------------------------------------------------------- ROC AUC


def score_groups(scores: FloatArray) -> tuple[IntArray, int]:
    """Tie-group id of every score in ascending order of score, and the number of groups."""
    uniques, inverse = np.unique(scores, return_inverse=True)
    return inverse.astype(np.int64), int(uniques.size)


def group_label_counts(groups: IntArray, truth: BoolArray, n_groups: int) -> npt.NDArray[np.int64]:
    """``(b, n_groups, 2)`` counts of negatives / positives per score group, for ``(b, n)`` rows."""
    b = groups.shape[0]
    offset = (np.arange(b, dtype=np.int64) * n_groups)[:, None]
    cells = 2 * (groups + offset) + truth
    counts = np.bincount(cells.ravel(), minlength=2 * b * n_groups)
    return counts.reshape(b, n_groups, 2)


def roc_auc_from_counts(
    counts: npt.NDArray[np.int64] | FloatArray, *, self_pairs: float = 0.0
) -> FloatArray:
    """Mann–Whitney AUC per resample: ``Σ_g P_g (N_<g + N_g / 2) / (P · N)``; NaN with one class.

    ``counts`` is ``(b, groups, 2)`` negatives / positives (counts or weights) per
    ascending score group. ``self_pairs`` (``Σ_i w⁺_i w⁻_i`` of weighted rows) is
    taken out of both sums: a row is never compared with itself.
    """
    negatives = counts[:, :, 0].astype(np.float64)
    positives = counts[:, :, 1].astype(np.float64)
    below = np.cumsum(negatives, axis=1) - negatives
    numerator = np.sum(positives * (below + 0.5 * negatives), axis=1) - 0.5 * self_pairs
    denominator = positives.sum(axis=1) * negatives.sum(axis=1) - self_pairs
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 1e-12, numerator / denominator, np.nan)


def roc_auc(truth: BoolArray, scores: FloatArray, *, index: IntArray | None = None) -> FloatArray:
    """ROC AUC of ``scores`` for the positives ``truth``, per resample row of ``index`` (``(b,)``)."""
    groups, n_groups = score_groups(scores)
    rows = _rows(truth.size, index)
    return roc_auc_from_counts(group_label_counts(groups[rows], truth[rows], n_groups))


def weighted_roc_auc(scores: FloatArray, positive: FloatArray) -> float:
    """``Σ_{i≠j} w⁺_i w⁻_j ([s_i > s_j] + ½[s_i = s_j]) / Σ_{i≠j} w⁺_i w⁻_j``, ``w⁻ = 1 − w⁺``.

    With 0/1 weights this is :func:`roc_auc`; with probabilities, CBPE's expected AUC.
    """
    negative = 1.0 - positive
    groups, n_groups = score_groups(scores)
    counts = np.stack(
        [
            np.bincount(groups, weights=negative, minlength=n_groups),
            np.bincount(groups, weights=positive, minlength=n_groups),
        ],
        axis=-1,
    )[None]
    return float(roc_auc_from_counts(counts, self_pairs=float(np.dot(positive, negative)))[0])


def average_precision_from_counts(counts: npt.NDArray[np.int64]) -> FloatArray:
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


def delong_covariance(truth: BoolArray, scores: FloatArray) -> tuple[FloatArray, FloatArray]:
    """AUCs of each row of ``scores`` ``(k, n)`` and DeLong's covariance matrix ``(k, k)``.

    Structural components from midranks among the positives, the negatives and
    all rows (Sun & Xu 2014); ``ddof=1`` covariances. Needs two rows of each class.
    """
    scores = np.atleast_2d(scores)
    positives, negatives = scores[:, truth], scores[:, ~truth]
    m, n = positives.shape[1], negatives.shape[1]
    k = scores.shape[0]
    tx = np.empty((k, m))
    ty = np.empty((k, n))
    tz = np.empty((k, m + n))
    for r in range(k):
        tx[r] = midranks(positives[r])
        ty[r] = midranks(negatives[r])
        tz[r] = midranks(np.concatenate([positives[r], negatives[r]]))
    aucs = tz[:, :m].sum(axis=1) / m / n - (m + 1.0) / 2.0 / n
    v01 = (tz[:, :m] - tx) / n
    v10 = 1.0 - (tz[:, m:] - ty) / m
    covariance = np.atleast_2d(np.cov(v01)) / m + np.atleast_2d(np.cov(v10)) / n
    return aucs, covariance


# --------------------------------------------------------------------------- calibration


def calibration_errors(
    truth: FloatArray, probability: FloatArray, *, n_bins: int, index: IntArray | None = None
) -> FloatArray:
    """Expected calibration error per resample: ``Σ_b |Σ_{i∈b} (y_i − p_i)| / n`` (``(b,)``).

    ``n_bins`` equal-width bins of ``p`` over [0, 1] (``p = 1`` in the last bin).
    """
    row_bin = np.clip((probability * n_bins).astype(np.int64), 0, n_bins - 1)
    residual = truth - probability
    rows = _rows(truth.size, index)
    b, n = rows.shape
    cells = (row_bin[rows] + n_bins * np.arange(b, dtype=np.int64)[:, None]).ravel()
    sums = np.bincount(cells, weights=residual[rows].ravel(), minlength=b * n_bins)
    return np.asarray(np.abs(sums.reshape(b, n_bins)).sum(axis=1) / n, dtype=np.float64)


# --------------------------------------------------------------------------- confusion


def confusion_codes(truth: BoolArray, predicted: BoolArray) -> npt.NDArray[np.int8]:
    """Confusion cell of every row: 0 = TN, 1 = FP, 2 = FN, 3 = TP."""
    return (2 * truth.astype(np.int8) + predicted.astype(np.int8)).astype(np.int8)


def confusion_counts(codes: npt.NDArray[np.int8], index: IntArray | None = None) -> IntArray:
    """``(b, 4)`` counts [TN, FP, FN, TP] per resample row of ``index``."""
    rows = _rows(codes.size, index)
    b = rows.shape[0]
    cells = codes[rows] + 4 * np.arange(b, dtype=np.int64)[:, None]
    return np.bincount(cells.ravel(), minlength=4 * b).reshape(b, 4)


def label_metrics_from_counts(counts: npt.NDArray[np.int64]) -> dict[str, FloatArray]:
    """Accuracy, precision, recall, F1 from ``(..., 4)`` counts [TN, FP, FN, TP], ``zero_division=0``."""
    tn, fp, fn, tp = (counts[..., i].astype(np.float64) for i in range(4))
    n = tn + fp + fn + tp
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        accuracy = (tp + tn) / n
    return {"accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1}


def encode_labels(*arrays: np.ndarray) -> tuple[list[object], list[IntArray]]:
    """The labels present in any array (sorted as text) and each array as codes into them."""
    present = sorted(set().union(*(set(a.tolist()) for a in arrays)), key=str)
    lookup = {label: i for i, label in enumerate(present)}
    codes = [np.fromiter((lookup[v] for v in a.tolist()), np.int64, len(a)) for a in arrays]
    return present, codes


def confusion_matrices(truth: IntArray, predicted: IntArray, k: int, index: IntArray) -> FloatArray:
    """``(b, k, k)`` confusion matrices [true class, predicted class] per resample row."""
    b = index.shape[0]
    offset = (np.arange(b, dtype=np.int64) * k * k)[:, None]
    cells = (truth[index] * k + predicted[index] + offset).ravel()
    return np.bincount(cells, minlength=b * k * k).reshape(b, k, k).astype(np.float64)


def multiclass_label_metrics(matrices: FloatArray) -> dict[str, FloatArray]:
    """Accuracy, ``f1_macro``, ``f1_weighted`` (``(b,)``) and per-class ``recall`` (``(b, k)``).

    As scikit-learn with ``zero_division=0`` over the classes of the matrices; a
    class without a true row has recall NaN.
    """
    tp = np.diagonal(matrices, axis1=1, axis2=2)
    support = matrices.sum(axis=2)  # true rows per class
    predicted_total = matrices.sum(axis=1)
    rows = matrices.sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        denominator = support + predicted_total
        f1 = np.where(denominator > 0, 2 * tp / denominator, 0.0)
        recall = np.where(support > 0, tp / support, np.nan)
    return {
        "accuracy": tp.sum(axis=1) / rows,
        "f1_macro": f1.mean(axis=1),
        "f1_weighted": (f1 * support).sum(axis=1) / rows,
        "recall": recall,
    }


def row_log_loss(
    y_proba: npt.ArrayLike,
    y_true: np.ndarray,
    classes: Sequence[object] | None,
    *,
    where: str,
) -> FloatArray:
    """``-log p_i,y_i`` per row, ``p`` clipped to ``[eps, 1 - eps]`` (scikit-learn's ``log_loss``).

    ``y_proba`` is ``(n, k)`` with columns ``classes`` and rows summing to 1;
    every label of ``y_true`` must be among ``classes``.
    """
    if classes is None:
        raise param_error(where, "classes", "the labels of the y_proba columns", classes)
    labels = list(classes)
    n = len(y_true)
    try:
        proba = np.asarray(y_proba, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatisticsError(f"The 'y_proba' argument of {where} must be numeric.") from exc
    if proba.shape != (n, len(labels)):
        raise StatisticsError(
            f"The 'y_proba' argument of {where} must have shape ({n}, {len(labels)}) "
            f"(rows x classes {labels}). Got {proba.shape} instead."
        )
    if not np.all(np.isfinite(proba)) or proba.min() < 0 or proba.max() > 1:
        raise StatisticsError(
            f"The 'y_proba' argument of {where} must hold probabilities in [0, 1]."
        )
    totals = proba.sum(axis=1)
    if not np.allclose(totals, 1.0, atol=1e-6):
        worst = int(np.argmax(np.abs(totals - 1.0)))
        raise StatisticsError(
            f"The rows of 'y_proba' of {where} must sum to 1; row {worst} sums to "
            f"{totals[worst]:.6g}."
        )
    lookup = {label: i for i, label in enumerate(labels)}
    unknown = sorted({v for v in y_true.tolist() if v not in lookup}, key=str)
    if unknown:
        raise StatisticsError(
            f"The 'y_true' argument of {where} holds labels {unknown[:5]} that are not "
            f"among the y_proba classes {labels}."
        )
    column = np.fromiter((lookup[v] for v in y_true.tolist()), np.int64, n)
    eps = np.finfo(np.float64).eps
    return np.asarray(-np.log(np.clip(proba[np.arange(n), column], eps, 1 - eps)))


# --------------------------------------------------------------------------- bootstrap

CONFIDENCE = Interval(float, 0, 1, closed="neither")
"""A confidence level (or any probability strictly between 0 and 1)."""


def check_bootstrap_params(
    where: str, *, n_bootstrap: object, confidence: object, seed: object, min_resamples: int = 1
) -> tuple[int, float, int]:
    """``(n_bootstrap, confidence, seed)`` checked: ``n_bootstrap >= min_resamples``, ``0 < confidence < 1``."""
    return (
        check_param(where, "n_bootstrap", n_bootstrap, Interval(int, min_resamples, None)),
        check_param(where, "confidence", confidence, CONFIDENCE),
        check_param(where, "seed", seed, Interval(int, 0, None)),
    )


def bootstrap_indices(
    n: int, n_bootstrap: int, seed: int, *, budget: int | None = None
) -> Iterator[IntArray]:
    """Index matrices ``(b, n)`` totalling ``n_bootstrap`` rows, ``b·n <= budget`` (b >= 1).

    ``budget`` defaults to :data:`BOOTSTRAP_CHUNK_ELEMENTS`. The draws depend on
    ``seed`` and ``n`` only, not on the chunking.
    """
    rng = np.random.default_rng(seed)
    limit = BOOTSTRAP_CHUNK_ELEMENTS if budget is None else budget
    per_chunk = max(1, limit // max(n, 1))
    done = 0
    while done < n_bootstrap:
        b = min(per_chunk, n_bootstrap - done)
        yield rng.integers(0, n, size=(b, n), dtype=np.int64)
        done += b


def bootstrap_distribution(
    evaluate: Callable[[IntArray], Mapping[str, FloatArray]],
    n: int,
    *,
    n_bootstrap: int,
    seed: int,
    names: Sequence[str] | None = None,
) -> dict[str, FloatArray]:
    """The ``n_bootstrap`` resampled values of every statistic ``evaluate`` returns.

    ``evaluate`` maps a ``(b, n)`` index matrix to one ``(b,)`` column per
    statistic; ``names`` keeps only those (default: every one). All statistics
    share the same resamples.
    """
    parts: dict[str, list[FloatArray]] = {name: [] for name in names or ()}
    for index in bootstrap_indices(n, n_bootstrap, seed):
        for name, column in evaluate(index).items():
            if names is None:
                parts.setdefault(name, [])
            if name in parts:
                parts[name].append(np.asarray(column, dtype=np.float64))
    return {
        name: np.concatenate(columns) if columns else np.empty(0, dtype=np.float64)
        for name, columns in parts.items()
    }


def percentile_interval(values: FloatArray, confidence: float) -> tuple[float | None, float | None]:
    """Percentile interval of the finite ``values`` at ``confidence``; ``(None, None)`` if none."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None, None
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_interval(
    statistic: Callable[[IntArray], FloatArray],
    n: int,
    *,
    n_bootstrap: int,
    confidence: float,
    seed: int,
) -> tuple[float | None, float | None]:
    """Percentile CI of one statistic (``(b, n)`` index matrix → ``(b,)`` values) over resamples."""
    samples = bootstrap_distribution(
        lambda index: {"value": statistic(index)}, n, n_bootstrap=n_bootstrap, seed=seed
    )
    return percentile_interval(samples.get("value", np.empty(0)), confidence)
