"""Degradation rule: one bad window never retrains; k of n does."""

from __future__ import annotations

import pytest

from modelwatch.errors import StatisticsError
from modelwatch.stats.degradation import judge_window, metric_threshold, should_retrain


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
