"""``monitor-fleet``: every model's due window in one run; one broken model stops no other.

One world for the module: three copies of the demo's credit spec (own registered model,
data folder and suite each); ``fleet-c``'s prediction log holds a truncated Parquet file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelwatch import demo as demo_lib
from modelwatch import simulate
from modelwatch.settings import Settings, get_settings
from modelwatch.spec import find_spec, resolve_path
from tests.specs import spec_path

MODELS = ("fleet-a", "fleet-b", "fleet-c")
BROKEN = "fleet-c"
START = datetime(2026, 11, 20, 10, tzinfo=UTC)
END = START + timedelta(hours=1)


@dataclass
class Fleet:
    settings: Settings


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("fleet")
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("MODELWATCH_HOME", str(tmp / "home"))
        mp.setenv("MODELWATCH_EXPECTATIONS_DIR", str(tmp / "expectations"))
        mp.setenv("MODELWATCH_SPECS_DIR", str(tmp / "specs"))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("MODELWATCH_STORE_URL", raising=False)
        (tmp / "specs").mkdir()
        credit = spec_path("credit").read_text()
        for name in MODELS:
            text = credit.replace("name: credit", f"name: {name}")
            text = text.replace("demo/credit/", f"demo/{name}/")
            (tmp / "specs" / f"{name}.yaml").write_text(text)
        settings = get_settings()
        settings.ensure_home()
        for name in MODELS:
            spec = find_spec(name, settings.resolved_specs_dir)
            demo_lib.bootstrap(spec, settings, seed=0)
            demo_lib.ensure_suite(spec, settings, rows_per_window=800)
            demo_lib.serve_window(
                spec,
                settings,
                index=0,
                start=START,
                end=END,
                rows=800,
                seed=0,
                scenario=simulate.Scenario(drift_start=6),
            )
        broken = find_spec(BROKEN, settings.resolved_specs_dir).sources.predictions
        folder = Path(resolve_path(broken.path, settings.home_dir))
        (folder / "2026-11-20T1030.parquet").write_bytes(b"PAR1 truncated")
        yield Fleet(settings)
    finally:
        mp.undo()


def _monitored(settings: Settings, model: str) -> list[datetime]:
    from modelwatch.io.store import Store

    with Store.open(settings.resolved_store_url) as store:
        return [row["window_start"] for row in store.runs(model)]


def test_the_fleet_monitors_every_model_and_reports_the_one_that_failed(fleet: Fleet) -> None:
    from flows.fleet import monitor_fleet

    state = monitor_fleet(window_end=END, return_state=True)
    assert state.is_failed()
    assert "failed: fleet-c" in (state.message or "")
    summary = state.result(raise_on_failure=False)
    by_model = {o.model: o for o in summary.outcomes}
    assert sorted(by_model) == list(MODELS)
    assert not by_model["fleet-a"].failed and not by_model["fleet-b"].failed
    assert by_model["fleet-a"].state in {"Completed", "Degraded"}
    assert by_model[BROKEN].failed and "truncated" not in by_model[BROKEN].state
    assert by_model[BROKEN].window == "2026-11-20T10"
    for model in ("fleet-a", "fleet-b"):
        assert [w.replace(tzinfo=UTC) for w in _monitored(fleet.settings, model)] == [START]
    assert _monitored(fleet.settings, BROKEN) == []

    # a re-run of the tick skips what is in the store and retries only the broken model
    again = monitor_fleet(models=list(MODELS), window_end=END, return_state=True)
    states = {o.model: o.state for o in again.result(raise_on_failure=False).outcomes}
    assert states["fleet-a"] == states["fleet-b"] == "Skipped"
    assert again.is_failed() and states[BROKEN] != "Skipped"
    for model in ("fleet-a", "fleet-b"):
        assert len(_monitored(fleet.settings, model)) == 1


def test_two_models_at_a_time_each_in_its_own_run(fleet: Fleet) -> None:
    """concurrency=2: the models' task runs overlap in time, and each model's monitor run
    is its own flow run under its own task run (never one shared by two models).

    (Their monitor runs overlap too against a PostgreSQL-backed Prefect server; the test
    harness's SQLite server answers concurrent writes with 503 and Prefect's client
    retries after ~2 s, which may serialize them.)"""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    from flows.fleet import monitor_fleet

    state = monitor_fleet(
        models=["fleet-a", "fleet-b"], window_end=END, dry_run=True, concurrency=2,
        return_state=True,
    )  # fmt: skip
    assert state.is_completed(), state.message
    parent = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent])
            )
        )
        trackers = {r.name: client.read_task_run(r.parent_task_run_id) for r in runs}
    names = sorted(r.name.split("-2026")[0] for r in runs)
    assert names == ["monitor-fleet-a", "monitor-fleet-b"]
    assert len({r.parent_task_run_id for r in runs}) == 2
    # each subflow's tracking task run sits in a fleet-<model> task run of this fleet run
    assert all(t.flow_run_id == parent for t in trackers.values())
    fleet_tasks = _fleet_task_runs(parent)
    assert sorted(fleet_tasks) == ["fleet-fleet-a", "fleet-fleet-b"]
    a, b = fleet_tasks["fleet-fleet-a"], fleet_tasks["fleet-fleet-b"]
    assert a.start_time < b.end_time and b.start_time < a.end_time, "not two at a time"


def _fleet_task_runs(flow_run_id: Any) -> dict[str, Any]:
    """The ``fleet-<model>`` task runs of a fleet run, by name (their times come from events)."""
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        for _ in range(50):
            tasks = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            found = {t.name: t for t in tasks if t.name.startswith("fleet-")}
            if len(found) == 2 and all(t.start_time and t.end_time for t in found.values()):
                return found
            time.sleep(0.2)
    return found
