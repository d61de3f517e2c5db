"""Degradation rule: one bad window never retrains; k of n does."""

from __future__ import annotations

import pytest

from modelwatch.errors import StatisticsError
from modelwatch.stats.degradation import (
    cusum_alarm,
    detector_decision,
    judge_window,
    metric_threshold,
    page_hinkley_alarm,
    should_retrain,
)


def test_threshold_is_min_value_or_baseline_minus_drop() -> None:
    assert metric_threshold(baseline=0.8, max_drop=0.05, min_value=None) == pytest.approx(0.75)
    assert metric_threshold(baseline=0.8, max_drop=0.05, min_value=0.6) == 0.6
    with pytest.raises(StatisticsError, match="needs either 'min_value'"):
        metric_threshold(baseline=None, max_drop=0.05, min_value=None)


def test_a_window_is_bad_below_the_threshold_and_on_drift_without_labels() -> None:
    kw = {"metric": "roc_auc", "threshold": 0.7, "share_drifted": 0.5}
    assert judge_window(value=0.65, dataset_drift=False, **kw).bad
    assert not judge_window(value=0.75, dataset_drift=True, **kw).bad
    assert judge_window(value=None, dataset_drift=True, **kw).bad
    assert not judge_window(value=None, dataset_drift=True, drift_counts=False, **kw).bad
    assert "below the threshold 0.700" in judge_window(value=0.65, dataset_drift=False, **kw).reason


@pytest.mark.parametrize(
    ("flags", "degraded"),
    [
        ([True], False),
        ([True, False, False], False),
        ([True, True], True),
        ([True, False, True], True),
        ([False, True, True], True),
        ([True, False, False, True], False),  # the 4th window is outside n = 3
    ],
)
def test_k_of_n(flags: list[bool], degraded: bool) -> None:
    decision = should_retrain(flags, k=2, n=3)
    assert decision.degraded is degraded
    assert decision.bad_windows == sum(flags[:3])


def test_invalid_k_n() -> None:
    with pytest.raises(StatisticsError, match=r"must satisfy 1 <= k <= n. Got k=4, n=3"):
        should_retrain([True], k=4, n=3)


def test_without_labels_the_estimated_metric_judges_the_window() -> None:
    kw = {"metric": "roc_auc", "threshold": 0.7, "share_drifted": 0.5, "value_kind": "estimated"}
    low = judge_window(value=0.65, dataset_drift=False, **kw)
    assert low.bad and "estimated roc_auc 0.650 is below" in low.reason
    assert not judge_window(value=0.75, dataset_drift=False, **kw).bad
    drifted = judge_window(value=0.75, dataset_drift=True, **kw)
    assert drifted.bad and "dataset drift" in drifted.reason
    assert not judge_window(value=0.75, dataset_drift=True, drift_counts=False, **kw).bad


def test_cusum_ignores_one_noisy_window_and_alarms_on_a_sustained_drop() -> None:
    target, slack, h = 0.80, 0.025, 0.10
    assert not cusum_alarm([0.80, 0.79, 0.81, 0.70], target=target, slack=slack, h=h)[0]
    alarm, statistic = cusum_alarm([0.80, 0.72, 0.72, 0.72], target=target, slack=slack, h=h)
    assert alarm and statistic == pytest.approx(3 * (0.08 - 0.025))
    assert not cusum_alarm([0.72, 0.72, 0.90, 0.90], target=target, slack=slack, h=h)[0]


def test_page_hinkley_detects_a_drop_in_the_series_level() -> None:
    steady = [0.8, 0.81, 0.79, 0.8, 0.8, 0.81]
    assert not page_hinkley_alarm(steady, slack=0.025, h=0.1)[0]
    assert page_hinkley_alarm([*steady, 0.68, 0.67, 0.66], slack=0.025, h=0.1)[0]
    # hand computed: x = [1, 0]: m_1 = 1 - 1 - 0 = 0, m_2 = 0 + 0.5 - 0 - 0 = 0.5
    assert page_hinkley_alarm([1.0, 0.0], slack=0.0, h=0.4) == (True, pytest.approx(0.5))


def test_detector_decision_and_errors() -> None:
    decision = detector_decision(
        [0.7, 0.7, 0.7], detector="cusum", target=0.8, slack=0.025, h=0.1, bad_flags=[True] * 3
    )
    assert decision.degraded and "CUSUM" in decision.reason and decision.bad_windows == 3
    with pytest.raises(StatisticsError, match="The 'h' parameter of cusum_alarm"):
        cusum_alarm([0.8], target=0.8, slack=0.0, h=0.0)
    with pytest.raises(StatisticsError, match="non-finite"):
        page_hinkley_alarm([0.8, float("nan")], slack=0.0, h=1.0)


def test_a_lower_is_better_metric_is_bad_above_baseline_plus_its_allowance() -> None:
    from modelwatch.stats.degradation import judge_window, metric_threshold

    threshold = metric_threshold(
        baseline=14.0, max_drop=8.0, min_value=None, higher_is_better=False
    )
    assert threshold == 22.0
    kw = {"metric": "mae", "threshold": threshold, "dataset_drift": False, "share_drifted": 0.0}
    bad = judge_window(value=30.0, higher_is_better=False, **kw)
    assert bad.bad and bad.reason == "mae 30.000 is above the threshold 22.000"
    assert not judge_window(value=15.0, higher_is_better=False, **kw).bad
    assert judge_window(value=15.0, **kw).bad  # the same value is bad for a score
    with pytest.raises(StatisticsError, match=r"'max_value' in the spec .* for 'max_increase'"):
        metric_threshold(baseline=None, max_drop=8.0, min_value=None, higher_is_better=False)
