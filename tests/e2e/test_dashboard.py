"""The dashboard in headless Chromium: fleet → model page → charts → report, Data Docs offline.

A store holds eight real windows of the credit model (drift and metrics computed by
the library on simulated data with covariate + concept drift from window 4, a
promotion at window 6), the newest window's real HTML report, and a real Great
Expectations Data Docs site. The app runs under uvicorn on a free 127.0.0.1 port
in a thread; Chromium may not leave 127.0.0.1 (every other request is aborted and
recorded: there must be none). A column name and a reason carry script payloads
that would set ``data-pwned`` on ``<body>``.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelwatch import simulate
from modelwatch.assessment import run_rows
from modelwatch.dashboard import create_app
from modelwatch.io.reports import render_report, report_path
from modelwatch.io.store import RunRecord, Store
from modelwatch.settings import Settings
from modelwatch.stats.drift import detect_drift
from modelwatch.stats.performance import classification_metrics
from modelwatch.stats.serving_health import serving_health
from modelwatch.summaries import MonitorSummary
from tests.e2e.test_prefect_ui import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 23, 0, tzinfo=UTC)
WINDOWS = 8
COLUMN = '<img src=x onerror="document.body.dataset.pwned=1">'  # the 'region' column
REASON = "<script>document.body.dataset.pwned=2</script>"


def _score(frame: pd.DataFrame, coef: np.ndarray) -> np.ndarray:
    x = frame[list(simulate.NUMERIC)].to_numpy(float)
    z = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9) @ coef
    scores: np.ndarray = 1.0 / (1.0 + np.exp(-z))
    return scores


def _fill(settings: Settings) -> Path:
    """Eight monitored windows of 'credit' with real results; returns the newest report."""
    from sklearn.linear_model import LogisticRegression

    reference = simulate.generate_reference(3000, seed=1).rename(columns={"region": COLUMN})
    fitted = LogisticRegression(max_iter=200).fit(
        reference[list(simulate.NUMERIC)].pipe(lambda f: (f - f.mean()) / (f.std() + 1e-9)),
        reference[simulate.TARGET],
    )
    coef = fitted.coef_[0]
    categorical = [COLUMN, "product", "channel"]
    scenario = simulate.Scenario(drift_start=4)
    store = Store(settings.resolved_store_url)
    store.upgrade_schema()
    report = None
    with store:
        for i in range(WINDOWS):
            start = T0 + timedelta(hours=i)
            current = simulate.generate_window(
                i, start=start, rows=1000, seed=1, scenario=scenario
            ).rename(columns={"region": COLUMN})
            drift = detect_drift(
                reference, current, numeric=simulate.NUMERIC, categorical=categorical
            )
            scores = _score(current, coef)
            metrics = list(
                classification_metrics(
                    current[simulate.TARGET].to_numpy(),
                    (scores > 0.5).astype(int),
                    scores,
                    n_bootstrap=20,
                ).values()
            )
            metrics += serving_health(
                current.assign(prediction=(scores > 0.5).astype(int)),
                hours=1.0,
                prediction="prediction",
                latency="latency_ms",
            )
            auc = next(m.value for m in metrics if m.name == "roc_auc")
            champion, threshold = ("1", 0.70) if i < 6 else ("2", 0.66)
            bad = auc < threshold
            rows = run_rows(metrics, drift, None)
            store.save_run(
                RunRecord(
                    model="credit",
                    window_start=start,
                    window_end=start + timedelta(hours=1),
                    status="degraded" if bad else "ok",
                    validation_passed=True,
                    n_rows=len(current),
                    n_labeled=len(current),
                    bad=bad,
                    reason=f"roc_auc {auc:.3f} vs {threshold} {REASON}",
                    share_drifted=drift.share_drifted,
                    threshold=threshold,
                    champion_version=champion,
                    metrics=rows["metrics"],
                    drift=rows["drift"],
                )
            )
        store.save_decision(
            "credit",
            kind="promotion",
            outcome="promoted",
            details={"version": "2", "reason": REASON},
        )
        summary = MonitorSummary(
            "credit",
            start,
            start + timedelta(hours=1),
            "2",
            n_rows=len(current),
            n_labeled=len(current),
            validation="passed",
            drifted_features=tuple(drift.drifted_columns),
            n_features=9,
            reason=REASON,
            bad=bad,
        )
        text = render_report(
            summary,
            drift=drift,
            metrics=metrics,
            history=[],
            metric="roc_auc",
            threshold=0.66,
            reference=reference,
            current=current,
        )
        report = report_path(reports_dir=settings.reports_dir, model="credit", window_start=start)
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(text, encoding="utf-8")
    return report


def _data_docs(settings: Settings) -> None:
    """A real Data Docs site (one validation of a window) under the home."""
    from modelwatch.io.gx_runtime import validate_frame
    from modelwatch.io.suites import build_suite
    from modelwatch.spec import load_spec

    spec = load_spec(REPO / "deployments" / "specs" / "credit.yaml")
    reference = simulate.generate_reference(2000, seed=1)
    suite = build_suite(reference, spec, typical_rows=1000)
    window = simulate.generate_window(0, start=T0, rows=1000, seed=1)
    window["score"] = np.random.default_rng(0).random(len(window))
    window["prediction"] = (window["score"] >= 0.5).astype("int64")
    log, _ = simulate.split_log_and_labels(window)
    validate_frame(
        log,
        suite,
        pii=("email",),
        data_docs_dir=settings.data_docs_dir,
        run_name="credit-2026-11-23T00",
        window=(T0, T0 + timedelta(hours=1)),
        now=T0 + timedelta(hours=2),
    )


@dataclass
class Served:
    url: str
    report: Path
    external: list[str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    import uvicorn

    root = tmp_path_factory.mktemp("dashboard-e2e")
    settings = Settings(home=root / "home", specs_dir=REPO / "deployments" / "specs")
    settings.ensure_home()
    report = _fill(settings)
    _data_docs(settings)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the dashboard did not start")
        time.sleep(0.05)
    try:
        yield Served(f"http://127.0.0.1:{port}", report, [])
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )

        def leave(route: Any) -> None:
            served.external.append(route.request.url)
            route.abort()

        context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/]).*"), leave)
        try:
            yield context
        finally:
            context.close()


def test_fleet_to_model_page_charts_and_report(served: Served, browser: Any) -> None:
    from playwright.sync_api import expect

    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(served.url + "/", wait_until="load")
    row = page.locator('#fleet tr[data-model="credit"]')
    expect(row).to_contain_text("v2")
    page.get_by_role("link", name="credit", exact=True).click()
    page.wait_for_url(served.url + "/models/credit")
    expect(page.locator("body")).to_have_attribute("data-charts", "ready", timeout=20_000)

    traces = page.evaluate(
        """() => ['chart-metric', 'chart-drift', 'chart-share', 'chart-serving'].map(id => {
            const el = document.getElementById(id);
            return {svg: el.querySelectorAll('.main-svg').length, data: (el.data || []).length,
                    points: el.querySelectorAll('.scatterlayer .point, .heatmaplayer image, .barlayer .point').length};
        })"""
    )
    for chart in traces:
        assert chart["svg"] > 0 and chart["data"] > 0 and chart["points"] > 0, traces
    hover = page.evaluate(
        "document.getElementById('chart-drift').data[0].customdata.flat().filter(Boolean)"
    )
    assert hover and all(": statistic" in h for h in hover), hover[:3]
    assert any("DRIFTED" in h for h in hover) and any("no drift" in h for h in hover)
    # the promotion is marked on the metric chart, and the threshold steps per champion
    assert page.locator("#chart-metric").get_by_text("v2").count() >= 1
    # the hostile column is a heatmap row shown as text; the reason is shown as text
    assert COLUMN in page.locator("#chart-drift").inner_text()
    expect(page.locator("#windows")).to_contain_text(REASON)
    assert page.evaluate("document.body.getAttribute('data-pwned')") is None

    with page.expect_response(lambda r: "/reports/credit/" in r.url) as response:
        page.locator("a.report-link").first.click()
    assert response.value.status == 200
    page.wait_for_url(re.compile(re.escape(f"/reports/credit/{served.report.name}") + "$"))
    expect(page.locator("body")).to_contain_text("credit")
    expect(page.locator("body")).to_contain_text(REASON)
    assert page.evaluate("document.body.getAttribute('data-pwned')") is None
    assert not [e for e in errors if "Content Security Policy" in e or "plotly" in e.lower()], (
        errors
    )
    assert served.external == []
    page.close()


def test_data_docs_render_offline_with_their_index(served: Served, browser: Any) -> None:
    from playwright.sync_api import expect

    page = browser.new_page()
    page.goto(served.url + "/data-docs/index.html", wait_until="load")
    # the index table is drawn from the page's inline data by the local jQuery subset
    rows = page.locator("#Validation-Results table tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 1
    rows.first.click()
    page.wait_for_url(re.compile(r"/data-docs/validations/.+\.html$"))
    expect(page.locator("body")).to_contain_text("credit")
    assert page.locator("table").count() > 3
    assert served.external == []
    page.close()
