"""The Prefect UI in headless Chromium: a user runs the monitor deployment from the browser.

Prefect server (PostgreSQL when available, else SQLite) + ``modelwatch serve`` in a
separate process + Debian's Chromium driven by Playwright. The run is checked
through the Prefect API: completed, meaningful name, artifacts published.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelwatch import demo as demo_lib
from modelwatch import simulate
from modelwatch.settings import Settings
from modelwatch.spec import find_spec
from tests.servers import (
    PrefectServer,
    clean_env,
    postgres_available,
    postgres_database,
    prefect_server,
    start_process,
)

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEPLOYMENT = "credit-scheduled"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    root = tmp_path_factory.mktemp("e2e")
    settings = Settings(
        home=root / "home",
        expectations_dir=root / "expectations",
        specs_dir=REPO / "deployments" / "specs",
    )
    settings.ensure_home()
    spec = find_spec("credit", settings.resolved_specs_dir)
    demo_lib.bootstrap(spec, settings, seed=0)
    demo_lib.ensure_suite(spec, settings, rows_per_window=1000)
    # the last complete hour has predictions: that is the window a quick run monitors
    last = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    demo_lib.serve_window(
        spec,
        settings,
        index=0,
        start=last,
        end=last + timedelta(hours=1),
        rows=1000,
        seed=0,
        scenario=simulate.Scenario(drift_start=6),
    )
    with ExitStack() as stack:
        database = None
        if postgres_available():
            name = stack.enter_context(postgres_database("mw_e2e"))
            database = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        server = stack.enter_context(prefect_server(root, database))
        env = clean_env(
            PREFECT_API_URL=server.url,
            PREFECT_RUNNER_POLL_FREQUENCY="2",
            MODELWATCH_HOME=str(settings.home_dir),
            MODELWATCH_EXPECTATIONS_DIR=str(settings.expectations_dir),
            MODELWATCH_SPECS_DIR=str(settings.specs_dir),
        )
        serve = start_process(
            "modelwatch serve",
            [sys.executable, "-m", "cli", "serve", "credit"],
            env=env,
            log=root / "serve.log",
            cwd=REPO,
        )
        stack.callback(serve.stop)  # stop the runner before the server
        deadline = time.monotonic() + 90
        url = f"{server.url}/deployments/name/monitor-model/{DEPLOYMENT}"
        while httpx.get(url, timeout=10).status_code != 200:
            if not serve.alive or time.monotonic() > deadline:
                pytest.fail(f"deployment {DEPLOYMENT} never appeared:\n{serve.tail()}")
            time.sleep(1)
        yield server


def _click_quick_run(page: Any, server: PrefectServer) -> str:
    """Run → Quick run; re-click on a 503 from SQLite; returns the new flow run id."""
    for _ in range(4):
        page.get_by_role("button", name="Run", exact=True).click()
        with page.expect_response(
            lambda r: "/create_flow_run" in r.url and r.request.method == "POST", timeout=60_000
        ) as info:
            page.get_by_role("menuitem", name="Quick run").click()
        response = info.value
        if response.status < 300:
            return str(response.json()["id"])
        time.sleep(2)
    pytest.fail("the UI could not create a flow run (server kept answering 503)")


def _wait_terminal(server: PrefectServer, run_id: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = httpx.get(f"{server.url}/flow_runs/{run_id}", timeout=10).json()
        if run["state_type"] in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}:
            return dict(run)
        time.sleep(2)
    pytest.fail(f"flow run {run_id} did not finish in {timeout:.0f} s")


def test_a_quick_run_from_the_deployment_page_monitors_the_last_window(
    served: PrefectServer, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            # nothing leaves 127.0.0.1 (the UI would call an analytics host)
            context.route(
                re.compile(r"^https?://(?!127\.0\.0\.1[:/]).*"), lambda route: route.abort()
            )
            page = context.new_page()
            page.goto(served.ui, timeout=60_000)
            page.get_by_role("link", name="Deployments", exact=True).click()
            link = page.get_by_role("link", name=DEPLOYMENT, exact=True)
            expect(link).to_be_visible(timeout=60_000)
            link.click()
            expect(page.get_by_role("button", name="Run", exact=True)).to_be_visible(timeout=60_000)
            run_id = _click_quick_run(page, served)
            page.screenshot(path=str(tmp_path / "deployment.png"))
        finally:
            context.close()

    run = _wait_terminal(served, run_id)
    assert run["state_type"] == "COMPLETED", run["state"]
    assert run["state_name"] in {"Completed", "Degraded"}
    assert re.fullmatch(r"monitor-credit-\d{4}-\d{2}-\d{2}T\d{2}", run["name"])
    artifacts = httpx.post(
        f"{served.url}/artifacts/filter",
        json={"artifacts": {"flow_run_id": {"any_": [run_id]}}, "limit": 50},
        timeout=10,
    ).json()
    keys = {a.get("key") for a in artifacts if a.get("flow_run_id") == run_id}
    assert {"credit-monitor-summary", "credit-drift"} <= keys


def test_chromium_is_the_debian_build() -> None:
    version = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30)
    assert "Chromium" in version.stdout
    assert shutil.which("chromium") == CHROMIUM
