"""The monitor loop end to end under a Prefect test harness (SQLite store, SQLite MLflow)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from flows.monitor import monitor_model
from flows.rollback import rollback_model
from modelwatch.summaries import MonitorSummary
from tests.flows.conftest import World


def _run(world: World, index: int, **kwargs):  # type: ignore[no-untyped-def]
    _, end = world.window(index)
    return monitor_model(
        model_name="credit", window_end=end, window_hours=1.0, return_state=True, **kwargs
    )


def _digest(paths: list[Path]) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_a_healthy_window_completes_ok_without_retraining(world: World) -> None:
    world.serve(0)
    state = _run(world, 0)
    assert state.is_completed(), state.message
    assert state.name == "Completed"
    summary = state.result()
    assert isinstance(summary, MonitorSummary)
    assert summary.decision == "ok"
    assert summary.n_rows == world.rows
    assert 0.7 * world.rows < summary.n_labeled < 0.9 * world.rows
    assert summary.metrics["roc_auc"] > 0.68
    assert summary.share_drifted < 0.3
    versions = world.registry().client.search_model_versions("name='credit'")
    assert len(versions) == 1


def test_rerunning_a_window_replaces_its_results(world: World) -> None:
    world.serve(1)
    first = _run(world, 1).result()
    second = _run(world, 1).result()
    store = world.store()
    start, _ = world.window(1)
    runs = [r for r in store.runs("credit") if r["window_start"] == start]
    assert len(runs) == 1
    assert runs[0]["id"] == second.store_run_id != first.store_run_id
    assert store.metrics(first.store_run_id) == []
    names = sorted({m["name"] for m in store.metrics(second.store_run_id) if m["segment"] is None})
    assert names == [
        "accuracy",
        "domain_classifier_auc",
        "f1",
        "latency_missing_share",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "null_prediction_share",
        "pca_reconstruction_error",
        "precision",
        "recall",
        "roc_auc",
        "rows_per_hour",
    ]
    kinds = {(m["name"], m["kind"]) for m in store.metrics(second.store_run_id)}
    assert ("roc_auc", "estimated") in kinds and ("roc_auc", "realized") in kinds
    drift_columns = [d["column_name"] for d in store.drift(second.store_run_id)]
    assert len(drift_columns) == 11  # 9 features + prediction:score + target:defaulted
    assert drift_columns[-2:] == ["prediction:score", "target:defaulted"]


def test_a_window_without_predictions_ends_nodata(world: World) -> None:
    state = _run(world, 40)
    assert state.is_completed()
    assert state.name == "NoData"


def test_dry_run_writes_nothing_to_the_store(world: World) -> None:
    world.serve(2)
    state = _run(world, 2, dry_run=True)
    assert state.is_completed()
    start, _ = world.window(2)
    assert [r for r in world.store().runs("credit") if r["window_start"] == start] == []


def test_a_critical_failure_fails_the_run_and_leaves_files_and_results_untouched(
    world: World,
) -> None:
    world.serve(3)
    healthy = _run(world, 3).result()
    start, _ = world.window(3)
    log_file = world.log_file(3)
    frame = pd.read_parquet(log_file)
    frame.loc[:10, "score"] = 1.7  # probabilities outside [0, 1]: a critical expectation
    frame.to_parquet(log_file, index=False)
    before = _digest([log_file])

    state = _run(world, 3)

    assert state.is_failed()
    assert "score" in (state.message or "") or "failed validation" in (state.message or "")
    assert _digest([log_file]) == before
    runs = [r for r in world.store().runs("credit") if r["window_start"] == start]
    assert [r["id"] for r in runs] == [healthy.store_run_id]
    quarantined = world.store().quarantined("credit")
    assert [q["path"] for q in quarantined] == [str(log_file)]
    assert quarantined[0]["sha256"] == before[str(log_file)]


def test_degradation_retrains_and_promotes_exactly_when_the_ab_rule_says_so(
    fresh_world: World,
) -> None:
    world = fresh_world
    registry = world.registry()
    for index in (6, 7):
        world.serve(index)
    first = _run(world, 6).result()
    assert first.bad
    assert not first.degraded  # one bad window is not persistent evidence (k = 2 of n = 3)
    assert first.decision == "ok"
    state = _run(world, 7)
    summary = state.result(raise_on_failure=False)
    assert summary.degraded
    # Degraded is FAILED-type: red in the UI and seen by "flow run failed" automations
    assert state.name == "Degraded" and state.is_failed()
    assert "retraining Promoted" in (state.message or "")
    assert summary.decision in {"retrained+promoted", "retrained+rejected"}

    versions = {v.version: v for v in registry.client.search_model_versions("name='credit'")}
    assert set(map(str, versions)) == {"1", "2"}
    ab = world.store().decisions("credit", kind="ab")[-1]
    promoted = ab["outcome"] == "challenger-wins"
    assert promoted == (ab["details"]["ci_low"] > 0.0)
    champion = registry.get_version("credit", "champion").version
    assert champion == ("2" if promoted else "1")
    assert summary.decision == ("retrained+promoted" if promoted else "retrained+rejected")
    # on this scenario the retrained model is clearly better
    assert promoted
    assert registry.get_version("credit", "previous").version == "1"
    assert registry.find_version("credit", "challenger") is None  # promoted: no longer a challenger


def test_rollback_restores_the_previous_champion(fresh_world: World) -> None:
    world = fresh_world
    registry = world.registry()
    world.serve(8)
    state = _run(world, 8, force_retrain=True)
    assert state.is_completed(), state.message
    if registry.get_version("credit", "champion").version == "1":
        registry.promote("credit", "2", reason="test setup: make v2 champion")
    assert registry.get_version("credit", "previous").version == "1"
    state = rollback_model(
        model_name="credit", reason="test", requested_by="pytest", return_state=True
    )
    assert state.is_completed() and state.name == "RolledBack"
    assert registry.get_version("credit", "champion").version == "1"
    assert registry.find_version("credit", "previous") is None
    assert (
        world.store().decisions("credit", kind="rollback")[-1]["details"]["requested_by"]
        == "pytest"
    )


def test_the_champion_carries_its_drift_profile_and_it_gives_the_same_drift(world: World) -> None:
    """The profile logged with a version replaces refitting the reference on every window."""
    from modelwatch import simulate
    from modelwatch.stats.drift import ReferenceProfile, detect_drift

    registry = world.registry()
    arrays = registry.load_profile_arrays("credit", "champion")
    assert arrays is not None
    profile = ReferenceProfile.from_arrays(arrays)
    reference = registry.load_reference("credit", "champion")
    start, _ = world.window(9)
    current = simulate.generate_window(9, start=start, rows=1500, seed=0)
    kwargs = {"numeric": simulate.NUMERIC, "categorical": simulate.CATEGORICAL}
    from_profile = detect_drift(profile, current, **kwargs)
    from_frame = detect_drift(reference, current, **kwargs)
    assert [(d.column, d.statistic, d.drifted) for d in from_profile.columns] == [
        (d.column, d.statistic, d.drifted) for d in from_frame.columns
    ]
    assert from_profile.drifted_columns  # window 9 is drifted
