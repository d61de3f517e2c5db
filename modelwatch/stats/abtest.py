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
* Guardrails (:func:`calibration_guardrail`, :func:`fairness_guardrails`,
  :func:`latency_guardrail`, :func:`apply_guardrails`): the primary rule AND
  every guardrail; the reason names the failed guardrails with their numbers.
* Regression: :func:`absolute_error_test` (Wilcoxon signed-rank on paired
  absolute errors) and :func:`compare_regression_models` (paired bootstrap of
  the MAE improvement).
* Multiclass: :func:`compare_multiclass_models` (paired bootstrap of accuracy,
  macro / weighted F1 or the log-loss improvement; McNemar beside accuracy).
* Online A/B from a ``variant`` column: :func:`two_proportion_ztest` (agrees
  with ``statsmodels.stats.proportion.proportions_ztest``), :func:`welch_ttest`
  (``scipy.stats.ttest_ind(equal_var=False)``), :func:`normal_power` /
  :func:`required_sample_size` (``statsmodels.stats.power.NormalIndPower``),
  :func:`online_ab_decision` (``InsufficientData`` below the required rows).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from modelwatch.errors import StatisticsError
from modelwatch.stats.kernels import (
    CONFIDENCE,
    FloatArray,
    IntArray,
    bootstrap_interval,
    calibration_errors,
    check_bootstrap_params,
    confusion_codes,
    confusion_counts,
    confusion_matrices,
    delong_covariance,
    encode_labels,
    label_metrics_from_counts,
    multiclass_label_metrics,
    roc_auc,
    row_log_loss,
)
from modelwatch.stats.params import (
    Interval,
    Options,
    as_1d,
    as_scores,
    check_param,
    check_params,
    param_error,
    positive_labels,
    same_length,
)
from modelwatch.stats.performance import METRICS, segment_masks

__all__ = [
    "MCNEMAR_EXACT_BELOW",
    "ABDecision",
    "GuardrailResult",
    "OnlineABDecision",
    "absolute_error_test",
    "apply_guardrails",
    "calibration_guardrail",
    "compare_models",
    "compare_multiclass_models",
    "compare_regression_models",
    "delong_test",
    "fairness_guardrails",
    "guardrail_markdown",
    "latency_guardrail",
    "mcnemar_test",
    "normal_power",
    "online_ab_decision",
    "paired_bootstrap_difference",
    "required_sample_size",
    "two_proportion_ztest",
    "welch_ttest",
]

Rule: TypeAlias = Literal["superiority", "non_inferiority"]

MCNEMAR_EXACT_BELOW = 25
"""``mcnemar_test(exact=None)`` uses the exact binomial test when ``b + c`` is below this."""

_RULE = Options(("superiority", "non_inferiority"))
_METRIC = Options(tuple(sorted(METRICS)))
_FAIRNESS_METRIC = Options(("demographic_parity_difference", "equal_opportunity_difference"))


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
    guardrails: tuple[GuardrailResult, ...] = ()
    """Guardrails checked after the primary rule (see :func:`apply_guardrails`)."""
    primary_passed: bool | None = None
    """The primary rule's verdict alone (set by :func:`apply_guardrails`)."""


@dataclass(frozen=True)
class GuardrailResult:
    """One guardrail: the challenger's value must stay within ``limit``.

    ``limit`` is the largest allowed challenger value (``champion + margin`` for an
    additive guardrail, ``champion × ratio`` for latency); lower is better.
    """

    name: str
    champion_value: float
    challenger_value: float
    limit: float
    passed: bool
    rule: str
    unit: str = ""
    ci_low: float | None = None
    """Lower bound of the paired bootstrap CI of ``challenger − champion`` (when computed)."""
    ci_high: float | None = None

    @property
    def detail(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        verdict = "within" if self.passed else "above"
        ci = (
            f", increase CI [{self.ci_low:+.4f}, {self.ci_high:+.4f}]"
            if self.ci_low is not None and self.ci_high is not None
            else ""
        )
        return (
            f"{self.name} {self.challenger_value:.4f}{unit} (challenger) vs "
            f"{self.champion_value:.4f}{unit} (champion), {verdict} the limit "
            f"{self.limit:.4f}{unit} ({self.rule}){ci}"
        )


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
    truth = as_1d(y_true, "y_true", function)
    a = as_1d(pred_a, "pred_a", function)
    b_pred = as_1d(pred_b, "pred_b", function)
    same_length(function, y_true=truth, pred_a=a, pred_b=b_pred)
    check_param(function, "exact", exact, Options((True, False), allow_none=True))
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
    truth_raw = as_1d(y_true, "y_true", function)
    a = as_scores(score_a, "score_a", function)
    b = as_scores(score_b, "score_b", function)
    same_length(function, y_true=truth_raw, score_a=a, score_b=b)
    truth, _ = positive_labels(truth_raw, [], pos_label, function)
    m, n = int(truth.sum()), int((~truth).sum())
    if m < 2 or n < 2:
        raise StatisticsError(
            f"{function} needs at least 2 positive and 2 negative rows; got {m} and {n}."
        )
    aucs, covariance = delong_covariance(truth, np.vstack([a, b]))
    difference = float(aucs[0] - aucs[1])
    variance = float(covariance[0, 0] + covariance[1, 1] - 2.0 * covariance[0, 1])
    if variance <= 1e-300:
        if difference == 0.0:
            return difference, 0.0, 1.0
        z = math.copysign(math.inf, difference)
        return difference, z, 0.0
    z = difference / math.sqrt(variance)
    return difference, z, float(2.0 * stats.norm.sf(abs(z)))


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
    paired = _paired(
        function,
        y_true,
        champion,
        challenger,
        metric=metric,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
        pos_label=pos_label,
    )
    return paired.difference, *paired.interval


def _paired(
    function: str,
    y_true: npt.ArrayLike,
    champion: npt.ArrayLike,
    challenger: npt.ArrayLike,
    *,
    metric: str,
    n_bootstrap: int,
    confidence: float,
    seed: int,
    pos_label: object,
) -> _Comparison:
    """Both models' ``metric``, the difference and its paired bootstrap CI (no test yet)."""
    check_param(function, "metric", metric, _METRIC)
    n_bootstrap, confidence, seed = check_bootstrap_params(
        function, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed
    )
    truth_raw = as_1d(y_true, "y_true", function)
    statistic: Callable[[IntArray | None], FloatArray]
    if metric == "roc_auc":
        first = as_scores(champion, "champion", function)
        second = as_scores(challenger, "challenger", function)
        n = same_length(function, y_true=truth_raw, champion=first, challenger=second)
        truth, _ = positive_labels(truth_raw, [], pos_label, function)
        if not 0 < int(truth.sum()) < n:
            raise StatisticsError(f"{function}: roc_auc needs both classes in 'y_true'.")

        def statistic(index: IntArray | None) -> FloatArray:
            return roc_auc(truth, second, index=index) - roc_auc(truth, first, index=index)

        values = [float(roc_auc(truth, first)[0]), float(roc_auc(truth, second)[0])]
    else:
        first_raw = as_1d(champion, "champion", function)
        second_raw = as_1d(challenger, "challenger", function)
        n = same_length(function, y_true=truth_raw, champion=first_raw, challenger=second_raw)
        truth, (first_bool, second_bool) = positive_labels(
            truth_raw, [first_raw, second_raw], pos_label, function
        )
        codes = [confusion_codes(truth, first_bool), confusion_codes(truth, second_bool)]

        def statistic(index: IntArray | None) -> FloatArray:
            champion_value, challenger_value = (
                label_metrics_from_counts(confusion_counts(c, index))[metric] for c in codes
            )
            return np.asarray(challenger_value - champion_value)

        values = [float(label_metrics_from_counts(confusion_counts(c))[metric][0]) for c in codes]
    low, high = bootstrap_interval(
        statistic, n, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed
    )
    if low is None or high is None:  # pragma: no cover - needs every resample single-class
        raise StatisticsError(f"{function}: no bootstrap resample had both classes.")
    return _Comparison(
        metric=metric,
        label=metric,
        values=(values[0], values[1]),
        difference=values[1] - values[0],
        interval=(low, high),
        confidence=confidence,
        n=n,
        n_bootstrap=n_bootstrap,
    )


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
    margin = _check_rule(function, rule, margin)
    check_param(function, "metric", metric, _METRIC)
    if metric == "roc_auc":
        if champion_score is None or challenger_score is None:
            raise StatisticsError(
                f"{function} with metric='roc_auc' needs 'champion_score' and 'challenger_score'."
            )
        champion, challenger = champion_score, challenger_score
    else:
        champion, challenger = champion_pred, challenger_pred
    paired = _paired(
        function,
        y_true,
        champion,
        challenger,
        metric=metric,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
        pos_label=pos_label,
    )

    if metric == "accuracy":
        statistic, p_value = mcnemar_test(y_true, champion_pred, challenger_pred)
        paired = replace(paired, test="mcnemar", p_value=p_value, statistic=statistic)
    elif metric == "roc_auc":
        try:
            _, statistic, p_value = delong_test(y_true, challenger, champion, pos_label=pos_label)
        except StatisticsError:
            pass
        else:
            paired = replace(paired, test="delong", p_value=p_value, statistic=statistic)
    return _decision(paired, rule=rule, margin=margin)


@dataclass(frozen=True, kw_only=True)
class _Comparison:
    """A paired comparison before the promotion rule: both values, the CI and the paired test."""

    metric: str
    label: str
    """How the reason names the difference (``"mae improvement"`` for MAE)."""
    values: tuple[float, float]
    """``(champion, challenger)`` on all rows."""
    difference: float
    """Oriented so that positive favours the challenger."""
    interval: tuple[float, float]
    """Paired bootstrap CI of ``difference``."""
    confidence: float
    n: int
    n_bootstrap: int
    test: str | None = None
    p_value: float | None = None
    statistic: float | None = None


def _check_rule(function: str, rule: object, margin: object) -> float:
    """The promotion rule's parameters checked; the margin as a float."""
    check_param(function, "rule", rule, _RULE)
    return check_param(function, "margin", margin, Interval(float, 0, None))


def _decision(comparison: _Comparison, *, rule: Rule, margin: float) -> ABDecision:
    """The primary rule: promote iff the CI lower bound clears +margin (or -margin)."""
    c = comparison
    bound = margin if rule == "superiority" else -margin
    should_promote = c.interval[0] > bound
    verdict = "Promote the challenger" if should_promote else "Keep the champion"
    relation = "above" if should_promote else "not above"
    rule_text = "superiority" if rule == "superiority" else "non-inferiority"
    evidence = (
        f"; {c.test} p = {c.p_value:.4g}" if c.test is not None and c.p_value is not None else ""
    )
    reason = (
        f"{verdict}: {c.label} {c.values[1]:.4f} (challenger) vs {c.values[0]:.4f} "
        f"(champion), difference {c.difference:+.4f} with {c.confidence:.0%} CI "
        f"[{c.interval[0]:+.4f}, {c.interval[1]:+.4f}]; "
        f"the lower bound is {relation} the {rule_text} bound {bound:+.4f}{evidence}."
    )
    return ABDecision(
        metric=c.metric,
        champion_value=c.values[0],
        challenger_value=c.values[1],
        difference=c.difference,
        ci_low=c.interval[0],
        ci_high=c.interval[1],
        confidence=c.confidence,
        n=c.n,
        n_bootstrap=c.n_bootstrap,
        rule=rule,
        margin=margin,
        should_promote=should_promote,
        reason=reason,
        p_value=c.p_value,
        test=c.test,
        test_statistic=c.statistic,
    )


# --------------------------------------------------------------------------- guardrails


def _increase_interval(
    kernel: Callable[[IntArray], tuple[FloatArray, FloatArray]],
    n: int,
    *,
    n_bootstrap: int,
    confidence: float,
    seed: int,
) -> tuple[float, float]:
    """Percentile CI of ``challenger − champion`` of a statistic over shared resamples."""

    def increase(index: IntArray) -> FloatArray:
        champion, challenger = kernel(index)
        return challenger - champion

    low, high = bootstrap_interval(
        increase, n, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed
    )
    return (math.nan, math.nan) if low is None or high is None else (low, high)


def _harm_result(
    name: str,
    champion: float,
    challenger: float,
    max_increase: float,
    interval: tuple[float, float],
    confidence: float,
) -> GuardrailResult:
    low, high = interval
    # Fails only on harm that is both larger than the margin and distinguishable from noise.
    harmful = challenger - champion > max_increase and not (low <= 0.0)
    return GuardrailResult(
        name,
        champion,
        challenger,
        champion + max_increase,
        not harmful,
        f"champion + {max_increase:g}, increase significant at {confidence:.0%}",
        ci_low=low,
        ci_high=high,
    )


def calibration_guardrail(
    y_true: npt.ArrayLike,
    champion_score: npt.ArrayLike,
    challenger_score: npt.ArrayLike,
    *,
    max_increase: float,
    n_bins: int = 10,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    pos_label: object = 1,
) -> GuardrailResult:
    """Calibration not worse: expected calibration error (``n_bins`` equal-width bins).

    Fails when ``ECE(challenger) − ECE(champion) > max_increase`` and the paired
    bootstrap CI of that increase lies above 0 (the harm is not sampling noise).
    Point values equal :func:`~modelwatch.stats.performance.classification_metrics`'s
    ``ece``.
    """
    function = "calibration_guardrail"
    max_increase = check_param(function, "max_increase", max_increase, Interval(float, 0, None))
    n_bins = check_param(function, "n_bins", n_bins, Interval(int, 1, None))
    n_bootstrap, confidence, seed = check_bootstrap_params(
        function, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed
    )
    truth_raw = as_1d(y_true, "y_true", function)
    a = as_scores(champion_score, "champion_score", function)
    b = as_scores(challenger_score, "challenger_score", function)
    n = same_length(function, y_true=truth_raw, champion_score=a, challenger_score=b)
    truth, _ = positive_labels(truth_raw, [], pos_label, function)
    for name, score in (("champion_score", a), ("challenger_score", b)):
        if float(score.min()) < 0.0 or float(score.max()) > 1.0:
            raise param_error(function, name, "probabilities in [0, 1]", "values outside")
    y = truth.astype(np.float64)

    def ece(index: IntArray) -> tuple[FloatArray, FloatArray]:
        return (
            calibration_errors(y, a, n_bins=n_bins, index=index),
            calibration_errors(y, b, n_bins=n_bins, index=index),
        )

    point_a, point_b = ece(np.arange(n, dtype=np.int64)[None, :])
    interval = _increase_interval(ece, n, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed)
    return _harm_result(
        "ece", float(point_a[0]), float(point_b[0]), max_increase, interval, confidence
    )


FairnessMetric: TypeAlias = Literal["demographic_parity_difference", "equal_opportunity_difference"]


def fairness_guardrails(
    y_true: npt.ArrayLike,
    champion_pred: npt.ArrayLike,
    challenger_pred: npt.ArrayLike,
    segments: pd.DataFrame,
    *,
    metric: FairnessMetric = "equal_opportunity_difference",
    max_increase: float,
    min_rows: int = 30,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    pos_label: object = 1,
) -> list[GuardrailResult]:
    """Fairness not worse, per segment column: the gap (max − min over its values).

    ``demographic_parity_difference``: gap of the share predicted positive;
    ``equal_opportunity_difference``: gap of the true positive rate. Point values
    equal :func:`~modelwatch.stats.performance.fairness_gaps` (values with fewer
    than ``min_rows`` rows left out; a column needs 2 values). Each column fails
    when the gap grows by more than ``max_increase`` and the paired bootstrap CI of
    the growth lies above 0.
    """
    function = "fairness_guardrails"
    check_param(function, "metric", metric, _FAIRNESS_METRIC)
    max_increase = check_param(function, "max_increase", max_increase, Interval(float, 0, None))
    min_rows = check_param(function, "min_rows", min_rows, Interval(int, 1, None))
    n_bootstrap, confidence, seed = check_bootstrap_params(
        function, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed
    )
    truth_raw = as_1d(y_true, "y_true", function)
    a_raw = as_1d(champion_pred, "champion_pred", function)
    b_raw = as_1d(challenger_pred, "challenger_pred", function)
    n = same_length(function, y_true=truth_raw, champion_pred=a_raw, challenger_pred=b_raw)
    if not isinstance(segments, pd.DataFrame) or len(segments) != n:
        raise param_error(
            function, "segments", f"a DataFrame with {n} rows", type(segments).__name__
        )
    truth, (a, b) = positive_labels(truth_raw, [a_raw, b_raw], pos_label, function)
    equal_opportunity = metric == "equal_opportunity_difference"
    out = []
    for column in segments.columns:
        masks = [mask for col, _, mask in segment_masks(segments[[column]], min_rows) if col]
        if equal_opportunity:
            masks = [m for m in masks if bool((m & truth).any())]
        if len(masks) < 2:
            continue
        k = len(masks)
        code = np.full(n, k, dtype=np.int64)  # k = rows outside every kept value
        for value_index, mask in enumerate(masks):
            code[mask] = value_index
        base = truth if equal_opportunity else np.ones(n, dtype=bool)
        hits = [(p & base).astype(np.float64) for p in (a, b)]
        weight = base.astype(np.float64)

        def gaps(
            index: IntArray,
            code: IntArray = code,
            k: int = k,
            hits: list[FloatArray] = hits,
            weight: FloatArray = weight,
        ) -> tuple[FloatArray, FloatArray]:
            m = index.shape[0]
            cells = (code[index] + (k + 1) * np.arange(m, dtype=np.int64)[:, None]).ravel()
            size = m * (k + 1)
            denominator = np.bincount(cells, weights=weight[index].ravel(), minlength=size)
            denominator = denominator.reshape(m, k + 1)[:, :k]
            out_gaps = []
            for h in hits:
                numerator = np.bincount(cells, weights=h[index].ravel(), minlength=size)
                numerator = numerator.reshape(m, k + 1)[:, :k]
                with np.errstate(divide="ignore", invalid="ignore"):
                    rate = np.where(denominator > 0, numerator / denominator, np.nan)
                present = np.isfinite(rate).sum(axis=1) >= 2
                with np.errstate(invalid="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    gap = np.nanmax(rate, axis=1) - np.nanmin(rate, axis=1)
                out_gaps.append(np.where(present, gap, np.nan))
            return out_gaps[0], out_gaps[1]

        point_a, point_b = gaps(np.arange(n, dtype=np.int64)[None, :])
        interval = _increase_interval(
            gaps, n, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed
        )
        out.append(
            _harm_result(
                f"{metric}[{column}]",
                float(point_a[0]),
                float(point_b[0]),
                max_increase,
                interval,
                confidence,
            )
        )
    return out


def latency_guardrail(
    champion_ms: float, challenger_ms: float, *, max_ratio: float
) -> GuardrailResult:
    """Latency not worse: ``ms(challenger) <= ms(champion) × max_ratio`` (ms per 1k rows)."""
    function = "latency_guardrail"
    max_ratio = check_param(function, "max_ratio", max_ratio, Interval(float, 1, None))
    a = check_param(function, "champion_ms", champion_ms, Interval(float, 0, None))
    b = check_param(function, "challenger_ms", challenger_ms, Interval(float, 0, None))
    limit = a * max_ratio
    return GuardrailResult(
        "latency", a, b, limit, b <= limit, f"champion x {max_ratio:g}", unit="ms/1k rows"
    )


def apply_guardrails(decision: ABDecision, guardrails: Sequence[GuardrailResult]) -> ABDecision:
    """The final decision: the primary rule AND every guardrail.

    ``should_promote`` and ``reason`` are replaced; ``primary_passed`` keeps the
    primary rule's verdict. The reason names each failed guardrail with its numbers.
    """
    guardrails = tuple(guardrails)
    primary = (
        decision.should_promote if decision.primary_passed is None else decision.primary_passed
    )
    failed = [g for g in guardrails if not g.passed]
    should_promote = primary and not failed
    reason = decision.reason
    if failed:
        listed = "; ".join(g.detail for g in failed)
        prefix = "Keep the champion" if primary else "Also"
        if primary:
            reason = reason.replace("Promote the challenger", "Primary rule passed", 1)
        reason = f"{reason} {prefix}: guardrail(s) failed: {listed}."
    elif guardrails:
        reason = f"{reason} Guardrails passed: {', '.join(g.name for g in guardrails)}."
    return replace(
        decision,
        guardrails=guardrails,
        primary_passed=primary,
        should_promote=should_promote,
        reason=reason,
    )


def guardrail_markdown(guardrails: Sequence[GuardrailResult]) -> str:
    """A markdown table of the guardrails (appended to the A/B evidence)."""
    if not guardrails:
        return "No guardrails were checked.\n"
    lines = [
        "## Guardrails",
        "",
        "| guardrail | champion | challenger | limit | increase CI | rule | result |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for g in guardrails:
        unit = f" {g.unit}" if g.unit else ""
        ci = (
            f"[{g.ci_low:+.4f}, {g.ci_high:+.4f}]"
            if g.ci_low is not None and g.ci_high is not None
            else "—"
        )
        lines.append(
            f"| {g.name} | {g.champion_value:.4f}{unit} | {g.challenger_value:.4f}{unit} | "
            f"{g.limit:.4f}{unit} | {ci} | {g.rule} | {'pass' if g.passed else '**FAIL**'} |"
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- regression


def absolute_error_test(
    y_true: npt.ArrayLike, pred_a: npt.ArrayLike, pred_b: npt.ArrayLike
) -> tuple[float, float]:
    """Wilcoxon signed-rank test of paired absolute errors ``|y − a|`` vs ``|y − b|``.

    ``(statistic, p_value)`` of :func:`scipy.stats.wilcoxon` (two-sided, zero
    differences dropped); ``(0.0, 1.0)`` when every pair has the same error.
    """
    function = "absolute_error_test"
    truth = as_scores(y_true, "y_true", function)
    a = as_scores(pred_a, "pred_a", function)
    b = as_scores(pred_b, "pred_b", function)
    same_length(function, y_true=truth, pred_a=a, pred_b=b)
    diff = np.abs(truth - a) - np.abs(truth - b)
    if not np.any(diff != 0):
        return 0.0, 1.0
    result = stats.wilcoxon(np.abs(truth - a), np.abs(truth - b))
    return float(result.statistic), float(result.pvalue)


def compare_regression_models(
    y_true: npt.ArrayLike,
    *,
    champion_pred: npt.ArrayLike,
    challenger_pred: npt.ArrayLike,
    rule: Rule = "superiority",
    margin: float = 0.0,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> ABDecision:
    """Regression A/B on MAE: ``difference = MAE(champion) − MAE(challenger)`` (higher = better).

    Paired bootstrap CI of that improvement; the same promotion rule as
    :func:`compare_models`; Wilcoxon on absolute errors as the paired test.
    """
    function = "compare_regression_models"
    margin = _check_rule(function, rule, margin)
    n_bootstrap, confidence, seed = check_bootstrap_params(
        function, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed
    )
    truth = as_scores(y_true, "y_true", function)
    a = as_scores(champion_pred, "champion_pred", function)
    b = as_scores(challenger_pred, "challenger_pred", function)
    n = same_length(function, y_true=truth, champion_pred=a, challenger_pred=b)
    improvement = np.abs(truth - a) - np.abs(truth - b)
    low, high = bootstrap_interval(
        lambda index: improvement[index].mean(axis=1),
        n,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
    )
    assert low is not None and high is not None
    champion_value, challenger_value = (
        float(np.abs(truth - a).mean()),
        float(np.abs(truth - b).mean()),
    )
    statistic, p_value = absolute_error_test(truth, a, b)
    comparison = _Comparison(
        metric="mae",
        label="mae improvement",
        values=(champion_value, challenger_value),
        difference=champion_value - challenger_value,
        interval=(low, high),
        confidence=confidence,
        n=n,
        n_bootstrap=n_bootstrap,
        test="wilcoxon",
        p_value=p_value,
        statistic=statistic,
    )
    return _decision(comparison, rule=rule, margin=margin)


# --------------------------------------------------------------------------- multiclass

MULTICLASS_AB_METRICS: tuple[str, ...] = ("accuracy", "f1_macro", "f1_weighted", "log_loss")


def compare_multiclass_models(
    y_true: npt.ArrayLike,
    *,
    champion_pred: npt.ArrayLike,
    challenger_pred: npt.ArrayLike,
    champion_proba: npt.ArrayLike | None = None,
    challenger_proba: npt.ArrayLike | None = None,
    classes: Sequence[object] | None = None,
    metric: str = "f1_macro",
    rule: Rule = "superiority",
    margin: float = 0.0,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> ABDecision:
    """Multiclass A/B: paired bootstrap CI of the improvement on ``metric``.

    ``accuracy`` / ``f1_macro`` / ``f1_weighted`` (as
    :func:`~modelwatch.stats.performance.multiclass_metrics`, over the labels
    present in ``y_true`` or either prediction): ``difference = challenger −
    champion``. ``log_loss`` (lower is better; needs both ``(n, k)`` probability
    matrices whose columns are ``classes``): ``difference = champion −
    challenger``. Either way a positive difference favours the challenger and
    the promotion rule is :func:`compare_models`'s. McNemar's test is reported
    beside accuracy.
    """
    function = "compare_multiclass_models"
    check_param(function, "rule", rule, _RULE)
    check_param(function, "metric", metric, Options(MULTICLASS_AB_METRICS))
    margin = check_param(function, "margin", margin, Interval(float, 0, None))
    n_bootstrap, confidence, seed = check_bootstrap_params(
        function, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed
    )
    truth = as_1d(y_true, "y_true", function)
    a = as_1d(champion_pred, "champion_pred", function)
    b = as_1d(challenger_pred, "challenger_pred", function)
    n = same_length(function, y_true=truth, champion_pred=a, challenger_pred=b)

    # the improvement per resample (positive favours the challenger)
    improvement: Callable[[IntArray], FloatArray]
    if metric == "log_loss":
        if champion_proba is None or challenger_proba is None:
            raise StatisticsError(
                f"{function} with metric='log_loss' needs 'champion_proba' and 'challenger_proba'."
            )
        loss_a = row_log_loss(champion_proba, truth, classes, where=function)
        loss_b = row_log_loss(challenger_proba, truth, classes, where=function)
        gain = loss_a - loss_b
        champion_value, challenger_value = float(loss_a.mean()), float(loss_b.mean())
        diff = champion_value - challenger_value
        label = "log_loss improvement"

        def improvement(index: IntArray) -> FloatArray:
            return np.asarray(gain[index].mean(axis=1))

    else:
        present, (truth_code, a_code, b_code) = encode_labels(truth, a, b)

        def score(index: IntArray, pred: IntArray) -> FloatArray:
            matrices = confusion_matrices(truth_code, pred, len(present), index)
            return multiclass_label_metrics(matrices)[metric]

        def improvement(index: IntArray) -> FloatArray:
            return score(index, b_code) - score(index, a_code)

        whole = np.arange(n, dtype=np.int64)[None, :]
        champion_value = float(score(whole, a_code)[0])
        challenger_value = float(score(whole, b_code)[0])
        diff = challenger_value - champion_value
        label = metric
    low, high = bootstrap_interval(
        improvement, n, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed
    )
    assert low is not None and high is not None
    comparison = _Comparison(
        metric=metric,
        label=label,
        values=(champion_value, challenger_value),
        difference=diff,
        interval=(low, high),
        confidence=confidence,
        n=n,
        n_bootstrap=n_bootstrap,
    )
    if metric == "accuracy":
        statistic, p_value = mcnemar_test(truth, a, b)
        comparison = replace(comparison, test="mcnemar", p_value=p_value, statistic=statistic)
    return _decision(comparison, rule=rule, margin=margin)


# --------------------------------------------------------------------------- online A/B

OnlineMetric: TypeAlias = Literal["accuracy", "brier_loss", "absolute_error"]
ONLINE_METRICS: tuple[str, ...] = ("accuracy", "brier_loss", "absolute_error")


def two_proportion_ztest(
    successes: tuple[int, int], counts: tuple[int, int]
) -> tuple[float, float]:
    """Two-sided z-test of ``p1 = p2`` with the pooled proportion: ``(z, p_value)``.

    ``z = (p1 − p2) / sqrt(p(1 − p)(1/n1 + 1/n2))``, ``p`` pooled; agrees with
    ``statsmodels.stats.proportion.proportions_ztest(successes, counts)``.
    """
    function = "two_proportion_ztest"
    x1, x2 = (check_param(function, "successes", int(v), Interval(int, 0, None)) for v in successes)
    n1, n2 = (check_param(function, "counts", int(v), Interval(int, 1, None)) for v in counts)
    if x1 > n1 or x2 > n2:
        raise param_error(function, "successes", "at most 'counts'", successes)
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    if variance <= 0.0:
        return (0.0, 1.0) if p1 == p2 else (math.copysign(math.inf, p1 - p2), 0.0)
    z = (p1 - p2) / math.sqrt(variance)
    return z, float(2.0 * stats.norm.sf(abs(z)))


def welch_ttest(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[float, float, float]:
    """Welch's two-sided t-test of equal means: ``(t, p_value, degrees of freedom)``.

    Agrees with ``scipy.stats.ttest_ind(a, b, equal_var=False)``.
    """
    function = "welch_ttest"
    x = as_scores(a, "a", function)
    y = as_scores(b, "b", function)
    if x.size < 2 or y.size < 2:
        raise StatisticsError(
            f"{function} needs at least 2 rows per group; got {x.size} and {y.size}."
        )
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se2 = va + vb
    diff = float(x.mean() - y.mean())
    if se2 <= 0.0:
        return (
            (0.0, 1.0, float(x.size + y.size - 2))
            if diff == 0
            else (math.copysign(math.inf, diff), 0.0, float(x.size + y.size - 2))
        )
    df = se2**2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    t = diff / math.sqrt(se2)
    return float(t), float(2.0 * stats.t.sf(abs(t), df)), float(df)


def normal_power(
    effect_size: float, n1: float, *, alpha: float = 0.05, ratio: float = 1.0
) -> float:
    """Power of a two-sided two-sample z-test at standardized ``effect_size``.

    ``n2 = ratio × n1``; agrees with ``statsmodels.stats.power.NormalIndPower().power``
    (both rejection tails are counted).
    """
    crit = float(stats.norm.isf(alpha / 2.0))
    shift = abs(effect_size) * math.sqrt(n1 / (1.0 + 1.0 / ratio))
    return float(stats.norm.sf(crit - shift) + stats.norm.cdf(-crit - shift))


def required_sample_size(
    effect_size: float, *, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> float:
    """Rows per arm (n1, not rounded) for ``power`` at ``effect_size`` (two-sided z-test).

    The root of :func:`normal_power` ``= power``; agrees with
    ``NormalIndPower().solve_power(effect_size, alpha=alpha, power=power, ratio=ratio)``.
    """
    function = "required_sample_size"
    if not effect_size or not math.isfinite(effect_size):
        raise param_error(function, "effect_size", "a finite non-zero float", effect_size)
    check_params(function, {"alpha": (alpha, CONFIDENCE), "power": (power, CONFIDENCE)})
    from scipy.optimize import brentq

    # closed form ignoring the far tail: a bracket for the exact root
    crit = float(stats.norm.isf(alpha / 2.0))
    guess = (crit + float(stats.norm.ppf(power))) ** 2 * (1.0 + 1.0 / ratio) / effect_size**2
    if normal_power(effect_size, 1e-12, alpha=alpha, ratio=ratio) >= power:
        return 0.0
    root = brentq(
        lambda n: normal_power(effect_size, n, alpha=alpha, ratio=ratio) - power,
        1e-12,
        max(guess * 2.0, 2.0),
        xtol=1e-12,
        rtol=4 * np.finfo(float).eps,
    )
    return float(root)


@dataclass(frozen=True)
class OnlineABDecision:
    """Online A/B from the served traffic: per-variant values, test, sample size, decision.

    ``status`` is ``"InsufficientData"`` (keep collecting, no decision), ``"Promote"``
    or ``"Keep"``. ``difference`` is oriented so that positive favours the challenger
    (``challenger − champion`` for accuracy, ``champion − challenger`` for losses).
    """

    metric: str
    champion_value: float
    challenger_value: float
    champion_n: int
    challenger_n: int
    difference: float
    ci_low: float
    ci_high: float
    confidence: float
    test: str
    test_statistic: float
    p_value: float
    minimum_detectable_effect: float
    power: float
    effect_size: float
    required_n: int
    status: Literal["InsufficientData", "Promote", "Keep"]
    rule: Rule
    margin: float
    reason: str

    @property
    def should_promote(self) -> bool:
        return self.status == "Promote"


def online_ab_decision(
    champion_values: npt.ArrayLike,
    challenger_values: npt.ArrayLike,
    *,
    metric: OnlineMetric = "accuracy",
    minimum_detectable_effect: float = 0.02,
    power: float = 0.8,
    confidence: float = 0.95,
    rule: Rule = "superiority",
    margin: float = 0.0,
) -> OnlineABDecision:
    """Decide from per-row values of each arm (1/0 correct for accuracy, per-row losses else).

    Required rows per arm: :func:`required_sample_size` at the standardized
    minimum detectable effect — Cohen's ``h`` between the champion's accuracy and
    that ± the effect for accuracy, ``mde / pooled sd`` for losses — at ``alpha =
    1 − confidence`` and ``power``. Below it in either arm: ``InsufficientData``.
    Else accuracy: two-proportion z-test, Wald CI of the difference; losses:
    Welch's t-test and its CI. Promote iff ``ci_low > margin`` (superiority) or
    ``> −margin`` (non-inferiority), as offline.
    """
    function = "online_ab_decision"
    check_param(function, "metric", metric, Options(ONLINE_METRICS))
    check_param(function, "rule", rule, _RULE)
    mde = check_param(
        function,
        "minimum_detectable_effect",
        minimum_detectable_effect,
        Interval(float, 0, None, closed="neither"),
    )
    margin = check_param(function, "margin", margin, Interval(float, 0, None))
    confidence = check_param(function, "confidence", confidence, CONFIDENCE)
    a = as_scores(champion_values, "champion_values", function)
    b = as_scores(challenger_values, "challenger_values", function)
    alpha = 1.0 - confidence
    if a.size < 2 or b.size < 2:  # as_scores refused empty arms: each has a mean
        return OnlineABDecision(
            metric=metric,
            champion_value=float(a.mean()),
            challenger_value=float(b.mean()),
            champion_n=int(a.size),
            challenger_n=int(b.size),
            difference=math.nan,
            ci_low=math.nan,
            ci_high=math.nan,
            confidence=confidence,
            test="none",
            test_statistic=math.nan,
            p_value=math.nan,
            minimum_detectable_effect=mde,
            power=power,
            effect_size=math.nan,
            required_n=2,
            status="InsufficientData",
            rule=rule,
            margin=margin,
            reason=(
                f"Insufficient data: {a.size} champion and {b.size} challenger rows with labels; "
                "at least 2 per variant are needed to estimate anything. Keep collecting."
            ),
        )
    z_crit = float(stats.norm.isf(alpha / 2.0))
    va, vb = float(a.mean()), float(b.mean())
    if metric == "accuracy":
        base = min(max(va, 1e-9), 1 - 1e-9)
        target = base + mde if base + mde <= 1.0 else base - mde
        effect = abs(2.0 * math.asin(math.sqrt(target)) - 2.0 * math.asin(math.sqrt(base)))
        statistic, p_value = two_proportion_ztest(
            (round(float(b.sum())), round(float(a.sum()))), (b.size, a.size)
        )
        test = "two_proportion_ztest"
        diff = vb - va
        se = math.sqrt(va * (1 - va) / a.size + vb * (1 - vb) / b.size)
    else:
        pooled_sd = math.sqrt(
            ((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2)
        )
        effect = mde / pooled_sd if pooled_sd > 0 else math.inf
        t, p_value, _ = welch_ttest(a, b)  # champion − challenger: positive favours challenger
        statistic, test = t, "welch_ttest"
        diff = va - vb
        se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    required = 2
    if math.isfinite(effect):
        required = math.ceil(required_sample_size(effect, alpha=alpha, power=power) - 1e-9)
    low, high = diff - z_crit * se, diff + z_crit * se
    bound = margin if rule == "superiority" else -margin
    status: Literal["InsufficientData", "Promote", "Keep"]
    if min(a.size, b.size) < required:
        status = "InsufficientData"
        reason = (
            f"Insufficient data: {a.size} champion and {b.size} challenger rows; {required} per "
            f"variant are needed to detect a {metric} difference of {mde:g} with power "
            f"{power:.0%} at alpha {alpha:.3g}. Keep collecting."
        )
    else:
        status = "Promote" if low > bound else "Keep"
        verdict = "Promote the challenger" if status == "Promote" else "Keep the champion"
        rule_text = "superiority" if rule == "superiority" else "non-inferiority"
        reason = (
            f"{verdict}: online {metric} {vb:.4f} (challenger, n={b.size}) vs {va:.4f} "
            f"(champion, n={a.size}), improvement {diff:+.4f} with {confidence:.0%} CI "
            f"[{low:+.4f}, {high:+.4f}] against the {rule_text} bound {bound:+.4f}; "
            f"{test} p = {p_value:.4g}."
        )
    return OnlineABDecision(
        metric=metric,
        champion_value=va,
        challenger_value=vb,
        champion_n=int(a.size),
        challenger_n=int(b.size),
        difference=diff,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        test=test,
        test_statistic=float(statistic),
        p_value=float(p_value),
        minimum_detectable_effect=mde,
        power=power,
        effect_size=float(effect),
        required_n=int(required),
        status=status,
        rule=rule,
        margin=margin,
        reason=reason,
    )
