"""``monitor_model``: the scheduled job, one window of one model per run.

count the window's rows (source metadata) → validate (one frame; or, for a window
above ``execution.stream_above_rows`` rows or with ``execution.engine: dask``, slice by
slice) → the champion's state (fitted once per version) → realized metrics ∥ CBPE
estimates ∥ feature drift (+ prediction / target drift) ∥ multivariate drift ∥ serving
health (streamed: drift and realized metrics from mergeable aggregates, local or on
Dask; the rest on a seeded sample) → judge the window (realized metric, else the
estimate, else dataset drift) → degradation decision (k of n windows, or a CUSUM /
Page–Hinkley detector) → persist → artifacts → events and alert episode → staged
rollout step (``ab.staged_rollout``) → retrain branch (not while a version is in rollout). The rules are :mod:`modelwatch.analysis`'s
(what is computed and decided) and :mod:`modelwatch.assessment`'s (what is
stored, published and returned).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from prefect import flow
from prefect.states import Completed, Failed
from pydantic import Field

from flows.common import (
    current_flow_run_id,
    earlier_windows,
    monitor_run_name,
    scheduled_start,
    subflow_settings,
    window_bounds,
    window_label,
)
from flows.retrain import retrain_model
from flows.rollout import advance_rollout, read_rollout
from flows.validate import (
    ValidatedSlices,
    ValidatedWindow,
    validate_streamed_steps,
    validate_window_steps,
)
from modelwatch import assessment as assess
from modelwatch.analysis import small_window_notes, uses_metric_series
from modelwatch.assessment import RetrainResult, WindowAssessment, WindowExtent
from modelwatch.errors import ParameterError
from modelwatch.execution import StreamedWindow, should_stream
from modelwatch.monitoring import Episode
from modelwatch.outcomes import Alias, StateName
from modelwatch.spec import MonitorSpec
from modelwatch.stats.serving_health import breaches as serving_breaches
from modelwatch.summaries import MonitorSummary, monitor_markdown
from tasks import data, metrics, publish, registry, store, streaming

if TYPE_CHECKING:
    import pandas as pd

    from modelwatch.io.gx_runtime import ValidationReport
    from modelwatch.io.registry import ModelVersionRef
    from modelwatch.stats.drift import DriftReport
    from modelwatch.stats.performance import MetricValue


def _catch_up(model_name: str, start: datetime, *, window_hours: float, max_windows: int) -> None:
    """Monitor, oldest first, the earlier windows with no run in the store (``monitor-model`` subflows)."""
    candidates = earlier_windows(start, window_hours, max_windows)
    for _, end in store.unmonitored_windows(model_name, candidates):
        with subflow_settings():
            state: Any = monitor_model(
                model_name, window_end=end, window_hours=window_hours, return_state=True
            )
        print(f"catch-up {window_label(end - timedelta(hours=window_hours))}: {state.name}")


def _assess(
    spec: MonitorSpec,
    champion: ModelVersionRef,
    validated: ValidatedWindow,
    *,
    reference: pd.DataFrame,
    baseline: float | None,
) -> WindowAssessment:
    """Metrics ∥ estimates ∥ drift ∥ multivariate drift ∥ serving health → judgement → decision.

    The champion's state (scores on its reference, CBPE, drift profiles, multivariate
    reference; calibrated thresholds per window size) is fitted once per version and
    loaded here: no window re-scores the reference or refits an estimator.
    """
    window = validated.window
    state = registry.load_champion_state(spec, champion, reference)
    thresholds = registry.drift_thresholds(
        spec, champion, reference, window_rows=len(window.predictions)
    )
    realized = metrics.realized_metrics.submit(spec, window.labeled)
    estimated = metrics.estimated_metrics.submit(spec, state, predictions=window.predictions)
    drift = metrics.window_drift.submit(
        spec,
        state,
        predictions=window.predictions,
        labeled=window.labeled,
        thresholds=thresholds,
    )
    multivariate_reference = reference if state.multivariate is None else state.multivariate
    multivariate = metrics.multivariate_drift.submit(
        spec, multivariate_reference, window.predictions
    )
    hours = (window.end - window.start).total_seconds() / 3600
    serving = metrics.serving_health(spec, window.predictions, hours)
    values = [*realized.result(), *estimated.result(), *multivariate.result(), *serving]
    return _decide(
        spec,
        champion,
        window.start,
        values=values,
        drift=drift.result(),
        report=validated.report,
        baseline=baseline,
    )


def _assess_streamed(
    spec: MonitorSpec,
    champion: ModelVersionRef,
    validated: ValidatedSlices,
    *,
    reference: pd.DataFrame,
    baseline: float | None,
) -> tuple[WindowAssessment, StreamedWindow]:
    """A window too large for one frame (or ``execution.engine: dask``): drift and realized
    metrics from mergeable aggregates over time slices (equal to the in-memory values);
    CBPE, multivariate drift and serving-health percentiles on its seeded sample."""
    state = registry.load_champion_state(spec, champion, reference)
    streamed: Any = streaming.streamed_assessment(
        spec, state, reference, window=(validated.start, validated.end), n_rows=validated.n_rows
    )
    sample = streamed.sample
    estimated = metrics.estimated_metrics.submit(spec, state, predictions=sample)
    multivariate_reference = reference if state.multivariate is None else state.multivariate
    multivariate = metrics.multivariate_drift.submit(spec, multivariate_reference, sample)
    hours = (validated.end - validated.start).total_seconds() / 3600
    serving = metrics.serving_health(spec, sample, hours, n_rows=streamed.n_rows)
    values = [*streamed.metrics, *estimated.result(), *multivariate.result(), *serving]
    assessment = _decide(
        spec,
        champion,
        validated.start,
        values=values,
        drift=streamed.drift,
        report=validated.report,
        baseline=baseline,
    )
    return assessment, streamed


def _decide(
    spec: MonitorSpec,
    champion: ModelVersionRef,
    window_start: datetime,
    *,
    values: list[MetricValue],
    drift: DriftReport,
    report: ValidationReport | None,
    baseline: float | None,
) -> WindowAssessment:
    """Judge the window (realized metric, else estimate, else drift) and decide (k of n /
    the change detector) over the champion's earlier windows."""
    judgement = metrics.judge_window(spec, values, drift, baseline=baseline)
    earlier = store.recent_bad_flags(
        spec.name, window_start, champion_version=champion.version, n=spec.degradation.n
    )
    series = None
    if uses_metric_series(spec, judgement) and judgement.value is not None:
        history = metrics.metric_series(
            spec.name,
            spec.degradation.metric,
            before=window_start,
            champion_version=champion.version,
        )
        series = [*history, judgement.value]
    decision = metrics.decide_degradation(
        spec, [judgement.bad, *earlier], series=series, baseline=baseline
    )
    return WindowAssessment(tuple(values), drift, report, judgement, decision)


def _announce_degradation(
    spec: MonitorSpec, summary: MonitorSummary, assessment: WindowAssessment
) -> Episode:
    """The window's degradation episode, the event (automations) and the alert (people)."""
    label = window_label(summary.window_start)
    champion = str(summary.champion_version)
    episode = store.degradation_episode(
        spec.name,
        (summary.window_start, summary.window_end),
        champion,
        n=spec.degradation.n,
        current_bad=assessment.judgement.bad,
    )
    event, payload = assess.degraded_event(
        spec,
        label=label,
        decision=assessment.decision,
        champion=champion,
        episode=episode,
        flow_run_id=current_flow_run_id(),
    )
    publish.emit_model_event(event, spec.name, payload)
    url = publish.report_url(spec.name, summary.window_start)
    alert = assess.degraded_alert(
        summary, label=label, reason=assessment.decision.reason, report_url=url
    )
    publish.alert_degraded(spec, alert, champion, summary.window_start)
    return episode


def _advance_rollout(model_name: str, start: datetime, end: datetime) -> bool:
    """One look at the staged rollout (``advance-rollout`` subflow); True while a version is
    in shadow or canary, or when this look promoted it (no retraining then). Its failure
    is logged, never the monitor's.

    The stage is read first (one task): the subflow, which costs a flow run through the
    API, runs only when a version is in shadow or canary."""
    staged: Any = read_rollout(model_name, return_state=True)
    if staged.is_completed() and staged.result() is None:
        return False
    with subflow_settings():
        state: Any = advance_rollout(model_name, start, end, return_state=True)
    print(f"rollout: {state.name}: {state.message or ''}")
    if state.is_failed():
        return True  # unknown: do not start a second challenger
    # just promoted: this run's degraded decision was about the old champion
    return state.name in (
        StateName.CANARY_STARTED,
        StateName.ROLLOUT_CONTINUES,
        StateName.PROMOTED,
    )


@flow(name="monitor-model", flow_run_name=monitor_run_name, log_prints=True)
def monitor_model(
    model_name: str = "credit",
    window_end: datetime | None = None,
    window_hours: Annotated[float, Field(gt=0)] | None = None,
    *,
    force_retrain: bool = False,
    dry_run: bool = False,
    champion_version: str | None = None,
    rejudge: bool = False,
) -> Any:
    """Monitor one window of a model and retrain it when it has degraded.

    Args:
        model_name: Monitored model (the name of deployments/specs/<model>.yaml and of the MLflow registered model).
        window_end: End of the window (UTC, exclusive); default: the last complete window before the run's scheduled start (a deployment's run; it first catches up to schedule.catchup_max_windows unmonitored earlier windows), else before now.
        window_hours: Window length in hours; default: the spec's schedule.window_hours.
        force_retrain: Run the retraining branch even if the model is not degraded.
        dry_run: Compute and publish artifacts, but change nothing: no store rows, no events, no alerts, no retraining; the report goes to reports/_dry-run/.
        champion_version: With rejudge: the version that served the window, judged instead of the current champion.
        rejudge: Re-judge an already monitored window (delayed labels, the relabel-model flow): replace its results but keep its stored status; no events, no alerts, no retraining.
    """
    if champion_version is not None and not rejudge:
        raise ParameterError(
            "The 'champion_version' parameter of monitor_model is only for rejudge=True. "
            f"Got {champion_version!r} with rejudge=False instead."
        )
    spec = data.load_spec(model_name)
    store.check_schema()  # never a half-written run on a store of another revision
    hours = window_hours or spec.schedule.window_hours
    scheduled = scheduled_start() if window_end is None else None
    start, end = window_bounds(window_end, hours, now=scheduled)
    label = window_label(start)
    if scheduled is not None and not dry_run and spec.schedule.catchup_max_windows:
        _catch_up(
            model_name, start, window_hours=hours, max_windows=spec.schedule.catchup_max_windows
        )
    champion = registry.resolve_version(model_name, champion_version or Alias.CHAMPION.value)
    n_rows: Any = streaming.count_window_rows(spec, start, end)
    if n_rows and should_stream(spec, n_rows):
        slices = validate_streamed_steps(spec, start, end, n_rows, dry_run=dry_run)
        reference = registry.load_reference(champion)
        baseline = registry.version_metric(champion, f"val_{spec.degradation.metric}")
        assessment, streamed = _assess_streamed(
            spec, champion, slices, reference=reference, baseline=baseline
        )
        window: WindowExtent = streamed.extent(start, end)
        current = streamed.sample
        print(streamed.describe())
    else:
        validated = validate_window_steps(spec, start, end, dry_run=dry_run)
        window = validated.window
        if window.n_rows == 0:
            summary = MonitorSummary.empty(model_name, start, end, champion.version)
            return Completed(
                name=StateName.NO_DATA, message=f"no predictions in window {label}", data=summary
            )
        reference = registry.load_reference(champion)
        baseline = registry.version_metric(champion, f"val_{spec.degradation.metric}")
        assessment = _assess(spec, champion, validated, reference=reference, baseline=baseline)
        current = validated.window.predictions
    decision = assessment.decision
    record = assess.window_record(
        model_name,
        window,
        assessment=assessment,
        champion_version=champion.version,
        flow_run_id=current_flow_run_id(),
    )
    if rejudge:  # the decision acted on when the window was first monitored stands
        record = store.keep_decision(record)
    store_run_id = None if dry_run else store.save_run(record)
    summary = MonitorSummary.build(record, assessment, store_run_id)
    for line in assess.story(summary, assessment):
        print(line)
    notes = [
        *small_window_notes(spec, window.n_rows, window.n_labeled),
        *serving_breaches(assessment.metrics, spec.serving),
    ]
    markdown = monitor_markdown(summary, assessment.drift, notes=notes)
    publish.publish_markdown(f"{model_name}-monitor-summary", markdown, f"{model_name} {label}")
    publish.publish_drift_table(model_name, assessment.drift)
    episode = None
    # a dry run emits nothing and records nothing; a re-judge leaves decisions to live runs
    if decision.degraded and not dry_run and not rejudge:
        episode = _announce_degradation(spec, summary, assessment)
    elif not assessment.judgement.bad and not dry_run and not rejudge:
        publish.alert_resolved(spec, summary, label)  # ends an open alert episode
    retrain = None
    in_rollout = False
    if spec.ab.staged_rollout and not dry_run and not rejudge:
        in_rollout = _advance_rollout(model_name, start, end)
    wants = assess.should_retrain(spec, decision, force=force_retrain, rejudge=rejudge)
    if wants and in_rollout and not force_retrain:
        print("retraining skipped: a version is in the staged rollout or was just promoted")
    elif wants and not dry_run:
        with subflow_settings():
            state: Any = retrain_model(
                model_name,
                reason=assess.retrain_reason(decision, force=force_retrain),
                window_end=end,
                triggered_by=current_flow_run_id(),
                episode=None if force_retrain or episode is None else episode.id,
                return_state=True,
            )
        retrain = RetrainResult(state.name, state.message or "", state.is_failed())
        summary = summary.with_retrain(retrain.name, retrain.message)
        print(f"retraining: {retrain.name}: {retrain.message}")
    # the report is written last, so it tells what the retraining branch did
    publish.publish_report(
        spec, summary, assessment, reference=reference, current=current, dry_run=dry_run
    )
    outcome = assess.monitor_end(label, decision, notes=notes, retrain=retrain, rejudge=rejudge)
    final = Failed if outcome.failed else Completed
    return final(name=outcome.name, message=outcome.message, data=summary)
