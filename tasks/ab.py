"""A/B comparison and candidate evaluation tasks over :mod:`modelwatch.promotion` and
:mod:`modelwatch.evaluation` (measure here, decide in the library)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from prefect import task

from modelwatch import evaluation, promotion
from modelwatch.evaluation import Scores
from modelwatch.spec import MonitorSpec
from modelwatch.stats import abtest
from modelwatch.stats.abtest import ABDecision, GuardrailResult, OnlineABDecision
from modelwatch.train import paired_prediction_latency_ms
from tasks import TASK_DEFAULTS
from tasks.train import score_rows

__all__ = [
    "ab_compare",
    "decide",
    "guardrails",
    "holdout_metrics",
    "holdout_segment_metrics",
    "online_compare",
    "prediction_latencies",
    "score_rows",
]


@task(name="holdout-metrics", **TASK_DEFAULTS)
def holdout_metrics(spec: MonitorSpec, frame: pd.DataFrame, scores: Scores) -> dict[str, float]:
    """``val_<metric>`` of a model on labeled rows (its run's metrics in MLflow)."""
    return evaluation.validation_metrics(spec, frame, scores)


@task(name="holdout-segment-metrics", **TASK_DEFAULTS)
def holdout_segment_metrics(
    spec: MonitorSpec, frame: pd.DataFrame, scores: Scores
) -> dict[str, dict[str, float]]:
    """``{"region=north": {"roc_auc": ...}}`` for the model card (binary only)."""
    return evaluation.segment_table(spec, frame, scores)


@task(name="ab-compare", **TASK_DEFAULTS)
def ab_compare(
    spec: MonitorSpec, holdout: pd.DataFrame, champion: Scores, challenger: Scores
) -> ABDecision:
    """Paired comparison of the two models on the same held-out rows (primary rule only)."""
    return promotion.offline_comparison(spec, holdout, champion, challenger)


@task(name="prediction-latencies", **TASK_DEFAULTS)
def prediction_latencies(
    spec: MonitorSpec, model_a: Any, model_b: Any, holdout: pd.DataFrame
) -> tuple[float, float]:
    """Both models' milliseconds per 1,000 holdout rows, timed interleaved (best of 7 each)."""
    return paired_prediction_latency_ms(model_a, model_b, holdout, spec)


@task(name="guardrails", **TASK_DEFAULTS)
def guardrails(
    spec: MonitorSpec,
    holdout: pd.DataFrame,
    champion: Scores,
    challenger: Scores,
    latency_ms: tuple[float, float] | None,
) -> list[GuardrailResult]:
    """Calibration (ECE), fairness gap per segment column and latency, as the spec asks."""
    return promotion.guardrails(spec, holdout, champion, challenger, latency_ms=latency_ms)


@task(name="ab-decide", **TASK_DEFAULTS)
def decide(primary: ABDecision, checks: list[GuardrailResult]) -> ABDecision:
    """Primary rule AND every guardrail."""
    return abtest.apply_guardrails(primary, checks)


@task(name="online-compare", **TASK_DEFAULTS)
def online_compare(spec: MonitorSpec, labeled: pd.DataFrame) -> OnlineABDecision:
    """Per-variant online metric from served traffic (``columns.variant``) and the decision."""
    return promotion.online_comparison(spec, labeled)
