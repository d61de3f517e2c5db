"""Publishing tasks: Prefect artifacts a person can click, and Prefect events."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.events import emit_event

from modelwatch.alerting import EpisodeStep
from modelwatch.assessment import (
    WindowAssessment,
    drift_description,
    drift_table,
    episode_alert,
    report_html,
    resolved_alert,
)
from modelwatch.dashboard import links
from modelwatch.io import alert_episodes, alerts, reports
from modelwatch.io.store import Store
from modelwatch.settings import get_settings
from modelwatch.spec import MonitorSpec, find_spec
from modelwatch.stats.drift import DriftReport
from modelwatch.summaries import MonitorSummary
from tasks import TASK_DEFAULTS
from tasks.store import open_store


def artifact_key(*parts: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    raw = "-".join(parts).lower()
    return "".join(ch if ch.isalnum() else "-" for ch in raw).strip("-")


@task(name="publish-markdown", **TASK_DEFAULTS)
def publish_markdown(key: str, markdown: str, description: str) -> None:
    create_markdown_artifact(markdown=markdown, key=artifact_key(key), description=description)


@task(name="publish-drift-table", **TASK_DEFAULTS)
def publish_drift_table(model_name: str, drift: DriftReport) -> None:
    create_table_artifact(
        table=drift_table(drift),
        key=artifact_key(model_name, "drift"),
        description=drift_description(model_name, drift),
    )


@task(name="publish-link", **TASK_DEFAULTS)
def publish_link(key: str, link: str, text: str, description: str) -> None:
    create_link_artifact(link=link, link_text=text, key=artifact_key(key), description=description)


def _emit(event: str, model_name: str, payload: Mapping[str, Any]) -> None:
    emit_event(
        event=f"modelwatch.model.{event}",
        resource={"prefect.resource.id": f"modelwatch.model.{model_name}", "model": model_name},
        payload=dict(payload),
    )


@task(name="emit-model-event", **TASK_DEFAULTS)
def emit_model_event(event: str, model_name: str, payload: Mapping[str, Any]) -> None:
    """Emit ``modelwatch.model.<event>`` about resource ``modelwatch.model.<name>``."""
    _emit(event, model_name, payload)


def report_url(model: str, window_start: datetime, *, dry_run: bool = False) -> str:
    """Where people open a window's report: the dashboard (``MODELWATCH_DASHBOARD_URL``),
    else the ``file://`` path on this worker; a dry run's report is always the file."""
    path = reports.report_path(
        reports_dir=_reports_dir(dry_run=dry_run), model=model, window_start=window_start
    )
    base = get_settings().dashboard_url
    if base and not dry_run:
        return links.report_url(model, path.name, base=base)
    return path.resolve().as_uri()


def data_docs_link(location: str) -> str:
    """A Data Docs page as people open it: on the dashboard (``MODELWATCH_DASHBOARD_URL``)
    when the page is in this home's site, else the ``file://`` URL GX gave."""
    settings = get_settings()
    if not settings.dashboard_url:
        return location
    url = links.data_docs_url_for(
        location, data_docs_dir=settings.data_docs_dir, base=settings.dashboard_url
    )
    return url or location


def _reports_dir(*, dry_run: bool) -> Path:
    """``reports/``; a dry run's ``reports/_dry-run/`` (never over a window's real report)."""
    root = get_settings().reports_dir
    return root / "_dry-run" if dry_run else root


def _metric_history(spec: MonitorSpec) -> list[dict[str, Any]]:
    """The watched metric's stored history, for the report's plot."""
    with Store.open(get_settings().resolved_store_url) as store:
        return store.metric_history(spec.name, spec.degradation.metric, limit=48)


@task(name="publish-report", **TASK_DEFAULTS)
def publish_report(
    spec: MonitorSpec,
    summary: MonitorSummary,
    assessment: WindowAssessment,
    *,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    dry_run: bool = False,
) -> str:
    """Render the window's HTML report (plots inlined), write it, link it from the run.

    A dry run writes under ``reports/_dry-run/`` and never replaces a window's report.
    """
    history = _metric_history(spec)
    text = report_html(
        spec, summary, assessment, history=history, reference=reference, current=current
    )
    start = summary.window_start
    root = _reports_dir(dry_run=dry_run)
    path = reports.write_report(text, reports_dir=root, model=spec.name, window_start=start)
    create_link_artifact(
        link=report_url(spec.name, start, dry_run=dry_run),
        link_text=f"HTML report {path.name}" + (" (dry run)" if dry_run else ""),
        key=artifact_key(spec.name, "report"),
        description=f"Report with plots of {spec.name} window {start:%Y-%m-%d %H:%M}",
    )
    return str(path)


def _deliver(spec: MonitorSpec, alert: alerts.Alert) -> list[alerts.Delivery]:
    deliveries = alerts.dispatch(alert, spec.alerts.channels)
    logger = get_run_logger()
    for delivery in deliveries:
        if not delivery.ok:
            logger.warning(
                "alert %s via %s failed: %s", alert.event, delivery.channel, delivery.error
            )
    return deliveries


@task(name="send-alert", task_run_name="alert-{alert.event}-{spec.name}", **TASK_DEFAULTS)
def send_alert(spec: MonitorSpec, alert: alerts.Alert) -> list[alerts.Delivery]:
    """Send an alert to the spec's channels; a failed channel is logged, never fatal."""
    return _deliver(spec, alert)


@task(name="alert-degraded", task_run_name="alert-degraded-{spec.name}", **TASK_DEFAULTS)
def alert_degraded(
    spec: MonitorSpec, alert: alerts.Alert, champion: str, window_start: datetime
) -> EpisodeStep:
    """The degraded alert once per episode, then every ``alerts.repeat_hours`` (modelwatch.alerting)."""
    with open_store() as store:
        step, episode = alert_episodes.record_degraded(
            store,
            spec.name,
            window_start=window_start,
            champion_version=champion,
            repeat_hours=spec.alerts.repeat_hours,
        )
    if step.sends:
        _deliver(spec, episode_alert(alert, step, episode))
    else:
        get_run_logger().info("degraded alert not sent: %s", step.reason)
    return step


@task(name="alert-resolved", task_run_name="alert-resolved-{summary.model}", **TASK_DEFAULTS)
def alert_resolved(spec: MonitorSpec, summary: MonitorSummary, label: str) -> EpisodeStep:
    """A healthy window ends the model's open degradation episode with one "resolved" alert."""
    with open_store() as store:
        step, episode = alert_episodes.record_healthy(
            store, spec.name, window_start=summary.window_start
        )
    if step.sends and episode is not None and spec.alerts.resolve:
        url = report_url(spec.name, summary.window_start)
        _deliver(
            spec, resolved_alert(summary, label=label, step=step, episode=episode, report_url=url)
        )
    return step


@task(name="notify", task_run_name="notify-{event}-{model_name}", **TASK_DEFAULTS)
def notify(model_name: str, event: str, text: str, details: Mapping[str, Any]) -> None:
    """A Prefect event for automations and an alert for people, about one model."""
    _emit(event, model_name, details)
    spec = find_spec(model_name, get_settings().resolved_specs_dir)
    title = f"{model_name} {event.replace('_', ' ')}"
    _deliver(spec, alerts.Alert(model_name, event, title, text, dict(details)))
