"""The shared statistical kernels (``modelwatch.stats.kernels``) and parameter checks
(``modelwatch.stats.params``) against direct or reference implementations."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from modelwatch.errors import StatisticsError
from modelwatch.stats import kernels
from modelwatch.stats.kernels import (
    average_precision_from_counts,
    bootstrap_distribution,
    bootstrap_indices,
    bootstrap_interval,
    calibration_errors,
    check_bootstrap_params,
    confusion_codes,
    confusion_counts,
    confusion_matrices,
    delong_covariance,
    encode_labels,
    group_label_counts,
    label_metrics_from_counts,
    midranks,
    multiclass_label_metrics,
    percentile_interval,
    roc_auc,
    roc_auc_from_counts,
    row_log_loss,
    score_groups,
    weighted_roc_auc,
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

# --------------------------------------------------------------------------- params


def test_param_error_is_the_one_template() -> None:
    error = param_error("population_stability_index", "n_bins", "an int >= 2", 1)
    assert isinstance(error, StatisticsError)
    assert str(error) == (
        "The 'n_bins' parameter of population_stability_index must be an int >= 2. Got 1 instead."
    )


@pytest.mark.parametrize(
    ("constraint", "text"),
    [
        (Interval(int, 0, None), "an int >= 0"),
        (Interval(int, 1, None, allow_none=True), "an int >= 1 or None"),
        (Interval(int, 1, 10, closed="both"), "an int in [1, 10]"),
        (Interval(float, 0, 1, closed="neither"), "a float in (0, 1)"),
        (Interval(float, 0, 1, closed="right"), "a float in (0, 1]"),
        (Interval(float, 0, None), "a finite float >= 0"),
        (Interval(float, 1, None), "a finite float >= 1"),
        (Interval(float, 0, None, closed="neither"), "a finite float > 0"),
        (Interval(float, None, 0, closed="right"), "a finite float <= 0"),
        (Interval(float, None, None), "a finite float"),
        (Options(("superiority", "non_inferiority")), "'superiority' or 'non_inferiority'"),
        (Options((0, 1)), "one of [0, 1]"),
        (Options(("a", "b", "c")), "one of ['a', 'b', 'c']"),
        (Options((True, False), allow_none=True), "one of [True, False] or None"),
    ],
)
def test_constraints_describe_themselves(constraint: object, text: str) -> None:
    assert constraint.describe() == text  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("constraint", "good", "bad"),
    [
        (Interval(int, 0, None), [0, 5, np.int64(3)], [-1, 2.5, True, "3", None, np.float64(1.0)]),
        (Interval(int, 1, None, allow_none=True), [None, 1], [0, False]),
        (Interval(float, 0, 1, closed="neither"), [0.5, np.float32(0.1)], [0, 1, 1.0, 95, True]),
        (Interval(float, 0, 1, closed="right"), [1.0, 1, 0.25], [0.0, 1.5, float("nan")]),
        (Interval(float, 0, None), [0, 0.0, 3, np.int64(2)], [-0.1, float("inf"), None, "1"]),
        (Interval(float, 0, None, closed="neither"), [1e-9], [0, 0.0, float("nan")]),
        (Interval(float, None, None), [-1e300, 0], [float("-inf"), float("nan"), False]),
        (Options(("a", "b")), ["a", np.str_("b")], ["c", None, 1]),
        (Options((True, False), allow_none=True), [True, False, None], [1, 0, "True"]),
        (Options((0, 1)), [0, 1, np.int64(1)], [True, 2, np.array([0, 1])]),
    ],
)
def test_constraints_accept_exactly_their_values(
    constraint: object, good: list[object], bad: list[object]
) -> None:
    assert all(constraint.accepts(v) for v in good)  # type: ignore[attr-defined]
    assert not any(constraint.accepts(v) for v in bad)  # type: ignore[attr-defined]


def test_check_param_converts_accepted_values() -> None:
    seed = check_param("f", "seed", np.int64(7), Interval(int, 0, None))
    assert seed == 7 and type(seed) is int
    margin = check_param("f", "margin", 0, Interval(float, 0, None))
    assert margin == 0.0 and type(margin) is float
    assert check_param("f", "chunk_size", None, Interval(int, 1, None, allow_none=True)) is None
    assert check_param("f", "rule", "superiority", Options(("superiority", "x"))) == "superiority"


def test_check_params_names_the_first_rejected_parameter() -> None:
    expected = (
        "The 'confidence' parameter of compare_models must be a float in (0, 1). Got 95 instead."
    )
    with pytest.raises(StatisticsError, match=re.escape(expected)):
        check_params(
            "compare_models",
            {
                "n_bootstrap": (10, Interval(int, 1, None)),
                "confidence": (95, Interval(float, 0, 1, closed="neither")),
                "seed": (-1, Interval(int, 0, None)),
            },
        )
    check_params("compare_models", {"n_bootstrap": (10, Interval(int, 1, None))})


# --------------------------------------------------------------------------- kernels


def _binary_sample(seed: int, n: int = 300, *, decimals: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores rounded to ``decimals`` so that many scores tie across classes."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < 0.4
    scores = np.round(np.clip(0.3 * truth + 0.7 * rng.random(n), 0.0, 1.0), decimals)
    return truth, scores


def test_midranks_equal_scipy_rankdata_with_ties() -> None:
    values = np.random.default_rng(0).integers(0, 20, 500).astype(np.float64)
    np.testing.assert_allclose(midranks(values), stats.rankdata(values, method="average"))
    assert midranks([3.0, 1.0, 3.0, 2.0]).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_midranks_among_another_sample_are_the_pooled_midranks() -> None:
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 10, 50).astype(np.float64)
    cur = rng.integers(0, 10, 40).astype(np.float64)
    pooled = np.sort(np.concatenate([ref, cur]))
    expected = stats.rankdata(np.concatenate([ref, cur]), method="average")[: ref.size]
    np.testing.assert_allclose(midranks(ref, among=pooled), expected)


@pytest.mark.parametrize("decimals", [1, 2, 6])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_auc_equals_sklearn_with_and_without_ties(decimals: int, seed: int) -> None:
    truth, scores = _binary_sample(seed, decimals=decimals)
    assert roc_auc(truth, scores)[0] == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)


def test_roc_auc_of_the_sklearn_documentation_example() -> None:
    truth = np.array([False, False, True, True])
    assert roc_auc(truth, np.array([0.1, 0.4, 0.35, 0.8]))[0] == pytest.approx(0.75)
    # every score tied: chance
    assert roc_auc(truth, np.full(4, 0.5))[0] == pytest.approx(0.5)


def test_roc_auc_per_resample_equals_sklearn_on_each_resample_and_nan_for_one_class() -> None:
    truth, scores = _binary_sample(3, n=60)
    index = np.random.default_rng(4).integers(0, 60, size=(5, 60))
    index[4] = np.flatnonzero(truth)[0]  # a resample of one positive row repeated: undefined
    values = roc_auc(truth, scores, index=index)
    for row, value in zip(index[:4], values[:4], strict=True):
        assert value == pytest.approx(roc_auc_score(truth[row], scores[row]), abs=1e-12)
    assert np.isnan(values[4])


def test_roc_auc_from_counts_reads_weights_per_group() -> None:
    truth, scores = _binary_sample(5, n=200)
    groups, n_groups = score_groups(scores)
    counts = group_label_counts(groups[None, :], truth[None, :], n_groups)
    assert counts.shape == (1, n_groups, 2)
    assert counts[0, :, 1].sum() == truth.sum() and counts[0, :, 0].sum() == (~truth).sum()
    assert roc_auc_from_counts(counts)[0] == pytest.approx(roc_auc_score(truth, scores))


def _slow_weighted_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    numerator = denominator = 0.0
    for i in range(scores.size):
        for j in range(scores.size):
            if i == j:
                continue
            weight = positive[i] * (1.0 - positive[j])
            numerator += weight * ((scores[i] > scores[j]) + 0.5 * (scores[i] == scores[j]))
            denominator += weight
    return numerator / denominator


def test_weighted_roc_auc_against_the_pairwise_definition() -> None:
    rng = np.random.default_rng(6)
    scores = np.round(rng.random(80), 1)
    weights = rng.random(80)
    assert weighted_roc_auc(scores, weights) == pytest.approx(
        _slow_weighted_auc(scores, weights), abs=1e-12
    )
    truth, binary_scores = _binary_sample(7, n=80)
    assert weighted_roc_auc(binary_scores, truth.astype(np.float64)) == pytest.approx(
        roc_auc_score(truth, binary_scores), abs=1e-12
    )


def test_average_precision_from_counts_equals_sklearn() -> None:
    truth, scores = _binary_sample(8, decimals=2)
    groups, n_groups = score_groups(scores)
    counts = group_label_counts(groups[None, :], truth[None, :], n_groups)
    assert average_precision_from_counts(counts)[0] == pytest.approx(
        average_precision_score(truth, scores), abs=1e-12
    )


def _slow_delong(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong et al. (1988) from the pairwise kernel psi: O(k · m · n)."""
    k = scores.shape[0]
    m, n = int(truth.sum()), int((~truth).sum())
    v10 = np.empty((k, m))
    v01 = np.empty((k, n))
    aucs = np.empty(k)
    for r in range(k):
        x, y = scores[r, truth], scores[r, ~truth]
        psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
        aucs[r] = psi.mean()
        v10[r] = psi.mean(axis=1)
        v01[r] = psi.mean(axis=0)
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return aucs, s10 / m + s01 / n


@pytest.mark.parametrize("decimals", [1, 4])
def test_delong_covariance_equals_the_pairwise_definition(decimals: int) -> None:
    truth, first = _binary_sample(9, n=150, decimals=decimals)
    second = np.round(
        np.clip(first + np.random.default_rng(10).normal(0, 0.2, 150), 0, 1), decimals
    )
    scores = np.vstack([first, second])
    aucs, covariance = delong_covariance(truth, scores)
    slow_aucs, slow_covariance = _slow_delong(truth, scores)
    np.testing.assert_allclose(aucs, slow_aucs, atol=1e-12)
    np.testing.assert_allclose(covariance, slow_covariance, rtol=1e-10, atol=1e-15)
    assert aucs[0] == pytest.approx(roc_auc_score(truth, first))
    _, one_variance = delong_covariance(truth, first[None, :])
    assert one_variance.shape == (1, 1) and one_variance[0, 0] == pytest.approx(covariance[0, 0])


def test_calibration_errors_equal_a_direct_loop_over_bins() -> None:
    rng = np.random.default_rng(11)
    probability = np.append(rng.random(199), 1.0)  # 1.0 falls in the last bin
    truth = (rng.random(200) < probability).astype(np.float64)
    n_bins = 7
    expected = 0.0
    for b in range(n_bins):
        low, high = b / n_bins, (b + 1) / n_bins
        inside = (probability >= low) & ((probability < high) | (b == n_bins - 1))
        expected += abs(float((truth[inside] - probability[inside]).sum()))
    expected /= truth.size
    assert calibration_errors(truth, probability, n_bins=n_bins)[0] == pytest.approx(expected)
    index = rng.integers(0, 200, size=(3, 200))
    per_resample = calibration_errors(truth, probability, n_bins=n_bins, index=index)
    for row, value in zip(index, per_resample, strict=True):
        assert value == pytest.approx(
            calibration_errors(truth[row], probability[row], n_bins=n_bins)[0]
        )


def test_label_metrics_from_counts_equal_sklearn() -> None:
    rng = np.random.default_rng(12)
    truth, predicted = rng.random(300) < 0.3, rng.random(300) < 0.4
    metrics = label_metrics_from_counts(confusion_counts(confusion_codes(truth, predicted)))
    assert metrics["accuracy"][0] == pytest.approx(accuracy_score(truth, predicted))
    assert metrics["precision"][0] == pytest.approx(precision_score(truth, predicted))
    assert metrics["recall"][0] == pytest.approx(recall_score(truth, predicted))
    assert metrics["f1"][0] == pytest.approx(f1_score(truth, predicted))
    nothing = label_metrics_from_counts(np.array([[5, 0, 0, 0]]))  # no positive at all
    assert nothing["precision"][0] == 0.0 and nothing["f1"][0] == 0.0


def test_multiclass_label_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(13)
    truth = rng.choice(["a", "b", "c"], 250)
    predicted = np.where(rng.random(250) < 0.6, truth, rng.choice(["a", "b", "d"], 250))
    labels, (t, p) = encode_labels(truth, predicted)
    assert labels == ["a", "b", "c", "d"]
    index = np.arange(250, dtype=np.int64)[None, :]
    metrics = multiclass_label_metrics(confusion_matrices(t, p, len(labels), index))
    assert metrics["accuracy"][0] == pytest.approx(accuracy_score(truth, predicted))
    for average in ("macro", "weighted"):
        assert metrics[f"f1_{average}"][0] == pytest.approx(
            f1_score(truth, predicted, average=average, zero_division=0)
        )
    recall = recall_score(truth, predicted, labels=["a", "b", "c"], average=None)
    np.testing.assert_allclose(metrics["recall"][0, :3], recall)
    assert np.isnan(metrics["recall"][0, 3])  # 'd' is never the true class


def test_row_log_loss_mean_equals_sklearn_and_names_bad_input() -> None:
    rng = np.random.default_rng(14)
    proba = rng.dirichlet([1.0, 1.0, 1.0], 100)
    truth = rng.choice(["x", "y", "z"], 100)
    losses = row_log_loss(proba, truth, ["x", "y", "z"], where="f")
    assert losses.mean() == pytest.approx(log_loss(truth, proba, labels=["x", "y", "z"]))
    with pytest.raises(StatisticsError, match=r"The 'classes' parameter of f must be"):
        row_log_loss(proba, truth, None, where="f")
    with pytest.raises(StatisticsError, match=r"rows of 'y_proba' of f must sum to 1; row 0"):
        row_log_loss(proba * np.r_[0.5, np.ones(99)][:, None], truth, ["x", "y", "z"], where="f")
    with pytest.raises(StatisticsError, match=r"holds labels \['z'\]"):
        row_log_loss(
            proba[:, :2] / proba[:, :2].sum(axis=1, keepdims=True), truth, ["x", "y"], where="f"
        )


@pytest.mark.parametrize("budget", [None, 1000, 57])
def test_bootstrap_interval_equals_a_direct_numpy_loop_with_the_same_seed(
    budget: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunking (the memory budget) does not change the resamples."""
    if budget is not None:
        monkeypatch.setattr(kernels, "BOOTSTRAP_CHUNK_ELEMENTS", budget)
    values = np.random.default_rng(15).exponential(size=50)
    rng = np.random.default_rng(7)
    means = [values[rng.integers(0, 50, size=50)].mean() for _ in range(400)]
    expected = np.percentile(means, [5.0, 95.0])
    low, high = bootstrap_interval(
        lambda index: values[index].mean(axis=1), 50, n_bootstrap=400, confidence=0.9, seed=7
    )
    assert (low, high) == pytest.approx(tuple(expected), abs=1e-12)
    chunks = list(bootstrap_indices(50, 400, 7))
    assert sum(c.shape[0] for c in chunks) == 400
    assert all(c.size <= max(kernels.BOOTSTRAP_CHUNK_ELEMENTS, 50) for c in chunks)


def test_bootstrap_distribution_shares_resamples_and_keeps_the_named_statistics() -> None:
    values = np.arange(30, dtype=np.float64)

    def evaluate(index: np.ndarray) -> dict[str, np.ndarray]:
        return {"mean": values[index].mean(axis=1), "twice": 2 * values[index].mean(axis=1)}

    every = bootstrap_distribution(evaluate, 30, n_bootstrap=100, seed=3)
    np.testing.assert_allclose(every["twice"], 2 * every["mean"])
    assert set(bootstrap_distribution(evaluate, 30, n_bootstrap=5, seed=3, names=["mean"])) == {
        "mean"
    }
    assert bootstrap_distribution(evaluate, 30, n_bootstrap=0, seed=3) == {}


def test_percentile_interval_ignores_undefined_resamples() -> None:
    values = np.array([np.nan, 1.0, 2.0, 3.0, np.inf, 4.0, 5.0])
    assert percentile_interval(values, 0.5) == pytest.approx((2.0, 4.0))
    assert percentile_interval(np.array([np.nan]), 0.9) == (None, None)


def test_array_argument_checks_name_the_argument_and_function() -> None:
    assert as_1d([1, 2], "y", "f").tolist() == [1, 2]
    with pytest.raises(
        StatisticsError, match=r"The 'y' argument of f must be 1-D. Got shape \(1, 2\)"
    ):
        as_1d([[1, 2]], "y", "f")
    with pytest.raises(StatisticsError, match="The 'y' argument of f is empty"):
        as_1d([], "y", "f")
    with pytest.raises(StatisticsError, match="The 'y' argument of f holds 1 missing values"):
        as_1d([1.0, None], "y", "f")
    with pytest.raises(StatisticsError, match="The 's' argument of f must be numeric"):
        as_scores(["a"], "s", "f")
    with pytest.raises(StatisticsError, match="The 's' argument of f holds non-finite values"):
        as_scores([1.0, np.inf], "s", "f")
    assert same_length("f", a=np.zeros(3), b=np.ones(3)) == 3
    with pytest.raises(StatisticsError, match=r"different lengths: \{'a': 3, 'b': 2\}"):
        same_length("f", a=np.zeros(3), b=np.ones(2))
    truth, (pred,) = positive_labels(np.array(["n", "y"]), [np.array(["y", "y"])], "y", "f")
    assert truth.tolist() == [False, True] and pred.tolist() == [True, True]
    with pytest.raises(StatisticsError, match="f supports binary labels only; got 3 classes"):
        positive_labels(np.array([0, 1, 2]), [], 1, "f")
    with pytest.raises(
        StatisticsError, match=r"'pos_label' parameter of f must be one of \[0, 1\]"
    ):
        positive_labels(np.array([0, 1]), [], "yes", "f")


def test_check_bootstrap_params_converts_and_names_the_bad_one() -> None:
    assert check_bootstrap_params(
        "f", n_bootstrap=np.int64(0), confidence=0.9, seed=3, min_resamples=0
    ) == (0, 0.9, 3)
    with pytest.raises(StatisticsError, match=r"'n_bootstrap' parameter of f must be an int >= 1"):
        check_bootstrap_params("f", n_bootstrap=0, confidence=0.9, seed=3)
    with pytest.raises(StatisticsError, match=r"'confidence' parameter of f .* Got 95 instead"):
        check_bootstrap_params("f", n_bootstrap=10, confidence=95, seed=3)
    with pytest.raises(StatisticsError, match=r"'seed' parameter of f must be an int >= 0"):
        check_bootstrap_params("f", n_bootstrap=10, confidence=0.9, seed=-1)
