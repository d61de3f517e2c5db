"""Helpers shared by the flows: the run's scheduled time, run names, the CLI's watchdog.

Window arithmetic is the library's (:mod:`modelwatch.monitoring`); it is re-exported
here for the flows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelwatch.monitoring import earlier_windows, window_bounds
from modelwatch.settings import get_settings
from modelwatch.spec import find_spec
from modelwatch.summaries import window_label

__all__ = [
    "current_flow_run_id",
    "earlier_windows",
    "monitor_run_name",
    "run_with_watchdog",
    "scheduled_start",
    "window_bounds",
    "window_label",
]


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
