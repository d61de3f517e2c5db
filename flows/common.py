"""Helpers shared by the flows: the run's scheduled time, run names, the CLI's watchdog.

Window arithmetic is the library's (:mod:`modelwatch.monitoring`); it is re-exported
here for the flows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
    "subflow_settings",
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
    unfinished flow runs Crashed and stops the Prefect temporary server it started.
    The top-level run is given the tag the watchdog looks for when it starts running
    (an ``on_running`` hook); the watchdog finds its subflows by their parent. The tag
    is not put in Prefect's tags context: every task run would inherit it, and Prefect
    asks the API for a concurrency slot for each tagged task run (about 0.1 s each, 3 s
    of a monitor run on this kind of machine).
    """
    from modelwatch import watchdog

    tag = watchdog.run_tag()
    watchdog.start(tag)
    tagged = flow.with_options(on_running=[*flow.on_running_hooks, _tag_run(tag)])
    return tagged(**parameters, return_state=True)


def _tag_run(tag: str) -> Any:
    """An ``on_running`` hook that adds ``tag`` to the flow run (once: not its retries)."""

    def tag_for_watchdog(flow: Any, flow_run: Any, state: Any) -> None:
        if tag in (flow_run.tags or []):
            return
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            client.update_flow_run(flow_run.id, tags=sorted({*(flow_run.tags or []), tag}))

    return tag_for_watchdog


@contextmanager
def subflow_settings() -> Iterator[None]:
    """Call subflows in this block without a heartbeat thread of their own.

    Prefect 3.8 starts a heartbeat thread for every flow run (``flows.heartbeat_frequency``,
    180 s) and joins it when the run ends; the thread sleeps in 1-second steps, so every
    subflow ends up to 1 s late (an empty subflow: 1.35 s instead of 0.6 s against a
    local server, measured). The top-level run keeps its heartbeats (Prefect's crash
    detection looks at them); a subflow runs in the same process, so it lives and dies
    with its parent, and the CLI's watchdog crashes the subflows of a killed command.
    """
    import prefect.context

    current = prefect.context.get_settings_context()
    flows = current.settings.flows.model_copy(update={"heartbeat_frequency": None})
    settings = current.settings.model_copy(update={"flows": flows})
    with prefect.context.SettingsContext(profile=current.profile, settings=settings):
        yield
