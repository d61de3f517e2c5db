"""Statistics tasks: realized and estimated metrics, drift, the window judgement."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.exceptions import MissingContextError

from modelwatch import multivariate
from modelwatch.io.registry import ModelVersionRef
from modelwatch.spec import MonitorSpec
from modelwatch.stats import degradation
from modelwatch.stats.drift import DriftReport, ReferenceProfile, detect_drift, with_output_drift
from modelwatch.stats.estimation import CBPE, fit_cbpe
from modelwatch.stats.performance import (
    MetricValue,
    classification_metrics,
    multiclass_metrics,
    regression_metrics,
    segment_metrics,
)
from modelwatch.stats.thresholds import calibrate_thresholds
from tasks import IO_TASK, TASK_DEFAULTS, registry, train

PREDICTION_PREFIX = "prediction:"
TARGET_PREFIX = "target:"

#: Fewest rows for each optional analysis; a smaller window skips it (the run completes, the
#: task logs it and :func:`small_window_notes` puts a note in the run's summary).
#: Multivariate drift: window rows (the domain classifier and PCA refuse fewer).
MIN_ROWS_MULTIVARIATE = multivariate.MIN_ROWS
#: CBPE estimates: window rows (its band, estimate +- z * sigma_c * sqrt(c/n), is a normal
#: approximation that leaves [0, 1] on a handful of rows).
MIN_ROWS_ESTIMATION = 30
#: Bootstrap CIs of the realized metrics: labeled rows (a few rows resample to a degenerate
#: interval such as [0, 0]); the point values are still computed.
MIN_ROWS_BOOTSTRAP = 10
#: Segment metrics: labeled rows per segment value (``segment_metrics``' ``min_rows``).
MIN_ROWS_SEGMENT = 30


def small_window_notes(spec: MonitorSpec, n_rows: int, n_labeled: int) -> list[str]:
    """One note per optional analysis that a window of this size skips (empty: none)."""
    notes = []
    if spec.drift.multivariate and n_rows < MIN_ROWS_MULTIVARIATE:
        notes.append(f"multivariate drift skipped ({n_rows} rows < {MIN_ROWS_MULTIVARIATE})")
    if _estimable(spec) and n_rows < MIN_ROWS_ESTIMATION:
        notes.append(f"CBPE estimation skipped ({n_rows} rows < {MIN_ROWS_ESTIMATION})")
    if 0 < n_labeled < MIN_ROWS_BOOTSTRAP:
        notes.append(
            f"bootstrap CIs of realized metrics skipped ({n_labeled} labeled rows "
            f"< {MIN_ROWS_BOOTSTRAP})"
        )
    if spec.task == "binary" and spec.columns.segments and 0 < n_labeled < MIN_ROWS_SEGMENT:
        notes.append(
            f"segment metrics skipped ({n_labeled} labeled rows < {MIN_ROWS_SEGMENT} "
            "per segment value)"
        )
    return notes


def _estimable(spec: MonitorSpec) -> bool:
    """CBPE applies: binary with a score column, multiclass with per-class score columns."""
    cols = spec.columns
    if spec.task == "binary":
        return cols.score is not None
    return spec.task == "multiclass" and cols.class_scores is not None


def _as_text(values: Any) -> np.ndarray:
    """Class labels as text: ``columns.class_scores`` names the classes as text."""
    return np.asarray(pd.Series(values).astype(str).to_numpy(), dtype=object)


def _run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The task run's logger; the module's logger when called outside a run (``.fn``)."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


def _skipped(analysis: str, rows: int, minimum: int, what: str = "rows") -> None:
    _run_logger().info(
        "%s skipped: the window has %d %s, fewer than the %d it needs",
        analysis,
        rows,
        what,
        minimum,
    )


@task(name="realized-metrics", **TASK_DEFAULTS)
def realized_metrics(spec: MonitorSpec, labeled: pd.DataFrame) -> list[MetricValue]:
    """Metrics on the window's labeled rows, overall and per segment (empty without labels).

    Binary: accuracy, precision, recall, F1, ROC AUC (+ per segment); multiclass:
    accuracy, macro / weighted F1, per-class recall and (with ``columns.class_scores``)
    log loss; regression: MAE, RMSE, R² and MAPE (when no target is 0).
    """
    cols = spec.columns
    if labeled.empty:
        return []
    y_true, y_pred = labeled[cols.target].to_numpy(), labeled[cols.prediction].to_numpy()
    n_bootstrap = 200
    if len(labeled) < MIN_ROWS_BOOTSTRAP:
        _skipped("bootstrap CIs", len(labeled), MIN_ROWS_BOOTSTRAP, "labeled rows")
        n_bootstrap = 0
    if spec.task == "regression":
        return list(regression_metrics(y_true, y_pred, n_bootstrap=n_bootstrap).values())
    if spec.task == "multiclass":
        classes = list(cols.class_scores) if cols.class_scores else None
        proba = labeled[list(cols.class_scores.values())].to_numpy() if cols.class_scores else None
        values = multiclass_metrics(
            _as_text(y_true), _as_text(y_pred), proba, classes=classes, n_bootstrap=n_bootstrap
        )
        return list(values.values())
    y_score = labeled[cols.score].to_numpy() if cols.score else None
    overall = classification_metrics(y_true, y_pred, y_score, n_bootstrap=n_bootstrap, seed=0)
    segments = list(cols.segments)
    if segments and len(labeled) < MIN_ROWS_SEGMENT:
        _skipped("segment metrics", len(labeled), MIN_ROWS_SEGMENT, "labeled rows")
        segments = []
    per_segment = (
        segment_metrics(y_true, y_pred, y_score, labeled[segments], min_rows=MIN_ROWS_SEGMENT)
        if segments
        else []
    )
    return [*overall.values(), *per_segment]


def _feature_drift(
    spec: MonitorSpec,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    profile: ReferenceProfile | None = None,
) -> DriftReport:
    """Univariate drift of the features; ``thresholds: calibrated`` uses window-sized chunks.

    With the champion's persisted ``profile`` the window only processes its own
    rows (no refit of the reference).
    """
    policy, cols = spec.drift, spec.columns
    methods: dict[str, str] = dict(policy.methods)
    column_thresholds = None
    if policy.thresholds == "calibrated":
        calibrated = calibrate_thresholds(
            reference,
            numeric=cols.numeric,
            categorical=cols.categorical,
            method=policy.method,
            methods=methods,
            chunk_size=len(current),
            n_chunks=policy.calibration_chunks,
            k=policy.calibration_k,
        )
        methods, column_thresholds = calibrated.methods, calibrated.thresholds
    return detect_drift(
        reference if profile is None else profile,
        current,
        numeric=cols.numeric,
        categorical=cols.categorical,
        method=policy.method,
        methods=methods,
        alpha=policy.alpha,
        correction=policy.correction,
        psi_threshold=policy.psi_threshold,
        dataset_drift_share=policy.dataset_drift_share,
        column_thresholds=column_thresholds,
    )


def _prediction_column(spec: MonitorSpec) -> tuple[str, bool]:
    """(logged column compared with the champion's reference output, is it numeric)."""
    cols = spec.columns
    if cols.score is not None:
        return cols.score, True
    return cols.prediction, spec.task == "regression"


def _one_column_drift(
    spec: MonitorSpec, name: str, reference: Any, current: Any, numeric: bool, role: str
) -> DriftReport:
    ref = pd.DataFrame({name: np.asarray(reference)})
    cur = pd.DataFrame({name: np.asarray(current)})
    return detect_drift(
        ref,
        cur,
        numeric=[name] if numeric else [],
        categorical=[] if numeric else [name],
        alpha=spec.drift.alpha,
        psi_threshold=spec.drift.psi_threshold,
        role=role,  # type: ignore[arg-type]
    )


@task(name="window-drift", **TASK_DEFAULTS)
def window_drift(
    spec: MonitorSpec,
    reference: pd.DataFrame,
    reference_outputs: tuple[np.ndarray, np.ndarray | None],
    predictions: pd.DataFrame,
    labeled: pd.DataFrame,
    profile: ReferenceProfile | None = None,
) -> DriftReport:
    """Feature drift, then prediction drift (vs the champion on its reference) and target drift.

    ``share_drifted`` / ``dataset_drift`` are the features'; the prediction and
    target results (``prediction:<column>``, ``target:<column>``) are appended.
    """
    features = _feature_drift(spec, reference, predictions, profile)
    cols, policy = spec.columns, spec.drift
    extra = []
    ref_pred, ref_scores = reference_outputs
    column, numeric = _prediction_column(spec)
    ref_values = ref_scores if cols.score is not None else ref_pred
    if policy.prediction_drift and ref_values is not None and np.ndim(ref_values) == 1:
        current = predictions[column].to_numpy()
        extra.append(
            _one_column_drift(
                spec, PREDICTION_PREFIX + column, ref_values, current, numeric, "prediction"
            )
        )
    if policy.target_drift and not labeled.empty:
        numeric_target = spec.task == "regression"
        extra.append(
            _one_column_drift(
                spec,
                TARGET_PREFIX + cols.target,
                reference[cols.target].to_numpy(),
                labeled[cols.target].to_numpy(),
                numeric_target,
                "target",
            )
        )
    return with_output_drift(features, *extra)


@task(name="score-reference", task_run_name="score-reference-v{ref.version}", **IO_TASK)
def score_reference(
    spec: MonitorSpec, ref: ModelVersionRef, reference: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(predictions, scores)`` of the champion on its own reference (loads the model: I/O)."""
    model = registry.load_model.fn(ref)
    return train.score_rows.fn(spec, model, reference)


def fit_estimator(
    spec: MonitorSpec,
    reference: pd.DataFrame,
    reference_outputs: tuple[np.ndarray, np.ndarray | None],
) -> CBPE | None:
    """CBPE on the champion's reference scored by the champion (classification only).

    Multiclass: the score matrix's columns are ``columns.class_scores`` (labels as text).
    """
    ref_pred, ref_scores = reference_outputs
    if not _estimable(spec) or ref_scores is None:
        return None
    y = reference[spec.columns.target].to_numpy()
    if spec.task == "multiclass" and spec.columns.class_scores is not None:
        classes = tuple(spec.columns.class_scores)
        return fit_cbpe(ref_scores, _as_text(y), _as_text(ref_pred), classes=classes)
    classes = tuple(np.unique(y).tolist())
    if len(classes) < 2:
        return None
    return fit_cbpe(ref_scores, y, ref_pred, classes=classes)


@task(name="estimated-metrics", **TASK_DEFAULTS)
def estimated_metrics(
    spec: MonitorSpec,
    reference: pd.DataFrame,
    reference_outputs: tuple[np.ndarray, np.ndarray | None],
    predictions: pd.DataFrame,
) -> list[MetricValue]:
    """CBPE fitted on the scored reference, estimates of the window from its logged scores.

    Every window gets estimates, labels or not (binary with a score column,
    multiclass with ``columns.class_scores``).
    """
    cols = spec.columns
    if not _estimable(spec):
        return []
    if len(predictions) < MIN_ROWS_ESTIMATION:
        _skipped("CBPE estimation", len(predictions), MIN_ROWS_ESTIMATION)
        return []
    estimator = fit_estimator(spec, reference, reference_outputs)
    if estimator is None:
        return []
    scores = predictions[list(cols.score_columns)].to_numpy(dtype=np.float64)
    predicted = predictions[cols.prediction].to_numpy()
    if spec.task == "binary":
        scores = scores[:, 0]
    else:
        predicted = _as_text(predicted)
    return list(estimator.estimate(scores, predicted).values())


@task(name="multivariate-drift", **TASK_DEFAULTS)
def multivariate_drift(
    spec: MonitorSpec, reference: pd.DataFrame, current: pd.DataFrame
) -> list[MetricValue]:
    """Domain-classifier ROC AUC (with CI) and PCA reconstruction error, <= 5k rows per side."""
    if not spec.drift.multivariate:
        return []
    if len(current) < MIN_ROWS_MULTIVARIATE:
        _skipped("multivariate drift", len(current), MIN_ROWS_MULTIVARIATE)
        return []
    cols = spec.columns
    kw: dict[str, Any] = {"numeric": cols.numeric, "categorical": cols.categorical}
    domain = multivariate.domain_classifier_drift(
        reference, current, threshold=spec.drift.domain_classifier_threshold, n_folds=3, **kw
    )
    pca = multivariate.pca_reconstruction_drift(
        reference, current, chunk_size=min(len(current), 5000), **kw
    )
    return [
        MetricValue(
            "domain_classifier_auc",
            domain.auc,
            domain.ci_low,
            domain.ci_high,
            domain.n_reference + domain.n_current,
            kind="drift",
            confidence=domain.confidence,
        ),
        MetricValue(
            "pca_reconstruction_error", pca.error, pca.lower, pca.upper, pca.n_current, kind="drift"
        ),
    ]


def _overall(metrics: list[MetricValue], name: str, kind: str) -> float | None:
    return next(
        (m.value for m in metrics if m.name == name and m.segment is None and m.kind == kind),
        None,
    )


@task(name="judge-window", **TASK_DEFAULTS)
def judge_window(
    spec: MonitorSpec, metrics: list[MetricValue], drift: DriftReport, baseline: float | None
) -> degradation.WindowJudgement:
    """Realized metric vs threshold; without labels the CBPE estimate (or dataset drift).

    Lower-is-better metrics (mae, rmse, log loss...) are bad above ``baseline +
    max_increase`` (or ``max_value``).
    """
    policy = spec.degradation
    value = _overall(metrics, policy.metric, "realized")
    estimated = _overall(metrics, policy.metric, "estimated") if policy.estimated_counts else None
    threshold = metric_threshold(spec, baseline)
    return degradation.judge_window(
        higher_is_better=policy.higher_is_better,
        metric=policy.metric,
        value=value if value is not None else estimated,
        threshold=threshold,
        dataset_drift=drift.dataset_drift,
        share_drifted=drift.share_drifted,
        drift_counts=policy.drift_counts,
        value_kind="realized" if value is not None or estimated is None else "estimated",
    )


def metric_threshold(spec: MonitorSpec, baseline: float | None) -> float:
    """The spec's threshold: ``baseline - max_drop`` / ``min_value``, or for lower-is-better
    metrics ``baseline + max_increase`` / ``max_value``."""
    policy = spec.degradation
    if policy.higher_is_better:
        return degradation.metric_threshold(
            baseline=baseline, max_drop=policy.max_drop, min_value=policy.min_value
        )
    return degradation.metric_threshold(
        baseline=baseline,
        max_drop=policy.max_increase or 0.0,
        min_value=policy.max_value,
        higher_is_better=False,
    )


@task(name="metric-series", **IO_TASK)
def metric_series(
    model: str, metric: str, before: datetime, champion_version: str, limit: int = 48
) -> list[float]:
    """The champion's metric over its earlier windows, oldest first (realized, else estimated)."""
    from tasks.store import open_store

    store = open_store()
    try:
        realized = store.metric_history(model, metric, kind="realized", limit=limit)
        estimated = store.metric_history(model, metric, kind="estimated", limit=limit)
    finally:
        store.dispose()
    fallback = {row["window_start"]: row["value"] for row in estimated}
    series = []
    for row in realized:
        if row["window_start"] >= before or row["champion_version"] != champion_version:
            continue
        value = row["value"] if row["value"] is not None else fallback.get(row["window_start"])
        if value is not None:
            series.append(float(value))
    return series


@task(name="decide-degradation", **TASK_DEFAULTS)
def decide_degradation(
    spec: MonitorSpec,
    bad_flags: list[bool],
    series: list[float] | None = None,
    baseline: float | None = None,
) -> degradation.DegradationDecision:
    """k-of-n rule over the window flags (newest first), or the spec's change detector.

    ``series``: the champion's metric series, oldest first, the current window last.
    Lower-is-better metrics are negated for the (decrease-detecting) detectors;
    their allowance is ``max_increase`` (else the distance from the baseline to
    ``max_value``).
    """
    policy = spec.degradation
    if policy.detector == "k_of_n" or not series:
        return degradation.should_retrain(bad_flags, k=policy.k, n=policy.n)
    threshold = metric_threshold(spec, baseline)
    if policy.higher_is_better:
        sign, allowance = 1.0, policy.max_drop
    else:
        sign = -1.0
        allowance = policy.max_increase or (
            abs(threshold - baseline) if baseline is not None else 0.05 * abs(threshold)
        )
    target = sign * baseline if baseline is not None else sign * threshold + allowance
    return degradation.detector_decision(
        [sign * v for v in series],
        detector=policy.detector,
        target=target,
        slack=policy.detector_slack if policy.detector_slack is not None else allowance / 2,
        h=policy.detector_threshold if policy.detector_threshold is not None else 2 * allowance,
        bad_flags=bad_flags,
    )
