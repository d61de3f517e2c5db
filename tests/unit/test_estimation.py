"""CBPE: isotonic calibration (PAV), expected metrics, sampling-error bands, calibration decision."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from modelwatch.errors import StatisticsError
from modelwatch.stats.estimation import (
    CBPE,
    expected_calibration_error,
    fit_cbpe,
    isotonic_fit,
    realized_metrics,
)


def binary_sample(
    rng: np.random.Generator, n: int, *, shift: float = 0.0, power: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated scores ``p`` (``y ~ Bernoulli(p)``), reported as ``p ** power``."""
    x = rng.normal(shift, 1.0, n)
    p = 1.0 / (1.0 + np.exp(-(2.0 * x - 1.0)))
    y = (rng.random(n) < p).astype(np.int64)
    return p**power, y


def multiclass_sample(
    rng: np.random.Generator, n: int, *, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    logits = 1.5 * rng.normal(shift, 1.0, (n, 3))
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return p, y


def test_isotonic_fit_equals_sklearn_isotonic_regression():
    rng = np.random.default_rng(0)
    scores = np.round(rng.random(3000), 3)  # ties
    y = (rng.random(3000) < scores**2).astype(float)
    ours = isotonic_fit(scores, y)
    theirs = IsotonicRegression(out_of_bounds="clip").fit(scores, y)
    grid = np.linspace(-0.1, 1.1, 500)
    np.testing.assert_allclose(ours(grid), theirs.predict(grid), rtol=1e-9, atol=1e-12)
    assert np.all(np.diff(ours.values) >= 0)


def test_expected_calibration_error_is_the_binned_gap():
    y = np.array([1, 0, 1, 1])
    p = np.array([0.9, 0.1, 0.4, 0.45])
    # bins: 0.1 -> bin 1 (gap -0.1); 0.4 and 0.45 -> bin 4 (gap 1.15); 0.9 -> bin 9 (gap 0.1)
    assert expected_calibration_error(y, p) == pytest.approx((0.1 + 1.15 + 0.1) / 4)


def test_realized_metrics_equal_sklearn_binary_and_multiclass():
    rng = np.random.default_rng(1)
    scores, y = binary_sample(rng, 800)
    pred = (scores >= 0.5).astype(int)
    ours = realized_metrics(scores, y)
    assert ours["accuracy"] == pytest.approx(accuracy_score(y, pred), rel=1e-12)
    assert ours["precision"] == pytest.approx(precision_score(y, pred), rel=1e-12)
    assert ours["recall"] == pytest.approx(recall_score(y, pred), rel=1e-12)
    assert ours["f1"] == pytest.approx(f1_score(y, pred), rel=1e-12)
    assert ours["roc_auc"] == pytest.approx(roc_auc_score(y, scores), rel=1e-12)
    p, labels = multiclass_sample(rng, 900)
    pred = p.argmax(axis=1)
    ours = realized_metrics(p, labels, classes=(0, 1, 2))
    assert ours["f1"] == pytest.approx(f1_score(labels, pred, average="macro"), rel=1e-12)
    assert ours["precision"] == pytest.approx(
        precision_score(labels, pred, average="macro"), rel=1e-12
    )
    assert ours["roc_auc"] == pytest.approx(
        roc_auc_score(labels, p, multi_class="ovr", average="macro"), rel=1e-12
    )


def test_expected_metrics_of_certain_scores_are_the_realized_ones():
    """With 0/1 probabilities the expected confusion matrix is the realized one."""
    y = np.array([0, 1, 1, 0, 1, 0, 0, 1] * 5)
    scores = np.where(y == 1, 0.99, 0.01)
    scores[:3] = 1 - scores[:3]  # three errors
    cbpe = fit_cbpe(np.clip(scores, 0, 1), y, calibration="none", n_chunks=2)
    certain = (scores > 0.5).astype(float)
    estimate = cbpe.estimate(certain, y_pred=(scores > 0.5).astype(int))
    realized = realized_metrics(certain, (scores > 0.5).astype(int))
    for name, value in estimate.items():
        assert value.value == pytest.approx(realized[name])
        assert value.kind == "estimated"


def _coverage(cbpe, sample, realized_kwargs, windows=150, n=1000, seed=7):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    inside: dict[str, int] = {}
    for _ in range(windows):
        scores, y = sample(rng, n, shift=rng.uniform(-0.4, 0.4))
        estimate = cbpe.estimate(scores)
        realized = realized_metrics(scores, y, **realized_kwargs)
        for name, value in estimate.items():
            inside[name] = inside.get(name, 0) + int(
                value.ci_low <= realized[name] <= value.ci_high
            )
    return {name: count / windows for name, count in inside.items()}


def test_realized_binary_metrics_fall_in_the_estimated_band_in_90_percent_of_windows():
    rng = np.random.default_rng(2)
    cbpe = fit_cbpe(*binary_sample(rng, 20_000))
    coverage = _coverage(cbpe, binary_sample, {})
    assert set(coverage) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert min(coverage.values()) >= 0.9, coverage


def test_miscalibrated_scores_are_calibrated_on_the_reference_and_still_covered():
    rng = np.random.default_rng(3)
    scores, y = binary_sample(rng, 20_000, power=2.0)
    cbpe = fit_cbpe(scores, y)
    assert cbpe.calibrated
    assert cbpe.ece_after < cbpe.ece_before / 5
    uncalibrated = fit_cbpe(scores, y, calibration="none")
    window_scores, window_y = binary_sample(rng, 5000, power=2.0)
    truth = realized_metrics(window_scores, window_y)["accuracy"]
    calibrated_error = abs(cbpe.estimate(window_scores)["accuracy"].value - truth)
    raw_error = abs(uncalibrated.estimate(window_scores)["accuracy"].value - truth)
    assert calibrated_error < raw_error

    def squared(rng: np.random.Generator, n: int, *, shift: float = 0.0):  # type: ignore[no-untyped-def]
        return binary_sample(rng, n, shift=shift, power=2.0)

    assert min(_coverage(cbpe, squared, {}, windows=100).values()) >= 0.9


def test_multiclass_estimates_are_covered_in_90_percent_of_windows():
    rng = np.random.default_rng(4)
    cbpe = fit_cbpe(*multiclass_sample(rng, 15_000))
    assert cbpe.classes == (0, 1, 2)
    coverage = _coverage(cbpe, multiclass_sample, {"classes": (0, 1, 2)}, windows=100)
    assert min(coverage.values()) >= 0.9, coverage


def test_bands_widen_for_smaller_windows_and_logged_predictions_are_used():
    rng = np.random.default_rng(5)
    cbpe = fit_cbpe(*binary_sample(rng, 10_000))
    scores, _ = binary_sample(rng, 4000)
    wide = cbpe.estimate(scores[:400])["accuracy"]
    narrow = cbpe.estimate(scores)["accuracy"]
    assert (wide.ci_high - wide.ci_low) > 2.5 * (narrow.ci_high - narrow.ci_low)
    all_positive = cbpe.estimate(scores, y_pred=np.ones(4000, dtype=int))
    assert all_positive["recall"].value == pytest.approx(1.0)
    assert set(cbpe.reference_thresholds) == set(cbpe.reference_values)


def test_errors_name_the_parameter_and_the_value():
    rng = np.random.default_rng(6)
    scores, y = binary_sample(rng, 100)
    with pytest.raises(StatisticsError, match="The 'calibration' parameter of fit_cbpe"):
        fit_cbpe(scores, y, calibration="platt")  # type: ignore[arg-type]
    with pytest.raises(StatisticsError, match="at least 20 reference rows"):
        fit_cbpe(scores[:10], y[:10])
    cbpe = fit_cbpe(scores, y, n_chunks=2)
    with pytest.raises(StatisticsError, match="'y_pred' holds the label 7"):
        cbpe.estimate(scores, y_pred=np.full(100, 7))
    with pytest.raises(StatisticsError, match="non-finite"):
        cbpe.estimate(np.array([0.2, np.nan]))


def test_multiclass_estimates_give_macro_and_weighted_f1_that_equal_sklearn_on_one_hot_rows():
    rng = np.random.default_rng(7)
    p, labels = multiclass_sample(rng, 900)
    pred = p.argmax(axis=1)
    ours = realized_metrics(p, labels, classes=(0, 1, 2))
    assert ours["f1_macro"] == pytest.approx(f1_score(labels, pred, average="macro"), rel=1e-12)
    assert ours["f1_weighted"] == pytest.approx(
        f1_score(labels, pred, average="weighted"), rel=1e-12
    )


def test_multiclass_cbpe_with_text_classes_covers_the_realized_weighted_f1():
    rng = np.random.default_rng(11)
    names = np.array(["stay", "downgrade", "churn"], dtype=object)
    p, y = multiclass_sample(rng, 12_000)
    cbpe = fit_cbpe(p, names[y], names[p.argmax(axis=1)], classes=tuple(names))
    window_p, window_y = multiclass_sample(rng, 3000, shift=0.3)
    estimate = cbpe.estimate(window_p, names[window_p.argmax(axis=1)])
    realized = f1_score(names[window_y], names[window_p.argmax(axis=1)], average="weighted")
    assert {"f1_macro", "f1_weighted"} <= set(estimate)
    assert estimate["f1_macro"].value == estimate["f1"].value
    assert estimate["f1_weighted"].ci_low < realized < estimate["f1_weighted"].ci_high
    with pytest.raises(StatisticsError, match=r"'y_pred' holds the label 'gone'"):
        cbpe.estimate(window_p[:2], np.array(["stay", "gone"], dtype=object))


@pytest.mark.parametrize("power", [1.0, 3.0])  # calibrated scores: raw / isotonic maps kept
def test_a_saved_binary_estimator_gives_the_same_estimates(power, tmp_path):
    rng = np.random.default_rng(31)
    scores, y = binary_sample(rng, 3000, power=power)
    cbpe = fit_cbpe(scores, y)
    path = tmp_path / "cbpe.npz"
    np.savez(path, **cbpe.to_arrays())
    with np.load(path, allow_pickle=False) as data:
        restored = CBPE.from_arrays({k: data[k] for k in data.files})
    assert restored.calibrated == cbpe.calibrated == (power == 3.0)
    if cbpe.calibrators is not None and restored.calibrators is not None:
        # only the ends of the map's steps are stored: the same map, a fraction of the knots
        original, saved = cbpe.calibrators[0], restored.calibrators[0]
        assert saved.knots.size < original.knots.size / 5
        grid = np.concatenate([original.knots, np.linspace(-0.1, 1.1, 5001)])
        np.testing.assert_array_equal(saved(grid), original(grid))
    window, _ = binary_sample(rng, 500, shift=0.3, power=power)
    assert restored.estimate(window) == cbpe.estimate(window)
    assert restored.reference_thresholds == cbpe.reference_thresholds
    assert restored.classes == (0, 1)


def test_a_saved_multiclass_estimator_with_text_classes_gives_the_same_estimates():
    rng = np.random.default_rng(32)
    scores, y = multiclass_sample(rng, 3000)
    names = np.array(["stay", "downgrade", "churn"], dtype=object)
    cbpe = fit_cbpe(scores, names[y], classes=tuple(names), calibration="isotonic")
    restored = CBPE.from_arrays(cbpe.to_arrays(prefix="x."), prefix="x.")
    window, _ = multiclass_sample(rng, 400, shift=0.2)
    predicted = names[np.argmax(window, axis=1)]
    assert restored.estimate(window, predicted) == cbpe.estimate(window, predicted)
    assert restored.classes == ("stay", "downgrade", "churn")
    assert len(restored.calibrators or ()) == 3


def test_a_saved_estimator_refuses_labels_json_cannot_hold_and_broken_files():
    rng = np.random.default_rng(33)
    scores, y = binary_sample(rng, 500)
    odd = fit_cbpe(scores, y)
    object.__setattr__(odd, "classes", (None, 1))  # e.g. labels read from an odd source
    with pytest.raises(StatisticsError, match=r"stores class labels as JSON; None \(NoneType\)"):
        odd.to_arrays()
    with pytest.raises(StatisticsError, match="not a saved CBPE estimator"):
        CBPE.from_arrays({})
