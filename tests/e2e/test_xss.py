"""Script injection: values and names from a window never run in the HTML modelwatch writes or links.

A window (and, for the suite, its reference) carries category values and column
names that set ``data-pwned`` on ``<body>`` if the browser ran them. The Great
Expectations Data Docs (validation page, suite page, index — built through
:func:`modelwatch.io.gx_runtime.validate_frame`, as the validate flow does) and the
monitor report (:func:`modelwatch.io.reports.render_report`) are opened with
``file://`` in Debian's headless Chromium: the attribute stays unset and the
payloads are shown as text (so a page cannot pass by dropping them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelwatch import simulate
from modelwatch.io.gx_runtime import validate_frame
from modelwatch.io.reports import HistoryPoint, render_report
from modelwatch.io.suites import build_suite
from modelwatch.spec import load_spec
from modelwatch.stats.drift import detect_drift
from modelwatch.stats.performance import classification_metrics
from modelwatch.summaries import MonitorSummary
from tests.e2e.test_prefect_ui import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 11, 23, 10, tzinfo=UTC)
WINDOW = (START, START + timedelta(hours=1))


def _img(mark: str) -> str:
    return f'<img src=x onerror="document.body.dataset.pwned={mark}">'


def _script(mark: str) -> str:
    return f"<script>document.body.dataset.pwned={mark}</script>"


VALUE_IMG = _img("1")  # category values of the window (unexpected values)
VALUE_SCRIPT = _script("2")
NEW_COLUMN = _img("3")  # a column of the window the suite does not declare
CHECKED_COLUMN = _img("4")  # a column a hand-written expectation reads (section header)
REFERENCE_VALUE = _img("5")  # a category of the reference (the suite's value set)
REPORT_COLUMN = _img("6")  # a feature column of the report
REPORT_VALUE = _script("7")  # an unseen category in the report
REPORT_TEXT = _script("8")  # the decision reason and a validation warning


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            # nothing leaves 127.0.0.1 (Data Docs pages load Bootstrap/jQuery from CDNs)
            context.route(
                re.compile(r"^https?://(?!127\.0\.0\.1[:/]).*"), lambda route: route.abort()
            )
            yield context
        finally:
            context.close()


def _open(browser: Any, path: Path) -> tuple[str | None, str]:
    """Load ``path`` and let handlers run; return (body's data-pwned, the visible text)."""
    page = browser.new_page()
    try:
        page.goto(path.resolve().as_uri(), wait_until="load", timeout=60_000)
        page.wait_for_timeout(500)  # an onerror of a broken <img> fires after load
        pwned = page.evaluate("document.body.getAttribute('data-pwned')")
        text = page.evaluate("document.body.innerText")
        return pwned, str(text)
    finally:
        page.close()


def _window() -> tuple[pd.DataFrame, dict[str, Any]]:
    """A served window with the payloads, and the suite of its (payload-carrying) reference."""
    spec = load_spec(REPO / "deployments" / "specs" / "credit.yaml")
    reference = simulate.generate_reference(3000, seed=1)
    reference["region"] = reference["region"].astype(object)
    reference.loc[::50, "region"] = REFERENCE_VALUE
    suite = build_suite(reference, spec, typical_rows=1000)
    suite["expectations"].append(
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": CHECKED_COLUMN},
            "meta": {"severity": "warning", "notes": "hand-written"},
        }
    )
    window = simulate.generate_window(0, start=START, rows=1000)
    window["score"] = np.random.default_rng(0).random(len(window))
    window["prediction"] = (window["score"] >= 0.5).astype("int64")
    log, _ = simulate.split_log_and_labels(window)
    log["region"] = log["region"].astype(object)
    log.loc[::7, "region"] = VALUE_IMG
    log.loc[3::7, "region"] = VALUE_SCRIPT
    log[NEW_COLUMN] = 1
    log[CHECKED_COLUMN] = np.where(np.arange(len(log)) % 2 == 0, None, "x")
    return log, suite


def test_data_docs_show_window_values_and_names_as_text(browser: Any, tmp_path: Path) -> None:
    log, suite = _window()
    report = validate_frame(
        log,
        suite,
        pii=("email",),
        data_docs_dir=tmp_path,
        run_name="credit-xss",
        window=WINDOW,
        now=WINDOW[1] + timedelta(hours=1),
    )
    assert report.data_docs_url is not None and report.data_docs_path is not None
    # the outcomes keep the raw text (escaping belongs to HTML)
    assert VALUE_IMG[:30] in report.summary()
    page = Path(report.data_docs_url.removeprefix("file://"))
    site = Path(report.data_docs_path).parent
    suite_page = site / "expectations" / "credit.html"
    assert page.is_file() and suite_page.is_file()

    pwned, text = _open(browser, page)
    assert pwned is None, f"a payload ran in {page}"
    for shown in (VALUE_IMG, VALUE_SCRIPT, NEW_COLUMN, CHECKED_COLUMN, REFERENCE_VALUE):
        assert shown in text, (shown, page)

    pwned, text = _open(browser, suite_page)
    assert pwned is None, f"a payload ran in {suite_page}"
    for shown in (CHECKED_COLUMN, REFERENCE_VALUE):
        assert shown in text, (shown, suite_page)

    pwned, _ = _open(browser, site / "index.html")
    assert pwned is None


def test_the_monitor_report_shows_names_values_and_reasons_as_text(
    browser: Any, tmp_path: Path
) -> None:
    reference = simulate.generate_reference(3000, seed=1).rename(columns={"region": REPORT_COLUMN})
    current = simulate.generate_window(8, start=START, rows=1500, seed=1)
    current = current.rename(columns={"region": REPORT_COLUMN})
    current[REPORT_COLUMN] = current[REPORT_COLUMN].astype(object)
    current.loc[::10, REPORT_COLUMN] = REPORT_VALUE
    categorical = [REPORT_COLUMN, "product", "channel"]
    drift = detect_drift(reference, current, numeric=simulate.NUMERIC, categorical=categorical)
    assert REPORT_COLUMN in drift.drifted_columns  # its distribution plot (alt text) is shown
    scores = np.random.default_rng(0).random(len(current))
    metrics = list(
        classification_metrics(
            current[simulate.TARGET].to_numpy(), (scores > 0.5).astype(int), scores, n_bootstrap=20
        ).values()
    )
    summary = MonitorSummary(
        "credit",
        START,
        START + timedelta(hours=1),
        "1",
        n_rows=len(current),
        n_labeled=len(current),
        validation="passed",
        drifted_features=tuple(drift.drifted_columns),
        n_features=9,
        reason=f"drift in {REPORT_TEXT}",
        bad=True,
    )
    summary = replace(summary, retrain_outcome="Rejected", retrain_message=REPORT_TEXT)
    history = [HistoryPoint(START - timedelta(hours=h), 0.7, "1", False) for h in range(3)]
    text = render_report(
        summary,
        drift=drift,
        metrics=metrics,
        history=history,
        metric="roc_auc",
        threshold=0.69,
        reference=reference,
        current=current,
        warnings=[f"column {REPORT_COLUMN!r}: 3 unexpected ({REPORT_VALUE})"],
    )
    path = tmp_path / "report.html"
    path.write_text(text, encoding="utf-8")

    pwned, shown = _open(browser, path)
    assert pwned is None, f"a payload ran in {path}"
    for payload in (REPORT_COLUMN, REPORT_VALUE, REPORT_TEXT):
        assert payload in shown, payload
