"""A/B comparison and candidate evaluation tasks: measure here, decide in modelwatch.stats.abtest."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from prefect import task

from modelwatch.spec import MonitorSpec
from modelwatch.stats import abtest
from modelwatch.stats.abtest import ABDecision, GuardrailResult, OnlineABDecision
from modelwatch.stats.performance import (
    MetricValue,
    classification_metrics,
    multiclass_metrics,
    regression_metrics,
    segment_metrics,
)
from modelwatch.summaries import ab_markdown
from modelwatch.train import prediction_latency_ms
from tasks import TASK_DEFAULTS
from tasks.train import score_rows

__all__ = [
    "ab_compare",
    "decide",
    "evidence_markdown",
    "guardrails",
    "holdout_metrics",
    "model_metrics",
    "online_compare",
    "prediction_latency",
    "score_rows",
]

Scores = tuple[np.ndarray, np.ndarray | None]


@task(name="holdout-metrics", **TASK_DEFAULTS)
def holdout_metrics(
    spec: MonitorSpec, frame: pd.DataFrame, predictions: np.ndarray, scores: np.ndarray | None
) -> dict[str, float]:
    """Point metrics of a model on labeled rows (``val_<metric>`` for MLflow).

    Per-class recalls (``recall[<class>]``) are left out: not a valid MLflow key.
    """
    return {
        f"val_{name}": m.value
        for name, m in model_metrics(spec, frame[spec.columns.target], predictions, scores).items()
        if "[" not in name
    }


def model_metrics(
    spec: MonitorSpec, y_true: Any, predictions: np.ndarray, scores: np.ndarray | None
) -> dict[str, MetricValue]:
    """Point metrics by task (the library call the monitor's realized metrics make)."""
    y = np.asarray(y_true)
    if spec.task == "regression":
        return regression_metrics(y, predictions, n_bootstrap=0)
    if spec.task == "multiclass":
        classes = list(spec.columns.class_scores or {}) or None
        proba = scores if classes is not None else None
        return multiclass_metrics(
            _text(y), _text(predictions), proba, classes=classes, n_bootstrap=0
        )
    return classification_metrics(y, predictions, scores, n_bootstrap=0)


def _text(values: Any) -> np.ndarray:
    return np.asarray(pd.Series(np.asarray(values)).astype(str).to_numpy(), dtype=object)


@task(name="holdout-segment-metrics", **TASK_DEFAULTS)
def holdout_segment_metrics(
    spec: MonitorSpec, frame: pd.DataFrame, predictions: np.ndarray, scores: np.ndarray | None
) -> dict[str, dict[str, float]]:
    """``{"region=north": {"roc_auc": ...}}`` for the model card (binary only)."""
    segments = list(spec.columns.segments)
    if not segments or spec.task != "binary":
        return {}
    values = segment_metrics(
        frame[spec.columns.target].to_numpy(), predictions, scores, frame[segments], n_bootstrap=0
    )
    table: dict[str, dict[str, float]] = {}
    for m in values:
        table.setdefault(str(m.segment), {})[m.name] = m.value
    return table


@task(name="ab-compare", **TASK_DEFAULTS)
def ab_compare(
    spec: MonitorSpec, holdout: pd.DataFrame, champion: Scores, challenger: Scores
) -> ABDecision:
    """Paired comparison of the two models on the same held-out rows (primary rule only)."""
    policy = spec.ab
    y = holdout[spec.columns.target].to_numpy()
    if spec.task == "regression":
        return abtest.compare_regression_models(
            y,
            champion_pred=champion[0],
            challenger_pred=challenger[0],
            rule=policy.rule,
            margin=policy.margin,
            confidence=policy.confidence,
            n_bootstrap=policy.n_bootstrap,
            seed=policy.seed,
        )
    if spec.task == "multiclass":
        classes = list(spec.columns.class_scores or {}) or None
        return abtest.compare_multiclass_models(
            _text(y),
            champion_pred=_text(champion[0]),
            challenger_pred=_text(challenger[0]),
            champion_proba=champion[1] if classes else None,
            challenger_proba=challenger[1] if classes else None,
            classes=classes,
            metric=policy.metric,
            rule=policy.rule,
            margin=policy.margin,
            confidence=policy.confidence,
            n_bootstrap=policy.n_bootstrap,
            seed=policy.seed,
        )
    return abtest.compare_models(
        y,
        champion_pred=champion[0],
        challenger_pred=challenger[0],
        champion_score=champion[1],
        challenger_score=challenger[1],
        metric=policy.metric,
        rule=policy.rule,
        margin=policy.margin,
        confidence=policy.confidence,
        n_bootstrap=policy.n_bootstrap,
        seed=policy.seed,
    )


@task(name="prediction-latency", **TASK_DEFAULTS)
def prediction_latency(spec: MonitorSpec, model: Any, holdout: pd.DataFrame) -> float:
    """Milliseconds per 1,000 holdout rows of the model's predict_proba (best of 5)."""
    return prediction_latency_ms(model, holdout, spec)


@task(name="guardrails", **TASK_DEFAULTS)
def guardrails(
    spec: MonitorSpec,
    holdout: pd.DataFrame,
    champion: Scores,
    challenger: Scores,
    latency_ms: tuple[float, float] | None,
) -> list[GuardrailResult]:
    """Calibration (ECE), fairness gap per segment column and latency, as the spec asks."""
    policy = spec.ab
    y = holdout[spec.columns.target].to_numpy()
    common: dict[str, Any] = {
        "n_bootstrap": 1000,
        "confidence": policy.confidence,
        "seed": policy.seed,
    }
    out: list[GuardrailResult] = []
    score_a, score_b = champion[1], challenger[1]
    calibration = policy.max_ece_increase
    if calibration is not None and spec.task == "binary" and score_a is not None:
        if score_b is None:
            raise ValueError(f"the challenger of model {spec.name!r} has no predict_proba")
        out.append(
            abtest.calibration_guardrail(y, score_a, score_b, max_increase=calibration, **common)
        )
    fairness = policy.max_fairness_gap_increase
    if fairness is not None and spec.task == "binary" and spec.columns.segments:
        segments = holdout.loc[:, list(spec.columns.segments)].reset_index(drop=True)
        out += abtest.fairness_guardrails(
            y,
            champion[0],
            challenger[0],
            segments,
            metric=policy.fairness_metric,
            max_increase=fairness,
            **common,
        )
    if policy.max_latency_ratio is not None and latency_ms is not None:
        out.append(abtest.latency_guardrail(*latency_ms, max_ratio=policy.max_latency_ratio))
    return out


@task(name="ab-decide", **TASK_DEFAULTS)
def decide(primary: ABDecision, checks: list[GuardrailResult]) -> ABDecision:
    """Primary rule AND every guardrail."""
    return abtest.apply_guardrails(primary, checks)


def evidence_markdown(model: str, champion: str, challenger: str, decision: ABDecision) -> str:
    """The A/B markdown of :func:`modelwatch.summaries.ab_markdown` plus the guardrail table."""
    return (
        ab_markdown(model, champion, challenger, decision)
        + "\n"
        + abtest.guardrail_markdown(decision.guardrails)
    )


def _online_values(spec: MonitorSpec, frame: pd.DataFrame) -> np.ndarray:
    cols = spec.columns
    metric = spec.ab.online_metric
    if metric == "accuracy":
        right = frame[cols.prediction].to_numpy() == frame[cols.target].to_numpy()
        return np.asarray(right, dtype=float)
    if metric == "brier_loss":
        if cols.score is None:
            raise ValueError(
                f"online_metric 'brier_loss' needs columns.score in spec {spec.name!r}"
            )
        truth = frame[cols.target].to_numpy().astype(float)
        return np.asarray((frame[cols.score].to_numpy(dtype=float) - truth) ** 2)
    truth = frame[cols.target].to_numpy(dtype=float)
    return np.asarray(np.abs(frame[cols.prediction].to_numpy(dtype=float) - truth))


@task(name="online-compare", **TASK_DEFAULTS)
def online_compare(spec: MonitorSpec, labeled: pd.DataFrame) -> OnlineABDecision:
    """Per-variant online metric from served traffic (``columns.variant``) and the decision."""
    variant = spec.columns.variant
    assert variant is not None
    policy = spec.ab
    arms = {
        name: _online_values(spec, labeled[labeled[variant].astype(str) == name])
        for name in ("champion", "challenger")
    }
    return abtest.online_ab_decision(
        arms["champion"],
        arms["challenger"],
        metric=policy.online_metric,
        minimum_detectable_effect=policy.minimum_detectable_effect,
        power=policy.power,
        confidence=policy.confidence,
        rule=policy.rule,
        margin=policy.margin,
    )
