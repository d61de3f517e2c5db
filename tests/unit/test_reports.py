"""HTML reports: self-contained, with plots, the drifted columns, and never PII."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelwatch import simulate
from modelwatch.io import svg
from modelwatch.io.reports import (
    HistoryPoint,
    distribution_plot,
    drift_plot,
    history_plot,
    render_report,
    write_report,
)
from modelwatch.stats.drift import detect_drift
from modelwatch.stats.drift.report import DriftReport, DriftResult
from modelwatch.stats.performance import classification_metrics
from modelwatch.summaries import MonitorSummary

T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)
NS = "{http://www.w3.org/2000/svg}"
PAYLOAD = '<img src=x onerror="alert(1)">'


def _charts(text: str) -> list[ET.Element]:
    """Every inline ``<svg>`` of a page, parsed (a parse error: badly escaped markup)."""
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", text, re.S)]


def _nodes(root: ET.Element, tag: str, css_class: str | None = None) -> list[ET.Element]:
    return [
        n
        for n in root.iter(NS + tag)
        if css_class is None or css_class in (n.get("class") or "").split()
    ]


def _f(node: ET.Element, name: str) -> float:
    return float(node.get(name, "nan"))


def _segments(node: ET.Element) -> list[list[tuple[float, float]]]:
    """The polylines of a ``<path d="M x y L x y ...">``."""
    return [
        [(float(x), float(y)) for x, y in re.findall(r"(-?[\d.]+) (-?[\d.]+)", part)]
        for part in node.get("d", "").split("M")
        if part.strip()
    ]


def _texts(root: ET.Element, css_class: str | None = None) -> list[str]:
    """The texts drawn (a shortened one: its full text, the tooltip)."""
    return [
        (t.find(NS + "title").text or "") if t.find(NS + "title") is not None else (t.text or "")
        for t in _nodes(root, "text", css_class)
    ]


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
    charts = _charts(text)
    assert [c.get("class") for c in charts[:2]] == ["history-chart", "drift-chart"]
    distributions = [c for c in charts[2:] if c.get("class") == "distribution-chart"]
    assert 1 <= len(distributions) == len(charts) - 2 <= 4
    assert all(c.get("role") == "img" and c.get("viewBox") for c in charts)
    assert all(c.find(NS + "title") is not None and c.get("aria-label") for c in charts)
    assert text.count("<figure class='chart'><svg ") == len(charts)
    assert "data:image/png" not in text and "<img" not in text
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
    a ``$...$`` name (it once broke the matplotlib charts' mathtext) is drawn as typed."""
    from dataclasses import replace

    payload = '<img src=x onerror="alert(1)">'
    math = "$\\bar$"  # not valid mathtext: the former matplotlib charts raised on it
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
    # both distribution charts, their columns drawn as typed ($ not read as math)
    assert f'aria-label="Distribution of {escaped}: reference vs window' in text
    assert f'aria-label="Distribution of {math}: reference vs window' in text
    assert ">$x^{$<" in text  # a category of the window, as typed
    assert f">{escaped} (" in text  # the drift chart's bar label
    charts = _charts(text)  # every chart is well-formed: nothing unescaped broke the markup
    texts = [t for chart in charts for t in _texts(chart)]
    assert payload in texts and "$x^{$" in texts


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
    from modelwatch.io.reports import _thresholds

    t0 = datetime(2026, 11, 20, tzinfo=UTC)
    points = [
        HistoryPoint(t0, 0.80, "1", False, None),  # before revision 0004: no stored threshold
        HistoryPoint(t0 + timedelta(hours=1), 0.78, "1", False, 0.75),
        HistoryPoint(t0 + timedelta(hours=2), 0.70, "1", True, 0.75),
        HistoryPoint(t0 + timedelta(hours=3), 0.86, "2", False, 0.82),
        HistoryPoint(t0 + timedelta(hours=4), 0.85, "2", False, None),
    ]
    # v1's window without a stored threshold gets none (not v2's 0.82); the current
    # champion's window without one gets the current threshold
    assert _thresholds(points, current=0.82) == [None, 0.75, 0.75, 0.82, 0.82]
    assert _thresholds([], current=0.82) == []


def _result(
    column: str,
    *,
    statistic: float,
    threshold: float,
    drifted: bool,
    p_value: float | None = None,
    method: str = "ks",
) -> DriftResult:
    return DriftResult(column, "numeric", method, statistic, p_value, threshold, drifted, 0.0, 0.0)


def test_a_drift_bar_is_as_long_as_its_ratio_red_when_drifted_and_the_threshold_is_at_1() -> None:
    drift = DriftReport(
        columns=(
            _result("age", statistic=0.3, threshold=0.1, drifted=True),
            _result("income", statistic=0.04, threshold=0.1, drifted=False),
            _result(
                "region", statistic=9.0, threshold=0.05, p_value=0.001, drifted=True, method="chi2"
            ),
            _result("at_alpha", statistic=1.0, threshold=0.05, p_value=0.05, drifted=False),
            _result(PAYLOAD, statistic=5.0, threshold=0.1, drifted=True),  # 50: capped at 10
            _result("$x$", statistic=float("nan"), threshold=0.1, drifted=False),
        ),
        n_reference=100,
        n_current=100,
        share_drifted=0.5,
        dataset_drift=True,
    )
    markup = drift_plot(drift)
    root = ET.fromstring(markup)
    bars = _nodes(root, "rect", "bar")
    (threshold,) = _nodes(root, "line", "threshold")
    assert _f(threshold, "x1") == _f(threshold, "x2") and threshold.get("stroke-dasharray")
    assert len({_f(b, "x") for b in bars}) == 1  # all bars start at the axis
    unit = _f(threshold, "x1") - _f(bars[0], "x")  # the length of ratio 1
    ratios = [_f(b, "width") / unit for b in bars]
    assert ratios == pytest.approx(
        [3.0, 0.4, np.log10(1000) / np.log10(20), 1.0, 10.0, 0.0], abs=0.01
    )
    assert [b.get("fill") for b in bars] == [
        svg.RED,
        svg.BLUE,
        svg.RED,
        svg.BLUE,
        svg.RED,
        svg.BLUE,
    ]
    assert [b.get("class") for b in bars][:2] == ["bar drifted", "bar"]
    # bars go top to bottom in the report's column order, each beside its label
    ys = [_f(b, "y") for b in bars]
    assert ys == sorted(ys)
    assert _texts(root, "column") == [
        "age (ks)",
        "income (ks)",
        "region (chi2)",
        "at_alpha (ks)",
        f"{PAYLOAD} (ks)",
        "$x$ (ks)",
    ]
    columns = _nodes(root, "text", "column")
    assert [_f(t, "y") for t in columns] == pytest.approx([y + 7 + 4 for y in ys])
    labels = _texts(root)
    assert "Feature drift" in labels
    assert "statistic relative to its threshold (1 = threshold, capped at 10)" in labels
    assert "<img" not in markup and "3 of 6 drifted" in (root.get("aria-label") or "")


def test_a_numeric_distribution_draws_the_density_histograms_over_30_shared_bins() -> None:
    rng = np.random.default_rng(3)
    reference = pd.Series(rng.normal(0.0, 1.0, 2000))
    current = pd.Series(rng.normal(0.8, 1.5, 700))
    reference[:3] = np.inf  # left out, as NaN is
    current[:10] = np.nan
    root = ET.fromstring(distribution_plot(reference, current, column="$x$"))
    ref, cur = reference.to_numpy()[3:], current.to_numpy()[10:]
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins=30)
    densities = {
        "reference": np.histogram(ref, bins=edges, density=True)[0],
        "window": np.histogram(cur, bins=edges, density=True)[0],
    }
    (x_axis,) = _nodes(root, "line", "x-axis")
    (y_axis,) = _nodes(root, "line", "y-axis")
    left, right, top, bottom = (
        _f(x_axis, "x1"),
        _f(x_axis, "x2"),
        _f(y_axis, "y1"),
        _f(y_axis, "y2"),
    )
    bin_width = (right - left) / 30
    per_density = (bottom - top) / (1.05 * max(d.max() for d in densities.values()))
    for name, colour in (("reference", svg.BLUE), ("window", svg.ORANGE)):
        (group,) = _nodes(root, "g", name)
        assert group.get("fill") == colour and group.get("fill-opacity") == "0.5"
        rects = _nodes(group, "rect")
        bins = [round((_f(r, "x") - left) / bin_width) for r in rects]
        assert bins == list(np.flatnonzero(densities[name]))  # empty bins are not drawn
        heights = [_f(r, "height") for r in rects]
        assert heights == pytest.approx(list(densities[name][bins] * per_density), abs=0.02)
        assert [_f(r, "y") + _f(r, "height") for r in rects] == pytest.approx(
            [bottom] * len(rects), abs=0.02
        )
        assert [_f(r, "width") for r in rects] == pytest.approx([bin_width] * len(rects), abs=0.02)
    assert root.find(NS + "title").text.startswith("Distribution of $x$: ")  # type: ignore[union-attr]
    labels = _texts(root)
    assert labels[0] == "$x$" and {"reference", "window", "density"} <= set(labels)


def test_a_categorical_distribution_draws_grouped_shares_of_the_top_15_categories() -> None:
    script = "<script>alert(1)</script>"
    reference = pd.Series(["a"] * 60 + ["b"] * 30 + [script] * 10)
    current = pd.Series(["a"] * 20 + ["b"] * 20 + ["new"] * 60 + [None] * 5)
    markup = distribution_plot(reference, current, column="channel")
    assert "<script>" not in markup
    root = ET.fromstring(markup)
    (x_axis,) = _nodes(root, "line", "x-axis")
    (y_axis,) = _nodes(root, "line", "y-axis")
    per_share = (_f(y_axis, "y2") - _f(y_axis, "y1")) / (1.05 * 0.6)
    shares = {"reference": [0.6, 0.3, 0.1], "window": [0.2, 0.2, 0.6]}  # missing values left out
    centres = {}
    for name, colour in (("reference", svg.BLUE), ("window", svg.ORANGE)):
        (group,) = _nodes(root, "g", name)
        assert group.get("fill") == colour and group.get("fill-opacity") == "0.7"
        rects = _nodes(group, "rect")
        heights = [_f(r, "height") for r in rects]
        assert heights == pytest.approx([s * per_share for s in shares[name]], abs=0.02)
        centres[name] = [_f(r, "x") for r in rects]
    # reference bars left of the window's in each slot: a, b, <script>, new
    slot = (_f(x_axis, "x2") - _f(x_axis, "x1")) / 4
    assert np.subtract(centres["window"][:2], centres["reference"][:2]) == pytest.approx(
        [0.38 * slot] * 2, abs=0.02
    )
    assert centres["window"][2] - centres["reference"][2] == pytest.approx(1.38 * slot, abs=0.02)
    assert _texts(root, "category") == ["a", "b", script, "new"]
    shortened = _nodes(root, "text", "category")[2]
    assert shortened.find(NS + "title").tail == "<script>alert…"  # type: ignore[union-attr]

    many = pd.Series([f"category {i:02d}" for i in range(20) for _ in range(20 - i)])
    shown = _texts(ET.fromstring(distribution_plot(many, many, column="c")), "category")
    assert shown == [f"category {i:02d}" for i in range(15)]


@pytest.mark.parametrize(
    ("reference", "current"),
    [
        (pd.Series([np.nan] * 10), pd.Series([np.nan] * 5)),
        (pd.Series([], dtype="float64"), pd.Series([], dtype="float64")),
        (pd.Series([None] * 4, dtype=object), pd.Series([], dtype=object)),
    ],
    ids=["all-nan", "empty", "categorical-all-missing"],
)
def test_a_distribution_without_values_says_so(reference: pd.Series, current: pd.Series) -> None:
    root = ET.fromstring(distribution_plot(reference, current, column="x"))
    assert "no values" in _texts(root) and not _nodes(root, "rect")


def test_a_constant_column_is_one_full_height_bar_per_series() -> None:
    root = ET.fromstring(distribution_plot(pd.Series([5.0] * 100), pd.Series([5] * 7), column="k"))
    (y_axis,) = _nodes(root, "line", "y-axis")
    rects = _nodes(root, "rect")
    assert len(rects) == 2 + 2  # a bar per series, a swatch per legend entry
    bars = [r for r in rects if _f(r, "height") > 10]
    assert [_f(r, "height") for r in bars] == pytest.approx(
        [(_f(y_axis, "y2") - _f(y_axis, "y1")) / 1.05] * 2, abs=0.02
    )


def test_the_history_line_has_a_point_per_value_and_the_new_version_is_labelled_where_it_starts() -> (
    None
):
    t0 = datetime(2026, 11, 20, tzinfo=UTC)
    points = [
        HistoryPoint(t0, 0.80, "1", False, None),
        HistoryPoint(t0 + timedelta(hours=1), 0.78, "1", False, 0.75),
        HistoryPoint(t0 + timedelta(hours=2), None, "1", False, 0.75),  # no value: left out
        HistoryPoint(t0 + timedelta(hours=3), 0.70, "1", True, 0.75),
        HistoryPoint(t0 + timedelta(hours=4), 0.86, "2", False, 0.82),
        HistoryPoint(t0 + timedelta(hours=5), 0.85, "2", False, None),
    ]
    values = [0.80, 0.78, 0.70, 0.86, 0.85]
    root = ET.fromstring(history_plot(points, metric="roc_auc", threshold=0.82))
    ((line,),) = [_segments(p) for p in _nodes(root, "path", "metric")]
    assert len(line) == 5
    markers = _nodes(root, "circle", "point") + _nodes(root, "circle", "bad")
    markers.sort(key=lambda c: _f(c, "cx"))
    assert [(_f(c, "cx"), _f(c, "cy")) for c in markers] == line  # same rounding, same numbers
    (bad,) = _nodes(root, "circle", "bad")
    assert bad.get("fill") == svg.RED and (_f(bad, "cx"), _f(bad, "cy")) == line[2]
    # x is time: the missing window leaves a double gap; y is linear in the value
    xs = [x for x, _ in line]
    hour = xs[1] - xs[0]
    assert np.diff(xs) == pytest.approx([hour, 2 * hour, hour, hour], abs=0.02)
    per_unit = (line[2][1] - line[0][1]) / (0.80 - 0.70)  # SVG's y grows downwards

    def value_at(y: float) -> float:
        return 0.80 - (y - line[0][1]) / per_unit

    assert [value_at(y) for _, y in line] == pytest.approx(values, abs=1e-3)
    # the champion change: a dotted green line and "v2" at the first v2 window
    (change,) = _nodes(root, "line", "version-change")
    assert _f(change, "x1") == _f(change, "x2") == pytest.approx(xs[3])
    assert change.get("stroke") == svg.GREEN
    (version,) = _nodes(root, "text", "version")
    assert version.text == "v2" and _f(version, "x") == pytest.approx(xs[3] + 3)
    # each window's threshold as a step line: none for v1's unstored one, the current for v2's
    (x_axis,) = _nodes(root, "line", "x-axis")
    ((steps,),) = [_segments(p) for p in _nodes(root, "path", "threshold")]
    right = _f(x_axis, "x2")
    expected = [
        (xs[1], 0.75),
        (xs[2], 0.75),
        (xs[2], 0.75),
        (xs[3], 0.75),
        (xs[3], 0.82),
        (xs[4], 0.82),
        (xs[4], 0.82),
        (right, 0.82),
    ]
    assert [x for x, _ in steps] == pytest.approx([x for x, _ in expected], abs=0.01)
    assert [value_at(y) for _, y in steps] == pytest.approx([v for _, v in expected], abs=1e-3)
    labels = _texts(root)
    assert {"roc_auc per window", "window start (UTC)", "threshold", "bad window"} <= set(labels)
    assert "11-20 00:00" in labels  # time ticks in UTC, with the date


def test_the_history_chart_handles_no_history_one_point_and_equal_values() -> None:
    empty = ET.fromstring(history_plot([], metric="mae", threshold=22.0))
    assert "no mae values yet" in _texts(empty) and not _nodes(empty, "circle", "point")
    ((flat,),) = [_segments(p) for p in _nodes(empty, "path", "threshold")]
    (x_axis,) = _nodes(empty, "line", "x-axis")
    assert flat == [(_f(x_axis, "x1"), flat[0][1]), (_f(x_axis, "x2"), flat[0][1])]
    nothing = ET.fromstring(
        history_plot([HistoryPoint(T0, None, "1", False)], metric="mae", threshold=None)
    )
    assert "no mae values yet" in _texts(nothing) and not _nodes(nothing, "path")

    naive = datetime(2026, 11, 23, 10)  # taken as UTC
    one = ET.fromstring(
        history_plot([HistoryPoint(naive, 0.7, "1", False)], metric="auc", threshold=None)
    )
    (point,) = _nodes(one, "circle", "point")
    (x_axis,) = _nodes(one, "line", "x-axis")
    (y_axis,) = _nodes(one, "line", "y-axis")
    assert _f(point, "cx") == pytest.approx((_f(x_axis, "x1") + _f(x_axis, "x2")) / 2, abs=0.01)
    assert _f(point, "cy") == pytest.approx((_f(y_axis, "y1") + _f(y_axis, "y2")) / 2, abs=0.01)
    # ticks every 15 minutes around the only window, in UTC, the date on the first
    assert {"11-23 09:30", "09:45", "10:00", "10:15", "10:30"} <= set(_texts(one))

    same = [HistoryPoint(T0 + timedelta(hours=h), 0.7, "1", False) for h in range(4)]
    flat_chart = ET.fromstring(history_plot(same, metric="auc", threshold=None))
    middle = (_f(y_axis, "y1") + _f(y_axis, "y2")) / 2
    assert [_f(c, "cy") for c in _nodes(flat_chart, "circle", "point")] == pytest.approx(
        [middle] * 4, abs=0.01
    )
    assert {"0.66", "0.68", "0.70", "0.72", "0.74"} <= set(_texts(flat_chart))


def test_history_texts_are_escaped() -> None:
    history = [
        HistoryPoint(T0, 0.7, "1", False, 0.6),
        HistoryPoint(T0 + timedelta(hours=1), 0.8, PAYLOAD, True, 0.6),
    ]
    markup = history_plot(history, metric=PAYLOAD, threshold=0.6)
    assert "<img" not in markup
    root = ET.fromstring(markup)
    labels = _texts(root)
    assert f"{PAYLOAD} per window" in labels and f"v{PAYLOAD}" in labels and PAYLOAD in labels
    assert "$x$ per window" in _texts(
        ET.fromstring(history_plot(history, metric="$x$", threshold=None))
    )


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
