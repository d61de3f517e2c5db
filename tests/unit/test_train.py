"""Candidate training: default pipeline, cloning the champion, scoring, trainers, model card."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from modelwatch.errors import RetrainError, SchemaError, SpecError, StatisticsError
from modelwatch.simulate import generate_reference, generate_window
from modelwatch.spec import MonitorSpec, load_spec, parse_spec
from modelwatch.train import (
    build_pipeline,
    drop_windows,
    feature_frame,
    fit_candidate,
    load_trainer,
    model_card,
    prediction_latency_ms,
    score_frame,
    set_seed,
    training_summary,
)

SPEC_PATH = Path(__file__).resolve().parents[2] / "deployments" / "specs" / "credit.yaml"
START = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture(scope="module")
def spec() -> MonitorSpec:
    return load_spec(SPEC_PATH)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return generate_reference(3000, seed=0)


def _spec_variant(**changes: Any) -> MonitorSpec:
    data = yaml.safe_load(SPEC_PATH.read_text())
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return parse_spec(data, source="test")


def test_default_pipeline_reaches_auc_above_0_7_on_a_pre_drift_window(
    spec: MonitorSpec, reference: pd.DataFrame
) -> None:
    model = fit_candidate(reference, spec, seed=0)
    window = generate_window(0, start=START, rows=2000, seed=1)

    predictions, scores = score_frame(model, window, spec)

    assert scores is not None and scores.shape == (len(window),)
    assert set(np.unique(predictions)) <= {0, 1}
    assert roc_auc_score(window["defaulted"], scores) > 0.7
    assert np.array_equal(predictions, (scores >= 0.5).astype(int))


def test_build_pipeline_has_the_spec_columns_and_a_seeded_estimator(spec: MonitorSpec) -> None:
    pipeline = build_pipeline(spec, seed=7)

    assert isinstance(pipeline, Pipeline)
    model = pipeline.named_steps["model"]
    assert isinstance(model, LogisticRegression)
    assert model.max_iter == 1000 and model.random_state == 7
    columns = {name: cols for name, _, cols in pipeline.named_steps["preprocess"].transformers}
    assert columns == {
        "numeric": list(spec.columns.numeric),
        "categorical": list(spec.columns.categorical),
    }


def test_fit_candidate_clones_the_base_params_and_leaves_the_base_untouched(
    spec: MonitorSpec, reference: pd.DataFrame
) -> None:
    base = build_pipeline(spec, seed=0).set_params(model__C=0.05, model__class_weight="balanced")
    base.fit(feature_frame(reference, spec), reference["defaulted"])
    base_coef = base.named_steps["model"].coef_.copy()
    recent = generate_window(8, start=START, rows=3000, seed=2)  # drifted regime

    candidate = fit_candidate(recent, spec, base=base, seed=3)

    assert candidate is not base
    params = candidate.get_params()
    assert params["model__C"] == 0.05
    assert params["model__class_weight"] == "balanced"
    assert params["model__random_state"] == 3
    np.testing.assert_array_equal(base.named_steps["model"].coef_, base_coef)
    assert not np.allclose(candidate.named_steps["model"].coef_, base_coef)


def test_fit_candidate_is_reproducible_for_a_seed(
    spec: MonitorSpec, reference: pd.DataFrame
) -> None:
    first = fit_candidate(reference, spec, seed=5)
    second = fit_candidate(reference.sample(frac=1.0, random_state=0).sort_index(), spec, seed=5)

    np.testing.assert_array_equal(
        first.named_steps["model"].coef_, second.named_steps["model"].coef_
    )


def test_set_seed_sets_nested_random_states(spec: MonitorSpec) -> None:
    pipeline = set_seed(build_pipeline(spec, seed=0), 11)

    assert pipeline.get_params()["model__random_state"] == 11


def test_feature_frame_keeps_the_spec_order_and_drops_other_columns(
    spec: MonitorSpec,
) -> None:
    window = generate_window(0, start=START, rows=20)
    shuffled = window[list(reversed(window.columns))]

    features = feature_frame(shuffled, spec)

    assert list(features.columns) == list(spec.columns.features)
    assert "email" not in features.columns


def test_feature_frame_names_the_missing_columns(
    spec: MonitorSpec, reference: pd.DataFrame
) -> None:
    broken = reference.drop(columns=["income", "channel"])

    with pytest.raises(SchemaError, match=r"no feature column\(s\) \['income', 'channel'\]"):
        feature_frame(broken, spec, source="labels/2026-11-23.parquet")
    with pytest.raises(SchemaError, match=r"labels/2026-11-23\.parquet"):
        feature_frame(broken, spec, source="labels/2026-11-23.parquet")


def test_fit_candidate_rejects_missing_targets_and_single_class(
    spec: MonitorSpec, reference: pd.DataFrame
) -> None:
    with pytest.raises(SchemaError, match=r"no target column\(s\) \['defaulted'\]"):
        fit_candidate(reference.drop(columns=["defaulted"]), spec)
    unlabeled = reference.astype({"defaulted": "float64"})
    unlabeled.loc[:2, "defaulted"] = np.nan
    with pytest.raises(SchemaError, match=r"column 'defaulted' .* 3 missing target value"):
        fit_candidate(unlabeled, spec)
    with pytest.raises(RetrainError, match=r"single class 0"):
        fit_candidate(reference.assign(defaulted=0), spec)
    with pytest.raises(RetrainError, match=r"is empty"):
        fit_candidate(reference.iloc[:0], spec)


def test_categorical_missing_and_unseen_values_are_handled(
    spec: MonitorSpec, reference: pd.DataFrame
) -> None:
    model = fit_candidate(reference, spec)
    window = generate_window(0, start=START, rows=50)
    window.loc[:9, "channel"] = None
    window.loc[10:19, "region"] = "atlantis"
    window.loc[20:29, "income"] = np.nan

    _, scores = score_frame(model, window, spec)

    assert scores is not None and np.isfinite(scores).all()


def test_regression_uses_ridge_and_returns_no_scores(reference: pd.DataFrame) -> None:
    spec = _spec_variant(
        task="regression",
        **{
            "columns.target": "income",
            "columns.numeric": ["age", "debt_ratio", "credit_lines", "utilization"],
            "columns.score": None,
            "degradation": {"metric": "mae", "max_increase": 5000.0},
            "ab.metric": "mae",
        },
    )
    model = fit_candidate(reference, spec, seed=1)

    predictions, scores = score_frame(model, reference, spec)

    assert isinstance(model.named_steps["model"], Ridge)
    assert model.named_steps["model"].random_state == 1
    assert scores is None
    assert predictions.dtype.kind == "f" and predictions.shape == (len(reference),)


def test_multiclass_returns_the_probability_matrix(reference: pd.DataFrame) -> None:
    spec = _spec_variant(
        task="multiclass",
        **{
            "columns.target": "product",
            "columns.categorical": ["region", "channel"],
            "columns.score": None,
            "degradation": {"metric": "f1_macro", "max_drop": 0.05},
            "ab.metric": "f1_macro",
        },
    )

    _, scores = score_frame(fit_candidate(reference, spec), reference, spec)

    assert scores is not None and scores.shape == (len(reference), 3)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0)


def test_multiclass_scores_follow_the_order_of_class_scores(reference: pd.DataFrame) -> None:
    order = {"mortgage": "p_mortgage", "card": "p_card", "loan": "p_loan"}
    spec = _spec_variant(
        task="multiclass",
        **{
            "columns.target": "product",
            "columns.categorical": ["region", "channel"],
            "columns.score": None,
            "columns.class_scores": order,
            "degradation": {"metric": "log_loss", "max_increase": 0.1},
            "ab.metric": "log_loss",
        },
    )
    model = fit_candidate(reference, spec)

    _, scores = score_frame(model, reference, spec)

    proba = model.predict_proba(feature_frame(reference, spec))
    classes = list(model.classes_)
    for i, label in enumerate(order):
        np.testing.assert_array_equal(scores[:, i], proba[:, classes.index(label)])


def test_class_scores_that_the_model_does_not_predict_are_named(reference: pd.DataFrame) -> None:
    spec = _spec_variant(
        task="multiclass",
        **{
            "columns.target": "product",
            "columns.categorical": ["region", "channel"],
            "columns.score": None,
            "columns.class_scores": {"card": "a", "loan": "b", "lease": "c"},
            "degradation": {"metric": "f1_macro"},
            "ab.metric": "f1_macro",
        },
    )
    model = fit_candidate(reference, spec)
    with pytest.raises(
        SchemaError,
        match=r"declares the classes \['card', 'loan', 'lease'\].*not predicted: \['lease'\]",
    ):
        score_frame(model, reference, spec)


def _toy_trainer(frame: pd.DataFrame, spec: MonitorSpec, *, seed: int) -> Any:
    return fit_candidate(frame, spec, seed=seed + 100)


def _bad_trainer(frame: pd.DataFrame, spec: MonitorSpec, *, seed: int) -> Any:
    return "not a model"


def test_fit_candidate_with_a_trainer(spec: MonitorSpec, reference: pd.DataFrame) -> None:
    model = fit_candidate(reference, spec, trainer=_toy_trainer, seed=1)

    assert model.get_params()["model__random_state"] == 101
    with pytest.raises(RetrainError, match=r"_bad_trainer.* returned str, not a fitted"):
        fit_candidate(reference, spec, trainer=_bad_trainer)


def test_load_trainer_imports_module_function() -> None:
    assert load_trainer("modelwatch.train:build_pipeline") is build_pipeline


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("modelwatch.train.build_pipeline", r"must have the form 'package.module:function'"),
        ("modelwatch.nope:train", r"cannot import module 'modelwatch.nope'"),
        ("modelwatch.train:nope", r"module 'modelwatch.train' has no attribute 'nope'"),
        ("modelwatch.train:__all__", r"is a list, not a callable"),
    ],
)
def test_load_trainer_errors_name_the_path(path: str, message: str) -> None:
    with pytest.raises(RetrainError, match=message):
        load_trainer(path)


def test_model_card_has_the_sections_and_no_pii_values(
    spec: MonitorSpec, reference: pd.DataFrame
) -> None:
    window = generate_window(0, start=START, rows=100)
    summary = training_summary(window, spec)

    card = model_card(
        spec,
        {"roc_auc": 0.81234, "accuracy": 0.7},
        summary,
        version="3",
        segment_metrics={"region=north": {"roc_auc": 0.8}, "region=south": {"roc_auc": 0.75}},
        limitations=("Demo data only.",),
    )

    assert card.startswith("# Model card — credit v3\n")
    for section in ("## Intended use", "## Training data", "## Metrics", "## Known limitations"):
        assert section in card
    assert "| roc_auc | 0.8123 |" in card
    assert "| region=south | 0.7500 |" in card
    assert "Demo data only." in card
    assert "PII columns (email)" in card
    assert "@example.com" not in card
    assert summary["rows"] == 100
    assert set(summary["class_balance"]) <= {"0", "1"}


def test_prediction_latency_is_positive_and_scales_per_thousand_rows(
    spec: MonitorSpec, reference: pd.DataFrame
) -> None:
    model = fit_candidate(reference, spec, seed=0)
    small = prediction_latency_ms(model, reference.head(200), spec, repeats=3, min_rows=2000)
    assert 0 < small < 1000  # ms per 1k rows of a logistic regression pipeline
    with pytest.raises(
        StatisticsError,
        match=r"The 'repeats' parameter of prediction_latency_ms must be an int >= 1\. Got 0",
    ):
        prediction_latency_ms(model, reference, spec, repeats=0)
    with pytest.raises(RetrainError, match=r"either 'base'.* or 'trainer', not both"):
        fit_candidate(reference, spec, base=model, trainer=lambda *a, **k: model)
    with pytest.raises(RetrainError, match="empty frame"):
        prediction_latency_ms(model, reference.head(0), spec)


def test_drop_windows_removes_rows_of_the_given_windows_only() -> None:
    ts = pd.date_range(START, periods=6, freq="30min", tz="UTC")
    frame = pd.DataFrame({"timestamp": ts, "x": range(6)})
    naive = (
        START.replace(tzinfo=None) + pd.Timedelta("1h"),
        START.replace(tzinfo=None) + pd.Timedelta("2h"),
    )
    kept = drop_windows(frame, [naive], timestamp="timestamp")  # the store may return naive UTC
    assert kept["x"].tolist() == [0, 1, 4, 5]
    assert drop_windows(frame, [], timestamp="timestamp") is frame


def test_the_spec_trainer_field_names_a_loadable_trainer(reference: pd.DataFrame) -> None:
    spec = _spec_variant(**{"retraining.trainer": "modelwatch.train:build_pipeline"})
    assert spec.retraining.trainer == "modelwatch.train:build_pipeline"
    assert load_trainer(spec.retraining.trainer) is build_pipeline
    with pytest.raises(SpecError, match=r"retraining\.trainer"):
        _spec_variant(**{"retraining.trainer": "no colon here"})


def test_paired_latencies_time_both_models_interleaved(spec: MonitorSpec) -> None:
    import time as _time

    from modelwatch.train import paired_prediction_latency_ms

    frame = generate_reference(200, seed=1)
    calls: list[str] = []

    class Slow:
        def __init__(self, name: str, seconds: float) -> None:
            self.name, self.seconds = name, seconds

        def predict_proba(self, x: Any) -> Any:
            calls.append(self.name)
            _time.sleep(self.seconds)
            return None

    a, b = paired_prediction_latency_ms(
        Slow("a", 0.001), Slow("b", 0.004), frame, spec, repeats=4, min_rows=200
    )
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b", "b", "a"]  # warm-up, then interleaved
    assert 0 < a < b
