"""The MLflow UI in headless Chromium shows what modelwatch registered: the model and its champion alias."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelwatch import demo as demo_lib
from modelwatch.settings import Settings
from modelwatch.spec import find_spec
from tests.e2e.test_prefect_ui import CHROMIUM, CHROMIUM_ARGS
from tests.integration.mlflow_server import MlflowServer

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    root = tmp_path_factory.mktemp("mlflow-ui")
    server = MlflowServer(root / "server").start()
    try:
        settings = Settings(
            home=root / "home",
            tracking_uri=server.url,
            expectations_dir=root / "expectations",
            specs_dir=REPO / "deployments" / "specs",
        )
        settings.ensure_home()
        demo_lib.bootstrap(find_spec("credit", settings.resolved_specs_dir), settings, seed=0)
        yield server
    finally:
        server.stop()


def test_the_registered_model_and_its_champion_alias_are_visible(
    server: MlflowServer, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/]).*"), lambda r: r.abort())
            page = context.new_page()
            page.goto(f"{server.url}/#/models/credit", timeout=60_000)
            expect(page.get_by_text("champion").first).to_be_visible(timeout=60_000)
            expect(page.get_by_text("Version 1").first).to_be_visible(timeout=30_000)
            page.goto(f"{server.url}/#/experiments", timeout=60_000)
            expect(page.get_by_text("modelwatch/credit").first).to_be_visible(timeout=60_000)
            page.screenshot(path=str(tmp_path / "mlflow.png"))
        finally:
            context.close()
