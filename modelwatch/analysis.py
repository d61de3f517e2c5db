"""What a monitor run computes from one window (pure: no Prefect, no I/O).

The rules the ``tasks.metrics`` tasks wrap: realized metrics on the labeled rows,
CBPE estimates from the logged scores, feature / prediction / target drift,
multivariate drift, the window's judgement and the degradation decision (k of n,
or a change detector with the spec's defaults), plus the fewest rows each optional
analysis needs. A too-small window skips an analysis and reports it through
``on_skip`` (the task logs it) and :func:`small_window_notes` (the run's summary).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelwatch import multivariate
from modelwatch.errors import StatisticsError
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
from modelwatch.stats.thresholds import (
    CalibratedThresholds,
    calibrate_thresholds,
    threshold_chunk_size,
)

if TYPE_CHECKING:
    from modelwatch.champion_state import ChampionState

__all__ = [
    "MIN_ROWS_BOOTSTRAP",
    "MIN_ROWS_ESTIMATION",
    "MIN_ROWS_MULTIVARIATE",
    "MIN_ROWS_SEGMENT",
    "PREDICTION_PREFIX",
    "TARGET_PREFIX",
    "ReferenceOutputs",
    "calibrated_thresholds",
    "decide_degradation",
    "estimated_metrics",
    "fit_estimator",
    "judge_window",
    "metric_threshold",
    "multivariate_drift",
    "prediction_column",
    "realized_metrics",
    "small_window_notes",
    "uses_metric_series",
    "window_drift",
]

PREDICTION_PREFIX = "prediction:"
TARGET_PREFIX = "target:"

#: ``(predictions, scores)`` of the champion on its own reference
ReferenceOutputs = tuple[np.ndarray, np.ndarray | None]
#: called with a one-line message when a too-small window skips an analysis
OnSkip = Callable[[str], None]

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
#: Bootstrap resamples of the realized metrics' CIs
N_BOOTSTRAP = 200


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


def _skip(on_skip: OnSkip | None, analysis: str, rows: int, minimum: int, what: str) -> None:
    if on_skip is not None:
        on_skip(
            f"{analysis} skipped: the window has {rows} {what}, fewer than the {minimum} it needs"
        )


def realized_metrics(
    spec: MonitorSpec, labeled: pd.DataFrame, *, on_skip: OnSkip | None = None
) -> list[MetricValue]:
    """Metrics on the window's labeled rows, overall and per segment (empty without labels).

    Binary: accuracy, precision, recall, F1, ROC AUC (+ per segment); multiclass:
    accuracy, macro / weighted F1, per-class recall and (with ``columns.class_scores``)
    log loss; regression: MAE, RMSE, R² and MAPE (when no target is 0). Fewer than
    :data:`MIN_ROWS_BOOTSTRAP` labeled rows: point values without CIs; fewer than
    :data:`MIN_ROWS_SEGMENT`: no segment metrics.
    """
    cols = spec.columns
    if labeled.empty:
        return []
    y_true, y_pred = labeled[cols.target].to_numpy(), labeled[cols.prediction].to_numpy()
    n_bootstrap = N_BOOTSTRAP
    if len(labeled) < MIN_ROWS_BOOTSTRAP:
        _skip(on_skip, "bootstrap CIs", len(labeled), MIN_ROWS_BOOTSTRAP, "labeled rows")
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
        _skip(on_skip, "segment metrics", len(labeled), MIN_ROWS_SEGMENT, "labeled rows")
        segments = []
    per_segment = (
        segment_metrics(y_true, y_pred, y_score, labeled[segments], min_rows=MIN_ROWS_SEGMENT)
        if segments
        else []
    )
    return [*overall.values(), *per_segment]


def calibrated_thresholds(
    spec: MonitorSpec, reference: pd.DataFrame, window_rows: int
) -> CalibratedThresholds:
    """``drift.thresholds: calibrated``: thresholds for windows of ``window_rows`` rows,
    from reference chunks of :func:`~modelwatch.stats.thresholds.threshold_chunk_size` rows
    (the same for every window size that rounds to it: fitted once per size and champion)."""
    policy, cols = spec.drift, spec.columns
    return calibrate_thresholds(
        reference,
        numeric=cols.numeric,
        categorical=cols.categorical,
        method=policy.method,
        methods=dict(policy.methods),
        chunk_size=threshold_chunk_size(window_rows),
        n_chunks=policy.calibration_chunks,
        k=policy.calibration_k,
    )


def feature_drift(
    spec: MonitorSpec,
    reference: pd.DataFrame | None,
    current: pd.DataFrame,
    *,
    profile: ReferenceProfile | None = None,
    thresholds: CalibratedThresholds | None = None,
) -> DriftReport:
    """Univariate drift of the features; ``thresholds: calibrated`` uses window-sized chunks.

    With the champion's persisted ``profile`` the window only processes its own
    rows (no refit of the reference); with ``thresholds`` (the champion's stored
    calibration for this window size) nothing of the reference is recalibrated.
    """
    policy, cols = spec.drift, spec.columns
    methods: dict[str, str] = dict(policy.methods)
    column_thresholds = None
    if policy.thresholds == "calibrated":
        if thresholds is None:
            if reference is None:
                raise StatisticsError(
                    "feature_drift needs the reference or stored thresholds for "
                    "drift.thresholds: calibrated"
                )
            thresholds = calibrated_thresholds(spec, reference, len(current))
        methods, column_thresholds = thresholds.methods, thresholds.thresholds
    base: pd.DataFrame | ReferenceProfile | None = profile if profile is not None else reference
    if base is None:
        raise StatisticsError("feature_drift needs the reference or its profile")
    return detect_drift(
        base,
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


def prediction_column(spec: MonitorSpec) -> tuple[str, bool]:
    """(logged column compared with the champion's reference output, is it numeric)."""
    cols = spec.columns
    if cols.score is not None:
        return cols.score, True
    return cols.prediction, spec.task == "regression"


def _one_column_drift(
    spec: MonitorSpec,
    name: str,
    *,
    reference: Any,
    current: Any,
    numeric: bool,
    role: str,
    profile: ReferenceProfile | None = None,
) -> DriftReport:
    """Drift of one output column; ``profile`` (the champion state's) replaces ``reference``."""
    cur = pd.DataFrame({name: np.asarray(current)})
    base: pd.DataFrame | ReferenceProfile = (
        profile if profile is not None else pd.DataFrame({name: np.asarray(reference)})
    )
    return detect_drift(
        base,
        cur,
        numeric=[name] if numeric else [],
        categorical=[] if numeric else [name],
        alpha=spec.drift.alpha,
        psi_threshold=spec.drift.psi_threshold,
        role=role,  # type: ignore[arg-type]
    )


def window_drift(
    spec: MonitorSpec,
    *,
    reference: pd.DataFrame | None = None,
    reference_outputs: ReferenceOutputs | None = None,
    predictions: pd.DataFrame,
    labeled: pd.DataFrame,
    profile: ReferenceProfile | None = None,
    state: ChampionState | None = None,
    thresholds: CalibratedThresholds | None = None,
) -> DriftReport:
    """Feature drift, then prediction drift (vs the champion on its reference) and target drift.

    ``share_drifted`` / ``dataset_drift`` are the features'; the prediction drift
    (``prediction:<score or prediction column>``, when ``drift.prediction_drift`` and
    the champion's reference output is one column) and the target drift
    (``target:<target>``, when ``drift.target_drift`` and the window has labels) are
    appended. The prediction is compared as a number for a score or a regression,
    else as categories; the target as a number for a regression only.

    With the champion's ``state`` (:mod:`modelwatch.champion_state`) the reference is
    not needed (its feature and output profiles are used) unless calibrated thresholds
    are asked for and not given.
    """
    outputs = None
    if state is not None:
        profile, outputs = state.profile, state.outputs
        reference_outputs = state.reference_outputs
    elif reference is None or reference_outputs is None:
        raise StatisticsError("window_drift needs the champion's state or its reference")
    features = feature_drift(spec, reference, predictions, profile=profile, thresholds=thresholds)
    cols, policy = spec.columns, spec.drift
    extra = []
    ref_pred, ref_scores = reference_outputs
    column, numeric = prediction_column(spec)
    ref_values = ref_scores if cols.score is not None else ref_pred
    name = PREDICTION_PREFIX + column
    if policy.prediction_drift and ref_values is not None and np.ndim(ref_values) == 1:
        extra.append(
            _one_column_drift(
                spec,
                name,
                reference=ref_values,
                current=predictions[column].to_numpy(),
                numeric=numeric,
                role="prediction",
                profile=_with_column(outputs, name),
            )
        )
    if policy.target_drift and not labeled.empty:
        name = TARGET_PREFIX + cols.target
        target_profile = _with_column(outputs, name)
        if target_profile is None and reference is None:
            raise StatisticsError(f"window_drift: the champion's state has no {name!r} column")
        extra.append(
            _one_column_drift(
                spec,
                name,
                reference=(None if reference is None else reference[cols.target].to_numpy()),
                current=labeled[cols.target].to_numpy(),
                numeric=spec.task == "regression",
                role="target",
                profile=target_profile,
            )
        )
    return with_output_drift(features, *extra)


def _with_column(profile: ReferenceProfile | None, column: str) -> ReferenceProfile | None:
    """``profile`` when it has ``column`` (numeric or categorical), else None."""
    if profile is None or column not in (*profile.numeric_columns, *profile.categorical_columns):
        return None
    return profile


def serving_health(
    spec: MonitorSpec, predictions: pd.DataFrame, *, hours: float, n_rows: int | None = None
) -> list[MetricValue]:
    """The window's serving health (:mod:`modelwatch.stats.serving_health`) from the spec's
    ``columns.latency_ms`` / ``columns.error``. ``n_rows``: the whole window's rows when
    ``predictions`` is a sample of it (a streamed window): throughput counts them all."""
    from dataclasses import replace

    from modelwatch.stats.serving_health import serving_health as health

    cols = spec.columns
    values = health(
        predictions,
        hours=hours,
        prediction=cols.prediction,
        scores=cols.score_columns,
        latency=cols.latency_ms,
        error=cols.error,
    )
    if n_rows is not None and hours > 0:
        values = [replace(v, value=n_rows / hours, n=n_rows) if v.name == "rows_per_hour" else v
                  for v in values]  # fmt: skip
    return values


def fit_estimator(
    spec: MonitorSpec, reference: pd.DataFrame, reference_outputs: ReferenceOutputs
) -> CBPE | None:
    """CBPE on the champion's reference scored by the champion (classification only).

    Multiclass: the score matrix's columns are ``columns.class_scores`` (labels as
    text). None when CBPE does not apply, the champion gives no scores, or the
    reference holds one class only.
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


def estimated_metrics(
    spec: MonitorSpec,
    *,
    reference: pd.DataFrame | None = None,
    reference_outputs: ReferenceOutputs | None = None,
    predictions: pd.DataFrame,
    on_skip: OnSkip | None = None,
    state: ChampionState | None = None,
) -> list[MetricValue]:
    """CBPE estimates of the window from its logged scores.

    The estimator is the champion ``state``'s (fitted once per version); without a
    state it is fitted here on the scored reference. Every window gets estimates,
    labels or not (binary with a score column, multiclass with
    ``columns.class_scores``); fewer than :data:`MIN_ROWS_ESTIMATION` rows: none.
    """
    cols = spec.columns
    if not _estimable(spec):
        return []
    if len(predictions) < MIN_ROWS_ESTIMATION:
        _skip(on_skip, "CBPE estimation", len(predictions), MIN_ROWS_ESTIMATION, "rows")
        return []
    if state is not None:
        estimator = state.estimator
    elif reference is not None and reference_outputs is not None:
        estimator = fit_estimator(spec, reference, reference_outputs)
    else:
        raise StatisticsError("estimated_metrics needs the champion's state or its reference")
    if estimator is None:
        return []
    scores = predictions[list(cols.score_columns)].to_numpy(dtype=np.float64)
    predicted = predictions[cols.prediction].to_numpy()
    if spec.task == "binary":
        scores = scores[:, 0]
    else:
        predicted = _as_text(predicted)
    return list(estimator.estimate(scores, predicted).values())


def multivariate_drift(
    spec: MonitorSpec,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    on_skip: OnSkip | None = None,
) -> list[MetricValue]:
    """Domain-classifier ROC AUC (with CI) and PCA reconstruction error, <= 5k rows per side.

    Empty unless ``drift.multivariate``; fewer than :data:`MIN_ROWS_MULTIVARIATE`
    window rows: skipped.
    """
    if not spec.drift.multivariate:
        return []
    if len(current) < MIN_ROWS_MULTIVARIATE:
        _skip(on_skip, "multivariate drift", len(current), MIN_ROWS_MULTIVARIATE, "rows")
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


def _overall(metrics: Sequence[MetricValue], name: str, kind: str) -> float | None:
    return next(
        (m.value for m in metrics if m.name == name and m.segment is None and m.kind == kind),
        None,
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


def judge_window(
    spec: MonitorSpec,
    metrics: Sequence[MetricValue],
    drift: DriftReport,
    *,
    baseline: float | None,
) -> degradation.WindowJudgement:
    """Realized metric vs threshold; without labels the CBPE estimate (when
    ``degradation.estimated_counts``), else dataset drift (when ``drift_counts``).

    Lower-is-better metrics (mae, rmse, log loss...) are bad above ``baseline +
    max_increase`` (or ``max_value``).
    """
    policy = spec.degradation
    value = _overall(metrics, policy.metric, "realized")
    estimated = _overall(metrics, policy.metric, "estimated") if policy.estimated_counts else None
    return degradation.judge_window(
        higher_is_better=policy.higher_is_better,
        metric=policy.metric,
        value=value if value is not None else estimated,
        threshold=metric_threshold(spec, baseline),
        dataset_drift=drift.dataset_drift,
        share_drifted=drift.share_drifted,
        drift_counts=policy.drift_counts,
        value_kind="realized" if value is not None or estimated is None else "estimated",
    )


def uses_metric_series(spec: MonitorSpec, judgement: degradation.WindowJudgement) -> bool:
    """A change detector decides (not k of n) and the window has a metric value to add."""
    return spec.degradation.detector != "k_of_n" and judgement.value is not None


def decide_degradation(
    spec: MonitorSpec,
    bad_flags: Sequence[bool],
    *,
    series: Sequence[float] | None = None,
    baseline: float | None = None,
) -> degradation.DegradationDecision:
    """k-of-n rule over the window flags (newest first), or the spec's change detector.

    ``series``: the champion's metric series, oldest first, the current window last;
    without one (k_of_n, or no value) the k-of-n rule decides. Detector defaults:
    the target is the baseline (else the threshold moved back by the allowance), the
    allowance is ``max_drop`` — for lower-is-better metrics (negated for the
    decrease-detecting detectors) ``max_increase``, else the distance from the
    baseline to ``max_value``, else 5 % of the threshold; slack = allowance / 2 and
    h = 2 x allowance unless the spec sets ``detector_slack`` / ``detector_threshold``.
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
