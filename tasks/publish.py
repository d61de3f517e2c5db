"""Publishing tasks: Prefect artifacts a person can click, and Prefect events."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.events import emit_event

from modelwatch.io import alerts, reports
from modelwatch.io.gx_runtime import ValidationReport
from modelwatch.io.store import Store
from modelwatch.settings import get_settings
from modelwatch.spec import MonitorSpec, find_spec
from modelwatch.stats.drift import DriftReport
from modelwatch.stats.performance import MetricValue
from modelwatch.summaries import MonitorSummary
from tasks import TASK_DEFAULTS


def artifact_key(*parts: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    raw = "-".join(parts).lower()
    return "".join(ch if ch.isalnum() else "-" for ch in raw).strip("-")


@task(name="publish-markdown", **TASK_DEFAULTS)
def publish_markdown(key: str, markdown: str, description: str) -> None:
    create_markdown_artifact(markdown=markdown, key=artifact_key(key), description=description)


@task(name="publish-drift-table", **TASK_DEFAULTS)
def publish_drift_table(model_name: str, drift: DriftReport) -> None:
    rows = [
        {
            "column": d.column,
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
    create_table_artifact(
        table=rows,
        key=artifact_key(model_name, "drift"),
        description=f"Feature drift of {model_name}: {len(drift.drifted_columns)}/{len(rows)} drifted",
    )


@task(name="publish-link", **TASK_DEFAULTS)
def publish_link(key: str, link: str, text: str, description: str) -> None:
    create_link_artifact(link=link, link_text=text, key=artifact_key(key), description=description)


@task(name="emit-model-event", **TASK_DEFAULTS)
def emit_model_event(event: str, model_name: str, payload: Mapping[str, Any]) -> None:
    """Emit ``modelwatch.model.<event>`` about resource ``modelwatch.model.<name>``."""
    emit_event(
        event=f"modelwatch.model.{event}",
        resource={"prefect.resource.id": f"modelwatch.model.{model_name}", "model": model_name},
        payload=dict(payload),
    )


def report_url(model: str, window_start: datetime, *, dry_run: bool = False) -> str:
    """The ``file://`` URL of a window's report (written at the end of its run)."""
    root = get_settings().reports_dir
    path = reports.report_path(
        reports_dir=root / "_dry-run" if dry_run else root, model=model, window_start=window_start
    )
    return path.resolve().as_uri()


@task(name="publish-report", **TASK_DEFAULTS)
def publish_report(
    spec: MonitorSpec,
    summary: MonitorSummary,
    drift: DriftReport,
    metrics: list[MetricValue],
    threshold: float | None,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    validation: ValidationReport | None,
    dry_run: bool = False,
) -> str:
    """Render the window's HTML report (plots inlined), write it, link it from the run.

    A dry run writes under ``reports/_dry-run/`` and never replaces a window's report.
    """
    settings = get_settings()
    store = Store(settings.resolved_store_url)
    try:
        store.check_schema()
        rows = store.metric_history(spec.name, spec.degradation.metric, limit=48)
    finally:
        store.dispose()
    history = [
        reports.HistoryPoint(r["window_start"], r["value"], r["champion_version"], bool(r["bad"]))
        for r in rows
    ]
    warnings = [
        f"{o.column or 'table'}: {o.expectation_type} — {o.observed}"
        for o in (validation.warnings if validation else [])
    ]
    text = reports.render_report(
        summary,
        drift=drift,
        metrics=metrics,
        history=history,
        metric=spec.degradation.metric,
        threshold=threshold,
        reference=reference,
        current=current,
        warnings=warnings,
    )
    path = reports.write_report(
        text,
        reports_dir=settings.reports_dir / "_dry-run" if dry_run else settings.reports_dir,
        model=spec.name,
        window_start=summary.window_start,
    )
    create_link_artifact(
        link=path.resolve().as_uri(),
        link_text=f"HTML report {path.name}" + (" (dry run)" if dry_run else ""),
        key=artifact_key(spec.name, "report"),
        description=f"Report with plots of {spec.name} window {summary.window_start:%Y-%m-%d %H:%M}",
    )
    return str(path)


@task(name="send-alert", task_run_name="alert-{event}-{spec.name}", **TASK_DEFAULTS)
def send_alert(
    spec: MonitorSpec,
    event: str,
    title: str,
    text: str,
    details: Mapping[str, Any],
    links: Mapping[str, str] | None = None,
) -> list[alerts.Delivery]:
    """Send an alert to the spec's channels; a failed channel is logged, never fatal."""
    alert = alerts.Alert(spec.name, event, title, text, dict(details), dict(links or {}))
    deliveries = alerts.dispatch(alert, spec.alerts)
    logger = get_run_logger()
    for delivery in deliveries:
        if not delivery.ok:
            logger.warning("alert %s via %s failed: %s", event, delivery.channel, delivery.error)
    return deliveries


@task(name="notify", task_run_name="notify-{event}-{model_name}", **TASK_DEFAULTS)
def notify(model_name: str, event: str, text: str, details: Mapping[str, Any]) -> None:
    """A Prefect event for automations and an alert for people, about one model."""
    emit_model_event.fn(event, model_name, details)
    spec = find_spec(model_name, get_settings().resolved_specs_dir)
    send_alert.fn(spec, event, f"{model_name} {event.replace('_', ' ')}", text, details)
