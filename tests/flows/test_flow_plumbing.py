"""Flow plumbing the CLI relies on: lean subflows, and the watchdog finding a killed
command's subflows by their parent (only the top-level run carries its tag)."""

from __future__ import annotations

from typing import Any

from prefect import flow


def test_subflows_run_without_a_heartbeat_thread_the_parent_keeps_its_own() -> None:
    from prefect.settings import get_current_settings

    from flows.common import subflow_settings

    seen: dict[str, Any] = {}

    @flow
    def child() -> None:
        seen["child"] = get_current_settings().flows.heartbeat_frequency

    @flow
    def parent() -> None:
        seen["parent"] = get_current_settings().flows.heartbeat_frequency
        with subflow_settings():
            child()
        seen["after"] = get_current_settings().flows.heartbeat_frequency

    parent()
    assert seen["child"] is None
    assert seen["parent"] == seen["after"] == get_current_settings().flows.heartbeat_frequency
    assert seen["parent"] is not None


def test_the_watchdog_crashes_the_tagged_run_and_every_unfinished_run_below_it() -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.settings import get_current_settings
    from prefect.states import Completed, Running

    from modelwatch import watchdog

    @flow(name="watchdog-probe")
    def probe() -> None:  # only its identity is used: runs are created through the API
        return None

    tag = "modelwatch-cli:test-host:4242"
    with get_client(sync_client=True) as client:

        def child_of(parent: Any, state: Any) -> Any:
            task = client.create_task_run(
                task=_tracking_task(), flow_run_id=parent.id, dynamic_key=str(id(state)),
                state=Running(),
            )  # fmt: skip
            return client.create_flow_run(probe, parent_task_run_id=task.id, state=state)

        top = client.create_flow_run(probe, tags=[tag], state=Running())
        sub = child_of(top, Running())
        subsub = child_of(sub, Running())
        done = child_of(top, Completed())
        stranger = client.create_flow_run(probe, state=Running())

        url = str(get_current_settings().api.url)
        assert watchdog.crash_tagged_runs(url, tag, reason="test: killed") == 3
        states = {
            r.id: client.read_flow_run(r.id).state for r in (top, sub, subsub, done, stranger)
        }
    assert [states[r.id].type for r in (top, sub, subsub)] == [StateType.CRASHED] * 3
    assert states[top.id].message == "test: killed"
    assert states[done.id].type == StateType.COMPLETED
    assert states[stranger.id].type == StateType.RUNNING


def _tracking_task() -> Any:
    from prefect import task

    @task(name="watchdog-probe-subflow")
    def tracking() -> None:
        return None

    return tracking
