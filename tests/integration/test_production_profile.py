"""The production profile end to end: PostgreSQL everywhere, real servers, the CLI as a user runs it.

* monitoring store on PostgreSQL (``MODELWATCH_STORE_URL``);
* MLflow server with a PostgreSQL backend store (``MODELWATCH_TRACKING_URI``);
* Prefect server with a PostgreSQL database (``PREFECT_API_URL``);
* ``modelwatch monitor`` run as a subprocess for a healthy window and two drifted ones.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from modelwatch import demo as demo_lib
from modelwatch import simulate
from modelwatch.io.registry import Registry
from modelwatch.io.store import Store
from modelwatch.settings import Settings
from modelwatch.spec import find_spec
from tests.servers import (
    PostgresMlflowServer,
    PrefectServer,
    clean_env,
    postgres_database,
    prefect_server,
    require_postgres,
)
from tests.specs import TEST_SPECS_DIR

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
FIRST = datetime(2026, 11, 20, 0, tzinfo=UTC)


@dataclass
class Profile:
    env: dict[str, str]
    settings: Settings
    prefect: PrefectServer
    store_url: str
    tracking_uri: str


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Profile]:
    require_postgres()
    root = tmp_path_factory.mktemp("production")
    with (
        postgres_database("mw_store") as store_db,
        postgres_database("mw_mlflow") as mlflow_db,
        postgres_database("mw_prefect") as prefect_db,
        prefect_server(
            root, f"postgresql+asyncpg://postgres@127.0.0.1:5432/{prefect_db}"
        ) as prefect,
    ):
        mlflow = PostgresMlflowServer(root / "mlflow")
        mlflow.database = mlflow_db
        mlflow.start()
        try:
            store_url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{store_db}"
            env = clean_env(
                MODELWATCH_HOME=str(root / "home"),
                MODELWATCH_STORE_URL=store_url,
                MODELWATCH_TRACKING_URI=mlflow.url,
                MODELWATCH_EXPECTATIONS_DIR=str(root / "expectations"),
                MODELWATCH_SPECS_DIR=str(TEST_SPECS_DIR),
                PREFECT_API_URL=prefect.url,
                MLFLOW_HTTP_REQUEST_MAX_RETRIES="1",
            )
            settings = Settings(
                home=root / "home",
                store_url=store_url,
                tracking_uri=mlflow.url,
                expectations_dir=root / "expectations",
                specs_dir=TEST_SPECS_DIR,
            )
            settings.ensure_home()
            spec = find_spec("credit", settings.resolved_specs_dir)
            demo_lib.bootstrap(spec, settings, seed=0)
            demo_lib.ensure_suite(spec, settings, rows_per_window=1500)
            for index in (0, 6, 7):
                start = FIRST + timedelta(hours=index)
                demo_lib.serve_window(
                    spec,
                    settings,
                    index=index,
                    start=start,
                    end=start + timedelta(hours=1),
                    rows=1500,
                    seed=0,
                    scenario=simulate.Scenario(drift_start=6),
                )
            yield Profile(env, settings, prefect, store_url, mlflow.url)
        finally:
            mlflow.stop()


def _monitor(profile: Profile, index: int) -> subprocess.CompletedProcess[str]:
    end = FIRST + timedelta(hours=index + 1)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "monitor",
            "credit",
            "--window-end",
            end.isoformat(),
        ],
        env=profile.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.strip().splitlines()[-1]


def _flow_runs(profile: Profile) -> dict[str, str]:
    response = httpx.post(
        f"{profile.prefect.url}/flow_runs/filter", json={"limit": 200}, timeout=30
    )
    response.raise_for_status()
    return {run["name"]: run["state_name"] for run in response.json()}


def test_monitor_on_postgres_with_real_servers_retrains_and_promotes(profile: Profile) -> None:
    healthy = _monitor(profile, 0)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert _last_line(healthy).startswith("Completed:")

    first_bad = _monitor(profile, 6)
    assert first_bad.returncode == 0, first_bad.stdout + first_bad.stderr
    degraded = _monitor(profile, 7)
    assert degraded.returncode == 1, degraded.stdout + degraded.stderr  # Degraded: exit 1
    assert _last_line(degraded).startswith("Degraded: 2026-11-20T07: ")
    assert "; retraining Promoted: " in _last_line(degraded)

    # the store is PostgreSQL and holds the three windows
    store = Store(profile.store_url)
    runs = store.runs("credit")
    assert [r["window_start"] for r in runs] == [FIRST + timedelta(hours=h) for h in (7, 6, 0)]
    assert [r["bad"] for r in runs] == [True, True, False]
    assert store.decisions("credit", kind="promotion")[-1]["details"]["champion"] == "2"
    store.dispose()

    # MLflow (server on PostgreSQL) moved the aliases
    registry = Registry(profile.tracking_uri)
    assert registry.get_version("credit", "champion").version == "2"
    assert registry.get_version("credit", "previous").version == "1"

    # the Prefect server (on PostgreSQL) recorded meaningful run names and state names
    runs_by_name = _flow_runs(profile)
    assert runs_by_name["monitor-credit-2026-11-20T00"] == "Completed"
    assert runs_by_name["monitor-credit-2026-11-20T07"] == "Degraded"
    assert runs_by_name["compare-credit-1-vs-2"] == "Promoted"
    assert runs_by_name["retrain-credit"] == "Promoted"
