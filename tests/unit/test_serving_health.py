"""Serving health: throughput, latency percentiles with exact CIs, null and erroring rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from modelwatch.stats.serving_health import quantile_ci, serving_health


@pytest.mark.parametrize("n", [20, 100, 1000, 5000])
@pytest.mark.parametrize("q", [0.5, 0.95, 0.99])
def test_the_quantile_interval_is_scipys_quantile_test_interval(n: int, q: float) -> None:
    values = np.sort(np.random.default_rng(n).lognormal(3.0, 0.8, size=n))
    low, high = quantile_ci(values, q, confidence=0.95)
    reference = stats.quantile_test(values, q=float(np.quantile(values, q)), p=q)
    ci = reference.confidence_interval(0.95)
    assert (np.nan if low is None else low) == pytest.approx(ci.low, nan_ok=True)
    assert (np.nan if high is None else high) == pytest.approx(ci.high, nan_ok=True)


def test_the_quantile_interval_covers_the_true_p95_at_least_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    true_p95 = stats.expon.ppf(0.95)
    hits = 0
    runs = 400
    for _ in range(runs):
        low, high = quantile_ci(np.sort(rng.exponential(size=300)), 0.95)
        assert low is not None and high is not None
        hits += low <= true_p95 <= high
    assert hits / runs >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / runs)


def test_serving_health_values() -> None:
    rng = np.random.default_rng(1)
    latency = rng.gamma(2.0, 20.0, size=2000)
    latency[:10] = np.nan
    frame = pd.DataFrame(
        {
            "prediction": np.where(np.arange(2000) < 30, None, 1),
            "score": rng.random(2000),
            "latency_ms": latency,
            "error": np.where(np.arange(2000) % 100 == 0, "timeout", ""),
        }
    )
    frame.loc[5, "score"] = np.nan  # row 5 also has no prediction: counted once
    frame.loc[40, "score"] = np.nan
    values = {
        m.name: m
        for m in serving_health(
            frame,
            hours=2.0,
            prediction="prediction",
            scores=("score",),
            latency="latency_ms",
            error="error",
        )
    }
    assert all(m.kind == "serving" for m in values.values())
    assert values["rows_per_hour"].value == 1000.0
    assert values["null_prediction_share"].value == pytest.approx(31 / 2000)
    assert values["error_share"].value == pytest.approx(20 / 2000)
    assert values["latency_missing_share"].value == pytest.approx(10 / 2000)
    finite = latency[np.isfinite(latency)]
    for pct in (50, 95, 99):
        metric = values[f"latency_p{pct}_ms"]
        assert metric.value == pytest.approx(np.percentile(finite, pct))
        assert metric.ci_low is not None and metric.ci_high is not None
        assert metric.ci_low <= metric.value <= metric.ci_high and metric.n == finite.size


def test_error_columns_of_every_kind() -> None:
    from modelwatch.stats.serving_health import _failed

    assert list(_failed(pd.Series([True, False, None], dtype="boolean"))) == [True, False, False]
    assert list(_failed(pd.Series([0, 500, np.nan]))) == [False, True, False]
    assert list(_failed(pd.Series(["OK", "", "error", None, "False"]))) == [
        False, False, True, False, False
    ]  # fmt: skip


def test_an_empty_window_has_only_its_throughput() -> None:
    (only,) = serving_health(pd.DataFrame(), hours=1.0, prediction="prediction")
    assert only.name == "rows_per_hour" and only.value == 0.0


def test_breaches_name_the_metric_and_the_limit() -> None:
    from modelwatch.spec import ServingPolicy
    from modelwatch.stats.serving_health import breaches

    frame = pd.DataFrame({"prediction": [1] * 100, "latency_ms": np.arange(100.0)})
    values = serving_health(frame, hours=1.0, prediction="prediction", latency="latency_ms")
    policy = ServingPolicy(max_latency_p95_ms=90.0, max_latency_p99_ms=200.0, min_rows_per_hour=500)
    assert breaches(values, policy) == [
        "rows_per_hour 100 below serving.min_rows_per_hour 500",
        "latency_p95_ms 94.05 above serving.max_latency_p95_ms 90",
    ]
    assert breaches(values, ServingPolicy()) == []
