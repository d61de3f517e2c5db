"""Scheduled windows, catch-up and degradation episodes (Prefect test harness).

A deployment's run takes its window from its scheduled start: here the test stands
in for the deployment by patching :func:`flows.common.scheduled_start` (the real
thing against a Prefect server is ``tests/integration/test_schedule_server.py``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import flows.common
import flows.monitor
from flows.monitor import monitor_model
from flows.retrain import retrain_model
from tests.flows.conftest import World
from tests.flows.test_retrain import record_validated, spec_variant


def _scheduled_at(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    for module in (flows.common, flows.monitor):
        monkeypatch.setattr(module, "scheduled_start", lambda: when)


def _flow_runs(since: datetime) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterStartTime
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since)),
            sort=FlowRunSort.START_TIME_ASC,
        )
    return [r for r in runs if r.name.startswith("monitor-credit-")]


def _stored_windows(world: World) -> list[datetime]:
    store = world.store()
    try:
        return sorted(r["window_start"] for r in store.runs("credit"))
    finally:
        store.dispose()


def test_a_late_scheduled_run_catches_up_missing_windows_in_order_then_its_own(
    fresh_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = fresh_world
    spec_variant(world, tmp_path, monkeypatch, schedule={"catchup_max_windows": 3})
    for index in range(1, 5):
        world.serve(index)
    monitor_model(model_name="credit", window_end=world.window(2)[1])  # window 2 is done
    # the run scheduled at 05:00 starts 47 minutes late: it still owns window 4 (04:00-05:00)
    _scheduled_at(monkeypatch, world.first + timedelta(hours=5))
    since = datetime.now().astimezone()

    state = monitor_model(model_name="credit", return_state=True)

    assert state.is_completed(), state.message
    runs = _flow_runs(since)
    assert [r.name for r in runs] == [
        "monitor-credit-2026-11-20T04",  # the scheduled run (started first) ...
        "monitor-credit-2026-11-20T01",  # ... runs the missing windows as subflows, oldest first
        "monitor-credit-2026-11-20T03",
    ]
    parent = runs[0]
    assert [r.parent_task_run_id is not None for r in runs] == [False, True, True]
    assert all(r.state is not None and r.state.is_completed() for r in runs)
    assert runs[1].end_time is not None and runs[2].start_time >= runs[1].end_time
    assert parent.parameters.get("window_end") is None
    assert runs[1].parameters["window_end"] is not None
    assert _stored_windows(world) == [world.window(i)[0] for i in (1, 2, 3, 4)]

    # the same scheduled run again: nothing is missing, its own window is replaced
    since = datetime.now().astimezone()
    monitor_model(model_name="credit")
    assert [r.name for r in _flow_runs(since)] == ["monitor-credit-2026-11-20T04"]
    assert _stored_windows(world) == [world.window(i)[0] for i in (1, 2, 3, 4)]


def test_catch_up_is_off_by_default_and_for_explicit_windows(
    fresh_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = fresh_world
    for index in (2, 3):
        world.serve(index)
    _scheduled_at(monkeypatch, world.first + timedelta(hours=4, minutes=59))
    since = datetime.now().astimezone()

    monitor_model(model_name="credit")  # the demo spec: catchup_max_windows 0
    monitor_model(model_name="credit", window_end=world.window(2)[1])  # explicit window

    assert [r.name for r in _flow_runs(since)] == [
        "monitor-credit-2026-11-20T03",
        "monitor-credit-2026-11-20T02",
    ]
    assert _stored_windows(world) == [world.window(i)[0] for i in (2, 3)]


def test_one_degradation_episode_is_retrained_at_most_once(fresh_world: World) -> None:
    world = fresh_world
    for index in (6, 7):
        record_validated(world, index)
    windows = [world.window(6), world.window(7)]

    first = retrain_model(
        model_name="credit", windows=windows, episode="credit-v1-2026-11-20T0700", return_state=True
    )
    again = retrain_model(
        model_name="credit", windows=windows, episode="credit-v1-2026-11-20T0700", return_state=True
    )

    assert first.name in {"Promoted", "Rejected"}, first.message
    assert again.name == "AlreadyRetrained"
    assert "credit-v1-2026-11-20T0700 was already retrained" in (again.message or "")
    store = world.store()
    try:
        retrains = store.decisions("credit", kind="retrain")
        claims = store.decisions("credit", kind="retrain-episode")
        skipped = store.decisions("credit", kind="retrain-skipped")
    finally:
        store.dispose()
    assert len(retrains) == 1
    assert retrains[0]["details"]["episode"] == "credit-v1-2026-11-20T0700"
    # trained on exactly the given windows (the newest share held out for the A/B test)
    assert retrains[0]["details"]["windows"] == [[s.isoformat(), e.isoformat()] for s, e in windows]
    assert [c["details"]["episode"] for c in claims] == ["credit-v1-2026-11-20T0700"]
    assert [s["outcome"] for s in skipped] == ["duplicate-episode"]


@pytest.mark.parametrize("mode", ["inline", "event"])
def test_only_event_mode_emits_the_event_that_retrains(
    mode: str, fresh_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks.publish

    world = fresh_world
    spec_variant(world, tmp_path, monkeypatch, retraining={"mode": mode})
    emitted: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(
        tasks.publish,
        "emit_model_event",
        lambda event, model, payload: emitted.append((event, dict(payload))),
    )
    for index in (6, 7):
        world.serve(index)

    for index in (6, 7):
        monitor_model(model_name="credit", window_end=world.window(index)[1], return_state=True)

    expected = "degraded" if mode == "event" else "degradation-detected"
    assert [event for event, _ in emitted] == [expected]
    payload = emitted[0][1]
    assert payload["mode"] == mode
    assert payload["episode"] == "credit-v1-2026-11-20T0700"
    assert payload["windows"] == [
        [s.isoformat(), e.isoformat()] for s, e in map(world.window, (6, 7))
    ]
    store = world.store()
    try:
        retrains = store.decisions("credit", kind="retrain")
    finally:
        store.dispose()
    if mode == "inline":  # the monitor retrained itself, under the episode's claim
        assert [r["details"]["episode"] for r in retrains] == ["credit-v1-2026-11-20T0700"]
    else:  # the on-degraded deployment's job, not the monitor's
        assert retrains == []


def test_a_run_scheduled_at_2006_with_six_minute_windows_is_named_and_monitors_2000_2006(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduled = world.first + timedelta(days=3, hours=20, minutes=6)
    _scheduled_at(monkeypatch, scheduled)
    since = datetime.now().astimezone()

    state = monitor_model(model_name="credit", window_hours=0.1, return_state=True)

    (run,) = _flow_runs(since)
    assert run.name == "monitor-credit-2026-11-23T20"  # minutes shown when not :00
    summary = state.result()
    assert (summary.window_start, summary.window_end) == (
        scheduled - timedelta(minutes=6),
        scheduled,
    )
