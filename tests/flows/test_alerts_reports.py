"""Monitor runs publish an HTML report and send alerts to real receivers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from flows.monitor import monitor_model
from tests.flows.conftest import World, make_world
from tests.servers import Receivers, alert_receivers
from tests.specs import spec_path

DASHBOARD = "http://127.0.0.1:8765"


@pytest.fixture
def alerting_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[World, Receivers]]:
    spec = yaml.safe_load(spec_path("credit").read_text())
    spec["alerts"] = [
        {"type": "webhook", "url_env": "MW_TEST_WEBHOOK"},
        {"type": "webhook", "url_env": "MW_TEST_WEBHOOK_DOWN", "timeout_s": 2},
    ]
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "credit.yaml").write_text(yaml.safe_dump(spec))
    with alert_receivers(tmp_path / "receivers") as receivers:
        world = make_world(tmp_path, monkeypatch)
        monkeypatch.setenv("MODELWATCH_SPECS_DIR", str(specs))
        monkeypatch.setenv("MW_TEST_WEBHOOK", receivers.webhook_url)
        monkeypatch.setenv("MW_TEST_WEBHOOK_DOWN", receivers.webhook_url + "/fail")
        monkeypatch.setenv("MODELWATCH_DASHBOARD_URL", DASHBOARD)
        yield world, receivers


def _run(world: World, index: int):  # type: ignore[no-untyped-def]
    _, end = world.window(index)
    return monitor_model(model_name="credit", window_end=end, window_hours=1.0, return_state=True)


def test_degradation_alerts_and_reports_reach_people(
    alerting_world: tuple[World, Receivers],
) -> None:
    world, receivers = alerting_world
    for index in (6, 7):
        world.serve(index)
    assert _run(world, 6).is_completed()
    state = _run(world, 7)
    # a failing channel never fails the run: it ends Degraded (a FAILED-type named state)
    assert state.name == "Degraded", state.message

    events = [w["event"] for w in receivers.webhooks()]
    assert events == ["degraded", "promoted"]
    # the promoted champion serves window 8 well: one message ends the alert episode
    world.serve(8)
    assert _run(world, 8).is_completed()
    resolved = receivers.webhooks()[-1]
    assert resolved["event"] == "resolved", [w["event"] for w in receivers.webhooks()]
    assert resolved["details"]["episode"] == receivers.webhooks()[0]["details"]["episode"]
    assert resolved["details"]["episode_champion"] == "1"
    degraded = next(w for w in receivers.webhooks() if w["event"] == "degraded")
    assert degraded["model"] == "credit"
    assert degraded["details"]["window"] == "2026-11-20T07"
    # the link people click (alert and Prefect artifact alike) opens on the dashboard
    link = degraded["links"]["report"]
    assert link == f"{DASHBOARD}/reports/credit/2026-11-20T0700.html"
    from starlette.testclient import TestClient

    from modelwatch.dashboard import create_app
    from modelwatch.settings import get_settings

    with TestClient(create_app(get_settings()), base_url=DASHBOARD) as dashboard:
        opened = dashboard.get(link.removeprefix(DASHBOARD))
    assert opened.status_code == 200 and "credit" in opened.text
    assert "@example.com" not in str(receivers.webhooks())

    reports = sorted((world.home / "reports" / "credit").glob("*.html"))
    assert [p.name for p in reports] == [
        "2026-11-20T0600.html",
        "2026-11-20T0700.html",
        "2026-11-20T0800.html",
    ]
    html = reports[-1].read_text()
    assert html.count("<figure class='chart'><svg ") >= 3  # history, drift, a distribution
    assert "@example.com" not in html


def test_a_quarantined_window_sends_a_validation_alert(
    alerting_world: tuple[World, Receivers],
) -> None:
    world, receivers = alerting_world
    world.serve(2)
    path = world.log_file(2)
    frame = pd.read_parquet(path)
    frame.loc[:5, "score"] = 2.0
    frame.to_parquet(path, index=False)
    assert _run(world, 2).is_failed()
    alert = next(w for w in receivers.webhooks() if w["event"] == "validation_failed")
    assert "score" in alert["text"]
