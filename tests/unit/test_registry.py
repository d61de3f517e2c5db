"""MLflow registry adapter against a real SQLite tracking store in a temp dir."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests

from modelwatch.errors import (
    AliasNotFound,
    ArtifactNotFound,
    RegistryError,
    RegistryUnavailable,
    UntrustedModelError,
    is_transient,
)
from modelwatch.io import reference_cache
from modelwatch.io.mlflow_client import is_transient_failure, registry_error
from modelwatch.io.registry import (
    ChampionChanged,
    ModelVersionRef,
    PromotionResult,
    Registry,
)
from modelwatch.simulate import generate_reference, generate_window
from modelwatch.spec import MonitorSpec, load_spec
from modelwatch.train import feature_frame, fit_candidate

SPEC_PATH = Path(__file__).resolve().parents[2] / "deployments" / "specs" / "credit.yaml"


@pytest.fixture(scope="module", autouse=True)
def _mlflow_env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        yield


@pytest.fixture(scope="module")
def spec() -> MonitorSpec:
    return load_spec(SPEC_PATH)


@pytest.fixture(scope="module")
def training(spec: MonitorSpec) -> pd.DataFrame:
    """Training data with a PII column, as the retrain flow assembles it."""
    frame = generate_reference(2000, seed=0)
    frame["email"] = [f"person{i}@example.com" for i in range(len(frame))]
    return frame


@pytest.fixture(scope="module")
def model(spec: MonitorSpec, training: pd.DataFrame) -> Any:
    return fit_candidate(training, spec, seed=0)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    root = tmp_path_factory.mktemp("mlflow")
    return Registry(f"sqlite:///{root}/mlflow.db", artifact_root=root / "artifacts")


def _log(
    registry: Registry,
    name: str,
    model: Any,
    training: pd.DataFrame,
    spec: MonitorSpec,
    *,
    alias: str | None = None,
    **kwargs: Any,
) -> ModelVersionRef:
    return registry.log_model_version(
        name,
        model,
        training_data=training,
        input_example=training,
        params={"C": 1.0, "seed": 0},
        metrics={"roc_auc": 0.8},
        tags={"modelwatch.trigger": "test"},
        run_name=f"train-{name}",
        pii=spec.columns.pii,
        alias=alias,
        target=spec.columns.target,
        **kwargs,
    )


@pytest.mark.serial  # asserts a wall-clock bound: not beside another test
def test_log_model_version_registers_v1_with_alias_and_loads_the_same_model(
    registry: Registry,
    model: Any,
    training: pd.DataFrame,
    spec: MonitorSpec,
    record_property: Any,
) -> None:
    timings = []
    for alias in ("champion", None):
        started = time.perf_counter()
        ref = _log(registry, "credit", model, training, spec, alias=alias)
        timings.append(time.perf_counter() - started)
    record_property("log_model_version_seconds", timings)
    print(f"log_model_version: first {timings[0]:.2f} s, second {timings[1]:.2f} s")

    champion = registry.get_version("credit", "champion")
    assert champion == ModelVersionRef("credit", "1", champion.run_id)
    assert isinstance(champion.version, str) and champion.run_id
    assert ref.version == "2"
    assert registry.aliases("credit") == {"champion": "1"}
    loaded = registry.load_model("credit", "champion")
    window = feature_frame(generate_window(0, start=pd.Timestamp("2026-11-23", tz="UTC")), spec)
    np.testing.assert_array_equal(loaded.predict_proba(window), model.predict_proba(window))
    assert timings[1] < 3.0


def test_model_is_saved_with_skops_signature_and_a_pii_free_input_example(
    registry: Registry, model: Any, training: pd.DataFrame, spec: MonitorSpec, tmp_path: Path
) -> None:
    ref = _log(registry, "credit-format", model, training, spec)
    import mlflow.artifacts
    import yaml

    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=registry.client.get_model_version_download_uri(ref.name, ref.version),
            dst_path=str(tmp_path),
            tracking_uri=registry.tracking_uri,
        )
    )
    mlmodel = yaml.safe_load((local / "MLmodel").read_text())
    flavor = mlmodel["flavors"]["sklearn"]
    assert flavor["serialization_format"] == "skops"
    assert flavor["skops_trusted_types"] == ["numpy.dtype"]
    assert mlmodel["flavors"]["python_function"]["predict_fn"] == "predict_proba"
    inputs = [col["name"] for col in json.loads(mlmodel["signature"]["inputs"])]
    assert inputs == list(spec.columns.features)
    example = (local / "input_example.json").read_text()
    assert "email" not in example and "@example.com" not in example
    requirements = (local / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements and "skops==" in requirements
    tags = registry.version_tags("credit-format", ref.version)
    assert tags["modelwatch.serialization"] == "skops"
    assert tags["modelwatch.trigger"] == "test"


def test_load_reference_returns_the_training_data_without_pii(
    registry: Registry, model: Any, training: pd.DataFrame, spec: MonitorSpec, tmp_path: Path
) -> None:
    ref = _log(registry, "credit-ref", model, training, spec, alias="champion")
    cache = tmp_path / "cache"

    first = registry.load_reference("credit-ref", "champion", cache_dir=cache)
    cached = registry.load_reference("credit-ref", "1", cache_dir=cache)

    expected = training.drop(columns=["email"])
    pd.testing.assert_frame_equal(first, expected, check_dtype=False)
    pd.testing.assert_frame_equal(cached, first)
    assert (cache / ref.run_id / "reference.parquet").exists()
    run = registry.client.get_run(ref.run_id)
    (dataset_input,) = run.inputs.dataset_inputs
    assert {t.key: t.value for t in dataset_input.tags}["mlflow.data.context"] == "training"
    assert "email" not in dataset_input.dataset.schema
    assert json.loads(dataset_input.dataset.profile)["num_rows"] == len(training)
    assert run.info.status == "FINISHED"


def test_promote_moves_champion_and_keeps_the_old_one_as_previous(
    registry: Registry, model: Any, training: pd.DataFrame, spec: MonitorSpec
) -> None:
    _log(registry, "credit-promo", model, training, spec, alias="champion")
    _log(registry, "credit-promo", model, training, spec, alias="challenger")

    result = registry.promote("credit-promo", "2", reason="challenger wins: +0.03 AUC")

    assert result == PromotionResult("credit-promo", champion="2", previous="1")
    assert registry.aliases("credit-promo") == {"champion": "2", "previous": "1"}
    new_tags = registry.version_tags("credit-promo", "2")
    assert new_tags["modelwatch.promotion_reason"] == "challenger wins: +0.03 AUC"
    assert new_tags["modelwatch.replaced_version"] == "1"
    assert "modelwatch.promoted_at" in new_tags
    assert registry.version_tags("credit-promo", "1")["modelwatch.replaced_by"] == "2"

    again = registry.promote("credit-promo", "2", reason="again")
    assert again == result
    assert registry.aliases("credit-promo") == {"champion": "2", "previous": "1"}


def test_promote_refuses_when_the_champion_moved_since_the_comparison(
    registry: Registry, model: Any, training: pd.DataFrame, spec: MonitorSpec
) -> None:
    for alias in ("champion", "challenger", None):
        _log(registry, "credit-race", model, training, spec, alias=alias)
    assert registry.promote("credit-race", "2", reason="won", expected_champion="1").champion == "2"

    with pytest.raises(
        ChampionChanged, match=r"compared against champion v1, but the champion is now v2"
    ):
        registry.promote("credit-race", "3", reason="won against v1", expected_champion="1")

    assert registry.aliases("credit-race") == {"champion": "2", "previous": "1"}
    assert not is_transient(ChampionChanged("x"))


def test_rollback_restores_previous_and_deletes_it(
    registry: Registry, model: Any, training: pd.DataFrame, spec: MonitorSpec
) -> None:
    _log(registry, "credit-rb", model, training, spec, alias="champion")
    _log(registry, "credit-rb", model, training, spec)
    registry.promote("credit-rb", "2", reason="better")

    result = registry.rollback("credit-rb", reason="latency regression")

    assert result == PromotionResult("credit-rb", champion="1", previous="2")
    assert registry.aliases("credit-rb") == {"champion": "1"}
    assert registry.find_version("credit-rb", "previous") is None
    assert registry.version_tags("credit-rb", "1")["modelwatch.rollback_reason"] == (
        "latency regression"
    )
    assert registry.version_tags("credit-rb", "2")["modelwatch.rolled_back_to"] == "1"
    with pytest.raises(AliasNotFound, match=r"model 'credit-rb' has no alias 'previous'"):
        registry.rollback("credit-rb", reason="twice")
    assert registry.aliases("credit-rb") == {"champion": "1"}


def test_get_version_on_a_missing_alias_raises_alias_not_found(
    registry: Registry, model: Any, training: pd.DataFrame, spec: MonitorSpec
) -> None:
    with pytest.raises(AliasNotFound, match=r"^model 'never-registered' has no alias 'champion'$"):
        registry.get_version("never-registered", "champion")
    _log(registry, "credit-noalias", model, training, spec)
    with pytest.raises(AliasNotFound, match=r"^model 'credit-noalias' has no alias 'champion'$"):
        registry.get_version("credit-noalias", "champion")
    assert registry.find_version("credit-noalias", "champion") is None
    with pytest.raises(AliasNotFound):
        registry.load_model("credit-noalias", "champion")


def test_resolve_accepts_versions_and_aliases(
    registry: Registry, model: Any, training: pd.DataFrame, spec: MonitorSpec
) -> None:
    ref = _log(registry, "credit-resolve", model, training, spec, alias="challenger")

    assert registry.resolve("credit-resolve", "1") == ref
    assert registry.resolve("credit-resolve", "challenger") == ref
    with pytest.raises(RegistryError, match=r"model 'credit-resolve' has no version '9'"):
        registry.resolve("credit-resolve", "9")
    with pytest.raises(RegistryError, match=r"model 'credit-resolve' has no version '9'"):
        registry.promote("credit-resolve", "9", reason="typo")
    assert registry.aliases("credit-resolve") == {"challenger": "1"}
    registry.set_alias("credit-resolve", "champion", "1")
    registry.delete_alias("credit-resolve", "challenger")
    registry.delete_alias("credit-resolve", "challenger")  # idempotent
    assert registry.aliases("credit-resolve") == {"champion": "1"}


def test_failed_logging_marks_the_run_failed_and_registers_nothing(
    registry: Registry, spec: MonitorSpec, training: pd.DataFrame
) -> None:
    from modelwatch.train import build_pipeline

    unfitted = build_pipeline(spec)

    with pytest.raises(Exception, match=r"not fitted"):
        _log(registry, "credit-fail", unfitted, training, spec, alias="champion")

    assert registry.aliases("credit-fail") == {}
    runs = registry.client.search_runs([registry.experiment_id("credit-fail")])
    assert [run.info.status for run in runs] == ["FAILED"]


def test_a_model_with_non_sklearn_types_is_refused_at_log_time_unless_trusted(
    registry: Registry, model: Any, training: pd.DataFrame, spec: MonitorSpec
) -> None:
    wrapped = _Wrapper(model)

    with pytest.raises(UntrustedModelError) as info:
        _log(registry, "credit-custom", wrapped, training, spec)
    message = str(info.value)
    assert "model 'credit-custom'" in message and "model.trust_pickle" in message
    assert "tests.unit.test_registry._Wrapper" in message  # the offending type
    assert registry.client.get_experiment_by_name("modelwatch/credit-custom") is None  # no run

    ref = _log(registry, "credit-custom", wrapped, training, spec, trust_pickle=True)

    assert registry.version_tags("credit-custom", ref.version)["modelwatch.serialization"] == (
        "cloudpickle"
    )
    with pytest.raises(UntrustedModelError, match=r"version 1 of model 'credit-custom'"):
        registry.load_model("credit-custom", ref.version)
    loaded = registry.load_model("credit-custom", ref.version, trust_pickle=True)
    x = feature_frame(training.head(20), spec)
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))


class _Wrapper:
    """A custom estimator type skops does not know (a configured trainer's output)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def predict(self, x: pd.DataFrame) -> Any:
        return self.inner.predict(x)

    def predict_proba(self, x: pd.DataFrame) -> Any:
        return self.inner.predict_proba(x)


def test_log_run_records_evidence_and_run_url_depends_on_the_uri(registry: Registry) -> None:
    run_id = registry.log_run(
        "credit-ab",
        run_name="compare-1-vs-2",
        params={"rule": "superiority"},
        metrics={"delta_auc": 0.02},
        tags={"modelwatch.decision": "promote"},
        text_artifacts={"ab/decision.md": "# promote\n"},
    )

    run = registry.client.get_run(run_id)
    assert run.data.params == {"rule": "superiority"}
    assert run.data.metrics == {"delta_auc": 0.02}
    assert run.data.tags["modelwatch.decision"] == "promote"
    assert run.data.tags["modelwatch.model"] == "credit-ab"
    assert run.info.status == "FINISHED"
    assert [a.path for a in registry.client.list_artifacts(run_id, "ab")] == ["ab/decision.md"]
    assert registry.run_url(run_id) is None
    remote = Registry("http://127.0.0.1:5999/")
    assert remote.run_url(run_id, experiment_id="7") == (
        f"http://127.0.0.1:5999/#/experiments/7/runs/{run_id}"
    )
    assert (
        remote.model_version_url("credit", "3")
        == "http://127.0.0.1:5999/#/models/credit/versions/3"
    )


def test_model_card_is_logged_as_an_artifact(
    registry: Registry, model: Any, training: pd.DataFrame, spec: MonitorSpec
) -> None:
    ref = _log(registry, "credit-card", model, training, spec, model_card="# Model card\n")

    assert registry.model_card("credit-card", ref.version) == "# Model card\n"
    other = _log(registry, "credit-card", model, training, spec)
    assert registry.model_card("credit-card", other.version) is None


def test_nothing_is_written_to_the_working_directory(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    model: Any,
    training: pd.DataFrame,
    spec: MonitorSpec,
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    store = tmp_path / "store"
    registry = Registry(f"sqlite:///{store}/mlflow.db", artifact_root=store / "artifacts")

    _log(registry, "credit", model, training, spec, alias="champion")
    registry.load_model("credit", "champion")
    registry.load_reference("credit", "champion")
    registry.log_run("credit", run_name="evidence", params={}, metrics={}, tags={})

    assert sorted(os.listdir(cwd)) == []
    assert (store / "artifacts" / "credit").is_dir()


def test_relative_sqlite_uris_are_made_absolute_with_artifacts_next_to_the_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    registry = Registry("sqlite:///home/mlflow.db")

    assert registry.tracking_uri == f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    assert registry.artifact_root == tmp_path / "home" / "mlartifacts"
    assert Registry("http://127.0.0.1:5000").artifact_root is None
    # A server keeps the artifacts (proxied), whatever local folder a worker passes.
    remote = Registry("http://127.0.0.1:5000", artifact_root=tmp_path / "home" / "mlartifacts")
    assert remote.remote and remote.artifact_root is None
    assert remote._artifact_location("credit") is None
    assert not Registry("sqlite:///home/mlflow.db").remote
    assert os.listdir(tmp_path) == []  # constructing a registry touches nothing


def _raise_without_from() -> None:
    from mlflow.exceptions import MlflowException

    try:
        raise requests.exceptions.ConnectionError("Connection refused")
    except requests.exceptions.ConnectionError as exc:
        raise MlflowException(f"API request failed with exception {exc}")  # noqa: B904


def _http_error(status: int) -> requests.exceptions.HTTPError:
    response = requests.Response()
    response.status_code = status
    return requests.exceptions.HTTPError(response=response)


def _sqlite_error(errorcode: int) -> Exception:
    """What SQLAlchemy raises for a SQLite error with extended result code ``errorcode``."""
    import sqlite3

    import sqlalchemy as sa

    orig = sqlite3.OperationalError("database error")
    orig.sqlite_errorcode = errorcode  # type: ignore[attr-defined]
    return sa.exc.OperationalError("INSERT ...", {}, orig)


def test_transient_failures_are_told_apart_by_class_code_and_status() -> None:
    import urllib3
    from mlflow.exceptions import MlflowException, RestException
    from mlflow.protos.databricks_pb2 import (
        REQUEST_LIMIT_EXCEEDED,
        RESOURCE_DOES_NOT_EXIST,
        TEMPORARILY_UNAVAILABLE,
    )

    with pytest.raises(MlflowException) as info:
        _raise_without_from()  # MLflow's REST client: the requests error is the context only
    assert is_transient_failure(info.value)
    assert is_transient_failure(ConnectionRefusedError(111, "Connection refused"))
    assert is_transient_failure(TimeoutError())
    assert is_transient_failure(requests.exceptions.ReadTimeout())
    assert is_transient_failure(requests.exceptions.RetryError())  # MLflow's 5xx retries ran out
    assert is_transient_failure(urllib3.exceptions.MaxRetryError(None, "/api"))  # type: ignore[arg-type]
    assert is_transient_failure(MlflowException("boom", error_code=TEMPORARILY_UNAVAILABLE))
    assert is_transient_failure(MlflowException("slow down", error_code=REQUEST_LIMIT_EXCEEDED))
    assert is_transient_failure(RestException({"error_code": "INTERNAL_ERROR", "message": "x"}))
    for status in (500, 502, 503, 504, 429):
        assert is_transient_failure(_http_error(status)), status
    assert is_transient_failure(_sqlite_error(5))  # SQLITE_BUSY
    assert is_transient_failure(_sqlite_error(6))  # SQLITE_LOCKED

    for status in (400, 401, 403, 404, 409):
        assert not is_transient_failure(_http_error(status)), status
    assert not is_transient_failure(_sqlite_error(1))  # SQLITE_ERROR: e.g. no such table
    assert not is_transient_failure(AliasNotFound("model 'credit' has no alias 'champion'"))
    assert not is_transient_failure(
        MlflowException("Model Version not found", error_code=RESOURCE_DOES_NOT_EXIST)
    )
    assert not is_transient_failure(MlflowException("client-side failure"))  # INTERNAL_ERROR
    assert not is_transient_failure(
        RestException({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such run"})
    )
    assert not is_transient_failure(ValueError("bad"))
    assert not is_transient_failure(PermissionError(13, "Permission denied"))


def test_the_message_text_does_not_make_a_failure_transient() -> None:
    from mlflow.exceptions import MlflowException

    for text in ("Connection refused", "database is locked", "Max retries exceeded"):
        assert not is_transient_failure(OSError(text)), text
        assert not is_transient_failure(MlflowException(text)), text


def test_registry_errors_carry_the_answer_of_is_transient() -> None:
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as info:
        _raise_without_from()
    down = registry_error("promoting version 2 of model 'credit' failed", info.value)
    missing = registry_error("x", MlflowException("no such version"))

    assert isinstance(down, RegistryUnavailable) and isinstance(down, RegistryError)
    assert is_transient(down)
    assert type(missing) is RegistryError and not is_transient(missing)
    wrapped = RegistryError("promoting failed")  # a cause chain is not re-judged by is_transient
    wrapped.__cause__ = info.value
    assert not is_transient(wrapped) and is_transient_failure(info.value)


def test_an_unreachable_tracking_server_raises_registry_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    with socket.socket() as sock:  # a free port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    registry = Registry(f"http://127.0.0.1:{port}")

    with pytest.raises(RegistryUnavailable, match=r"reading aliases of model 'credit' failed"):
        registry.aliases("credit")
    with pytest.raises(RegistryUnavailable, match=r"looking up alias 'champion' of model 'credit'"):
        registry.find_version("credit", "champion")
    with pytest.raises(RegistryUnavailable) as info:
        registry.promote("credit", "2", reason="better")
    assert is_transient(info.value)


def test_a_missing_reference_is_an_artifact_error_and_a_missing_profile_is_none(
    registry: Registry, model: Any, training: pd.DataFrame, spec: MonitorSpec, tmp_path: Path
) -> None:
    ref = _log(registry, "credit-noref", model, training, spec)
    assert registry.load_profile_arrays("credit-noref", ref.version) is None  # logged without
    run = registry.client.get_run(ref.run_id)
    stored = Path(run.info.artifact_uri.removeprefix("file://")) / "reference" / "reference.parquet"
    stored.unlink()

    with pytest.raises(
        ArtifactNotFound,
        match=r"version 1 of model 'credit-noref' \(run \w+\) has no reference/reference\.parquet",
    ) as info:
        registry.load_reference("credit-noref", "1", cache_dir=tmp_path / "cache")
    assert isinstance(info.value, RegistryError) and not is_transient(info.value)
    assert not (tmp_path / "cache").exists()


def test_the_profile_is_stored_as_plain_arrays_and_cached_per_run(
    registry: Registry, model: Any, training: pd.DataFrame, spec: MonitorSpec, tmp_path: Path
) -> None:
    profile = {"columns": np.array(["age", "income"]), "edges": np.arange(6, dtype=float)}
    ref = _log(registry, "credit-profile", model, training, spec, profile=profile)
    cache = tmp_path / "cache"

    first = registry.load_profile_arrays("credit-profile", ref.version, cache_dir=cache)
    assert first is not None and sorted(first) == ["columns", "edges"]
    np.testing.assert_array_equal(first["edges"], profile["edges"])
    assert first["columns"].tolist() == ["age", "income"]
    assert (cache / ref.run_id / "profile.npz").is_file()
    second = registry.load_profile_arrays("credit-profile", ref.version, cache_dir=cache)
    assert second is not None
    np.testing.assert_array_equal(second["columns"], first["columns"])


def test_cached_artifact_downloads_once_per_run_and_only_into_its_folder(
    tmp_path: Path,
) -> None:
    calls: list[str] = []

    def download(artifact_path: str, dst: str) -> str:
        calls.append(artifact_path)
        path = Path(dst) / Path(artifact_path).name
        path.write_text("v1")
        return str(path)

    run_id = "0123456789abcdef"
    cache = tmp_path / "cache"
    for _ in range(2):
        with reference_cache.cached_artifact(
            run_id, "reference/reference.parquet", download, cache_dir=cache
        ) as path:
            assert path.read_text() == "v1"
    assert calls == ["reference/reference.parquet"]
    assert sorted(p.name for p in (cache / run_id).iterdir()) == ["reference.parquet"]

    with reference_cache.cached_artifact("../escape", "x/profile.npz", download, cache_dir=cache):
        pass
    with reference_cache.cached_artifact(run_id, "x/profile.npz", download, cache_dir=None):
        pass
    assert calls[1:] == ["x/profile.npz", "x/profile.npz"]  # not cacheable: downloaded each time
    assert not (tmp_path / "escape").exists()
    assert not (cache / run_id / "profile.npz").exists()


def test_concurrent_logging_and_promotions_from_threads_stay_consistent(
    registry: Registry, model: Any, training: pd.DataFrame, spec: MonitorSpec
) -> None:
    import mlflow

    with ThreadPoolExecutor(3) as pool:
        refs = list(
            pool.map(lambda _: _log(registry, "credit-threads", model, training, spec), range(3))
        )
    assert sorted(ref.version for ref in refs) == ["1", "2", "3"]
    assert len({ref.run_id for ref in refs}) == 3
    assert mlflow.active_run() is None  # no fluent run leaked into any thread
    registry.set_alias("credit-threads", "champion", "1")

    with ThreadPoolExecutor(2) as pool:
        results = list(
            pool.map(lambda v: registry.promote("credit-threads", v, reason="race"), ["2", "3"])
        )

    aliases = registry.aliases("credit-threads")
    assert aliases["champion"] in {"2", "3"}
    assert aliases["previous"] == ({"2", "3"} - {aliases["champion"]}).pop()
    assert results[0].previous == "1" or results[1].previous == "1"


def test_a_promotion_failing_at_the_champion_move_keeps_the_alias_state(
    registry: Registry,
    model: Any,
    training: pd.DataFrame,
    spec: MonitorSpec,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for alias in ("champion", None, "challenger"):
        _log(registry, "credit-halfway", model, training, spec, alias=alias)
    registry.promote("credit-halfway", "2", reason="first")  # champion 2, previous 1
    before = registry.aliases("credit-halfway")
    set_alias = registry.alias_book.set_alias

    def failing_set_alias(model_name: str, alias: str, version: str) -> None:
        if alias == "champion":
            raise RegistryError(f"setting alias 'champion' of model {model_name!r} failed: boom")
        set_alias(model_name, alias, version)

    monkeypatch.setattr(registry.alias_book, "set_alias", failing_set_alias)
    with pytest.raises(RegistryError, match="boom"):
        registry.promote("credit-halfway", "3", reason="second")

    assert (
        registry.aliases("credit-halfway")
        == before
        == {
            "champion": "2",
            "previous": "1",
            "challenger": "3",
        }
    )


def test_rollback_refuses_when_previous_is_the_champion(
    registry: Registry, model: Any, training: pd.DataFrame, spec: MonitorSpec
) -> None:
    _log(registry, "credit-same", model, training, spec, alias="champion")
    registry.set_alias("credit-same", "previous", "1")  # left by a half-done promotion

    with pytest.raises(AliasNotFound, match=r"both are version 1\): nothing to roll back to"):
        registry.rollback("credit-same", reason="no-op")
    assert registry.aliases("credit-same") == {"champion": "1", "previous": "1"}


def test_the_champion_state_is_logged_with_the_version_and_equals_a_state_fitted_now(
    registry: Registry, model: Any, training: pd.DataFrame, spec: MonitorSpec, tmp_path: Path
) -> None:
    from modelwatch import analysis, simulate
    from modelwatch.champion_state import ChampionState, fit_champion_state, fit_version_state
    from modelwatch.stats.drift import ReferenceProfile
    from modelwatch.train import reference_profile, score_frame

    state = fit_version_state(spec, model, training)
    ref = _log(
        registry,
        "credit-state",
        model,
        training,
        spec,
        profile=reference_profile(training, spec),
        champion_state=state.to_arrays(with_profile=False),
    )
    cache = tmp_path / "cache"
    arrays = registry.load_state_arrays(ref, cache_dir=cache)
    assert arrays is not None and (cache / ref.run_id / "champion_state.npz").is_file()
    profile = registry.load_profile_arrays("credit-state", ref.version, cache_dir=cache)
    assert profile is not None
    logged = ChampionState.from_arrays(arrays, profile=ReferenceProfile.from_arrays(profile))
    assert logged.matches(spec)
    # fitted now, the old way: the logged reference (PII dropped) re-scored by the model
    reference = registry.load_reference("credit-state", ref.version, cache_dir=cache)
    assert "email" not in reference.columns
    now = fit_champion_state(spec, reference, score_frame(model, reference, spec))
    frame = simulate.sample("binary", 500, drift=0.5, concept=0.0, rng=np.random.default_rng(3))
    predictions, scores = score_frame(model, frame, spec)
    window = frame.assign(**{spec.columns.prediction: predictions, spec.columns.score: scores})
    for kwargs in ({"state": logged}, {"state": now}):
        assert analysis.estimated_metrics(spec, predictions=window, **kwargs) == (
            analysis.estimated_metrics(spec, predictions=window, state=state)
        )
        assert analysis.window_drift(spec, predictions=window, labeled=window, **kwargs) == (
            analysis.window_drift(spec, predictions=window, labeled=window, state=state)
        )
    # a version logged without one: None, nothing cached
    bare = _log(registry, "credit-nostate", model, training, spec)
    assert registry.load_state_arrays(bare, cache_dir=cache) is None
    assert not (cache / bare.run_id).exists()


def test_what_a_worker_fits_itself_is_cached_atomically_and_a_bad_entry_is_refitted(
    tmp_path: Path,
) -> None:
    cache, run_id = tmp_path / "cache", "0123456789abcdef"
    assert reference_cache.read_cached_arrays(cache, run_id, "state-x.npz") is None
    path = reference_cache.write_cached_arrays(cache, run_id, "state-x.npz", {"a": np.arange(3)})
    assert path == cache / run_id / "state-x.npz"
    got = reference_cache.read_cached_arrays(cache, run_id, "state-x.npz")
    assert got is not None and got["a"].tolist() == [0, 1, 2]
    assert [p.name for p in (cache / run_id).iterdir()] == ["state-x.npz"]  # no temp left
    path.write_bytes(b"not a zip")  # damaged: dropped, so the caller fits again
    assert reference_cache.read_cached_arrays(cache, run_id, "state-x.npz") is None
    assert not path.exists()
    np.save(cache / run_id / "obj.npz", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    assert reference_cache.read_cached_arrays(cache, run_id, "obj.npz") is None  # no pickle
    with pytest.raises(ValueError, match="not a plain file name"):
        reference_cache.read_cached_arrays(cache, run_id, "../escape.npz")
    assert reference_cache.write_cached_arrays(cache, "../x", "s.npz", {"a": np.arange(1)}) is None

    calls: list[int] = []

    def compute() -> dict[str, int]:
        calls.append(1)
        return {"k": 3}

    for _ in range(2):
        assert reference_cache.cached_json(cache, run_id, "t-1200.json", compute) == {"k": 3}
    assert calls == [1]
    (cache / run_id / "t-1200.json").write_text("{broken")
    assert reference_cache.cached_json(cache, run_id, "t-1200.json", compute) == {"k": 3}
    assert calls == [1, 1]
