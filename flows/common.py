"""Helpers shared by the flows: window arithmetic and run names (no computation)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from modelwatch.settings import get_settings
from modelwatch.spec import find_spec


def window_bounds(
    window_end: datetime | None, window_hours: float, *, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """``[end - hours, end)``; without an end, the last complete window before ``now``.

    ``now`` defaults to the wall clock (UTC); a scheduled run passes its scheduled
    start time (:func:`scheduled_start`), so a late run monitors its own window.
    """
    step = timedelta(hours=window_hours)
    if window_end is None:
        now = datetime.now(UTC) if now is None else now.astimezone(UTC)
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        window_end = epoch + ((now - epoch) // step) * step
    elif window_end.tzinfo is None:
        window_end = window_end.replace(tzinfo=UTC)
    else:
        window_end = window_end.astimezone(UTC)
    return window_end - step, window_end


def window_label(start: datetime) -> str:
    return start.strftime("%Y-%m-%dT%H") if start.minute == 0 else start.strftime("%Y-%m-%dT%H%M")


def earlier_windows(
    start: datetime, window_hours: float, count: int
) -> list[tuple[datetime, datetime]]:
    """The ``count`` windows just before the one starting at ``start``, oldest first."""
    step = timedelta(hours=window_hours)
    return [(start - i * step, start - (i - 1) * step) for i in range(count, 0, -1)]


def scheduled_start() -> datetime | None:
    """This flow run's scheduled start (``expected_start_time``, UTC) when it runs from a deployment.

    A deployment's run (cron schedule, event trigger, run form) monitors the window
    before its *scheduled* time, however late it starts; a flow called directly
    (tests, the CLI, the demo) or outside a run gets None: the wall clock decides.
    """
    from prefect.runtime import deployment, flow_run

    if not flow_run.id or not deployment.id:
        return None
    when = flow_run.scheduled_start_time
    return datetime.fromisoformat(when.isoformat()).astimezone(UTC)


def monitor_run_name() -> str:
    """``monitor-<model>-<window start>``, e.g. ``monitor-credit-2026-11-23T10``."""
    from prefect.runtime import flow_run

    params = flow_run.parameters
    model = params.get("model_name", "model")
    hours = params.get("window_hours")
    if hours is None:
        try:
            hours = find_spec(model, get_settings().resolved_specs_dir).schedule.window_hours
        except Exception:
            hours = 1.0
    end = params.get("window_end")
    if isinstance(end, str):
        end = datetime.fromisoformat(end)
    start, _ = window_bounds(end, float(hours), now=None if end else scheduled_start())
    return f"monitor-{model}-{window_label(start)}"


def current_flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    run_id = flow_run.id
    return str(run_id) if run_id else None


def run_with_watchdog(flow: Any, **parameters: Any) -> Any:
    """Run a flow in this process with a watchdog and return its final state (the CLI's way).

    If the process is killed, the watchdog (:mod:`modelwatch.watchdog`) marks its
    unfinished flow runs Crashed and stops the Prefect temporary server it started;
    the runs carry the tag it looks for.
    """
    from prefect import tags

    from modelwatch import watchdog

    tag = watchdog.run_tag()
    watchdog.start(tag)
    with tags(tag):
        return flow(**parameters, return_state=True)
