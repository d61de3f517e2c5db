"""The registry adapter against a real ``mlflow server`` (REST API, proxied artifacts)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelwatch.errors import AliasNotFound, RegistryError, RegistryUnavailable, is_transient
from modelwatch.io.registry import CHAMPION, PromotionResult, Registry
from modelwatch.simulate import generate_reference
from modelwatch.spec import MonitorSpec, load_spec
from modelwatch.train import feature_frame, fit_candidate, model_card, training_summary
from tests.integration.mlflow_server import MlflowServer, mlflow_server
from tests.specs import spec_path

pytestmark = pytest.mark.integration

__all__ = ["mlflow_server"]  # the fixture, re-exported for pytest

SPEC_PATH = spec_path("credit")


@pytest.fixture(autouse=True)
def _fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    # MLflow's REST client retries 7 times with exponential back-off by default
    # (minutes); the tests want the failure itself, quickly.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


@pytest.fixture(scope="module")
def spec() -> MonitorSpec:
    return load_spec(SPEC_PATH)


@pytest.fixture(scope="module")
def training() -> pd.DataFrame:
    frame = generate_reference(1500, seed=0)
    frame["email"] = [f"person{i}@example.com" for i in range(len(frame))]
    return frame


@pytest.fixture(scope="module")
def model(spec: MonitorSpec, training: pd.DataFrame) -> Any:
    return fit_candidate(training, spec, seed=0)


@pytest.fixture
def registry(mlflow_server: MlflowServer) -> Iterator[Registry]:
    mlflow_server.start()  # a previous test may have stopped it
    yield Registry(mlflow_server.url)


def _log(
    registry: Registry,
    name: str,
    model: Any,
    training: pd.DataFrame,
    spec: MonitorSpec,
    *,
    alias: str | None = None,
    card: str | None = None,
) -> Any:
    return registry.log_model_version(
        name,
        model,
        training_data=training,
        input_example=training,
        params={"seed": 0},
        metrics={"roc_auc": 0.8},
        tags={"modelwatch.trigger": "integration"},
        run_name=f"train-{name}",
        pii=spec.columns.pii,
        alias=alias,
        target=spec.columns.target,
        model_card=card,
    )


def test_log_promote_and_rollback_through_the_rest_api(
    registry: Registry,
    mlflow_server: MlflowServer,
    model: Any,
    training: pd.DataFrame,
    spec: MonitorSpec,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    card = model_card(spec, {"roc_auc": 0.8}, training_summary(training, spec))

    v1 = _log(registry, "credit", model, training, spec, alias="champion", card=card)
    v2 = _log(registry, "credit", model, training, spec, alias="challenger")

    assert (v1.version, v2.version) == ("1", "2")  # str through REST as well
    assert registry.get_version("credit", "champion") == v1
    x = feature_frame(training.head(50), spec)
    loaded = registry.load_model("credit", "champion")
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    reference = registry.load_reference("credit", "champion", cache_dir=tmp_path / "cache")
    assert "email" not in reference.columns and len(reference) == len(training)
    assert registry.model_card("credit", "1") == card
    assert "@example.com" not in (registry.model_card("credit", "1") or "")

    assert registry.promote("credit", "2", reason="better") == PromotionResult("credit", "2", "1")
    assert registry.aliases("credit") == {"champion": "2", "previous": "1"}
    assert registry.rollback("credit", reason="oops") == PromotionResult("credit", "1", "2")
    assert registry.aliases("credit") == {"champion": "1"}

    url = registry.run_url(v1.run_id)
    assert url is not None and url.startswith(f"{mlflow_server.url}/#/experiments/")
    assert any(mlflow_server.artifacts_dir.rglob("model.skops"))  # proxied to the server's store
    assert any(mlflow_server.artifacts_dir.rglob("reference.parquet"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # nothing else in the cwd


def test_promotion_fails_cleanly_when_the_server_is_down(
    registry: Registry,
    mlflow_server: MlflowServer,
    model: Any,
    training: pd.DataFrame,
    spec: MonitorSpec,
) -> None:
    _log(registry, "credit-down", model, training, spec, alias="champion")
    _log(registry, "credit-down", model, training, spec, alias="challenger")
    before = registry.aliases("credit-down")
    assert before == {"champion": "1", "challenger": "2"}

    mlflow_server.stop()
    with pytest.raises(RegistryUnavailable, match=r"model 'credit-down'") as info:
        registry.promote("credit-down", "2", reason="better")

    assert is_transient(info.value)
    mlflow_server.start()
    assert registry.aliases("credit-down") == before


def test_server_dying_between_the_alias_moves_leaves_the_champion(
    registry: Registry,
    mlflow_server: MlflowServer,
    model: Any,
    training: pd.DataFrame,
    spec: MonitorSpec,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _log(registry, "credit-mid", model, training, spec, alias="champion")
    _log(registry, "credit-mid", model, training, spec, alias="challenger")
    set_alias = registry.alias_book.set_alias

    def dying_set_alias(model_name: str, alias: str, version: str) -> None:
        if alias == CHAMPION:
            mlflow_server.stop()  # after 'previous' moved, before 'champion' moves
        set_alias(model_name, alias, version)

    monkeypatch.setattr(registry.alias_book, "set_alias", dying_set_alias)
    with pytest.raises(RegistryError, match=r"alias 'champion' of model 'credit-mid'"):
        registry.promote("credit-mid", "2", reason="better")
    monkeypatch.undo()
    mlflow_server.start()

    aliases = registry.aliases("credit-mid")
    assert aliases["champion"] == "1"
    assert aliases["challenger"] == "2"
    assert aliases.get("previous") in (None, "1")  # could not be restored while down
    with pytest.raises(AliasNotFound, match=r"nothing to roll back to"):
        registry.rollback("credit-mid", reason="should be a no-op")
    assert registry.aliases("credit-mid")["champion"] == "1"
    # Retrying the promotion once MLflow is back completes it.
    assert registry.promote("credit-mid", "2", reason="retry") == PromotionResult(
        "credit-mid", "2", "1"
    )


def test_the_server_process_group_is_gone_after_stop(mlflow_server: MlflowServer) -> None:
    mlflow_server.start()
    process = mlflow_server.process
    assert process is not None
    pgid = process.pid

    mlflow_server.stop()

    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    assert not mlflow_server.alive
