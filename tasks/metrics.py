"""Statistics tasks: realized metrics, drift, the window judgement."""

from __future__ import annotations

import pandas as pd
from prefect import task

from modelwatch.spec import MonitorSpec
from modelwatch.stats import degradation
from modelwatch.stats.drift import DriftReport, detect_drift
from modelwatch.stats.performance import MetricValue, classification_metrics, segment_metrics
from tasks import TASK_DEFAULTS


@task(name="realized-metrics", **TASK_DEFAULTS)
def realized_metrics(spec: MonitorSpec, labeled: pd.DataFrame) -> list[MetricValue]:
    """Metrics on the window's labeled rows, overall and per segment (empty without labels)."""
    cols = spec.columns
    if labeled.empty:
        return []
    y_true, y_pred = labeled[cols.target].to_numpy(), labeled[cols.prediction].to_numpy()
    y_score = labeled[cols.score].to_numpy() if cols.score else None
    overall = classification_metrics(y_true, y_pred, y_score, n_bootstrap=200, seed=0)
    segments = list(cols.segments)
    per_segment = segment_metrics(y_true, y_pred, y_score, labeled[segments]) if segments else []
    return [*overall.values(), *per_segment]


@task(name="feature-drift", **TASK_DEFAULTS)
def feature_drift(spec: MonitorSpec, reference: pd.DataFrame, current: pd.DataFrame) -> DriftReport:
    policy = spec.drift
    return detect_drift(
        reference,
        current,
        numeric=spec.columns.numeric,
        categorical=spec.columns.categorical,
        method=policy.method,
        methods=dict(policy.methods),
        alpha=policy.alpha,
        correction=policy.correction,
        psi_threshold=policy.psi_threshold,
        dataset_drift_share=policy.dataset_drift_share,
    )


@task(name="judge-window", **TASK_DEFAULTS)
def judge_window(
    spec: MonitorSpec, metrics: list[MetricValue], drift: DriftReport, baseline: float | None
) -> degradation.WindowJudgement:
    policy = spec.degradation
    value = next((m.value for m in metrics if m.name == policy.metric and m.segment is None), None)
    threshold = degradation.metric_threshold(
        baseline=baseline, max_drop=policy.max_drop, min_value=policy.min_value
    )
    return degradation.judge_window(
        metric=policy.metric,
        value=value,
        threshold=threshold,
        dataset_drift=drift.dataset_drift,
        share_drifted=drift.share_drifted,
        drift_counts=policy.drift_counts,
    )


@task(name="decide-degradation", **TASK_DEFAULTS)
def decide_degradation(spec: MonitorSpec, bad_flags: list[bool]) -> degradation.DegradationDecision:
    """k-of-n rule over the window flags, newest first."""
    return degradation.should_retrain(bad_flags, k=spec.degradation.k, n=spec.degradation.n)
