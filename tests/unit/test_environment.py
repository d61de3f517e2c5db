"""The one environment bootstrap (modelwatch.environment), without Prefect."""

from __future__ import annotations

import warnings
from pathlib import Path

from modelwatch.environment import environment_defaults, prepare_environment
from modelwatch.settings import Settings


def _settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def test_every_default_is_set_on_an_empty_environment(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    applied = prepare_environment(_settings(tmp_path), environ=env, include_prefect=True)
    home = tmp_path / "home"
    assert env == applied
    assert env == {
        "MODELWATCH_HOME": str(home),
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(home / "prefect" / "results"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
        "GX_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "true",
    }
    assert not home.exists()  # variables only: the commands create the home


def test_a_value_the_user_set_is_never_overridden(tmp_path: Path) -> None:
    env = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "7", "DO_NOT_TRACK": ""}
    applied = prepare_environment(_settings(tmp_path), environ=env, include_prefect=True)
    assert env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "7"
    assert env["DO_NOT_TRACK"] == ""  # set, even if empty: the user's
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in applied and "DO_NOT_TRACK" not in applied


def test_running_it_again_changes_nothing(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    prepare_environment(_settings(tmp_path), environ=env, include_prefect=True)
    before = dict(env)
    filters = len(warnings.filters)
    assert prepare_environment(_settings(tmp_path), environ=env, include_prefect=True) == {}
    assert env == before
    assert len(warnings.filters) == filters  # the MLflow hint filter is not added twice


def test_a_configured_prefect_server_keeps_prefect_home_unset(tmp_path: Path) -> None:
    env = {"PREFECT_API_URL": "http://127.0.0.1:4200/api"}
    prepare_environment(_settings(tmp_path), environ=env, include_prefect=True)
    assert "PREFECT_HOME" not in env
    assert env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"
    assert "PREFECT_HOME" not in environment_defaults(
        tmp_path, prefect_api_url="http://127.0.0.1:4200/api"
    )
    assert "PREFECT_HOME" in environment_defaults(tmp_path, prefect_api_url="")


def test_prefect_variables_are_left_to_a_worker_or_an_already_imported_prefect(
    tmp_path: Path,
) -> None:
    """Prefect read them at import: setting them later would only reach child processes."""
    env: dict[str, str] = {}
    prepare_environment(_settings(tmp_path), environ=env, include_prefect=False)
    assert not [name for name in env if name.startswith("PREFECT_")]
    assert env["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "30"
    assert env["MODELWATCH_HOME"] == str(tmp_path / "home")
