"""``monitor_model``: the scheduled job, one window of one model per run.

validate → score the champion's reference → realized metrics ∥ CBPE estimates ∥
feature drift (+ prediction / target drift) ∥ multivariate drift → judge the
window (realized metric, else the estimate, else dataset drift) → degradation
decision (k of n windows, or a CUSUM / Page–Hinkley detector) → persist →
artifacts → events → retrain branch.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from prefect import flow
from prefect.states import Completed, Failed
from pydantic import Field

from flows.common import (
    current_flow_run_id,
    earlier_windows,
    monitor_run_name,
    scheduled_start,
    window_bounds,
    window_label,
)
from flows.retrain import retrain_model
from flows.validate import validate_window
from modelwatch.summaries import MonitorSummary, monitor_markdown
from tasks import data, metrics, publish, registry, store


def _catch_up(model_name: str, start: datetime, window_hours: float, max_windows: int) -> None:
    """Monitor, oldest first, the earlier windows with no run in the store (``monitor-model`` subflows)."""
    candidates = earlier_windows(start, window_hours, max_windows)
    for _, end in store.unmonitored_windows(model_name, candidates):
        state: Any = monitor_model(
            model_name, window_end=end, window_hours=window_hours, return_state=True
        )
        print(f"catch-up {window_label(end - timedelta(hours=window_hours))}: {state.name}")


@flow(name="monitor-model", flow_run_name=monitor_run_name, log_prints=True)
def monitor_model(
    model_name: str = "credit",
    window_end: datetime | None = None,
    window_hours: Annotated[float, Field(gt=0)] | None = None,
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
        raise ValueError(
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
        _catch_up(model_name, start, hours, spec.schedule.catchup_max_windows)
    champion = registry.resolve_version(model_name, champion_version or "champion")
    validated = validate_window(
        model_name, end, (end - start).total_seconds() / 3600, dry_run=dry_run
    )
    window = validated.window
    if window.n_rows == 0:
        summary = MonitorSummary.empty(model_name, start, end, champion.version)
        return Completed(name="NoData", message=f"no predictions in window {label}", data=summary)

    reference = registry.load_reference(champion)
    baseline = registry.version_metric(champion, f"val_{spec.degradation.metric}")
    reference_outputs = metrics.score_reference(spec, champion, reference)
    metric_future = metrics.realized_metrics.submit(spec, window.labeled)
    estimate_future = metrics.estimated_metrics.submit(
        spec, reference, reference_outputs, window.predictions
    )
    profile = registry.load_profile(champion)
    drift_future = metrics.window_drift.submit(
        spec, reference, reference_outputs, window.predictions, window.labeled, profile
    )
    multivariate_future = metrics.multivariate_drift.submit(spec, reference, window.predictions)
    values = [
        *metric_future.result(),
        *estimate_future.result(),
        *multivariate_future.result(),
    ]
    drift = drift_future.result()
    judgement = metrics.judge_window(spec, values, drift, baseline)
    earlier = store.recent_bad_flags(model_name, start, champion.version, spec.degradation.n)
    series = None
    if spec.degradation.detector != "k_of_n" and judgement.value is not None:
        history = metrics.metric_series(
            model_name, spec.degradation.metric, start, champion.version
        )
        series = [*history, judgement.value]
    decision = metrics.decide_degradation(spec, [judgement.bad, *earlier], series, baseline)

    record = store.window_record(
        model_name,
        window,
        champion.version,
        values,
        drift,
        validated.report,
        judgement,
        decision,
        current_flow_run_id(),
    )
    if rejudge:  # the decision acted on when the window was first monitored stands
        record = store.keep_decision(record)
    store_run_id = None if dry_run else store.save_run(record)
    summary = MonitorSummary.build(
        record, values, drift, validated.report, judgement, decision, store_run_id
    )
    # optional analyses a small window skipped (each task logged its own skip)
    notes = metrics.small_window_notes(spec, window.n_rows, window.n_labeled)
    skipped = f" (skipped: {'; '.join(notes)})" if notes else ""
    markdown = monitor_markdown(summary, drift)
    if notes:
        markdown += "\nSkipped for lack of data: " + "; ".join(notes) + ".\n"
    publish.publish_markdown(f"{model_name}-monitor-summary", markdown, f"{model_name} {label}")
    publish.publish_drift_table(model_name, drift)
    episode = None
    # a dry run emits nothing and records nothing; a re-judge leaves decisions to live runs
    if decision.degraded and not dry_run and not rejudge:
        episode = store.degradation_episode(
            model_name, start, end, champion.version, spec.degradation.n, judgement.bad
        )
        # only mode "event" emits the event the on-degraded deployment retrains on
        event = "degraded" if spec.retraining.mode == "event" else "degradation-detected"
        publish.emit_model_event(
            event,
            model_name,
            {
                "window": label,
                "reason": decision.reason,
                "mode": spec.retraining.mode,
                "champion": champion.version,
                "episode": episode.id,
                "windows": episode.windows,
                "flow_run_id": current_flow_run_id(),
            },
        )
        publish.send_alert(
            spec,
            "degraded",
            f"{model_name} degraded at {label}",
            decision.reason,
            {"window": label, "champion": champion.version, **summary.metrics},
            {"report": publish.report_url(model_name, start)},
        )
    retrain = ((decision.degraded and spec.retraining.mode == "inline") or force_retrain) and (
        not rejudge
    )
    outcome = skipped
    retrain_state: Any = None
    if retrain and not dry_run:
        reason = "forced by parameter force_retrain" if force_retrain else decision.reason
        retrain_state = retrain_model(
            model_name,
            reason=reason,
            window_end=end,
            triggered_by=current_flow_run_id(),
            episode=None if force_retrain or episode is None else episode.id,
            return_state=True,
        )
        summary = summary.with_retrain(retrain_state.name, retrain_state.message or "")
        outcome += f"; retraining {retrain_state.name}: {retrain_state.message}"
    # the report is written last, so it tells what the retraining branch did
    publish.publish_report(
        spec,
        summary,
        drift,
        values,
        judgement.threshold,
        reference,
        window.predictions,
        validated.report,
        dry_run=dry_run,
    )
    if retrain_state is not None and retrain_state.is_failed():
        return Failed(
            message=f"{label}: degraded; retraining failed, champion unchanged: "
            f"{retrain_state.message}",
            data=summary,
        )
    message = f"{label}: {decision.reason}{outcome}"
    if rejudge:  # neither an alert nor a "flow run failed" automation: a note
        return Completed(
            name="Rejudged", message=f"{message} (re-judged; nothing emitted)", data=summary
        )
    if decision.degraded:
        # a FAILED-type state: red in Prefect's run lists, seen by "flow run failed"
        # automations; the name tells it apart from a crash or a bug
        return Failed(name="Degraded", message=message, data=summary)
    return Completed(message=message, data=summary)
