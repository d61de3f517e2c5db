"""Performance metrics: agreement with scikit-learn, bootstrap intervals, segments, errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from modelwatch.errors import StatisticsError
from modelwatch.stats.abtest import compare_multiclass_models
from modelwatch.stats.performance import (
    CLASSIFICATION_METRICS,
    MetricValue,
    classification_metrics,
    fairness_gaps,
    multiclass_metrics,
    regression_metrics,
    segment_metrics,
)

SKLEARN = {
    "accuracy": skm.accuracy_score,
    "precision": lambda y, p: skm.precision_score(y, p, zero_division=0),
    "recall": lambda y, p: skm.recall_score(y, p, zero_division=0),
    "f1": lambda y, p: skm.f1_score(y, p, zero_division=0),
}


def make_binary(n: int, seed: int, *, rounding: int | None = None):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = rng.normal(size=n) + 1.2 * y
    if rounding is not None:
        score = np.round(score, rounding)  # ties
    pred = (score > 0.6).astype(int)
    return y, pred, score


@pytest.mark.parametrize(("n", "seed", "rounding"), [(50, 0, None), (999, 1, 1), (5000, 2, 0)])
def test_values_equal_sklearn(n, seed, rounding):
    y, pred, score = make_binary(n, seed, rounding=rounding)
    result = classification_metrics(y, pred, score, n_bootstrap=20)
    assert set(result) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    for name, reference in SKLEARN.items():
        assert result[name].value == pytest.approx(reference(y, pred), abs=1e-12), name
    assert result["roc_auc"].value == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)
    assert all(m.n == n and m.kind == "realized" and m.segment is None for m in result.values())


def test_zero_division_gives_zero_like_sklearn():
    y = np.array([0, 0, 1, 1])
    pred = np.zeros(4, dtype=int)
    result = classification_metrics(y, pred, n_bootstrap=0)
    assert result["precision"].value == 0.0 == skm.precision_score(y, pred, zero_division=0)
    assert result["f1"].value == 0.0
    assert "roc_auc" not in result


def test_string_labels_with_pos_label():
    y = np.array(["spam", "ham", "spam", "ham", "spam"])
    pred = np.array(["spam", "spam", "ham", "ham", "spam"])
    result = classification_metrics(y, pred, n_bootstrap=0, pos_label="spam")
    assert result["precision"].value == skm.precision_score(y, pred, pos_label="spam")
    assert result["recall"].value == skm.recall_score(y, pred, pos_label="spam")


def test_roc_auc_is_omitted_with_a_single_class():
    y = np.ones(20, dtype=int)
    result = classification_metrics(y, y, np.linspace(0, 1, 20), n_bootstrap=10)
    assert "roc_auc" not in result
    assert result["accuracy"].value == 1.0


def test_bootstrap_intervals_equal_a_loop_over_the_same_resamples():
    y, pred, score = make_binary(200, 3, rounding=1)
    result = classification_metrics(y, pred, score, n_bootstrap=50, seed=11, confidence=0.9)
    index = np.random.default_rng(11).integers(0, 200, size=(50, 200))
    references = {**SKLEARN, "roc_auc": None}
    for name in references:
        values = []
        for row in index:
            if name == "roc_auc":
                if len(set(y[row])) < 2:
                    continue
                values.append(skm.roc_auc_score(y[row], score[row]))
            else:
                values.append(SKLEARN[name](y[row], pred[row]))
        low, high = np.quantile(values, [0.05, 0.95])
        assert result[name].ci_low == pytest.approx(low, abs=1e-12), name
        assert result[name].ci_high == pytest.approx(high, abs=1e-12), name
        assert result[name].confidence == 0.9


def test_bootstrap_is_seeded_and_chunking_does_not_change_the_count():
    y, pred, score = make_binary(300, 4)
    first = classification_metrics(y, pred, score, n_bootstrap=30, seed=5)
    again = classification_metrics(y, pred, score, n_bootstrap=30, seed=5)
    other = classification_metrics(y, pred, score, n_bootstrap=30, seed=6)
    assert first == again
    assert first["accuracy"].ci_low != other["accuracy"].ci_low or (
        first["roc_auc"].ci_low != other["roc_auc"].ci_low
    )


def test_no_interval_without_resamples():
    y, pred, score = make_binary(100, 5)
    result = classification_metrics(y, pred, score, n_bootstrap=0)
    assert all(m.ci_low is None and m.ci_high is None for m in result.values())


def test_accuracy_interval_covers_the_true_value_at_about_the_nominal_rate():
    """Population accuracy 0.8; over 200 seeded samples the 90% CI covers it ~90% of the time."""
    true_accuracy, n, repetitions = 0.8, 300, 200
    covered = 0
    for seed in range(repetitions):
        rng = np.random.default_rng(1000 + seed)
        y = rng.integers(0, 2, n)
        correct = rng.random(n) < true_accuracy
        pred = np.where(correct, y, 1 - y)
        result = classification_metrics(y, pred, n_bootstrap=300, confidence=0.9, seed=seed)
        accuracy = result["accuracy"]
        assert accuracy.ci_low is not None and accuracy.ci_high is not None
        covered += accuracy.ci_low <= true_accuracy <= accuracy.ci_high
    assert 0.83 <= covered / repetitions <= 0.96


def test_large_inputs_are_processed_in_bounded_chunks():
    y, pred, score = make_binary(50_000, 6)
    result = classification_metrics(y, pred, score, n_bootstrap=100)
    assert result["roc_auc"].ci_low < result["roc_auc"].value < result["roc_auc"].ci_high


def test_segment_metrics_per_column_value():
    y, pred, score = make_binary(400, 7)
    rng = np.random.default_rng(7)
    vip = rng.choice([True, False], size=400).astype(object)
    vip[:10] = None
    segments = pd.DataFrame(
        {
            "region": rng.choice(["north", "south", "tiny"], size=400, p=[0.5, 0.45, 0.05]),
            "vip": vip,
        },
        index=np.arange(400) + 1000,  # index is ignored, rows are aligned by position
    )
    result = segment_metrics(y, pred, score, segments, min_rows=30, n_bootstrap=20)
    assert all(isinstance(m, MetricValue) for m in result)
    labels = sorted({m.segment for m in result if m.segment is not None})
    assert labels == ["region=north", "region=south", "vip=False", "vip=True"]
    mask = (segments["region"] == "north").to_numpy()
    north = {m.name: m for m in result if m.segment == "region=north"}
    assert north["accuracy"].value == pytest.approx(skm.accuracy_score(y[mask], pred[mask]))
    assert north["roc_auc"].value == pytest.approx(skm.roc_auc_score(y[mask], score[mask]))
    assert north["accuracy"].n == int(mask.sum())
    vip_rows = sum(m.n for m in result if m.name == "accuracy" and m.segment.startswith("vip"))
    assert vip_rows == 390  # missing segment values are skipped


def probabilities(n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * y - 0.7)))
    p[:5] = [0.0, 1.0, 0.5, 0.5, 1e-20]  # exact 0 and 1 are clipped like sklearn
    return y, (p > 0.5).astype(int), np.round(p, 3)


def test_extra_classification_metrics_equal_sklearn():
    y, pred, p = probabilities(700, 20)
    result = classification_metrics(y, pred, p, metrics=CLASSIFICATION_METRICS, n_bootstrap=10)
    assert list(result) == list(CLASSIFICATION_METRICS)
    expected = {
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "average_precision": skm.average_precision_score(y, p),
        "log_loss": skm.log_loss(y, p, labels=[0, 1]),
        "brier": skm.brier_score_loss(y, p),
    }
    for name, value in expected.items():
        assert result[name].value == pytest.approx(value, abs=1e-12), name


def test_expected_calibration_error_hand_computed():
    # bins of width 0.5: [0, 0.5) holds 0.1, 0.2 (labels 0, 1); [0.5, 1] holds 0.8, 1.0 (1, 1)
    # ECE = (|1 - 0.3| + |2 - 1.8|) / 4 = 0.9 / 4
    result = classification_metrics(
        [0, 1, 1, 1], [0, 0, 1, 1], [0.1, 0.2, 0.8, 1.0], metrics=["ece"], ece_bins=2,
        n_bootstrap=0,
    )  # fmt: skip
    assert result["ece"].value == pytest.approx(0.9 / 4, abs=1e-15)


def test_balanced_accuracy_with_a_single_class_matches_sklearn():
    y, pred = np.ones(10, dtype=int), np.array([1] * 7 + [0] * 3)
    result = classification_metrics(y, pred, metrics=["balanced_accuracy"], n_bootstrap=0)
    with pytest.warns(UserWarning):
        expected = skm.balanced_accuracy_score(y, pred)
    assert result["balanced_accuracy"].value == pytest.approx(expected)


def test_extra_metric_intervals_equal_a_loop_over_the_same_resamples():
    y, pred, p = probabilities(150, 21)
    wanted = ["average_precision", "log_loss", "brier", "balanced_accuracy"]
    result = classification_metrics(y, pred, p, metrics=wanted, n_bootstrap=40, seed=4)
    index = np.random.default_rng(4).integers(0, 150, size=(40, 150))
    loops = {
        "average_precision": [skm.average_precision_score(y[r], p[r]) for r in index],
        "log_loss": [skm.log_loss(y[r], p[r], labels=[0, 1]) for r in index],
        "brier": [skm.brier_score_loss(y[r], p[r]) for r in index],
        "balanced_accuracy": [skm.balanced_accuracy_score(y[r], pred[r]) for r in index],
    }
    for name, values in loops.items():
        low, high = np.quantile(values, [0.025, 0.975])
        assert (result[name].ci_low, result[name].ci_high) == pytest.approx((low, high), abs=1e-12)


def test_probability_metrics_need_probabilities():
    with pytest.raises(
        StatisticsError, match=r"must hold probabilities in \[0, 1\] for \['brier'\]"
    ):
        classification_metrics([0, 1], [0, 1], [-0.5, 2.0], metrics=["brier"])


def test_unknown_metric_is_an_error():
    with pytest.raises(StatisticsError, match=r"The 'metrics' parameter .* Got 'mcc' instead"):
        classification_metrics([0, 1], [0, 1], metrics=["accuracy", "mcc"])


@pytest.mark.parametrize("seed", range(3))
def test_regression_metrics_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(10, 3, 500)
    pred = y + rng.normal(0, 1, 500)
    result = regression_metrics(y, pred, n_bootstrap=20)
    assert result["mae"].value == pytest.approx(skm.mean_absolute_error(y, pred), rel=1e-12)
    assert result["rmse"].value == pytest.approx(skm.root_mean_squared_error(y, pred), rel=1e-12)
    assert result["mape"].value == pytest.approx(
        skm.mean_absolute_percentage_error(y, pred), rel=1e-12
    )
    assert result["r2"].value == pytest.approx(skm.r2_score(y, pred), rel=1e-12)
    assert all(m.ci_low <= m.value <= m.ci_high for m in result.values())


def test_mape_is_left_out_when_a_target_is_zero():
    """sklearn divides by machine epsilon there and reports ~1e15: not a usable metric."""
    rng = np.random.default_rng(4)
    y = rng.normal(10, 3, 200)
    y[:3] = 0.0
    pred = y + rng.normal(0, 1, 200)
    result = regression_metrics(y, pred, n_bootstrap=20)
    assert set(result) == {"mae", "rmse", "r2"}
    assert skm.mean_absolute_percentage_error(y, pred) > 1e10
    assert result["mae"].value == pytest.approx(skm.mean_absolute_error(y, pred), rel=1e-12)


def test_regression_intervals_equal_a_loop_and_constant_targets_are_finite():
    rng = np.random.default_rng(8)
    y, pred = rng.normal(size=120), rng.normal(size=120)
    result = regression_metrics(y, pred, n_bootstrap=30, seed=2)
    index = np.random.default_rng(2).integers(0, 120, size=(30, 120))
    r2 = [skm.r2_score(y[r], pred[r]) for r in index]
    assert (result["r2"].ci_low, result["r2"].ci_high) == pytest.approx(
        tuple(np.quantile(r2, [0.025, 0.975])), abs=1e-12
    )
    constant = regression_metrics(np.ones(5), np.ones(5), n_bootstrap=0)
    assert constant["r2"].value == 1.0 == skm.r2_score(np.ones(5), np.ones(5))
    assert regression_metrics(np.ones(5), np.zeros(5), n_bootstrap=0)["r2"].value == 0.0
    assert "r2" not in regression_metrics([1.0], [2.0], n_bootstrap=0)


def test_fairness_gaps_hand_computed():
    # group a: 4 rows, predicted positive 3/4, TPR 2/2; group b: 4 rows, 1/4, TPR 1/3
    y = np.array([1, 1, 0, 0, 1, 1, 1, 0])
    pred = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    segments = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4, "one": ["x"] * 8})
    gaps = fairness_gaps(y, pred, segments, min_rows=2)
    assert [(g.name, g.segment) for g in gaps] == [
        ("demographic_parity_difference", "g"),
        ("equal_opportunity_difference", "g"),
    ]
    assert gaps[0].value == pytest.approx(0.75 - 0.25)
    assert gaps[1].value == pytest.approx(1.0 - 1 / 3)
    assert gaps[0].n == 8


# --------------------------------------------------------------------------- errors


def test_multiclass_labels_are_rejected():
    with pytest.raises(StatisticsError, match="binary labels only; got 3 classes"):
        classification_metrics([0, 1, 2], [0, 1, 1])


def test_pos_label_must_be_a_label():
    with pytest.raises(
        StatisticsError,
        match=re.escape(
            "The 'pos_label' parameter of classification_metrics must be one of [0, 1]. "
            "Got 'yes' instead."
        ),
    ):
        classification_metrics([0, 1], [1, 1], pos_label="yes")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_bootstrap": -1}, "The 'n_bootstrap' parameter of classification_metrics must be an int >= 0. Got -1 instead."),
        ({"n_bootstrap": 2.5}, "The 'n_bootstrap' parameter of classification_metrics must be an int >= 0. Got 2.5 instead."),
        ({"confidence": 1.0}, "The 'confidence' parameter of classification_metrics must be a float in (0, 1). Got 1.0 instead."),
        ({"seed": -3}, "The 'seed' parameter of classification_metrics must be an int >= 0. Got -3 instead."),
    ],
)  # fmt: skip
def test_parameter_errors(kwargs, message):
    with pytest.raises(StatisticsError, match=re.escape(message)):
        classification_metrics([0, 1, 1], [0, 1, 0], **kwargs)


def test_input_errors():
    with pytest.raises(StatisticsError, match="different lengths"):
        classification_metrics([0, 1, 1], [0, 1])
    with pytest.raises(
        StatisticsError, match="'y_true' argument of classification_metrics is empty"
    ):
        classification_metrics([], [])
    with pytest.raises(StatisticsError, match=r"'y_pred' argument .* holds 1 missing values"):
        classification_metrics([0.0, 1.0], [0.0, np.nan])
    with pytest.raises(StatisticsError, match=r"'y_score' argument .* holds non-finite values"):
        classification_metrics([0, 1], [0, 1], [0.1, np.inf])
    with pytest.raises(StatisticsError, match="must be 1-D"):
        classification_metrics([[0, 1]], [[0, 1]])


def test_segment_errors():
    with pytest.raises(StatisticsError, match="'segments' argument of segment_metrics has 2 rows"):
        segment_metrics([0, 1, 1], [0, 1, 1], None, pd.DataFrame({"s": ["a", "b"]}))
    with pytest.raises(StatisticsError, match="The 'min_rows' parameter of segment_metrics"):
        segment_metrics([0, 1], [0, 1], None, pd.DataFrame({"s": ["a", "b"]}), min_rows=0)
    with pytest.raises(StatisticsError, match=r"The 'segments' parameter .* a pandas DataFrame"):
        segment_metrics([0, 1], [0, 1], None, {"s": ["a", "b"]})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- multiclass


def make_multiclass(n: int, seed: int, classes=("stay", "downgrade", "churn")):
    """Labels drawn from per-row probabilities; predictions the arg-max (text labels)."""
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet([1.0, 1.0, 1.0], n)
    labels = np.asarray(classes, dtype=object)
    y = labels[(rng.random(n)[:, None] > np.cumsum(proba, axis=1)).sum(axis=1).clip(0, 2)]
    return y, labels[proba.argmax(axis=1)], proba, list(classes)


@pytest.mark.parametrize("seed", range(3))
def test_multiclass_metrics_equal_sklearn(seed):
    y, pred, proba, classes = make_multiclass(700, seed)
    result = multiclass_metrics(y, pred, proba, classes=classes, n_bootstrap=50, seed=seed)
    order = np.argsort(classes)  # sklearn's log_loss reads the columns in sorted label order
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "f1_macro": skm.f1_score(y, pred, average="macro", zero_division=0),
        "f1_weighted": skm.f1_score(y, pred, average="weighted", zero_division=0),
        "log_loss": skm.log_loss(y, proba[:, order], labels=sorted(classes)),
    }
    recalls = skm.recall_score(y, pred, labels=classes, average=None, zero_division=0)
    expected.update({f"recall[{c}]": r for c, r in zip(classes, recalls, strict=True)})
    assert set(result) == set(expected)
    for name, value in expected.items():
        assert result[name].value == pytest.approx(value, rel=1e-9, abs=1e-12), name
        assert result[name].ci_low <= result[name].value <= result[name].ci_high, name


def test_multiclass_intervals_equal_a_loop_over_the_same_resamples():
    y, pred, proba, classes = make_multiclass(150, 5)
    result = multiclass_metrics(y, pred, proba, classes=classes, n_bootstrap=40, seed=3)
    index = np.random.default_rng(3).integers(0, 150, size=(40, 150))
    f1 = [skm.f1_score(y[r], pred[r], average="macro", zero_division=0) for r in index]
    labels = sorted(set(y) | set(pred))
    weighted = [
        skm.f1_score(y[r], pred[r], average="weighted", labels=labels, zero_division=0)
        for r in index
    ]
    expected_f1 = tuple(np.quantile(f1, [0.025, 0.975]))
    assert (result["f1_macro"].ci_low, result["f1_macro"].ci_high) == pytest.approx(expected_f1)
    expected_weighted = tuple(np.quantile(weighted, [0.025, 0.975]))
    got = (result["f1_weighted"].ci_low, result["f1_weighted"].ci_high)
    assert got == pytest.approx(expected_weighted)


def test_multiclass_without_probabilities_has_no_log_loss_and_a_missing_class_no_recall():
    y = np.array(["a", "a", "b", "b", "a"], dtype=object)
    pred = np.array(["a", "c", "b", "a", "a"], dtype=object)
    result = multiclass_metrics(y, pred, n_bootstrap=0)
    assert "log_loss" not in result and "recall[c]" not in result  # no true 'c' row
    assert result["f1_macro"].value == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert result["recall[a]"].ci_low is None


def test_multiclass_probability_errors_name_the_problem():
    y, pred, proba, classes = make_multiclass(20, 0)
    with pytest.raises(StatisticsError, match=r"'classes' parameter .* Got None"):
        multiclass_metrics(y, pred, proba)
    with pytest.raises(StatisticsError, match=r"must have shape \(20, 3\).*Got \(20, 2\)"):
        multiclass_metrics(y, pred, proba[:, :2], classes=classes)
    doubled = proba.copy()
    doubled[0] *= 0.5
    with pytest.raises(
        StatisticsError, match=r"rows of 'y_proba' .* must sum to 1; row 0 sums to 0.5"
    ):
        multiclass_metrics(y, pred, doubled, classes=classes)
    with pytest.raises(StatisticsError, match=r"labels \['churn'\] that are not among"):
        multiclass_metrics(y, pred, proba, classes=["stay", "downgrade", "gone"])


def test_multiclass_ab_difference_equals_sklearn_and_log_loss_is_an_improvement():
    y, champion, proba_a, classes = make_multiclass(600, 1)
    rng = np.random.default_rng(2)
    better = np.where(rng.random(600) < 0.4, y, champion)  # the challenger fixes 40 % of rows
    decision = compare_multiclass_models(
        y, champion_pred=champion, challenger_pred=better, metric="f1_macro", n_bootstrap=300
    )
    expected = skm.f1_score(y, better, average="macro") - skm.f1_score(y, champion, average="macro")
    assert decision.difference == pytest.approx(expected, rel=1e-9)
    assert decision.should_promote and decision.ci_low > 0
    accuracy = compare_multiclass_models(
        y, champion_pred=champion, challenger_pred=better, metric="accuracy", n_bootstrap=300
    )
    assert accuracy.test == "mcnemar" and accuracy.p_value < 1e-6
    sharper = 0.5 * proba_a + 0.5 * np.eye(3)[[classes.index(v) for v in y]]
    order = np.argsort(classes)
    loss = compare_multiclass_models(
        y,
        champion_pred=champion,
        challenger_pred=champion,
        champion_proba=proba_a,
        challenger_proba=sharper,
        classes=classes,
        metric="log_loss",
        n_bootstrap=300,
    )
    expected_gain = skm.log_loss(y, proba_a[:, order], labels=sorted(classes)) - skm.log_loss(
        y, sharper[:, order], labels=sorted(classes)
    )
    assert loss.difference == pytest.approx(expected_gain, rel=1e-9)
    assert loss.should_promote  # lower log loss: a positive improvement
    with pytest.raises(StatisticsError, match=r"metric='log_loss' needs 'champion_proba'"):
        compare_multiclass_models(
            y, champion_pred=champion, challenger_pred=better, metric="log_loss"
        )
    with pytest.raises(StatisticsError, match=r"'metric' parameter .* Got 'roc_auc' instead"):
        compare_multiclass_models(
            y, champion_pred=champion, challenger_pred=better, metric="roc_auc"
        )
