"""Retrain → compare → promote / rollback against a real ``mlflow server`` (REST API).

Prefect runs under its test harness (module scope); the monitoring store is
SQLite in the test's home; MLflow is the server started by the
``mlflow_server`` fixture, reached through ``MODELWATCH_TRACKING_URI``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import flows.retrain
import tasks.registry
from flows.compare import compare_models
from flows.retrain import retrain_model
from flows.rollback import rollback_model
from modelwatch.io.registry import Registry
from modelwatch.spec import find_spec
from modelwatch.train import fit_candidate
from tasks.registry import promotion_lock
from tests.flows.conftest import World, make_world
from tests.flows.test_retrain import record_validated
from tests.integration.mlflow_server import MlflowServer, mlflow_server

pytestmark = pytest.mark.integration

__all__ = ["mlflow_server"]  # the fixture, re-exported for pytest


@pytest.fixture(scope="module", autouse=True)
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def world(mlflow_server: MlflowServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    """A bootstrapped 'credit' model (v1 champion) registered on the MLflow server."""
    # MLflow's REST client retries 7 times with exponential back-off by default (minutes).
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    mlflow_server.start()  # a previous test may have stopped it
    Registry(mlflow_server.url).delete_registered_model("credit")  # versions restart at 1
    monkeypatch.setenv("MODELWATCH_TRACKING_URI", mlflow_server.url)
    return make_world(tmp_path, monkeypatch)


def server_aliases(server: MlflowServer) -> dict[str, str]:
    return Registry(server.url).aliases("credit")


def test_retrain_compare_promote_and_rollback_through_the_server(
    world: World, mlflow_server: MlflowServer
) -> None:
    for index in (6, 7):
        record_validated(world, index)
    _, end = world.window(7)

    state = retrain_model(model_name="credit", window_end=end, return_state=True)

    assert state.is_completed(), state.message
    assert state.name == "Promoted", state.message
    assert server_aliases(mlflow_server) == {"champion": "2", "previous": "1"}
    registry = Registry(mlflow_server.url)
    tags = registry.version_tags("credit", "2")
    assert tags["modelwatch.ab.v1_vs_v2"].startswith("challenger-wins:")
    run = registry.client.get_run(tags["modelwatch.ab.last_run_id"])
    assert run.data.metrics["guardrail.ece.passed"] == 1.0
    assert run.data.tags["modelwatch.outcome"] == "challenger-wins"

    state = rollback_model(
        model_name="credit", reason="test", requested_by="pytest", return_state=True
    )
    assert state.name == "RolledBack"
    assert server_aliases(mlflow_server) == {"champion": "1"}


def test_mlflow_going_down_before_the_comparison_fails_the_run_and_keeps_the_champion(
    world: World, mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in (6, 7):
        record_validated(world, index)
    _, end = world.window(7)
    real_compare = flows.retrain.compare_models

    def server_dies_then_compare(*args: Any, **kwargs: Any) -> Any:
        mlflow_server.stop()
        return real_compare(*args, **kwargs)

    monkeypatch.setattr(flows.retrain, "compare_models", server_dies_then_compare)
    started = time.monotonic()

    state = retrain_model(model_name="credit", window_end=end, return_state=True)

    elapsed = time.monotonic() - started
    assert state.is_failed()
    message = state.message or ""
    print(f"failed after {elapsed:.1f} s: {message}")
    assert "challenger v2 registered, but the comparison failed; champion v1 unchanged" in message
    assert "model 'credit'" in message  # the registry error names what could not be reached
    mlflow_server.start()
    assert server_aliases(mlflow_server) == {"champion": "1", "challenger": "2"}


def test_two_concurrent_promotions_are_serialized_and_end_consistent(
    world: World, mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks.registry, "PROMOTION_LOCK_TIMEOUT_S", 90.0)  # fail, never hang
    for index in (6, 7):
        record_validated(world, index)
    spec = find_spec("credit", world.settings.resolved_specs_dir)
    registry = Registry(mlflow_server.url, artifact_root=world.settings.artifacts_dir)
    start, _ = world.window(6)
    _, end = world.window(7)
    labeled = _labeled(world, spec)
    training, holdout_start = (
        labeled.iloc[: len(labeled) // 2],
        labeled["timestamp"].iloc[len(labeled) // 2].floor("us"),
    )
    for seed in (1, 2):  # two challengers trained on drifted data: both beat v1
        model = fit_candidate(training.sample(frac=0.9, random_state=seed), spec, seed=seed)
        registry.log_model_version(
            "credit",
            model,
            training_data=training,
            input_example=training[list(spec.columns.features)].head(5),
            params={"seed": seed},
            metrics={},
            tags={},
            run_name=f"candidate-{seed}",
            pii=spec.columns.pii,
            target=spec.columns.target,
        )

    def compare(version: str) -> Any:
        return compare_models(
            model_name="credit",
            window_start=holdout_start.to_pydatetime(),
            window_end=end,
            champion="1",
            challenger=version,
            return_state=True,
        )

    # While someone else holds the model's promotion slot, neither comparison may promote.
    with ThreadPoolExecutor(2) as pool:
        with promotion_lock("credit"):
            futures = [pool.submit(compare, version) for version in ("2", "3")]
            _wait_for(lambda: len(world.store().decisions("credit", kind="ab")) == 2, timeout=120)
            time.sleep(2.0)
            assert server_aliases(mlflow_server) == {"champion": "1"}
            assert not any(f.done() for f in futures)
        states = [f.result(timeout=180) for f in futures]

    names = sorted(s.name for s in states)
    print("concurrent:", [(s.name, s.message) for s in states])
    assert names == ["Promoted", "Rejected"]
    winner = next(v for v, s in zip(("2", "3"), states, strict=True) if s.name == "Promoted")
    assert server_aliases(mlflow_server) == {"champion": winner, "previous": "1"}
    loser = next(s for s in states if s.name == "Rejected")
    assert f"the champion is now v{winner}; not promoted" in (loser.message or "")
    outcomes = sorted(d["outcome"] for d in world.store().decisions("credit", kind="promotion"))
    assert outcomes == ["conflict", "promoted"]
    assert start < holdout_start.to_pydatetime() < end


def _labeled(world: World, spec: Any) -> Any:
    from modelwatch.io.sources import load_window

    start, _ = world.window(6)
    _, end = world.window(7)
    window = load_window(spec, start, end, world.settings.home_dir)
    return window.labeled.sort_values("timestamp").reset_index(drop=True)


def _wait_for(condition: Any, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout:.0f} s")
