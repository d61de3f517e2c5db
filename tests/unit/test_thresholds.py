"""Chunk-calibrated drift thresholds: chunks against the rest, mean + k·std, used by detect_drift."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelwatch.errors import StatisticsError
from modelwatch.stats.drift import detect_drift, fit_reference_profile
from modelwatch.stats.thresholds import (
    CalibratedThresholds,
    calibrate_thresholds,
    chunk_bounds,
    threshold_chunk_size,
)

NUMERIC = [f"x{i}" for i in range(6)]


def frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    data: dict[str, object] = {c: rng.normal(size=n) for c in NUMERIC}
    data["c"] = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    return pd.DataFrame(data)


def test_threshold_is_mean_plus_k_std_of_each_chunk_against_the_rest():
    rng = np.random.default_rng(0)
    reference = frame(4000, rng)
    calibrated = calibrate_thresholds(
        reference, numeric=NUMERIC, categorical=["c"], chunk_size=500, n_chunks=5, k=2.0
    )
    assert calibrated.n_chunks == 5 and calibrated.chunk_size == 500
    expected = []
    for i in range(5):
        chunk = reference.iloc[i * 500 : (i + 1) * 500]
        rest = reference.drop(index=chunk.index)
        profile = fit_reference_profile(rest, numeric=NUMERIC, categorical=["c"])
        expected.append(detect_drift(profile, chunk)["x0"].statistic)
    x0 = calibrated["x0"]
    assert x0.method == "ks"
    assert np.allclose(x0.statistics, expected, rtol=1e-12)
    assert x0.threshold == pytest.approx(np.mean(expected) + 2.0 * np.std(expected, ddof=1))
    assert calibrated["c"].method == "chi2"


def test_a_chunk_is_never_compared_with_a_reference_that_contains_it():
    """A chunk against the whole reference looks closer than against the rest."""
    rng = np.random.default_rng(1)
    reference = frame(2000, rng)
    calibrated = calibrate_thresholds(reference, numeric=NUMERIC, chunk_size=1000, n_chunks=2)
    whole = fit_reference_profile(reference, numeric=NUMERIC)
    inside = [detect_drift(whole, reference.iloc[s : s + 1000])["x0"].statistic for s in (0, 1000)]
    assert np.mean(calibrated["x0"].statistics) > np.mean(inside)


def test_calibrated_thresholds_rarely_flag_no_drift_and_find_a_shift():
    rng = np.random.default_rng(2)
    reference = frame(20_000, rng)
    calibrated = calibrate_thresholds(
        reference, numeric=NUMERIC, categorical=["c"], chunk_size=2000
    )
    flagged = total = 0
    for _ in range(10):
        current = frame(2000, rng)
        report = detect_drift(
            reference,
            current,
            numeric=NUMERIC,
            categorical=["c"],
            methods=calibrated.methods,
            column_thresholds=calibrated.thresholds,
        )
        flagged += len(report.drifted_columns)
        total += len(report.columns)
    assert flagged / total <= 0.05
    current = frame(2000, rng)
    current["x3"] += 0.3
    report = detect_drift(
        reference,
        current,
        numeric=NUMERIC,
        categorical=["c"],
        methods=calibrated.methods,
        column_thresholds=calibrated.thresholds,
    )
    assert "x3" in report.drifted_columns
    assert report["x3"].threshold == calibrated["x3"].threshold


def test_large_chunks_resolve_auto_to_psi_and_keep_it():
    rng = np.random.default_rng(3)
    reference = frame(60_000, rng)
    calibrated = calibrate_thresholds(reference, numeric=NUMERIC[:2], chunk_size=10_000)
    assert calibrated.methods == {"x0": "psi", "x1": "psi"}
    assert calibrated.n_chunks == 6


def test_chunk_size_is_capped_so_that_four_chunks_fit():
    assert chunk_bounds(1000, chunk_size=900, n_chunks=10) == [
        (0, 250),
        (250, 500),
        (500, 750),
        (750, 1000),
    ]
    assert len(chunk_bounds(1000, chunk_size=None, n_chunks=10)) == 10
    assert chunk_bounds(1000, chunk_size=100, n_chunks=3) == [(0, 100), (100, 200), (200, 300)]


def test_parameter_errors_name_the_parameter():
    reference = frame(100, np.random.default_rng(4))
    with pytest.raises(StatisticsError, match="The 'k' parameter of calibrate_thresholds"):
        calibrate_thresholds(reference, numeric=NUMERIC, k=-1.0)
    with pytest.raises(StatisticsError, match="The 'n_chunks' parameter of calibrate_thresholds"):
        calibrate_thresholds(reference, numeric=NUMERIC, n_chunks=1)
    with pytest.raises(StatisticsError, match="at least 4 reference rows"):
        calibrate_thresholds(reference.head(3), numeric=NUMERIC)


def test_the_chunk_size_is_the_window_rounded_down_to_two_significant_digits():
    sizes = [1, 99, 100, 101, 999, 1000, 1234, 2049, 9999, 10_000, 98_765, 1_000_000]
    assert [threshold_chunk_size(n) for n in sizes] == [
        1, 99, 100, 100, 990, 1000, 1200, 2000, 9900, 10_000, 98_000, 1_000_000,
    ]  # fmt: skip
    for n in range(1, 5000, 7):  # never larger, at most 10 % smaller
        assert 0.9 * n < threshold_chunk_size(n) <= n
    with pytest.raises(StatisticsError, match="The 'window_rows' parameter of threshold_chunk"):
        threshold_chunk_size(0)


def test_saved_thresholds_equal_the_calibrated_ones_and_bad_data_is_refused():
    rng = np.random.default_rng(12)
    reference = frame(4000, rng)
    calibrated = calibrate_thresholds(reference, numeric=NUMERIC, categorical=["c"], chunk_size=500)
    restored = CalibratedThresholds.from_dict(json.loads(json.dumps(calibrated.to_dict())))
    assert restored == calibrated
    with pytest.raises(StatisticsError, match="not saved calibrated thresholds"):
        CalibratedThresholds.from_dict({"columns": [{"column": "x"}]})
