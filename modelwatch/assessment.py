"""One monitored window's assessment and everything assembled from it (pure; no Prefect).

A monitor run computes a :class:`WindowAssessment` — metrics, drift, validation
report, judgement, decision — and passes that one frozen value on: the store
record (:func:`window_record`), the run summary
(:meth:`modelwatch.summaries.MonitorSummary.build`), the HTML report's inputs
(:func:`report_history`, :func:`report_warnings`), the degradation event and
alert (:func:`degraded_event`, :func:`degraded_alert`), the retraining branch
(:func:`should_retrain`, :func:`retrain_reason`) and the run's final state
(:func:`monitor_end`). The validation gate's texts (artifact, alert, error) are
here too (:func:`unreadable_window`, :func:`failed_validation`,
:func:`quarantined_message`, :func:`passed_validation_markdown`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from modelwatch.alerting import AlertEpisode, EpisodeStep
from modelwatch.io.alerts import Alert
from modelwatch.io.reports import HistoryPoint, render_report
from modelwatch.io.store import RunRecord
from modelwatch.monitoring import Episode, Row, WindowStatus
from modelwatch.outcomes import AlertEvent, ModelEvent, StateName

if TYPE_CHECKING:
    import pandas as pd

    from modelwatch.io.gx_runtime import ValidationReport
    from modelwatch.spec import MonitorSpec
    from modelwatch.stats.degradation import DegradationDecision, WindowJudgement
    from modelwatch.stats.drift import DriftReport
    from modelwatch.stats.performance import MetricValue
    from modelwatch.summaries import MonitorSummary

__all__ = [
    "GateFailure",
    "RetrainResult",
    "RunEnd",
    "WindowAssessment",
    "degraded_alert",
    "degraded_event",
    "drift_table",
    "failed_validation",
    "monitor_end",
    "passed_validation_markdown",
    "quarantined_message",
    "report_history",
    "report_html",
    "report_warnings",
    "retrain_reason",
    "run_rows",
    "should_retrain",
    "unreadable_window",
    "window_record",
]


#: the retraining reason of a run with ``force_retrain``
FORCED_REASON = "forced by parameter force_retrain"


@dataclass(frozen=True)
class WindowAssessment:
    """What a monitor run found in one validated window and what it decided."""

    metrics: tuple[MetricValue, ...]
    """Realized, estimated (CBPE) and multivariate-drift values, overall and per segment."""
    drift: DriftReport
    report: ValidationReport | None
    """The window's validation report (None: not validated, e.g. no rows)."""
    judgement: WindowJudgement
    decision: DegradationDecision

    @property
    def status(self) -> WindowStatus:
        return WindowStatus.DEGRADED if self.decision.degraded else WindowStatus.OK

    @property
    def reason(self) -> str:
        """``<judgement>; <decision>`` — the stored run's reason."""
        return f"{self.judgement.reason}; {self.decision.reason}"


def run_rows(
    metrics: Sequence[MetricValue], drift: DriftReport | None, report: ValidationReport | None
) -> dict[str, list[dict[str, Any]]]:
    """Store rows of a window's results (plain dicts, PII-free by construction)."""
    metric_rows = [
        {
            k: v
            for k, v in asdict(m).items()
            if k in {"name", "kind", "segment", "value", "ci_low", "ci_high", "n"}
        }
        for m in metrics
    ]
    drift_rows = [
        {
            "column_name": d.column,
            "method": d.method,
            "statistic": d.statistic,
            "p_value": d.p_value,
            "threshold": d.threshold,
            "drifted": d.drifted,
            "missing_share_current": d.missing_share_current,
            "unseen_categories": ",".join(d.unseen_categories),
        }
        for d in (drift.columns if drift else ())
    ]
    validation_rows = [
        {
            "expectation": o.expectation_type,
            "column_name": o.column,
            "severity": o.severity,
            "success": o.success,
            "observed": o.observed,
        }
        for o in (report.outcomes if report else ())
    ]
    return {"metrics": metric_rows, "drift": drift_rows, "validation": validation_rows}


class WindowExtent(Protocol):
    """What a stored run needs of a window: an in-memory ``WindowData`` or a streamed one."""

    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def n_rows(self) -> int: ...
    @property
    def n_labeled(self) -> int: ...


def window_record(
    model: str,
    window: WindowExtent,
    *,
    assessment: WindowAssessment,
    champion_version: str,
    flow_run_id: str | None,
) -> RunRecord:
    """The store record of a validated window: status, bad flag, reason and result rows."""
    return RunRecord(
        model=model,
        window_start=window.start,
        window_end=window.end,
        status=assessment.status.value,  # plain text: every database driver stores it
        validation_passed=True,
        n_rows=window.n_rows,
        n_labeled=window.n_labeled,
        bad=assessment.judgement.bad,
        reason=assessment.reason,
        share_drifted=assessment.drift.share_drifted,
        threshold=assessment.judgement.threshold,
        champion_version=champion_version,
        flow_run_id=flow_run_id,
        **run_rows(assessment.metrics, assessment.drift, assessment.report),
    )


def report_history(rows: Iterable[Mapping[str, Any]]) -> list[HistoryPoint]:
    """The report's metric history from stored ``metric_history`` rows."""
    return [
        HistoryPoint(
            r["window_start"],
            r["value"],
            r["champion_version"],
            bool(r["bad"]),
            r.get("threshold"),
        )
        for r in rows
    ]


def report_html(
    spec: MonitorSpec,
    summary: MonitorSummary,
    assessment: WindowAssessment,
    *,
    history: Iterable[Mapping[str, Any]],
    reference: pd.DataFrame,
    current: pd.DataFrame,
) -> str:
    """The window's HTML report: its summary, metrics and drift, the watched metric's stored
    ``history`` (``metric_history`` rows) against the threshold, the validation warnings."""
    return render_report(
        summary,
        drift=assessment.drift,
        metrics=assessment.metrics,
        history=report_history(history),
        metric=spec.degradation.metric,
        threshold=assessment.judgement.threshold,
        reference=reference,
        current=current,
        warnings=report_warnings(assessment.report),
    )


def story(summary: MonitorSummary, assessment: WindowAssessment) -> list[str]:
    """The monitor run's log, one line per stage with its numbers (printed at INFO).

    Counts are the summary's (features apart from outputs), so the log, the summary
    artifact, the drift artifact and the report agree.
    """
    label = f"{summary.window_start:%Y-%m-%dT%H:%M}"
    lines = [f"window {label}: {summary.n_rows} rows, {summary.n_labeled} labeled"]
    lines.append(f"validation: {summary.validation}")
    judgement = assessment.judgement
    value = "n/a" if judgement.value is None else f"{judgement.value:.4f}"
    verdict = "bad window" if judgement.bad else "ok"
    lines.append(
        f"{judgement.metric} {value} vs threshold {judgement.threshold:.4f}: {verdict} "
        f"({judgement.reason})"
    )
    lines.append(drift_description(summary.model, assessment.drift))
    serving = {m.name: m.value for m in assessment.metrics if m.kind == "serving"}
    if "latency_p95_ms" in serving:
        lines.append(
            f"serving: {serving.get('rows_per_hour', 0):.0f} rows/h, latency p50 "
            f"{serving['latency_p50_ms']:.1f} ms, p95 {serving['latency_p95_ms']:.1f} ms, "
            f"p99 {serving.get('latency_p99_ms', float('nan')):.1f} ms"
        )
    decision = assessment.decision
    lines.append(
        f"decision: {'DEGRADED' if decision.degraded else 'not degraded'}: {decision.reason}"
    )
    return lines


def drift_description(model: str, drift: DriftReport) -> str:
    """The drift artifact's description, counted as the summary counts: features apart
    from the model's outputs (``prediction:`` / ``target:`` rows)."""
    features = drift.features
    drifted = drift.drifted_features
    text = f"Drift of {model}: {len(drifted)}/{len(features)} features drifted"
    outputs = [d.column for d in drift.columns if d.role != "feature" and d.drifted]
    if outputs:
        text += "; outputs drifted: " + ", ".join(outputs)
    return text


def drift_table(drift: DriftReport) -> list[dict[str, Any]]:
    """The drift table artifact's rows: one per column, values rounded to 4 digits."""
    return [
        {
            "column": d.column,
            "role": d.role,
            "method": d.method,
            "statistic": round(d.statistic, 4),
            "p_value": None if d.p_value is None else round(d.p_value, 4),
            "threshold": round(d.threshold, 4),
            "drifted": d.drifted,
            "missing_current": round(d.missing_share_current, 4),
            "unseen": ", ".join(d.unseen_categories),
        }
        for d in drift.columns
    ]


def report_warnings(report: ValidationReport | None) -> list[str]:
    """One line per non-critical failed expectation: ``<column or table>: <type> — <observed>``."""
    return [
        f"{o.column or 'table'}: {o.expectation_type} — {o.observed}"
        for o in (report.warnings if report else [])
    ]


def degraded_event(
    spec: MonitorSpec,
    *,
    label: str,
    decision: DegradationDecision,
    champion: str,
    episode: Episode,
    flow_run_id: str | None,
) -> tuple[str, dict[str, Any]]:
    """``(event, payload)`` of a degraded window.

    Only ``retraining.mode: event`` emits ``degraded`` (the on-degraded deployment
    retrains on it); the other modes emit the notification ``degradation-detected``.
    """
    event = (
        ModelEvent.DEGRADED if spec.retraining.mode == "event" else ModelEvent.DEGRADATION_DETECTED
    )
    payload = {
        "window": label,
        "reason": decision.reason,
        "mode": spec.retraining.mode,
        "champion": champion,
        "episode": episode.id,
        "windows": episode.windows,
        "flow_run_id": flow_run_id,
    }
    return event, payload


def degraded_alert(summary: MonitorSummary, *, label: str, reason: str, report_url: str) -> Alert:
    """The alert people get for a degraded window (its realized metrics, the report's link)."""
    return Alert(
        summary.model,
        AlertEvent.DEGRADED.value,
        f"{summary.model} degraded at {label}",
        reason,
        {"window": label, "champion": summary.champion_version, **summary.metrics},
        {"report": report_url},
    )


def episode_alert(alert: Alert, step: EpisodeStep, episode: AlertEpisode) -> Alert:
    """A degraded alert that says which message of its episode it is."""
    number = episode.messages
    title = alert.title if number == 1 else f"{alert.title} (still degraded, alert {number})"
    details = {**alert.details, "episode": episode.id, "alert_number": number}
    text = alert.text if number == 1 else f"{alert.text}\n{step.reason}"
    return replace(alert, title=title, text=text, details=details)


def resolved_alert(
    summary: MonitorSummary,
    *,
    label: str,
    step: EpisodeStep,
    episode: AlertEpisode,
    report_url: str,
) -> Alert:
    """The one message that ends a degradation episode."""
    return Alert(
        summary.model,
        AlertEvent.RESOLVED.value,
        f"{summary.model} healthy again at {label}",
        f"Degradation episode since {episode.first_window_start:%Y-%m-%d %H:%M} UTC resolved: "
        f"{step.reason}.",
        {
            "window": label,
            "champion": summary.champion_version,
            "episode": episode.id,
            "episode_champion": episode.champion_version,
            **summary.metrics,
        },
        {"report": report_url},
    )


def should_retrain(
    spec: MonitorSpec, decision: DegradationDecision, *, force: bool, rejudge: bool
) -> bool:
    """Inline retraining of a degraded window, or forced; never for a re-judge."""
    if rejudge:
        return False
    return (decision.degraded and spec.retraining.mode == "inline") or force


def retrain_reason(decision: DegradationDecision, *, force: bool) -> str:
    return FORCED_REASON if force else decision.reason


@dataclass(frozen=True)
class RetrainResult:
    """How the retraining subflow ended (its final state's name and message)."""

    name: str
    message: str
    failed: bool


@dataclass(frozen=True)
class RunEnd:
    """A run's final state: its name, message and whether it is FAILED-type.

    ``name`` is plain text (Prefect stores it; a :class:`StateName` member is that text).
    """

    name: str
    message: str
    failed: bool = False


def monitor_end(
    label: str,
    decision: DegradationDecision,
    *,
    notes: Sequence[str] = (),
    retrain: RetrainResult | None = None,
    rejudge: bool = False,
) -> RunEnd:
    """The monitor run's final state.

    Retraining failed: ``Failed`` (champion unchanged). A re-judge: ``Rejudged``
    (COMPLETED-type: neither an alert nor a "flow run failed" automation). Degraded:
    ``Degraded``, a FAILED-type state (red in Prefect's run lists, seen by "flow run
    failed" automations; its name tells it from a crash). Else ``Completed``. The
    message names the window, the decision, skipped analyses and the retraining outcome.
    """
    if retrain is not None and retrain.failed:
        return RunEnd(
            "Failed",
            f"{label}: degraded; retraining failed, champion unchanged: {retrain.message}",
            failed=True,
        )
    message = f"{label}: {decision.reason}"
    if notes:
        message += f" (skipped: {'; '.join(notes)})"
    if retrain is not None:
        message += f"; retraining {retrain.name}: {retrain.message}"
    if rejudge:
        return RunEnd(StateName.REJUDGED, f"{message} (re-judged; nothing emitted)")
    if decision.degraded:
        return RunEnd(StateName.DEGRADED, message, failed=True)
    return RunEnd("Completed", message)


# -- the validation gate: what a failed or passed validation publishes and raises ----------


@dataclass(frozen=True)
class GateFailure:
    """A window refused by validation: the artifact, the alert and the error message."""

    markdown: str
    description: str
    """The markdown artifact's description."""
    alert: Alert
    message: str
    """The ``ValidationFailed`` message (window, model, files quarantined, why)."""


def quarantined_message(model: str, *, label: str, start: datetime, held: Sequence[Row]) -> str:
    """Why a window with held quarantine rows is refused, and the command that releases it."""
    first = held[0]
    return (
        f"window {label} of model {model!r} is quarantined ({len(held)} file(s), "
        f"since {first['created_at']:%Y-%m-%d %H:%M} UTC; reason: "
        f"{first['reason'].splitlines()[0].rstrip(':')}). Fix the data, then run "
        f"`modelwatch quarantine release {model} --window-start {start.isoformat()}` "
        "and re-run the window."
    )


def unreadable_window(model: str, *, label: str, error: str, n_files: int) -> GateFailure:
    """A window whose data cannot be read (its files are quarantined, none modified)."""
    return GateFailure(
        markdown=f"# Window unreadable: {model} {label}\n\n{error}\n\n"
        f"Files quarantined (left untouched): {n_files}\n",
        description="The window's data cannot be read",
        alert=Alert(
            model,
            AlertEvent.VALIDATION_FAILED.value,
            f"{model} {label}: window unreadable",
            error,
            {"window": label, "files": n_files},
        ),
        message=f"window {label} of model {model!r} cannot be read: {error}\n"
        f"{n_files} file(s) quarantined, none modified.",
    )


def failed_validation(model: str, *, label: str, summary: str, n_files: int) -> GateFailure:
    """A window with critical expectation failures (its files are quarantined)."""
    return GateFailure(
        markdown=f"# Validation failed: {model} {label}\n\n"
        f"Files quarantined (left untouched): {n_files}\n\n```\n{summary}\n```\n",
        description="Critical expectation failures",
        alert=Alert(
            model,
            AlertEvent.VALIDATION_FAILED.value,
            f"{model} {label}: critical expectations failed",
            summary,
            {"window": label, "files": n_files},
        ),
        message=f"window {label} of model {model!r} failed validation; "
        f"{n_files} file(s) quarantined, none modified.\n{summary}",
    )


def passed_validation_markdown(model: str, *, label: str, report: ValidationReport) -> str:
    """The artifact of a window that passed (its warnings listed in the summary)."""
    warnings = f" — {len(report.warnings)} warning(s)" if report.warnings else ""
    return f"# Validation passed: {model} {label}{warnings}\n\n```\n{report.summary()}\n```\n"
