"""HTML reports: self-contained, with plots, the drifted columns, and never PII."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from modelwatch import simulate
from modelwatch.io.reports import HistoryPoint, render_report, write_report
from modelwatch.stats.drift import detect_drift
from modelwatch.stats.performance import classification_metrics
from modelwatch.summaries import MonitorSummary

T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)


def _inputs():  # type: ignore[no-untyped-def]
    reference = simulate.generate_reference(3000, seed=1)
    current = simulate.generate_window(8, start=T0, rows=1500, seed=1)
    drift = detect_drift(
        reference, current, numeric=simulate.NUMERIC, categorical=simulate.CATEGORICAL
    )
    rng = np.random.default_rng(0)
    scores = rng.random(len(current))
    metrics = list(
        classification_metrics(
            current[simulate.TARGET].to_numpy(), (scores > 0.5).astype(int), scores, n_bootstrap=50
        ).values()
    )
    summary = MonitorSummary(
        "credit",
        T0,
        T0 + timedelta(hours=1),
        "1",
        n_rows=1500,
        n_labeled=1500,
        validation="passed",
        metrics={m.name: m.value for m in metrics},
        drifted_features=tuple(drift.drifted_columns),
        n_features=9,
        reason="roc_auc low",
        bad=True,
    )
    history = [
        HistoryPoint(T0 - timedelta(hours=h), 0.74 - 0.02 * (h == 0), "1", h == 0)
        for h in range(6, -1, -1)
    ]
    return summary, drift, metrics, history, reference, current


def test_report_has_plots_tables_and_drifted_columns() -> None:
    summary, drift, metrics, history, reference, current = _inputs()
    text = render_report(
        summary,
        drift=drift,
        metrics=metrics,
        history=history,
        metric="roc_auc",
        threshold=0.69,
        reference=reference,
        current=current,
        warnings=["column 'x': 3 unexpected"],
    )
    images = re.findall(r"data:image/png;base64,", text)
    assert len(images) >= 3  # history, drift, at least one distribution
    assert drift.drifted_columns, "the drifted window must show drift"
    for column in drift.drifted_columns:
        assert f">{column}<" in text
    assert "column &#x27;x&#x27;: 3 unexpected" in text
    assert "roc_auc" in text


def test_report_never_contains_pii() -> None:
    summary, drift, metrics, history, reference, current = _inputs()
    text = render_report(
        summary,
        drift=drift,
        metrics=metrics,
        history=history,
        metric="roc_auc",
        threshold=None,
        reference=reference,
        current=current,
    )
    assert "@example.com" not in text
    assert "email" not in text


def test_writing_a_report_twice_replaces_it(tmp_path: Path) -> None:
    first = write_report("<p>one</p>", reports_dir=tmp_path, model="credit", window_start=T0)
    second = write_report("<p>two</p>", reports_dir=tmp_path, model="credit", window_start=T0)
    assert first == second == tmp_path / "credit" / "2026-11-23T1000.html"
    assert second.read_text() == "<p>two</p>"
    assert list((tmp_path / "credit").iterdir()) == [second]


def test_names_values_and_reasons_are_escaped_and_dollars_drawn_as_typed() -> None:
    """HTML in a column name, a category, the model, the reason or a warning is shown as text;
    a ``$...$`` name (matplotlib mathtext) neither fails the report nor is interpreted."""
    from dataclasses import replace

    payload = '<img src=x onerror="alert(1)">'
    math = "$\\bar$"  # not valid mathtext: matplotlib raised ParseSyntaxException on it
    summary, _, metrics, history, reference, current = _inputs()
    reference = reference.rename(columns={"region": payload, "product": math})
    current = current.rename(columns={"region": payload, "product": math})
    current[payload] = current[payload].astype(object).where(current.index % 10 != 0, payload)
    current[math] = current[math].astype(object).where(current.index % 10 != 1, "$x^{$")
    categorical = [payload, math, "channel"]
    drift = detect_drift(reference, current, numeric=simulate.NUMERIC, categorical=categorical)
    summary = replace(summary, model=payload, reason=payload, drifted_features=(payload,))
    text = render_report(
        summary,
        drift=drift,
        metrics=metrics,
        history=history,
        metric="roc_auc",
        threshold=0.69,
        reference=reference,
        current=current,
        warnings=[payload],
        top_features=9,
    )
    assert "<img src=x" not in text
    escaped = "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    assert f"<title>{escaped} " in text and f">{escaped}<" in text  # title, tables, reason
    assert f'alt="{escaped}"' in text and f'alt="{math}"' in text  # both distribution plots


def test_a_day_long_window_is_titled_with_both_dates_and_the_chart_shows_the_spec_metric() -> None:
    from dataclasses import replace

    from modelwatch.summaries import monitor_markdown, window_title

    summary, drift, metrics, history, reference, current = _inputs()
    day = datetime(2026, 11, 23, tzinfo=UTC)
    summary = replace(summary, window_start=day, window_end=day + timedelta(hours=24))
    text = render_report(
        summary,
        drift=drift,
        metrics=metrics,
        history=history,
        metric="mae",
        threshold=22.0,
        reference=reference,
        current=current,
        warnings=[],
    )
    assert "window 2026-11-23 00:00 → 2026-11-24 00:00 UTC" in text
    assert "00:00 → 00:00" not in text
    assert "window 2026-11-23 00:00 → 2026-11-24 00:00 UTC" in monitor_markdown(summary)
    assert window_title(T0, T0 + timedelta(hours=1)) == "2026-11-23 10:00 → 11:00 UTC"


def test_the_history_chart_draws_each_champions_own_threshold() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from modelwatch.io.reports import HistoryPoint, _draw_thresholds

    t0 = datetime(2026, 11, 20, tzinfo=UTC)
    points = [
        HistoryPoint(t0, 0.80, "1", False, None),  # before revision 0004: no stored threshold
        HistoryPoint(t0 + timedelta(hours=1), 0.78, "1", False, 0.75),
        HistoryPoint(t0 + timedelta(hours=2), 0.70, "1", True, 0.75),
        HistoryPoint(t0 + timedelta(hours=3), 0.86, "2", False, 0.82),
        HistoryPoint(t0 + timedelta(hours=4), 0.85, "2", False, None),
    ]
    fig, ax = plt.subplots()
    _draw_thresholds(ax, points, current=0.82)
    (line,) = ax.lines
    ys = np.asarray(line.get_ydata(), dtype=float)
    # v1's window without a stored threshold gets none (not v2's 0.82); the current
    # champion's window without one gets the current threshold
    assert np.isnan(ys[0]) and list(ys[1:]) == [0.75, 0.75, 0.82, 0.82]
    plt.close(fig)


def test_the_drift_artifact_counts_features_as_the_summary_does() -> None:
    from modelwatch.assessment import drift_description, drift_table
    from modelwatch.stats.drift.report import DriftReport, DriftResult

    def result(column: str, drifted: bool, role: str = "feature") -> DriftResult:
        return DriftResult(column, "numeric", "ks", 0.3 if drifted else 0.01, 0.01, 0.05,
                           drifted, 0.0, 0.0, role=role)  # type: ignore[arg-type]  # fmt: skip

    drift = DriftReport(
        columns=(
            result("age", True),
            result("income", False),
            result("region", True),
            result("prediction:score", True, "prediction"),
            result("target:defaulted", False, "target"),
        ),
        n_reference=100,
        n_current=100,
        share_drifted=2 / 3,
        dataset_drift=True,
    )
    text = drift_description("credit", drift)
    assert text == "Drift of credit: 2/3 features drifted; outputs drifted: prediction:score"
    assert [row["role"] for row in drift_table(drift)][-2:] == ["prediction", "target"]
