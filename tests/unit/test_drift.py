"""Drift statistics: agreement with scipy, known values, properties, decisions, errors."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from modelwatch.errors import StatisticsError
from modelwatch.stats.drift import (
    AUTO_TEST_MAX_ROWS,
    DRIFT_METHODS,
    DriftReport,
    ReferenceProfile,
    detect_drift,
    drift_statistic,
    fit_reference_profile,
    population_stability_index,
    psi_noise_threshold,
    with_output_drift,
)
from modelwatch.stats.drift._counting import quantile_edges
from modelwatch.stats.drift.profile import COMPACT_QUANTILES

RTOL = 1e-9


def close(a: float | None, b: float) -> bool:
    assert a is not None
    return math.isclose(a, float(b), rel_tol=RTOL, abs_tol=1e-12)


def bin_proportions(reference: np.ndarray, current: np.ndarray, n_bins: int = 10):
    """Independent binning: np.quantile edges, np.unique, np.histogram with open ends."""
    edges = np.unique(np.quantile(reference, np.arange(1, n_bins) / n_bins))
    full = np.concatenate([[-np.inf], edges, [np.inf]])
    ref_counts = np.histogram(reference, full)[0]
    cur_counts = np.histogram(current, full)[0]
    return ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()


# --------------------------------------------------------------------------- agreement with scipy

SAMPLES = [
    ("normal", 100, 80, lambda rng, n: rng.normal(size=n), 0.1),
    ("unequal sizes", 3000, 700, lambda rng, n: rng.normal(size=n), 0.05),
    ("ties", 400, 900, lambda rng, n: rng.integers(0, 6, n).astype(float), 0.3),
    ("tiny", 7, 5, lambda rng, n: rng.exponential(size=n), 0.5),
    ("large", 20_000, 15_000, lambda rng, n: rng.lognormal(size=n), 0.02),
]


@pytest.mark.parametrize(("label", "n", "m", "draw", "shift"), SAMPLES)
def test_ks_statistic_and_asymptotic_p_value_equal_scipy(label, n, m, draw, shift):
    rng = np.random.default_rng(7)
    reference, current = draw(rng, n), draw(rng, m) + shift
    statistic, p_value = drift_statistic(reference, current, method="ks")
    expected = stats.ks_2samp(reference, current, method="asymp")
    assert close(statistic, expected.statistic)
    assert close(p_value, expected.pvalue)


def test_ks_handles_infinities_like_scipy():
    reference = np.array([-np.inf, 0.0, 1.0, 2.0, np.inf, 3.0])
    current = np.array([np.inf, np.inf, 0.5, 2.5])
    statistic, p_value = drift_statistic(reference, current, method="ks")
    expected = stats.ks_2samp(reference, current, method="asymp")
    assert close(statistic, expected.statistic)
    assert close(p_value, expected.pvalue)


@pytest.mark.parametrize(("label", "n", "m", "draw", "shift"), SAMPLES[:4])
def test_cramer_von_mises_equals_scipy_asymptotic(label, n, m, draw, shift):
    rng = np.random.default_rng(8)
    reference, current = draw(rng, n), draw(rng, m) + shift
    statistic, p_value = drift_statistic(reference, current, method="cvm")
    expected = stats.cramervonmises_2samp(reference, current, method="asymptotic")
    assert close(statistic, expected.statistic)
    assert close(p_value, expected.pvalue)


@pytest.mark.parametrize(("label", "n", "m", "draw", "shift"), SAMPLES[:4])
def test_anderson_darling_equals_scipy_midrank(label, n, m, draw, shift):
    rng = np.random.default_rng(9)
    reference, current = draw(rng, n), draw(rng, m) + shift
    statistic, p_value = drift_statistic(reference, current, method="anderson")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # scipy's capped-p-value warning
        expected = stats.anderson_ksamp([reference, current], variant="midrank")
    assert close(statistic, expected.statistic)
    assert close(p_value, expected.pvalue)


@pytest.mark.parametrize(("label", "n", "m", "draw", "shift"), SAMPLES)
def test_wasserstein_is_scipy_distance_over_reference_std(label, n, m, draw, shift):
    rng = np.random.default_rng(10)
    reference, current = draw(rng, n), draw(rng, m) + shift
    statistic, p_value = drift_statistic(reference, current, method="wasserstein")
    assert p_value is None
    expected = stats.wasserstein_distance(reference, current) / np.std(reference)
    assert close(statistic, expected)


def test_binned_distances_equal_scipy_on_reference_quantile_bins():
    rng = np.random.default_rng(11)
    reference, current = rng.normal(size=5000), rng.normal(0.3, 1.2, size=3000)
    p, q = bin_proportions(reference, current)
    js, _ = drift_statistic(reference, current, method="jensenshannon")
    assert close(js, jensenshannon(p, q, base=2))
    kl, _ = drift_statistic(reference, current, method="kl")
    assert close(kl, stats.entropy(np.maximum(p, 1e-6), np.maximum(q, 1e-6)))
    hellinger, _ = drift_statistic(reference, current, method="hellinger")
    assert close(hellinger, np.sqrt(np.sum((np.sqrt(p) - np.sqrt(q)) ** 2) / 2))
    psi, _ = drift_statistic(reference, current, method="psi")
    assert close(psi, np.sum((q - p) * np.log(q / p)))
    assert close(psi, population_stability_index(reference, current))


@pytest.mark.parametrize("n_bins", [4, 10, 50])
def test_binned_counts_with_missing_values_match_numpy_histogram(n_bins):
    """Few edges use per-edge comparisons, many edges searchsorted: both equal np.histogram."""
    rng = np.random.default_rng(13)
    reference, current = rng.gamma(2.0, size=4000), rng.gamma(2.2, size=3000)
    reference[::17] = np.nan
    current[::9] = np.nan
    p, q = bin_proportions(reference[~np.isnan(reference)], current[~np.isnan(current)], n_bins)
    js, _ = drift_statistic(reference, current, method="jensenshannon", n_bins=n_bins)
    assert close(js, jensenshannon(p, q, base=2))
    psi = population_stability_index(reference, current, n_bins=n_bins)
    pe, qe = np.maximum(p, 1e-6), np.maximum(q, 1e-6)
    assert close(psi, np.sum((qe - pe) * np.log(qe / pe)))


def test_chi2_equals_chi2_contingency_with_unseen_categories_as_cells():
    rng = np.random.default_rng(12)
    reference = rng.choice(["a", "b", "c", "d"], size=500, p=[0.4, 0.3, 0.2, 0.1])
    current = rng.choice(["a", "b", "c", "e", "f"], size=300, p=[0.3, 0.3, 0.2, 0.15, 0.05])
    statistic, p_value = drift_statistic(reference, current, method="chi2", kind="categorical")
    table = pd.crosstab(
        np.r_[np.zeros(reference.size), np.ones(current.size)], np.r_[reference, current]
    )
    assert list(table.columns) == ["a", "b", "c", "d", "e", "f"]
    expected = stats.chi2_contingency(table.to_numpy())
    assert close(statistic, expected.statistic)
    assert close(p_value, expected.pvalue)


def test_chi2_on_two_categories_applies_yates_like_scipy():
    reference = np.array(["x"] * 30 + ["y"] * 70)
    current = np.array(["x"] * 45 + ["y"] * 65)
    statistic, p_value = drift_statistic(reference, current, method="chi2", kind="categorical")
    expected = stats.chi2_contingency([[30, 70], [45, 65]])
    assert expected.dof == 1
    assert close(statistic, expected.statistic)
    assert close(p_value, expected.pvalue)


def test_z_test_equals_statsmodels_two_proportion_test():
    reference = np.array([True] * 30 + [False] * 70)
    current = np.array([True] * 45 + [False] * 65)
    statistic, p_value = drift_statistic(reference, current, method="z", kind="categorical")
    z, p = proportions_ztest([30, 45], [100, 110])
    assert close(statistic, abs(z))
    assert close(p_value, p)


def test_categorical_distances_equal_scipy_on_category_proportions():
    reference = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 20)
    current = np.array(["a"] * 20 + ["b"] * 30 + ["c"] * 30 + ["new"] * 20)
    p = np.array([0.5, 0.3, 0.2, 0.0])
    q = np.array([0.2, 0.3, 0.3, 0.2])
    js, _ = drift_statistic(reference, current, method="jensenshannon", kind="categorical")
    assert close(js, jensenshannon(p, q, base=2))
    psi, _ = drift_statistic(reference, current, method="psi", kind="categorical")
    pe, qe = np.maximum(p, 1e-6), np.maximum(q, 1e-6)
    assert close(psi, np.sum((qe - pe) * np.log(qe / pe)))


# --------------------------------------------------------------------------- PSI known values


def test_psi_hand_computed_value():
    # reference 0..9, two bins split at the median 4.5: 50% / 50%.
    # current: eight values below 4.5, two above: 80% / 20%.
    # PSI = 0.3·ln(0.8/0.5) + (−0.3)·ln(0.2/0.5) = 0.3·ln 1.6 + 0.3·ln 2.5 = 0.3·ln 4
    reference = np.arange(10.0)
    current = np.array([0, 1, 2, 3, 4, 0, 1, 2, 9, 8], dtype=float)
    assert population_stability_index(reference, current, n_bins=2) == pytest.approx(
        0.3 * math.log(4.0), rel=1e-12
    )


def test_psi_with_an_empty_current_bin_uses_eps():
    reference = np.arange(10.0)
    current = np.zeros(5)
    # bins 50/50 vs 100/0 -> (1 - .5) ln(1/.5) + (eps - .5) ln(eps/.5)
    eps = 1e-4
    expected = 0.5 * math.log(2.0) + (eps - 0.5) * math.log(eps / 0.5)
    value = population_stability_index(reference, current, n_bins=2, eps=eps)
    assert value == pytest.approx(expected, rel=1e-12)


def test_quantile_edges_equal_numpy_quantile():
    rng = np.random.default_rng(3)
    values = np.sort(rng.normal(size=1001))
    expected = np.quantile(values, np.arange(1, 10) / 10)
    np.testing.assert_allclose(quantile_edges(values, 10), expected, rtol=1e-12)


def test_constant_reference_gives_zero_psi_for_the_same_constant_and_drift_otherwise():
    reference = np.full(100, 3.0)
    assert population_stability_index(reference, np.full(50, 3.0)) == 0.0
    assert population_stability_index(reference, np.full(50, 2.0)) > 10


# --------------------------------------------------------------------------- properties

finite_floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
samples = st.lists(finite_floats, min_size=2, max_size=60)


@settings(max_examples=60, deadline=None)
@given(samples)
def test_distances_of_a_sample_to_itself_are_zero(x):
    values = np.array(x)
    assert population_stability_index(values, values) == 0.0
    for method in ("jensenshannon", "hellinger", "kl", "wasserstein", "ks"):
        statistic, _ = drift_statistic(values, values, method=method)
        assert statistic == pytest.approx(0.0, abs=1e-12), method


@settings(max_examples=60, deadline=None)
@given(samples, samples, st.randoms(use_true_random=False))
def test_statistics_are_invariant_to_row_order(x, y, random):
    reference, current = np.array(x), np.array(y)
    shuffled_reference, shuffled_current = reference.copy(), current.copy()
    random.shuffle(shuffled_reference)
    random.shuffle(shuffled_current)
    for method in ("ks", "psi", "jensenshannon", "wasserstein", "cvm", "anderson"):
        assert drift_statistic(reference, current, method=method) == drift_statistic(
            shuffled_reference, shuffled_current, method=method
        ), method


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from("abcde"), min_size=1, max_size=50),
    st.lists(st.sampled_from("abcdef"), min_size=1, max_size=50),
)
def test_categorical_distances_are_symmetric_and_bounded(x, y):
    for method in ("jensenshannon", "hellinger"):
        forward, _ = drift_statistic(x, y, method=method, kind="categorical")
        backward, _ = drift_statistic(y, x, method=method, kind="categorical")
        assert forward == pytest.approx(backward, abs=1e-12)
        assert 0.0 <= forward <= 1.0
    psi_forward, _ = drift_statistic(x, y, method="psi", kind="categorical")
    psi_backward, _ = drift_statistic(y, x, method="psi", kind="categorical")
    assert psi_forward == pytest.approx(psi_backward, rel=1e-9, abs=1e-12)
    assert psi_forward >= 0.0


@settings(max_examples=40, deadline=None)
@given(samples, samples)
def test_ks_statistic_equals_scipy_on_arbitrary_samples(x, y):
    statistic, p_value = drift_statistic(x, y, method="ks")
    expected = stats.ks_2samp(x, y, method="asymp")
    assert statistic == pytest.approx(expected.statistic, rel=RTOL, abs=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=RTOL, abs=1e-12)


# --------------------------------------------------------------------------- dataset decisions


def make_frames(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current drawn from the same distribution (8 numeric, 2 categorical)."""
    rng = np.random.default_rng(seed)

    def frame() -> pd.DataFrame:
        data: dict[str, object] = {f"x{i}": rng.normal(size=n) for i in range(8)}
        data["c0"] = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
        data["c1"] = rng.choice(["u", "v"], size=n)
        return pd.DataFrame(data)

    return frame(), frame()


NUMERIC = [f"x{i}" for i in range(8)]
CATEGORICAL = ["c0", "c1"]


@pytest.mark.parametrize("seed", range(5))
def test_no_drift_data_flags_almost_no_column(seed):
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame({c: rng.normal(size=1000) for c in NUMERIC})
    current = pd.DataFrame({c: rng.normal(size=800) for c in NUMERIC})
    for frame in (reference, current):
        frame["c0"] = rng.choice(["a", "b", "c"], size=len(frame), p=[0.5, 0.3, 0.2])
        frame["c1"] = rng.choice(["u", "v"], size=len(frame))
    report = detect_drift(
        reference, current, numeric=NUMERIC, categorical=CATEGORICAL, correction="bonferroni"
    )
    assert report.drifted_columns == []
    assert not report.dataset_drift


def test_injected_mean_shift_is_found_and_only_there():
    rng = np.random.default_rng(42)
    reference = pd.DataFrame({c: rng.normal(size=2000) for c in NUMERIC})
    current = pd.DataFrame({c: rng.normal(size=2000) for c in NUMERIC})
    current["x3"] += 0.3
    report = detect_drift(
        reference, current, numeric=NUMERIC, categorical=[], correction="benjamini-hochberg"
    )
    assert report.drifted_columns == ["x3"]
    assert report["x3"].method == "ks"
    assert report.share_drifted == pytest.approx(1 / 8)


def test_large_samples_use_psi_and_ignore_a_negligible_shift():
    rng = np.random.default_rng(5)
    n = AUTO_TEST_MAX_ROWS + 5000
    reference = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], n)})
    current = pd.DataFrame({"x": rng.normal(0.02, 1.0, n), "c": rng.choice(["a", "b"], n)})
    current.loc[: n // 2, "x"] += 3.0  # half the rows moved far: large effect
    report = detect_drift(reference, current, numeric=["x"], categorical=["c"])
    assert [r.method for r in report.columns] == ["psi", "psi"]
    assert report["x"].drifted
    assert report["x"].threshold == psi_noise_threshold(n, n, 10)
    assert not report["c"].drifted
    assert report["x"].p_value is None


def test_auto_uses_tests_on_small_samples():
    reference, current = make_frames(300, 1)
    report = detect_drift(reference, current, numeric=NUMERIC, categorical=CATEGORICAL)
    assert {r.column: r.method for r in report.columns} == {
        **dict.fromkeys(NUMERIC, "ks"),
        "c0": "chi2",
        "c1": "chi2",
    }
    # Benjamini–Hochberg by default: with nothing rejected the cut-off is alpha / m
    assert all(r.threshold == pytest.approx(0.05 / 10) for r in report.columns)
    assert report.correction == "benjamini-hochberg"
    plain = detect_drift(
        reference, current, numeric=NUMERIC, categorical=CATEGORICAL, correction="none"
    )
    assert all(r.threshold == 0.05 for r in plain.columns)


def test_detect_drift_results_equal_scipy_on_each_column():
    reference, current = make_frames(500, 2)
    current["x1"] = current["x1"] * 1.5
    report = detect_drift(reference, current, numeric=NUMERIC, categorical=["c0"])
    for column in NUMERIC:
        expected = stats.ks_2samp(reference[column], current[column], method="asymp")
        assert close(report[column].statistic, expected.statistic)
        assert close(report[column].p_value, expected.pvalue)
    table = pd.crosstab(
        np.r_[np.zeros(len(reference)), np.ones(len(current))],
        np.r_[reference["c0"], current["c0"]],
    )
    assert close(report["c0"].p_value, stats.chi2_contingency(table.to_numpy()).pvalue)


def test_per_column_methods_override_the_default():
    reference, current = make_frames(400, 3)
    report = detect_drift(
        reference,
        current,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        method="psi",
        methods={"x0": "wasserstein", "c1": "z", "x1": "auto"},
    )
    methods = {r.column: r.method for r in report.columns}
    assert methods["x0"] == "wasserstein" and methods["c1"] == "z" and methods["x1"] == "ks"
    assert methods["x2"] == "psi" and methods["c0"] == "psi"


def test_profile_gives_the_same_report_as_the_dataframe():
    reference, current = make_frames(700, 4)
    current.loc[::7, "x2"] = np.nan
    profile = ReferenceProfile.fit(reference, numeric=NUMERIC, categorical=CATEGORICAL)
    for method in ("auto", "psi", "jensenshannon"):
        from_frame = detect_drift(
            reference, current, numeric=NUMERIC, categorical=CATEGORICAL, method=method
        )
        from_profile = detect_drift(profile, current, method=method)
        assert from_frame == from_profile


def test_missing_values_are_dropped_and_reported():
    rng = np.random.default_rng(6)
    reference = pd.DataFrame({"x": rng.normal(size=400), "c": rng.choice(["a", "b", "c"], 400)})
    current = pd.DataFrame({"x": rng.normal(size=200), "c": rng.choice(["a", "b", "c"], 200)})
    reference.loc[:39, "x"] = np.nan
    current.loc[:49, "x"] = np.nan
    current["c"] = current["c"].astype(object)
    current.loc[:19, "c"] = None
    report = detect_drift(reference, current, numeric=["x"], categorical=["c"])
    x = report["x"]
    assert x.missing_share_reference == pytest.approx(0.1)
    assert x.missing_share_current == pytest.approx(0.25)
    assert (x.n_reference, x.n_current) == (360, 150)
    expected = stats.ks_2samp(reference["x"].dropna(), current["x"].dropna(), method="asymp")
    assert close(x.statistic, expected.statistic)
    assert report["c"].missing_share_current == pytest.approx(0.1)
    assert report["c"].n_current == 180


def test_all_nan_column_gives_a_defined_not_drifted_result():
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({"x": rng.normal(size=100), "y": rng.normal(size=100)})
    current = pd.DataFrame({"x": np.full(50, np.nan), "y": rng.normal(size=50) + 5})
    current["c"] = pd.Series([None] * 50, dtype=object)
    reference["c"] = rng.choice(["a", "b"], 100)
    for method in ("auto", "psi"):
        report = detect_drift(
            reference, current, numeric=["x", "y"], categorical=["c"], method=method
        )
        x = report["x"]
        assert x.statistic == 0.0 and not x.drifted and "current" in x.note
        assert x.missing_share_current == 1.0
        assert x.p_value == (1.0 if method == "auto" else None)
        assert report["c"].missing_share_current == 1.0 and not report["c"].drifted
        assert report.drifted_columns == ["y"]
        assert report.share_drifted == pytest.approx(1 / 3)
        assert not math.isnan(report.share_drifted)


def test_unseen_categories_are_reported_with_their_share():
    reference = pd.DataFrame({"c": ["a", "b"] * 100})
    current = pd.DataFrame({"c": ["a", "b"] * 40 + ["zz", "new"] * 10})
    result = detect_drift(reference, current, numeric=[], categorical=["c"])["c"]
    assert result.unseen_categories == ("new", "zz")
    assert result.unseen_share == pytest.approx(0.2)
    assert result.drifted


def test_categories_are_compared_as_strings_across_dtypes():
    reference = pd.DataFrame({"c": pd.Series([1, 2, 3] * 50).astype("category")})
    current = pd.DataFrame({"c": ["1", "2", "3"] * 30})
    result = detect_drift(reference, current, numeric=[], categorical=["c"])["c"]
    assert result.unseen_categories == ()
    assert result.statistic == pytest.approx(0.0, abs=1e-12)


def test_bool_and_constant_columns_are_defined():
    reference = pd.DataFrame({"flag": [True, False] * 50, "k": np.ones(100)})
    current = pd.DataFrame({"flag": [True] * 60 + [False] * 40, "k": np.ones(100)})
    report = detect_drift(reference, current, numeric=["flag", "k"], categorical=[])
    assert report["k"].statistic == 0.0 and report["k"].p_value == 1.0
    categorical = detect_drift(reference, current, numeric=[], categorical=["flag"])
    assert close(categorical["flag"].p_value, stats.chi2_contingency([[50, 50], [60, 40]]).pvalue)


def test_nullable_dtypes_and_infinities_are_handled():
    reference = pd.DataFrame(
        {
            "i": pd.array([1, 2, None, 4] * 30, dtype="Int64"),
            "f": pd.array([1.5, None, 2.5, np.inf] * 30, dtype="Float64"),
        }
    )
    current = pd.DataFrame(
        {
            "i": pd.array([1, None, None, 4] * 20, dtype="Int64"),
            "f": pd.array([1.5, None, -np.inf, np.inf] * 20, dtype="Float64"),
        }
    )
    for method in ("ks", "psi", "jensenshannon"):
        report = detect_drift(reference, current, numeric=["i", "f"], categorical=[], method=method)
        assert report["i"].missing_share_reference == pytest.approx(0.25)
        assert report["i"].missing_share_current == pytest.approx(0.5)
        assert all(math.isfinite(r.statistic) for r in report.columns)
    ks = detect_drift(reference, current, numeric=["f"], categorical=[], method="ks")["f"]
    expected = stats.ks_2samp(
        reference["f"].dropna().to_numpy(float), current["f"].dropna().to_numpy(float)
    )
    assert close(ks.statistic, expected.statistic)


def test_bonferroni_and_benjamini_hochberg_thresholds():
    rng = np.random.default_rng(9)
    reference = pd.DataFrame({c: rng.normal(size=300) for c in NUMERIC})
    current = pd.DataFrame({c: rng.normal(i * 0.06, 1.0, 300) for i, c in enumerate(NUMERIC)})
    plain = detect_drift(reference, current, numeric=NUMERIC, categorical=[])
    p_values = np.array([r.p_value for r in plain.columns])
    bonferroni = detect_drift(
        reference, current, numeric=NUMERIC, categorical=[], correction="bonferroni"
    )
    assert all(r.threshold == pytest.approx(0.05 / 8) for r in bonferroni.columns)
    assert [r.drifted for r in bonferroni.columns] == list(p_values <= 0.05 / 8)
    bh = detect_drift(
        reference, current, numeric=NUMERIC, categorical=[], correction="benjamini-hochberg"
    )
    expected = multipletests(p_values, alpha=0.05, method="fdr_bh")[0]
    assert [r.drifted for r in bh.columns] == list(expected)
    assert sum(expected) >= 2  # the test means something


def test_dataset_drift_uses_the_share_threshold():
    reference, current = make_frames(300, 11)
    for column in NUMERIC[:3]:
        current[column] += 2.0
    report = detect_drift(
        reference, current, numeric=NUMERIC, categorical=CATEGORICAL, dataset_drift_share=0.3
    )
    assert report.share_drifted == pytest.approx(0.3)
    assert report.dataset_drift
    assert not detect_drift(
        reference, current, numeric=NUMERIC, categorical=CATEGORICAL, dataset_drift_share=0.31
    ).dataset_drift
    frame = report.to_frame()
    assert list(frame["column"]) == NUMERIC + CATEGORICAL
    assert isinstance(report, DriftReport)


def test_distance_thresholds_can_be_overridden():
    reference, current = make_frames(2000, 12)
    current["x0"] += 0.2
    default = detect_drift(reference, current, numeric=["x0"], categorical=[], method="wasserstein")
    assert default["x0"].threshold == 0.1 and default["x0"].drifted
    strict = detect_drift(
        reference,
        current,
        numeric=["x0"],
        categorical=[],
        method="wasserstein",
        thresholds={"wasserstein": 0.5},
    )
    assert strict["x0"].threshold == 0.5 and not strict["x0"].drifted


def test_registry_declares_kinds():
    assert {"ks", "chi2", "psi"} <= set(DRIFT_METHODS)
    assert DRIFT_METHODS["ks"].kinds == ("numeric",)
    assert DRIFT_METHODS["chi2"].kinds == ("categorical",)
    assert DRIFT_METHODS["psi"].kinds == ("numeric", "categorical")


# --------------------------------------------------------------------------- errors


def test_n_bins_error_message():
    with pytest.raises(
        StatisticsError,
        match=re.escape(
            "The 'n_bins' parameter of population_stability_index must be an int >= 2. "
            "Got 1 instead."
        ),
    ):
        population_stability_index([1.0, 2.0], [1.0], n_bins=1)


@pytest.mark.parametrize("eps", [0.0, 1.0, -1e-3, "small"])
def test_eps_error_message(eps):
    with pytest.raises(
        StatisticsError, match=r"The 'eps' parameter .* must be a float in \(0, 1\)"
    ):
        population_stability_index([1.0, 2.0], [1.0], eps=eps)


def test_psi_of_an_all_missing_sample_is_an_error():
    with pytest.raises(StatisticsError, match=r"'current' argument .* has no non-missing values"):
        population_stability_index([1.0, 2.0], [np.nan])


def test_unknown_method_lists_the_registry():
    reference, current = make_frames(50, 0)
    listed = re.escape(str(sorted(DRIFT_METHODS)))
    with pytest.raises(StatisticsError, match=rf"'method' parameter .*{listed}\. Got 'kstest'"):
        detect_drift(reference, current, numeric=NUMERIC, categorical=[], method="kstest")
    with pytest.raises(StatisticsError, match=r"methods\['x0'\].*Got 'nope' instead"):
        detect_drift(reference, current, numeric=NUMERIC, categorical=[], methods={"x0": "nope"})
    with pytest.raises(StatisticsError, match=listed):
        drift_statistic([1.0], [2.0], method="foo")


def test_method_of_the_wrong_kind_names_the_column():
    reference, current = make_frames(50, 0)
    with pytest.raises(StatisticsError, match="method 'ks' for column 'c0' does not support"):
        detect_drift(reference, current, numeric=[], categorical=["c0"], method="ks")


def test_methods_for_an_undeclared_column_is_an_error():
    reference, current = make_frames(50, 0)
    with pytest.raises(StatisticsError, match="column 'zz' in 'methods'"):
        detect_drift(reference, current, numeric=NUMERIC, categorical=[], methods={"zz": "ks"})


def test_missing_column_and_wrong_dtype_name_the_column():
    reference, current = make_frames(50, 0)
    with pytest.raises(StatisticsError, match="column 'x0' is missing from the current data"):
        detect_drift(reference, current.drop(columns="x0"), numeric=NUMERIC, categorical=[])
    with pytest.raises(
        StatisticsError, match=r"column 'c0' in the reference data has dtype .*declared numeric"
    ):
        detect_drift(reference, current, numeric=["c0"], categorical=[])


def test_empty_frames_and_no_columns_are_errors():
    reference, current = make_frames(50, 0)
    with pytest.raises(StatisticsError, match="the current data of detect_drift has 0 rows"):
        detect_drift(reference, current.iloc[:0], numeric=NUMERIC, categorical=[])
    with pytest.raises(StatisticsError, match="at least one numeric or categorical column"):
        detect_drift(reference, current, numeric=[], categorical=[])
    with pytest.raises(StatisticsError, match="declared both numeric and categorical"):
        detect_drift(reference, current, numeric=["x0"], categorical=["x0"])
    with pytest.raises(StatisticsError, match="needs 'numeric' and 'categorical'"):
        detect_drift(reference, current)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 1.5}, r"The 'alpha' parameter of detect_drift must be a float in \(0, 1\)"),
        ({"psi_threshold": 0}, "The 'psi_threshold' parameter of detect_drift must be a finite"),
        ({"dataset_drift_share": 0.0}, r"'dataset_drift_share' .* \(0, 1\]. Got 0.0 instead"),
        ({"correction": "holm"}, "The 'correction' parameter .* Got 'holm' instead"),
        ({"thresholds": {"ks": 0.1}}, "The 'thresholds' parameter .* Got 'ks' instead"),
        ({"thresholds": {"psi": -1}}, r"thresholds\['psi'\]"),
        ({"n_bins": 1}, "The 'n_bins' parameter of fit_reference_profile must be an int >= 2"),
    ],
)
def test_parameter_errors(kwargs, message):
    reference, current = make_frames(50, 0)
    with pytest.raises(StatisticsError, match=message):
        detect_drift(reference, current, numeric=NUMERIC, categorical=[], **kwargs)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda r, c: detect_drift(r, c, numeric=NUMERIC, categorical=[], method="kstest"),
            f"The 'method' parameter of detect_drift must be 'auto' or one of "
            f"{sorted(DRIFT_METHODS)}. Got 'kstest' instead.",
        ),
        (
            lambda r, c: detect_drift(r, c, numeric=NUMERIC, categorical=[], correction="holm"),
            "The 'correction' parameter of detect_drift must be one of "
            "['none', 'bonferroni', 'benjamini-hochberg']. Got 'holm' instead.",
        ),
        (
            lambda r, c: detect_drift(r, c, numeric=NUMERIC, categorical=[], alpha=True),
            "The 'alpha' parameter of detect_drift must be a float in (0, 1). Got True instead.",
        ),
        (
            lambda r, c: detect_drift(
                r, c, numeric=NUMERIC, categorical=[], dataset_drift_share=1.5
            ),
            "The 'dataset_drift_share' parameter of detect_drift must be a float in (0, 1]. "
            "Got 1.5 instead.",
        ),
        (
            lambda r, c: detect_drift(
                r, c, numeric=NUMERIC, categorical=[], column_thresholds={"x0": math.inf}
            ),
            "The \"column_thresholds['x0']\" parameter of detect_drift must be a finite "
            "float > 0. Got inf instead.",
        ),
        (
            lambda r, c: drift_statistic([1.0], [2.0], method="ks", kind="ordinal"),
            "The 'kind' parameter of drift_statistic must be 'numeric' or 'categorical'. "
            "Got 'ordinal' instead.",
        ),
        (
            lambda r, c: psi_noise_threshold(10, 10, 5, min_effect=0.0),
            "The 'min_effect' parameter of psi_noise_threshold must be a finite float > 0. "
            "Got 0.0 instead.",
        ),
        (
            lambda r, c: psi_noise_threshold(10, 2.5, 5),
            "The 'n_current' parameter of psi_noise_threshold must be an int >= 1. "
            "Got 2.5 instead.",
        ),
        (
            lambda r, c: fit_reference_profile(r, numeric=NUMERIC, n_bins=np.int64(1)),
            "The 'n_bins' parameter of fit_reference_profile must be an int >= 2. "
            "Got np.int64(1) instead.",
        ),
    ],
)
def test_parameter_errors_use_the_one_template(call, message):
    """Every rejected parameter names the function, the parameter, the rule and the value."""
    reference, current = make_frames(50, 0)
    with pytest.raises(StatisticsError, match=f"^{re.escape(message)}$"):
        call(reference, current)


def test_z_test_on_a_non_binary_column_names_it():
    reference, current = make_frames(50, 0)
    with pytest.raises(StatisticsError, match="column 'c0': method 'z' needs a binary column"):
        detect_drift(reference, current, numeric=[], categorical=["c0"], method="z")


def test_wasserstein_rejects_infinities_naming_the_column():
    reference = pd.DataFrame({"x": [1.0, 2.0, np.inf]})
    current = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(StatisticsError, match="column 'x' in the reference data holds ±inf"):
        detect_drift(reference, current, numeric=["x"], categorical=[], method="wasserstein")


def test_profile_without_the_column_is_an_error():
    reference, current = make_frames(50, 0)
    profile = fit_reference_profile(reference, numeric=["x0"], categorical=[])
    with pytest.raises(StatisticsError, match="column 'x1' is not a numeric column"):
        detect_drift(profile, current, numeric=["x1"], categorical=[])


def test_cvm_needs_two_values_per_side():
    with pytest.raises(StatisticsError, match="method 'cvm' needs at least 2"):
        drift_statistic([1.0, 2.0, 3.0], [1.0], method="cvm")


# --------------------------------------------------------------------------- calibration of the defaults


def _mixed_column(i: int, n: int, rng: np.random.Generator) -> np.ndarray:
    draws = (
        lambda: rng.normal(0.0, 1.0, n),
        lambda: rng.lognormal(0.0, 0.5, n),
        lambda: rng.exponential(1.0, n),
        lambda: rng.uniform(0.0, 1.0, n),
        lambda: rng.standard_t(5, n),
        lambda: rng.poisson(3.0, n).astype(np.float64),
        lambda: np.where(rng.random(n) < 0.3, rng.normal(-2, 0.5, n), rng.normal(1, 1, n)),
        lambda: rng.gamma(2.0, 1.0, n),
    )
    return draws[i % len(draws)]()


def _levels(k: int) -> tuple[np.ndarray, np.ndarray]:
    weights = 1.0 / np.arange(1, k + 1)
    return np.array([f"l{v:02d}" for v in range(k)], dtype=object), weights / weights.sum()


CAL_NUMERIC = [f"n{i:02d}" for i in range(16)]
CAL_LEVELS = {"k5": 5, "k20": 20, "k50": 50}


def calibration_frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """16 numeric columns from 8 distributions, 3 categorical with 5, 20 and 50 levels."""
    data: dict[str, object] = {c: _mixed_column(i, n, rng) for i, c in enumerate(CAL_NUMERIC)}
    for column, k in CAL_LEVELS.items():
        levels, p = _levels(k)
        data[column] = levels[rng.choice(k, size=n, p=p)]
    return pd.DataFrame(data)


def _default_report(reference: pd.DataFrame, current: pd.DataFrame) -> DriftReport:
    """The spec's defaults: auto methods, BH at 0.05, the sample-size PSI rule."""
    return detect_drift(
        reference,
        current,
        numeric=CAL_NUMERIC,
        categorical=list(CAL_LEVELS),
        correction="benjamini-hochberg",
    )


@pytest.mark.parametrize(("n", "seeds"), [(1000, range(12)), (10_000, range(3))])
def test_defaults_flag_at_most_one_percent_of_columns_without_drift(n, seeds):
    flagged = total = 0
    for seed in seeds:
        rng = np.random.default_rng(seed)
        report = _default_report(calibration_frame(n, rng), calibration_frame(n, rng))
        flagged += len(report.drifted_columns)
        total += len(report.columns)
    assert flagged / total <= 0.01


@pytest.mark.parametrize("seed", range(3))
def test_defaults_find_the_subtle_injected_drifts_at_10k_rows_and_nothing_else(seed):
    rng = np.random.default_rng(100 + seed)
    n = 10_000
    reference, current = calibration_frame(n, rng), calibration_frame(n, rng)
    current["n00"] += 0.1 * current["n00"].std()  # normal: mean + 0.1 std
    mean = current["n08"].mean()
    current["n08"] = mean + math.sqrt(1.2) * (current["n08"] - mean)  # normal: variance x 1.2
    mean = current["n04"].mean()
    current["n04"] = mean + math.sqrt(1.2) * (current["n04"] - mean)  # Student t5: variance x 1.2
    levels, p = _levels(20)
    q = p.copy()
    q[0], q[1] = p[0] - 0.1, p[1] + 0.1  # 10-point frequency shift
    current["k20"] = levels[rng.choice(20, size=n, p=q)]
    report = _default_report(reference, current)
    assert {r.method for r in report.columns} == {"psi"}
    assert sorted(report.drifted_columns) == ["k20", "n00", "n04", "n08"]


def test_psi_noise_threshold_is_the_null_quantile_of_psi():
    """Simulated PSI of two multinomial samples exceeds the threshold at the stated rate."""
    rng = np.random.default_rng(0)
    p = np.full(10, 0.1)
    n, m, reps = 3000, 2000, 20_000
    ref = rng.multinomial(n, p, size=reps) / n
    cur = rng.multinomial(m, p, size=reps) / m
    ref, cur = np.maximum(ref, 1e-6), np.maximum(cur, 1e-6)
    psi = np.sum((cur - ref) * np.log(cur / ref), axis=1)
    threshold = psi_noise_threshold(n, m, 10, false_alarm=0.01, min_effect=1e-9)
    assert 0.006 <= float(np.mean(psi > threshold)) <= 0.016


def test_psi_noise_threshold_grows_with_levels_and_shrinks_with_rows_to_the_floor():
    assert psi_noise_threshold(10_000, 10_000, 50) > psi_noise_threshold(10_000, 10_000, 5)
    assert psi_noise_threshold(1000, 1000, 10) > psi_noise_threshold(10_000, 10_000, 10)
    assert psi_noise_threshold(10**7, 10**7, 10) == 0.005
    assert psi_noise_threshold(100, 100, 1) == 0.005
    with pytest.raises(StatisticsError, match="The 'n_cells' parameter of psi_noise_threshold"):
        psi_noise_threshold(10, 10, -1)


def test_an_explicit_psi_threshold_is_a_constant():
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": rng.normal(size=8000)})
    current = pd.DataFrame({"x": rng.normal(0.3, 1.0, size=8000)})
    rule = detect_drift(reference, current, numeric=["x"], categorical=[])
    constant = detect_drift(reference, current, numeric=["x"], categorical=[], psi_threshold=0.2)
    assert rule["x"].drifted and rule["x"].threshold < 0.01
    assert not constant["x"].drifted and constant["x"].threshold == 0.2


def test_column_thresholds_apply_to_the_statistic_of_any_method():
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({"x": rng.normal(size=500), "y": rng.normal(size=500)})
    current = pd.DataFrame({"x": rng.normal(size=500), "y": rng.normal(size=500)})
    plain = detect_drift(reference, current, numeric=["x", "y"], categorical=[])
    report = detect_drift(
        reference,
        current,
        numeric=["x", "y"],
        categorical=[],
        column_thresholds={"x": plain["x"].statistic / 2},
    )
    assert report["x"].drifted and report["x"].threshold == plain["x"].statistic / 2
    assert report["y"] == plain["y"]
    with pytest.raises(StatisticsError, match="column 'z' in 'column_thresholds'"):
        detect_drift(reference, current, numeric=["x"], categorical=[], column_thresholds={"z": 1})


def test_output_drift_is_reported_beside_the_features_without_changing_the_share():
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"x": rng.normal(size=400), "score": rng.random(400)})
    current = pd.DataFrame({"x": reference["x"][::-1].to_numpy(), "score": rng.random(400) ** 3})
    features = detect_drift(reference, current, numeric=["x"], categorical=[])
    scores = detect_drift(
        reference.rename(columns={"score": "prediction:score"}),
        current.rename(columns={"score": "prediction:score"}),
        numeric=["prediction:score"],
        categorical=[],
        role="prediction",
    )
    report = with_output_drift(features, scores)
    assert [r.column for r in report.columns] == ["x", "prediction:score"]
    assert report.drifted_columns == ["prediction:score"]
    assert report.drifted_features == []
    assert report.share_drifted == features.share_drifted == 0.0
    with pytest.raises(StatisticsError, match="appends prediction or target drift"):
        with_output_drift(features, features)


def test_a_profile_saved_as_plain_arrays_gives_the_same_report(tmp_path):
    rng = np.random.default_rng(9)
    reference, current = make_frames(3000, 9)
    reference.loc[:10, "x0"] = np.nan
    profile = fit_reference_profile(reference, numeric=NUMERIC, categorical=CATEGORICAL)
    path = tmp_path / "profile.npz"
    np.savez(path, **profile.to_arrays())
    with np.load(path, allow_pickle=False) as saved:
        restored = ReferenceProfile.from_arrays(dict(saved))
    assert restored.numeric_columns == NUMERIC and restored.categorical_columns == CATEGORICAL
    current["x1"] += rng.normal(0.3, 0.1)
    assert detect_drift(restored, current) == detect_drift(profile, current)
    with pytest.raises(StatisticsError, match="not a saved reference profile"):
        ReferenceProfile.from_arrays({})


# --------------------------------------------------------------------------- compact profiles


def _compact_cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(21)
    n, m = 150_000, 2_500
    return {
        "normal": (rng.normal(size=n), rng.normal(0.05, 1.0, m)),
        "heavy tails (Cauchy)": (rng.standard_cauchy(n), rng.standard_cauchy(m) * 1.1),
        "ties (5 levels)": (
            rng.integers(0, 5, n).astype(float),
            rng.integers(0, 6, m).astype(float),
        ),
        "one value holds 90 %": (
            np.where(rng.random(n) < 0.9, 0.0, rng.exponential(size=n)),
            np.where(rng.random(m) < 0.85, 0.0, rng.exponential(size=m)),
        ),
        "lognormal": (rng.lognormal(0, 2, n), rng.lognormal(0.1, 2, m)),
    }


@pytest.mark.parametrize("case", list(_compact_cases()))
def test_a_compact_profile_keeps_ks_within_its_stated_bound_of_scipy(case):
    ref, cur = _compact_cases()[case]
    frame = pd.DataFrame({"x": ref})
    full = fit_reference_profile(frame, numeric=["x"])
    compact = ReferenceProfile.from_arrays(full.to_arrays())  # persisted: compact above 100k
    column = compact.numeric_profile("x")
    assert column.compact and column.n_valid == ref.size
    assert column.values.size == COMPACT_QUANTILES + 1
    bound = column.ecdf_error
    assert 0 < bound < 1 / COMPACT_QUANTILES
    exact = stats.ks_2samp(ref, cur, method="asymp")
    report = detect_drift(compact, pd.DataFrame({"x": cur}), method="ks")
    assert abs(report["x"].statistic - exact.statistic) <= bound + 1e-12
    assert report["x"].n_reference == ref.size  # the p-value uses the real reference n
    # the ECDF itself, at every window value and its left limit
    xs = np.sort(cur)
    for side in ("right", "left"):
        truth = np.searchsorted(np.sort(ref), xs, side=side) / ref.size
        assert np.max(np.abs(column.cdf(xs, side=side) - truth)) <= bound + 1e-12


def test_a_compact_profile_keeps_binned_methods_exact_and_wasserstein_within_its_bound():
    ref, cur = _compact_cases()["lognormal"]
    full = fit_reference_profile(pd.DataFrame({"x": ref}), numeric=["x"])
    compact = full.compacted()
    current = pd.DataFrame({"x": cur})
    for method in ("psi", "jensenshannon", "hellinger", "kl"):
        assert detect_drift(compact, current, method=method)["x"].statistic == (
            detect_drift(full, current, method=method)["x"].statistic
        )
    column = compact.numeric_profile("x")
    exact = stats.wasserstein_distance(ref, cur) / np.std(ref)
    approx = detect_drift(compact, current, method="wasserstein")["x"].statistic
    assert 0 < abs(approx - exact) <= column.wasserstein_error / column.std + 1e-12
    for method in ("anderson", "cvm"):  # approximate, but they run on the compact profile
        assert math.isfinite(detect_drift(compact, current, method=method)["x"].statistic)


def test_small_columns_stay_exact_and_a_corrupt_compact_column_is_refused():
    small = fit_reference_profile(pd.DataFrame({"x": np.arange(1000.0)}), numeric=["x"])
    restored = ReferenceProfile.from_arrays(small.to_arrays())
    assert not restored.numeric_profile("x").compact
    np.testing.assert_array_equal(restored.numeric_profile("x").sorted_values, np.arange(1000.0))
    arrays = fit_reference_profile(
        pd.DataFrame({"x": np.arange(200_000.0)}), numeric=["x"]
    ).to_arrays()
    arrays["numeric_0_ranks"] = arrays["numeric_0_ranks"][::-1].copy()
    with pytest.raises(StatisticsError, match="compact column 'x' has misaligned"):
        ReferenceProfile.from_arrays(arrays)
