"""Two workers on different machines share one MLflow server: artifacts go through it.

Worker A (its own ``MODELWATCH_HOME``) registers the champion with its reference
and drift profile; then its home disappears (another machine, gone). Worker B, with
a different, empty home, loads the champion, the reference and the profile through
the same task functions the monitor uses, and predicts. With an experiment created
with an artifact location under worker A's home this failed with ``has no
reference/reference.parquet artifact``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tasks.registry
from modelwatch import train
from modelwatch.io.registry import Registry
from modelwatch.simulate import generate_reference, generate_window
from modelwatch.spec import MonitorSpec, load_spec
from modelwatch.stats.drift import ReferenceProfile
from tests.integration.mlflow_server import MlflowServer, mlflow_server
from tests.specs import spec_path

pytestmark = pytest.mark.integration

__all__ = ["mlflow_server"]  # the fixture, re-exported for pytest

SPEC_PATH = spec_path("credit")
MODEL = "credit"  # the name of the checkout's spec: the load task reads its model.trust_pickle


@pytest.fixture(autouse=True)
def _fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MODELWATCH_SPECS_DIR", raising=False)


@pytest.fixture(scope="module")
def spec() -> MonitorSpec:
    return load_spec(SPEC_PATH)


@pytest.fixture
def server(mlflow_server: MlflowServer) -> Iterator[MlflowServer]:
    mlflow_server.start()
    Registry(mlflow_server.url).delete_registered_model(MODEL)
    yield mlflow_server


def _as_worker(monkeypatch: pytest.MonkeyPatch, home: Path, server: MlflowServer) -> None:
    monkeypatch.setenv("MODELWATCH_HOME", str(home))
    monkeypatch.setenv("MODELWATCH_TRACKING_URI", server.url)


def test_a_second_worker_with_another_home_loads_the_champion_reference_and_profile(
    server: MlflowServer,
    spec: MonitorSpec,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home_a, home_b = tmp_path / "worker-a", tmp_path / "worker-b"

    # Worker A: register the champion as the demo / retrain flow do (settings -> Registry).
    _as_worker(monkeypatch, home_a, server)
    training = generate_reference(1500, seed=3)
    training["email"] = [f"person{i}@example.com" for i in range(len(training))]
    model = train.fit_candidate(training, spec, seed=3)
    registry_a = tasks.registry.open_registry()
    assert registry_a.artifact_root is None  # a server keeps the artifacts, not home A
    ref = registry_a.log_model_version(
        MODEL,
        model,
        training_data=training,
        input_example=training[list(spec.columns.features)].head(5),
        params={"seed": 3},
        metrics={"val_roc_auc": 0.8},
        tags={"modelwatch.trigger": "worker-a"},
        run_name="bootstrap-worker-a",
        pii=spec.columns.pii,
        alias="champion",
        target=spec.columns.target,
        profile=train.reference_profile(training, spec),
    )
    experiment = registry_a.client.get_experiment(registry_a.experiment_id(MODEL))
    assert experiment.artifact_location.startswith("mlflow-artifacts:"), experiment
    assert not (home_a / "mlartifacts").exists()
    stored = {p.name for p in server.artifacts_dir.rglob("*") if p.is_file()}
    assert {"model.skops", "reference.parquet", "profile.npz", "MLmodel"} <= stored
    shutil.rmtree(home_a, ignore_errors=True)  # worker A's machine is out of reach

    # Worker B: another home, nothing cached; the monitor's task functions.
    _as_worker(monkeypatch, home_b, server)
    champion = tasks.registry.resolve_version.fn(MODEL, "champion")
    assert champion == ref
    loaded = tasks.registry.load_model.fn(champion)
    reference = tasks.registry.load_reference.fn(champion)
    profile = tasks.registry.load_profile.fn(champion)

    window = generate_window(0, start=pd.Timestamp("2026-11-23", tz="UTC"), seed=3)
    x = train.feature_frame(window, spec)
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    pd.testing.assert_frame_equal(reference, training.drop(columns=list(spec.columns.pii)))
    assert isinstance(profile, ReferenceProfile)
    expected = train.reference_profile(training, spec)
    arrays = profile.to_arrays()
    assert sorted(arrays) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(arrays[key], value)

    # Worker B's own cache, keyed by the run id (no temp files left behind).
    cache = home_b / "cache" / champion.run_id
    assert sorted(p.name for p in cache.iterdir()) == ["profile.npz", "reference.parquet"]
    pd.testing.assert_frame_equal(tasks.registry.load_reference.fn(champion), reference)
    assert not (home_b / "mlartifacts").exists()
