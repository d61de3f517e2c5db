"""Paired (offline) A/B comparison of a champion and a challenger on the same labeled rows.

* :func:`paired_bootstrap_difference` — percentile CI of ``metric(challenger) −
  metric(champion)`` over row resamples shared by both models (vectorized, see
  :mod:`modelwatch.stats.performance`).
* :func:`mcnemar_test` — paired test of accuracy; agrees with
  ``statsmodels.stats.contingency_tables.mcnemar`` (``exact=True``: binomial,
  statistic ``min(b, c)``; ``exact=False``: chi-squared with continuity
  correction). ``exact=None`` chooses exact when ``b + c < 25``.
* :func:`delong_test` — DeLong test of two correlated ROC AUCs, fast
  ``O(n log n)`` algorithm of Sun & Xu (2014).
* :func:`compare_models` — the decision: promote iff the CI's lower bound
  exceeds ``margin`` (superiority) or ``−margin`` (non-inferiority).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy import stats

from modelwatch.errors import StatisticsError
from modelwatch.stats.performance import (
    METRICS,
    BoolArray,
    FloatArray,
    _as_1d,
    _as_scores,
    _auc_from_groups,
    _bootstrap_chunks,
    _check_confidence,
    _check_int,
    _check_same_length,
    _confusion_codes,
    _metrics_from_counts,
    _param_error,
    _percentile_interval,
    _positive,
    _score_groups,
)

__all__ = [
    "MCNEMAR_EXACT_BELOW",
    "ABDecision",
    "compare_models",
    "delong_test",
    "mcnemar_test",
    "paired_bootstrap_difference",
]

Rule: TypeAlias = Literal["superiority", "non_inferiority"]

MCNEMAR_EXACT_BELOW = 25
"""``mcnemar_test(exact=None)`` uses the exact binomial test when ``b + c`` is below this."""


@dataclass(frozen=True)
class ABDecision:
    """Champion vs challenger on one metric: values, paired CI, decision and evidence."""

    metric: str
    champion_value: float
    challenger_value: float
    difference: float
    ci_low: float
    ci_high: float
    confidence: float
    n: int
    n_bootstrap: int
    rule: Rule
    margin: float
    should_promote: bool
    reason: str
    p_value: float | None = None
    test: str | None = None
    test_statistic: float | None = None


# --------------------------------------------------------------------------- tests


def mcnemar_test(
    y_true: npt.ArrayLike,
    pred_a: npt.ArrayLike,
    pred_b: npt.ArrayLike,
    *,
    exact: bool | None = None,
) -> tuple[float, float]:
    """McNemar's test of equal accuracy of two classifiers on the same rows.

    ``b`` = rows only model A gets right, ``c`` = rows only model B gets right.
    Exact: statistic ``min(b, c)``, p ``min(1, 2·Binom(b+c, ½).cdf(min(b, c)))``.
    Asymptotic: ``(|b − c| − 1)² / (b + c)`` against χ²(1). With ``b + c = 0``
    the models never disagree: ``(0.0, 1.0)``. Works for any number of classes
    (correct = prediction equals the label).
    """
    function = "mcnemar_test"
    truth = _as_1d(y_true, "y_true", function)
    a = _as_1d(pred_a, "pred_a", function)
    b_pred = _as_1d(pred_b, "pred_b", function)
    _check_same_length(function, y_true=truth, pred_a=a, pred_b=b_pred)
    if exact is not None and not isinstance(exact, bool):
        raise _param_error(function, "exact", "True, False or None", exact)
    a_right, b_right = a == truth, b_pred == truth
    only_a = int(np.count_nonzero(a_right & ~b_right))
    only_b = int(np.count_nonzero(~a_right & b_right))
    return _mcnemar_from_counts(only_a, only_b, exact)


def _mcnemar_from_counts(only_a: int, only_b: int, exact: bool | None) -> tuple[float, float]:
    discordant = only_a + only_b
    if exact is None:
        exact = discordant < MCNEMAR_EXACT_BELOW
    if exact:
        statistic = float(min(only_a, only_b))
        p = min(float(stats.binom.cdf(statistic, discordant, 0.5)) * 2.0, 1.0)
        return statistic, p
    if discordant == 0:
        return 0.0, 1.0
    statistic = (abs(only_a - only_b) - 1.0) ** 2 / discordant
    return float(statistic), float(stats.chi2.sf(statistic, 1))


def _midrank(values: FloatArray) -> FloatArray:
    return np.asarray(stats.rankdata(values, method="average"), dtype=np.float64)


def delong_test(
    y_true: npt.ArrayLike,
    score_a: npt.ArrayLike,
    score_b: npt.ArrayLike,
    *,
    pos_label: object = 1,
) -> tuple[float, float, float]:
    """DeLong test of ``AUC(a) = AUC(b)`` on the same rows: ``(auc_a − auc_b, z, p_value)``.

    Fast DeLong (Sun & Xu 2014): midranks among positives, negatives and all
    rows give the structural components; the variance of the difference is
    ``var_a + var_b − 2·cov_ab`` of their ``ddof=1`` covariances. Zero variance
    (identical rankings): ``z = 0, p = 1`` when the AUCs are equal.
    """
    function = "delong_test"
    truth_raw = _as_1d(y_true, "y_true", function)
    a = _as_scores(score_a, "score_a", function)
    b = _as_scores(score_b, "score_b", function)
    _check_same_length(function, y_true=truth_raw, score_a=a, score_b=b)
    truth, _ = _positive(truth_raw, [], pos_label, function)
    m, n = int(truth.sum()), int((~truth).sum())
    if m < 2 or n < 2:
        raise StatisticsError(
            f"{function} needs at least 2 positive and 2 negative rows; got {m} and {n}."
        )
    aucs, covariance = _delong_covariance(truth, np.vstack([a, b]))
    difference = float(aucs[0] - aucs[1])
    variance = float(covariance[0, 0] + covariance[1, 1] - 2.0 * covariance[0, 1])
    if variance <= 1e-300:
        if difference == 0.0:
            return difference, 0.0, 1.0
        z = math.copysign(math.inf, difference)
        return difference, z, 0.0
    z = difference / math.sqrt(variance)
    return difference, z, float(2.0 * stats.norm.sf(abs(z)))


def _delong_covariance(truth: BoolArray, scores: FloatArray) -> tuple[FloatArray, FloatArray]:
    """AUCs of each row of ``scores`` (k, n) and the DeLong covariance matrix (k, k)."""
    positives, negatives = scores[:, truth], scores[:, ~truth]
    m, n = positives.shape[1], negatives.shape[1]
    k = scores.shape[0]
    tx = np.empty((k, m))
    ty = np.empty((k, n))
    tz = np.empty((k, m + n))
    for r in range(k):
        tx[r] = _midrank(positives[r])
        ty[r] = _midrank(negatives[r])
        tz[r] = _midrank(np.concatenate([positives[r], negatives[r]]))
    aucs = tz[:, :m].sum(axis=1) / m / n - (m + 1.0) / 2.0 / n
    v01 = (tz[:, :m] - tx) / n
    v10 = 1.0 - (tz[:, m:] - ty) / m
    covariance = np.atleast_2d(np.cov(v01)) / m + np.atleast_2d(np.cov(v10)) / n
    return aucs, covariance


# --------------------------------------------------------------------------- bootstrap


def paired_bootstrap_difference(
    y_true: npt.ArrayLike,
    champion: npt.ArrayLike,
    challenger: npt.ArrayLike,
    *,
    metric: str,
    n_bootstrap: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    pos_label: object = 1,
) -> tuple[float, float, float]:
    """``(difference, ci_low, ci_high)`` of ``metric(challenger) − metric(champion)``.

    ``champion`` / ``challenger`` are scores for ``roc_auc`` and predicted labels
    for the label metrics. Both models are evaluated on the same resampled rows
    (a paired bootstrap), so their correlation narrows the interval.
    """
    function = "paired_bootstrap_difference"
    diff, low, high, _, _, _ = _paired(
        function, y_true, champion, challenger, metric, n_bootstrap, confidence, seed, pos_label
    )
    return diff, low, high


def _paired(
    function: str,
    y_true: npt.ArrayLike,
    champion: npt.ArrayLike,
    challenger: npt.ArrayLike,
    metric: str,
    n_bootstrap: int,
    confidence: float,
    seed: int,
    pos_label: object,
) -> tuple[float, float, float, float, float, int]:
    """(diff, low, high, champion value, challenger value, n)."""
    if metric not in METRICS:
        raise _param_error(function, "metric", f"one of {sorted(METRICS)}", metric)
    n_bootstrap = _check_int(function, "n_bootstrap", n_bootstrap, 1)
    confidence = _check_confidence(function, confidence)
    seed = _check_int(function, "seed", seed, 0)
    truth_raw = _as_1d(y_true, "y_true", function)
    if metric == "roc_auc":
        first = _as_scores(champion, "champion", function)
        second = _as_scores(challenger, "challenger", function)
        n = _check_same_length(function, y_true=truth_raw, champion=first, challenger=second)
        truth, _ = _positive(truth_raw, [], pos_label, function)
        if not 0 < int(truth.sum()) < n:
            raise StatisticsError(f"{function}: roc_auc needs both classes in 'y_true'.")
        groups = [_score_groups(first), _score_groups(second)]
        values = [float(_auc_from_groups(g[None, :], truth[None, :], ng)[0]) for g, ng in groups]
        parts = []
        for index in _bootstrap_chunks(n, n_bootstrap, seed):
            t = truth[index]
            auc_champion = _auc_from_groups(groups[0][0][index], t, groups[0][1])
            auc_challenger = _auc_from_groups(groups[1][0][index], t, groups[1][1])
            parts.append(auc_challenger - auc_champion)
    else:
        first_raw = _as_1d(champion, "champion", function)
        second_raw = _as_1d(challenger, "challenger", function)
        n = _check_same_length(
            function, y_true=truth_raw, champion=first_raw, challenger=second_raw
        )
        truth, (first_bool, second_bool) = _positive(
            truth_raw, [("champion", first_raw), ("challenger", second_raw)], pos_label, function
        )
        codes = [_confusion_codes(truth, first_bool), _confusion_codes(truth, second_bool)]
        values = [float(_metrics_from_counts(np.bincount(c, minlength=4))[metric]) for c in codes]
        parts = []
        for index in _bootstrap_chunks(n, n_bootstrap, seed):
            b = index.shape[0]
            offset = 4 * np.arange(b, dtype=np.int64)[:, None]
            per_model = []
            for c in codes:
                counts = np.bincount((c[index] + offset).ravel(), minlength=4 * b)
                per_model.append(_metrics_from_counts(counts.reshape(b, 4))[metric])
            parts.append(per_model[1] - per_model[0])
    low, high = _percentile_interval(np.concatenate(parts), confidence)
    if low is None or high is None:  # pragma: no cover - needs every resample single-class
        raise StatisticsError(f"{function}: no bootstrap resample had both classes.")
    return values[1] - values[0], low, high, values[0], values[1], n


# --------------------------------------------------------------------------- decision


def compare_models(
    y_true: npt.ArrayLike,
    *,
    champion_pred: npt.ArrayLike,
    challenger_pred: npt.ArrayLike,
    champion_score: npt.ArrayLike | None = None,
    challenger_score: npt.ArrayLike | None = None,
    metric: str = "roc_auc",
    rule: Rule = "superiority",
    margin: float = 0.0,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    seed: int = 0,
    pos_label: object = 1,
) -> ABDecision:
    """Decide whether the challenger replaces the champion, from a paired bootstrap CI.

    Promote iff ``ci_low > margin`` (``rule="superiority"``) or ``ci_low >
    −margin`` (``rule="non_inferiority"``). The evidence also carries McNemar's
    p-value for accuracy and DeLong's for ROC AUC (informative; the decision is
    the CI rule).
    """
    function = "compare_models"
    if rule not in ("superiority", "non_inferiority"):
        raise _param_error(function, "rule", "'superiority' or 'non_inferiority'", rule)
    if (
        isinstance(margin, bool)
        or not isinstance(margin, int | float | np.floating)
        or not math.isfinite(float(margin))
        or float(margin) < 0.0
    ):
        raise _param_error(function, "margin", "a finite float >= 0", margin)
    margin = float(margin)
    if metric not in METRICS:
        raise _param_error(function, "metric", f"one of {sorted(METRICS)}", metric)
    if metric == "roc_auc":
        if champion_score is None or challenger_score is None:
            raise StatisticsError(
                f"{function} with metric='roc_auc' needs 'champion_score' and 'challenger_score'."
            )
        champion, challenger = champion_score, challenger_score
    else:
        champion, challenger = champion_pred, challenger_pred
    diff, low, high, champion_value, challenger_value, n = _paired(
        function, y_true, champion, challenger, metric, n_bootstrap, confidence, seed, pos_label
    )

    p_value: float | None = None
    test: str | None = None
    statistic: float | None = None
    if metric == "accuracy":
        statistic, p_value = mcnemar_test(y_true, champion_pred, challenger_pred)
        test = "mcnemar"
    elif metric == "roc_auc":
        assert champion_score is not None and challenger_score is not None
        try:
            _, statistic, p_value = delong_test(
                y_true, challenger_score, champion_score, pos_label=pos_label
            )
            test = "delong"
        except StatisticsError:
            statistic, p_value = None, None

    bound = margin if rule == "superiority" else -margin
    should_promote = low > bound
    reason = _reason(
        metric, rule, bound, confidence, champion_value, challenger_value, diff, low, high,
        should_promote, test, p_value,
    )  # fmt: skip
    return ABDecision(
        metric=metric,
        champion_value=champion_value,
        challenger_value=challenger_value,
        difference=diff,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        n=n,
        n_bootstrap=n_bootstrap,
        rule=rule,
        margin=margin,
        should_promote=should_promote,
        reason=reason,
        p_value=p_value,
        test=test,
        test_statistic=statistic,
    )


def _reason(
    metric: str,
    rule: Rule,
    bound: float,
    confidence: float,
    champion_value: float,
    challenger_value: float,
    diff: float,
    low: float,
    high: float,
    should_promote: bool,
    test: str | None,
    p_value: float | None,
) -> str:
    verdict = "Promote the challenger" if should_promote else "Keep the champion"
    relation = "above" if should_promote else "not above"
    rule_text = "superiority" if rule == "superiority" else "non-inferiority"
    evidence = f"; {test} p = {p_value:.4g}" if test is not None and p_value is not None else ""
    return (
        f"{verdict}: {metric} {challenger_value:.4f} (challenger) vs {champion_value:.4f} "
        f"(champion), difference {diff:+.4f} with {confidence:.0%} CI [{low:+.4f}, {high:+.4f}]; "
        f"the lower bound is {relation} the {rule_text} bound {bound:+.4f}{evidence}."
    )
