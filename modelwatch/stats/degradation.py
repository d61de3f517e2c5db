"""Degradation decision: is one window bad, and is the model degraded?

Pure functions. One noisy window never retrains a model: a window is judged
*bad* on its own evidence (metric below the threshold, or — without labels —
dataset drift), and the model is *degraded* only when at least ``k`` of the
last ``n`` windows served by the same champion are bad.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from modelwatch.errors import StatisticsError


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


def metric_threshold(*, baseline: float | None, max_drop: float, min_value: float | None) -> float:
    """The metric floor: ``min_value`` when set, else ``baseline - max_drop``."""
    if min_value is not None:
        return min_value
    if baseline is None:
        raise StatisticsError(
            "The degradation threshold needs either 'min_value' in the spec or the champion's "
            "validation metric as baseline. Got neither."
        )
    return baseline - max_drop


def judge_window(
    *,
    metric: str,
    value: float | None,
    threshold: float,
    dataset_drift: bool,
    share_drifted: float,
    drift_counts: bool = True,
) -> WindowJudgement:
    """A window is bad when its metric is below ``threshold``; without a metric, on drift."""
    if value is not None:
        if value < threshold:
            reason = f"{metric} {value:.3f} is below the threshold {threshold:.3f}"
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
