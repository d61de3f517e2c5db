"""Statistics tasks over :mod:`modelwatch.analysis`: metrics, drift, the window judgement.

Each task is a thin wrapper: the rules (what is computed, skipped and decided)
live in the library; a skipped analysis is logged to the run's log here.
"""

from __future__ import annotations

import logging
from datetime import datetime

import pandas as pd
from prefect import get_run_logger, task
from prefect.exceptions import MissingContextError

from modelwatch import analysis, monitoring
from modelwatch.champion_state import ChampionState
from modelwatch.spec import MonitorSpec
from modelwatch.stats.degradation import DegradationDecision, WindowJudgement
from modelwatch.stats.drift import DriftReport
from modelwatch.stats.performance import MetricValue
from modelwatch.stats.thresholds import CalibratedThresholds
from tasks import IO_TASK, TASK_DEFAULTS
from tasks.store import open_store

__all__ = [
    "decide_degradation",
    "estimated_metrics",
    "judge_window",
    "metric_series",
    "multivariate_drift",
    "realized_metrics",
    "serving_health",
    "window_drift",
]


def _log_skip(message: str) -> None:
    """Log a skipped analysis to the task run's log (the module's log outside a run)."""
    try:
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] = get_run_logger()
    except MissingContextError:
        logger = logging.getLogger(__name__)
    logger.info("%s", message)


@task(name="realized-metrics", **TASK_DEFAULTS)
def realized_metrics(spec: MonitorSpec, labeled: pd.DataFrame) -> list[MetricValue]:
    """Metrics on the window's labeled rows (:func:`modelwatch.analysis.realized_metrics`)."""
    return analysis.realized_metrics(spec, labeled, on_skip=_log_skip)


@task(name="estimated-metrics", **TASK_DEFAULTS)
def estimated_metrics(
    spec: MonitorSpec, state: ChampionState, *, predictions: pd.DataFrame
) -> list[MetricValue]:
    """CBPE estimates of the window with the champion's fitted estimator
    (:func:`modelwatch.analysis.estimated_metrics`)."""
    return analysis.estimated_metrics(spec, predictions=predictions, state=state, on_skip=_log_skip)


@task(name="window-drift", **TASK_DEFAULTS)
def window_drift(
    spec: MonitorSpec,
    state: ChampionState,
    *,
    predictions: pd.DataFrame,
    labeled: pd.DataFrame,
    thresholds: CalibratedThresholds | None = None,
) -> DriftReport:
    """Feature, prediction and target drift against the champion's profiles
    (:func:`modelwatch.analysis.window_drift`)."""
    return analysis.window_drift(
        spec, predictions=predictions, labeled=labeled, state=state, thresholds=thresholds
    )


@task(name="multivariate-drift", **TASK_DEFAULTS)
def multivariate_drift(
    spec: MonitorSpec, reference: pd.DataFrame, current: pd.DataFrame
) -> list[MetricValue]:
    """Domain classifier and PCA drift (:func:`modelwatch.analysis.multivariate_drift`)."""
    return analysis.multivariate_drift(spec, reference, current, on_skip=_log_skip)


@task(name="serving-health", **TASK_DEFAULTS)
def serving_health(
    spec: MonitorSpec, predictions: pd.DataFrame, hours: float, n_rows: int | None = None
) -> list[MetricValue]:
    """Throughput, latency percentiles, null and failed predictions (kind ``serving``)."""
    return analysis.serving_health(spec, predictions, hours=hours, n_rows=n_rows)


@task(name="judge-window", **TASK_DEFAULTS)
def judge_window(
    spec: MonitorSpec, metrics: list[MetricValue], drift: DriftReport, *, baseline: float | None
) -> WindowJudgement:
    """Realized metric (else estimate, else drift) vs threshold (:mod:`modelwatch.analysis`)."""
    return analysis.judge_window(spec, metrics, drift, baseline=baseline)


@task(name="metric-series", **IO_TASK)
def metric_series(
    model: str, metric: str, *, before: datetime, champion_version: str, limit: int = 48
) -> list[float]:
    """The champion's metric over its earlier windows, oldest first (realized, else estimated)."""
    with open_store() as store:
        realized = store.metric_history(model, metric, kind="realized", limit=limit)
        estimated = store.metric_history(model, metric, kind="estimated", limit=limit)
    return monitoring.metric_series(
        realized, estimated, before=before, champion_version=champion_version
    )


@task(name="decide-degradation", **TASK_DEFAULTS)
def decide_degradation(
    spec: MonitorSpec,
    bad_flags: list[bool],
    *,
    series: list[float] | None = None,
    baseline: float | None = None,
) -> DegradationDecision:
    """k of n, or the spec's change detector (:func:`modelwatch.analysis.decide_degradation`)."""
    return analysis.decide_degradation(spec, bad_flags, series=series, baseline=baseline)
