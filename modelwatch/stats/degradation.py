"""Degradation decision: is one window bad, and is the model degraded?

Pure functions. One noisy window never retrains a model: a window is judged
*bad* on its own evidence (metric below the threshold, or — without labels —
the CBPE-estimated metric below the threshold, or dataset drift), and the model
is *degraded* only on persistent evidence:

* ``k_of_n`` (:func:`should_retrain`): at least ``k`` of the last ``n``
  windows served by the same champion are bad;
* ``cusum`` (:func:`cusum_alarm`): one-sided lower CUSUM of the metric series,
  ``S_t = max(0, S_{t-1} + (target − x_t) − slack)`` with ``target`` the
  champion's baseline, alarm when ``S_t > h``;
* ``page_hinkley`` (:func:`page_hinkley_alarm`): ``m_t = Σ_{i≤t} (x̄_i − x_i −
  slack)`` with ``x̄_i`` the running mean, alarm when ``m_t − min_{i≤t} m_i > h``.

Defaults for both detectors: ``slack = max_drop / 2`` and ``h = 2 · max_drop``
(metric units): a sustained drop of ``max_drop`` alarms after about four
windows, a drop of ``2 · max_drop`` after about two, and a single window needs
a drop beyond ``2.5 · max_drop`` (far outside the sampling noise of a window's
AUC) to alarm alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from modelwatch.errors import StatisticsError
from modelwatch.stats.params import Interval, Options, check_param


@dataclass(frozen=True)
class WindowJudgement:
    """Evidence about one window."""

    bad: bool
    reason: str
    metric: str
    value: float | None
    threshold: float


@dataclass(frozen=True)
class DegradationDecision:
    """Whether the model is degraded, with the window flags behind it."""

    degraded: bool
    bad_windows: int
    windows_seen: int
    k: int
    n: int
    reason: str


def metric_threshold(
    *,
    baseline: float | None,
    max_drop: float,
    min_value: float | None,
    higher_is_better: bool = True,
) -> float:
    """The metric floor: ``min_value`` when set, else ``baseline - max_drop``.

    ``higher_is_better=False`` (error / loss metrics): the ceiling ``min_value``
    (the spec's ``max_value``) when set, else ``baseline + max_drop`` (the spec's
    ``max_increase``).
    """
    if min_value is not None:
        return min_value
    if baseline is None:
        names = ("min_value", "max_drop") if higher_is_better else ("max_value", "max_increase")
        raise StatisticsError(
            f"The degradation threshold needs either {names[0]!r} in the spec or the champion's "
            f"validation metric as baseline for {names[1]!r}. Got neither."
        )
    return baseline - max_drop if higher_is_better else baseline + max_drop


def judge_window(
    *,
    metric: str,
    value: float | None,
    threshold: float,
    dataset_drift: bool,
    share_drifted: float,
    drift_counts: bool = True,
    value_kind: Literal["realized", "estimated"] = "realized",
    higher_is_better: bool = True,
) -> WindowJudgement:
    """A window is bad when its metric is below ``threshold``; without a metric, on drift.

    ``value_kind="estimated"`` (no labels; ``value`` is the CBPE estimate): bad
    when the estimate is below ``threshold``, else — CBPE cannot see concept
    drift — on dataset drift as without a metric.

    ``higher_is_better=False`` (mae, rmse, log loss...): bad when the value is
    *above* ``threshold``.
    """
    below = "below" if higher_is_better else "above"

    def worse(v: float) -> bool:
        return v < threshold if higher_is_better else v > threshold

    if value is not None and value_kind == "estimated":
        if worse(value):
            reason = f"no labels; estimated {metric} {value:.3f} is {below} the threshold {threshold:.3f}"
            return WindowJudgement(True, reason, metric, value, threshold)
        if drift_counts and dataset_drift:
            reason = (
                f"no labels; estimated {metric} {value:.3f} meets the threshold but dataset "
                f"drift ({share_drifted:.0%} of features drifted)"
            )
            return WindowJudgement(True, reason, metric, value, threshold)
        reason = f"no labels; estimated {metric} {value:.3f} meets the threshold {threshold:.3f}"
        return WindowJudgement(False, reason, metric, value, threshold)
    if value is not None:
        if worse(value):
            reason = f"{metric} {value:.3f} is {below} the threshold {threshold:.3f}"
            return WindowJudgement(True, reason, metric, value, threshold)
        reason = f"{metric} {value:.3f} meets the threshold {threshold:.3f}"
        return WindowJudgement(False, reason, metric, value, threshold)
    if drift_counts and dataset_drift:
        reason = f"no labels; dataset drift ({share_drifted:.0%} of features drifted)"
        return WindowJudgement(True, reason, metric, None, threshold)
    return WindowJudgement(False, "no labels and no dataset drift", metric, None, threshold)


def should_retrain(bad_flags: Sequence[bool], *, k: int, n: int) -> DegradationDecision:
    """k-of-n rule over ``bad_flags`` ordered newest first (the current window first)."""
    if k < 1 or n < k:
        raise StatisticsError(
            f"The 'k' and 'n' parameters of should_retrain must satisfy 1 <= k <= n. "
            f"Got k={k}, n={n} instead."
        )
    recent = list(bad_flags[:n])
    bad = sum(bool(flag) for flag in recent)
    degraded = bad >= k
    verdict = "degraded" if degraded else "not degraded"
    reason = f"{bad} of the last {len(recent)} windows bad (rule: {k} of {n}): {verdict}"
    return DegradationDecision(degraded, bad, len(recent), k, n, reason)


def _check_detector(function: str, series: Sequence[float], slack: float, h: float) -> list[float]:
    check_param(function, "slack", slack, Interval(float, 0, None))
    check_param(function, "h", h, Interval(float, 0, None, closed="neither"))
    values = [float(v) for v in series]
    if any(not math.isfinite(v) for v in values):
        raise StatisticsError(f"The metric series of {function} holds non-finite values: {values}")
    return values


def cusum_alarm(
    series: Sequence[float], *, target: float, slack: float, h: float
) -> tuple[bool, float]:
    """One-sided lower CUSUM over ``series`` (oldest first): ``(alarm at the end, S_T)``.

    ``S_t = max(0, S_{t-1} + (target - x_t) - slack)``; the alarm is ``S_T > h``.
    """
    values = _check_detector("cusum_alarm", series, slack, h)
    statistic = 0.0
    for value in values:
        statistic = max(0.0, statistic + (target - value) - slack)
    return statistic > h, statistic


def page_hinkley_alarm(series: Sequence[float], *, slack: float, h: float) -> tuple[bool, float]:
    """Page–Hinkley test for a decrease over ``series`` (oldest first): ``(alarm, m_T - min m)``.

    ``m_t = Σ_{i≤t} (x̄_i − x_i − slack)`` with ``x̄_i`` the mean of ``x_1..x_i``.
    """
    values = _check_detector("page_hinkley_alarm", series, slack, h)
    cumulative, lowest, total = 0.0, 0.0, 0.0
    for i, value in enumerate(values, start=1):
        total += value
        cumulative += total / i - value - slack
        lowest = min(lowest, cumulative)
    statistic = cumulative - lowest
    return statistic > h, statistic


def detector_decision(
    series: Sequence[float],
    *,
    detector: Literal["cusum", "page_hinkley"],
    target: float,
    slack: float,
    h: float,
    bad_flags: Sequence[bool] = (),
) -> DegradationDecision:
    """Degradation by a change detector on the champion's metric series (oldest first)."""
    check_param("detector_decision", "detector", detector, Options(("cusum", "page_hinkley")))
    if detector == "cusum":
        alarm, statistic = cusum_alarm(series, target=target, slack=slack, h=h)
        what = f"CUSUM S = {statistic:.3f} (target {target:.3f}, slack {slack:.3f}, h {h:.3f})"
    else:
        alarm, statistic = page_hinkley_alarm(series, slack=slack, h=h)
        what = f"Page-Hinkley m - min m = {statistic:.3f} (slack {slack:.3f}, h {h:.3f})"
    verdict = "degraded" if alarm else "not degraded"
    reason = f"{what} over {len(series)} windows: {verdict}"
    bad = sum(bool(f) for f in bad_flags)
    return DegradationDecision(alarm, bad, len(series), 1, max(len(series), 1), reason)
