"""Self-contained HTML report of one monitor run, with charts (hand-written inline SVG).

One file per window: ``<reports_dir>/<model>/<window start>.html`` (re-running a
window replaces its report). Only feature columns, metrics and statistics reach
the report — never PII columns, never row values.

Escaping: every name and value written into the HTML (model, column and
category names, reasons, warnings) goes through :func:`html.escape`; so does every
text the charts draw (:mod:`modelwatch.io.svg`: labels, tooltips, ``<title>`` and
``aria-label``), so a name like ``$x_1$`` is shown as typed and ``<img ...>`` stays text.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelwatch.io import svg
from modelwatch.outcomes import WindowDecision
from modelwatch.summaries import window_title

if TYPE_CHECKING:
    from modelwatch.stats.drift import DriftReport, DriftResult
    from modelwatch.stats.performance import MetricValue
    from modelwatch.summaries import MonitorSummary

#: a drift bar never extends beyond this many thresholds
DRIFT_CAP = 10.0
#: categories shown in a categorical column's distribution chart
MAX_CATEGORIES = 15


@dataclass(frozen=True)
class HistoryPoint:
    """The watched metric of an earlier (or this) window."""

    window_start: datetime
    value: float | None
    champion_version: str | None
    bad: bool
    #: the threshold the window was judged against (None: not stored, before revision 0004)
    threshold: float | None = None


def _drift_ratio(result: DriftResult) -> float:
    """Statistic / threshold, capped at :data:`DRIFT_CAP` (p-value tests: how far below
    alpha, in -log10 units: -log10(p) / -log10(alpha)); 1 is the threshold."""
    if result.p_value is not None:
        alpha = -math.log10(max(result.threshold, 1e-300))
        strength = -math.log10(max(result.p_value, 1e-300))
        value = strength / alpha if alpha > 0 else math.inf
    else:
        value = result.statistic / result.threshold if result.threshold else 0.0
    if math.isnan(value):
        return 0.0
    return min(max(value, 0.0), DRIFT_CAP)


def drift_plot(drift: DriftReport) -> str:
    """Bar chart (inline SVG) of statistic / threshold per column (above 1 = drifted)."""
    width, row, top, size = 700.0, 22.0, 34.0, 11.0
    names = [f"{r.column} ({r.method})" for r in drift.columns]
    ratios = [_drift_ratio(r) for r in drift.columns]
    plot_height = row * max(len(names), 1)
    bottom = top + plot_height
    left = min(max((svg.text_width(n, size) for n in names), default=0.0) + 12, width * 0.4)
    left = max(left, 40.0)
    x = svg.Scale(0.0, max([1.0, *ratios]) * 1.05, left, width - 16)
    parts = [svg.label(width / 2, 18, "Feature drift", text_anchor="middle", font_size=13)]
    for tick, shown in svg.ticks(x.lo, x.hi):
        parts.append(svg.line(x(tick), top, x(tick), bottom, stroke=svg.GRID))
        parts.append(svg.label(x(tick), bottom + 14, shown, text_anchor="middle", font_size=10))
    max_chars = int((left - 12) / (svg.CHAR_WIDTH * size))
    for i, (result, name, ratio) in enumerate(zip(drift.columns, names, ratios, strict=True)):
        y = top + i * row + 4
        capped = " (capped)" if ratio >= DRIFT_CAP else ""
        verdict = "drifted" if result.drifted else "not drifted"
        parts.append(
            svg.rect(
                left,
                y,
                x(ratio) - left,
                row - 8,
                svg.tooltip(f"{name}: {ratio:.3g} × threshold{capped}, {verdict}"),
                fill=svg.RED if result.drifted else svg.BLUE,
                class_="bar drifted" if result.drifted else "bar",
            )
        )
        parts.append(
            svg.label(
                left - 6,
                y + (row - 8) / 2 + 4,
                name,
                max_chars=max_chars,
                text_anchor="end",
                class_="column",
            )
        )
    if not names:
        parts.append(
            svg.label(
                (left + x.end) / 2,
                top + row / 2 + 4,
                "no columns compared",
                text_anchor="middle",
                fill=svg.AXIS,
            )
        )
    parts += [
        svg.line(left, bottom, x.end, bottom, stroke=svg.AXIS, class_="x-axis"),
        svg.line(left, top, left, bottom, stroke=svg.AXIS, class_="y-axis"),
        svg.line(
            x(1.0), top, x(1.0), bottom, stroke="#000", stroke_dasharray="4 3", class_="threshold"
        ),
        svg.label(
            (left + x.end) / 2,
            bottom + 32,
            f"statistic relative to its threshold (1 = threshold, capped at {DRIFT_CAP:g})",
            text_anchor="middle",
        ),
    ]
    drifted = sum(r.drifted for r in drift.columns)
    return svg.document(
        parts,
        width=width,
        height=bottom + 44,
        title=f"Feature drift: statistic relative to its threshold per column, "
        f"{drifted} of {len(names)} drifted",
        css_class="drift-chart",
    )


def _thresholds(points: Sequence[HistoryPoint], current: float | None) -> list[float | None]:
    """Each window's own threshold (a new champion brings its own); a window without a
    stored threshold gets the current one only if the current champion judged it."""
    if not points:
        return []
    latest = points[-1].champion_version
    return [
        p.threshold
        if p.threshold is not None
        else (current if p.champion_version == latest else None)
        for p in points
    ]


def _step_segments(
    xs: Sequence[float], values: Sequence[float | None], *, end: float
) -> list[list[tuple[float, float]]]:
    """A step line (each value holds until the next window; the last one until ``end``),
    broken where a value is missing; ``xs`` and the values in user units."""
    segments: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for i, value in enumerate(values):
        if value is None:
            if current:
                segments.append(current)
            current = []
            continue
        nxt = xs[i + 1] if i + 1 < len(xs) else end
        current += [(xs[i], value), (nxt, value)]
    if current:
        segments.append(current)
    return segments


def _version(version: str | None) -> str:
    return f"v{version}" if version is not None else "no champion"


def _version_changes(
    points: Sequence[HistoryPoint], xs: Sequence[float], *, top: float, bottom: float
) -> list[str]:
    """A dotted green line and the new version's label where the champion changes."""
    parts = []
    for i in range(1, len(points)):
        if points[i].champion_version != points[i - 1].champion_version:
            parts += [
                svg.line(
                    xs[i],
                    top,
                    xs[i],
                    bottom,
                    stroke=svg.GREEN,
                    stroke_dasharray="1 3",
                    class_="version-change",
                ),
                svg.label(
                    xs[i] + 3,
                    top + 10,
                    _version(points[i].champion_version),
                    fill=svg.GREEN,
                    font_size=9,
                    class_="version",
                ),
            ]
    return parts


def _markers(
    points: Sequence[HistoryPoint], xs: Sequence[float], ys: Sequence[float], *, metric: str
) -> str:
    """A marker per window (red and larger for a bad one) with its values as tooltip."""
    markers = []
    for point, x, y in zip(points, xs, ys, strict=True):
        note = svg.tooltip(
            f"{svg.utc(point.window_start):%Y-%m-%d %H:%M} UTC: {metric} = {point.value:.4g}, "
            f"champion {_version(point.champion_version)}" + (", bad window" if point.bad else "")
        )
        if point.bad:
            markers.append(svg.circle(x, y, 4.0, note, fill=svg.RED, class_="bad"))
        else:
            markers.append(svg.circle(x, y, 3.0, note, fill=svg.BLUE, class_="point"))
    return svg.element("g", "".join(markers), class_="markers")


def history_plot(history: Sequence[HistoryPoint], *, metric: str, threshold: float | None) -> str:
    """Line chart (inline SVG) of ``metric`` per window (windows without a value left
    out): bad windows in red, each window's threshold as a dashed step line
    (:func:`_thresholds`), a dotted green line where the champion changes."""
    width, height, left, right, top, bottom = 700.0, 300.0, 56.0, 684.0, 50.0, 256.0
    points = [p for p in history if p.value is not None and math.isfinite(p.value)]
    values = [float(p.value) for p in points if p.value is not None]
    limits = _thresholds(points, threshold) if points else [threshold]
    levels = values + [v for v in limits if v is not None]
    parts = [
        svg.label(width / 2, 18, f"{metric} per window", text_anchor="middle", font_size=13),
        svg.label((left + right) / 2, bottom + 34, "window start (UTC)", text_anchor="middle"),
    ]
    times = [svg.epoch_seconds(p.window_start) for p in points]
    pad = 1800.0 if len(set(times)) < 2 else (max(times) - min(times)) * 0.03
    t = svg.Scale(min(times, default=0.0) - pad, max(times, default=0.0) + pad, left, right)
    y = svg.Scale(*svg.padded(min(levels, default=0.0), max(levels, default=1.0)), bottom, top)
    if levels:
        for tick, shown in svg.ticks(y.lo, y.hi):
            parts.append(svg.line(left, y(tick), right, y(tick), stroke=svg.GRID))
            parts.append(svg.label(left - 5, y(tick) + 4, shown, text_anchor="end", font_size=10))
    if not points:
        parts.append(
            svg.label(
                (left + right) / 2,
                (top + bottom) / 2 - 12,
                f"no {metric} values yet",
                text_anchor="middle",
            )
        )
    else:
        for when, shown in svg.time_ticks(t.lo, t.hi):
            parts.append(svg.line(t(when), bottom, t(when), bottom + 4, stroke=svg.AXIS))
            parts.append(svg.label(t(when), bottom + 16, shown, text_anchor="middle", font_size=10))
    parts += [
        svg.line(left, bottom, right, bottom, stroke=svg.AXIS, class_="x-axis"),
        svg.line(left, top, left, bottom, stroke=svg.AXIS, class_="y-axis"),
    ]
    legend = [svg.LegendItem("line-marker", svg.BLUE, metric)] if points else []
    if any(v is not None for v in limits):
        xs = [t(s) for s in times] if points else [left]
        steps = _step_segments(xs, [None if v is None else y(v) for v in limits], end=right)
        parts.append(svg.path(steps, stroke=svg.RED, stroke_dasharray="4 3", class_="threshold"))
        legend.append(svg.LegendItem("dashed", svg.RED, "threshold"))
    xs, ys = [t(s) for s in times], [y(v) for v in values]
    parts += _version_changes(points, xs, top=top, bottom=bottom)
    line = list(zip(xs, ys, strict=True))
    parts.append(svg.path([line], stroke=svg.BLUE, stroke_width=1.5, class_="metric"))
    parts.append(_markers(points, xs, ys, metric=metric))
    n_bad = sum(p.bad for p in points)
    if n_bad:
        legend.append(svg.LegendItem("marker", svg.RED, "bad window"))
    parts.append(svg.legend(legend, x=left, y=36))
    return svg.document(
        parts,
        width=width,
        height=height,
        title=f"{metric} per window: {len(points)} windows with a value, {n_bad} bad",
        css_class="history-chart",
    )


#: one series of bars: its name (``reference`` / ``window``), colour and bars (x0, x1, value)
_Bars = tuple[str, str, list[tuple[float, float, float]]]


def _finite(series: pd.Series) -> np.ndarray:
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    return values[np.isfinite(values)]


def _histograms(
    reference: pd.Series, current: pd.Series, *, left: float, right: float
) -> tuple[list[_Bars], list[tuple[float, str]]]:
    """Density histograms over 30 bins shared by both series (empty bins left out), and
    the x ticks (position, label)."""
    ref, cur = _finite(reference), _finite(current)
    both = np.concatenate([ref, cur])
    if not both.size:
        return [], []
    edges = np.histogram_bin_edges(both, bins=30)
    x = svg.Scale(float(edges[0]), float(edges[-1]), left, right)
    series: list[_Bars] = []
    for name, colour, values in (("reference", svg.BLUE, ref), ("window", svg.ORANGE, cur)):
        if values.size:
            density = np.histogram(values, bins=edges, density=True)[0]
            bars = [
                (x(edges[j]), x(edges[j + 1]), float(d)) for j, d in enumerate(density) if d > 0
            ]
            series.append((name, colour, bars))
    return series, [(x(t), shown) for t, shown in svg.ticks(x.lo, x.hi, count=4)]


def _category_bars(
    reference: pd.Series, current: pd.Series, *, left: float, right: float
) -> tuple[list[_Bars], list[tuple[float, str]]]:
    """Grouped bars of the shares of the top 15 categories (the reference's most frequent
    first, then the window's new ones), and the x labels (position, category)."""
    ref = reference.astype("string").value_counts(normalize=True).to_dict()
    cur = current.astype("string").value_counts(normalize=True).to_dict()
    categories = list(dict.fromkeys([*ref, *cur]))[:MAX_CATEGORIES]
    if not categories:
        return [], []
    slot = (right - left) / len(categories)
    centres = [left + slot * (i + 0.5) for i in range(len(categories))]
    bar = slot * 0.38
    series: list[_Bars] = [
        (
            name,
            colour,
            [
                (c + offset, c + offset + bar, float(shares[k]))
                for c, k in zip(centres, categories, strict=True)
                if shares.get(k, 0.0) > 0
            ],
        )
        for name, colour, shares, offset in (
            ("reference", svg.BLUE, ref, -bar),
            ("window", svg.ORANGE, cur, 0.0),
        )
    ]
    return series, [(c, str(k)) for c, k in zip(centres, categories, strict=True)]


def distribution_plot(reference: pd.Series, current: pd.Series, *, column: str) -> str:
    """Reference vs window distribution (inline SVG) of one column: overlaid density
    histograms (30 shared bins) for a numeric column, grouped bars of the shares of the
    top 15 categories otherwise."""
    numeric = pd.api.types.is_numeric_dtype(reference) and pd.api.types.is_numeric_dtype(current)
    width, left, right, top, plot_height = 340.0, 52.0, 330.0, 44.0, 160.0
    bottom = top + plot_height
    if numeric:
        series, x_ticks = _histograms(reference, current, left=left, right=right)
    else:  # room on the left for the first category's turned name
        series, x_ticks = _category_bars(reference, current, left=left, right=right)
        if x_ticks:
            first = svg.text_width(svg.shorten(x_ticks[0][1], 14), 9) * 0.77
            needed = first - (x_ticks[0][0] - left) + 12
            if needed > left:
                left = min(needed, width / 2)
                series, x_ticks = _category_bars(reference, current, left=left, right=right)
    if numeric:
        height = bottom + 30
        tick_labels = [
            svg.label(x, bottom + 15, shown, text_anchor="middle", font_size=9)
            for x, shown in x_ticks
        ]
    else:  # category names turned by 40° below the axis
        longest = max((len(svg.shorten(k, 14)) for _, k in x_ticks), default=0)
        height = bottom + 22 + svg.text_width("x" * longest, 9) * 0.65
        tick_labels = [
            svg.label(
                x,
                bottom + 12,
                shown,
                max_chars=14,
                text_anchor="end",
                font_size=9,
                class_="category",
                transform=f"rotate(-40 {svg.num(x)} {svg.num(bottom + 12)})",
            )
            for x, shown in x_ticks
        ]
    parts = [svg.label(width / 2, 16, column, max_chars=50, text_anchor="middle", font_size=12)]
    top_value = max((v for _, _, bars in series for _, _, v in bars), default=0.0)
    if top_value <= 0:
        parts += [
            svg.line(left, bottom, right, bottom, stroke=svg.AXIS, class_="x-axis"),
            svg.label((left + right) / 2, (top + bottom) / 2, "no values", text_anchor="middle"),
        ]
        return svg.document(
            parts,
            width=width,
            height=bottom + 30,
            title=f"Distribution of {column}: no values",
            css_class="distribution-chart",
        )
    y = svg.Scale(0.0, top_value * 1.05, bottom, top)
    for tick, shown in svg.ticks(y.lo, y.hi, count=4):
        parts.append(svg.line(left, y(tick), right, y(tick), stroke=svg.GRID))
        parts.append(svg.label(left - 4, y(tick) + 3, shown, text_anchor="end", font_size=9))
    opacity = 0.5 if numeric else 0.7
    for name, colour, bars in series:
        rects = "".join(svg.rect(x0, y(v), x1 - x0, bottom - y(v)) for x0, x1, v in bars)
        parts.append(svg.element("g", rects, fill=colour, fill_opacity=opacity, class_=name))
    if numeric:
        parts += [svg.line(x, bottom, x, bottom + 4, stroke=svg.AXIS) for x, _ in x_ticks]
    parts += tick_labels
    middle = svg.num((top + bottom) / 2)
    parts += [
        svg.line(left, bottom, right, bottom, stroke=svg.AXIS, class_="x-axis"),
        svg.line(left, top, left, bottom, stroke=svg.AXIS, class_="y-axis"),
        svg.label(
            12,
            (top + bottom) / 2,
            "density" if numeric else "share",
            text_anchor="middle",
            font_size=9,
            transform=f"rotate(-90 12 {middle})",
        ),
        svg.legend(
            [svg.LegendItem("box", c, n, opacity) for n, c, _ in series], x=left, y=30, size=9
        ),
    ]
    shown = "density" if numeric else f"shares of the top {MAX_CATEGORIES} categories"
    return svg.document(
        parts,
        width=width,
        height=height,
        title=f"Distribution of {column}: reference vs window ({shown})",
        css_class="distribution-chart",
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .6rem;
text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.decision{font-size:1.2rem;padding:.5rem 1rem;border-radius:6px;display:inline-block}
.ok{background:#e6f4ea}.bad{background:#fde7e9}.grid{display:flex;flex-wrap:wrap;gap:8px}
figure.chart{margin:0 0 1rem}.chart svg{max-width:100%;height:auto;display:block}
"""


def _figure(chart: str) -> str:
    """A chart's ``<svg>`` inlined in the page."""
    return f"<figure class='chart'>{chart}</figure>"


def render_report(
    summary: MonitorSummary,
    *,
    drift: DriftReport,
    metrics: Sequence[MetricValue],
    history: Sequence[HistoryPoint],
    metric: str,
    threshold: float | None,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    warnings: Sequence[str] = (),
    top_features: int = 4,
) -> str:
    """The HTML text of a monitor run's report."""
    decision_class = "ok" if summary.decision == WindowDecision.OK else "bad"
    overall = [m for m in metrics if m.segment is None]
    segments = [m for m in metrics if m.segment is not None]
    drifted = [d for d in drift.columns if d.drifted][:top_features]
    shown = drifted or sorted(drift.columns, key=lambda d: -d.statistic)[:top_features]
    dists = "".join(
        _figure(distribution_plot(reference[d.column], current[d.column], column=d.column))
        for d in shown
        if d.column in reference.columns and d.column in current.columns
    )
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(summary.model)} "
        f"{summary.window_start:%Y-%m-%d %H:%M}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(summary.model)} — window "
        f"{window_title(summary.window_start, summary.window_end)}</h1>",
        f"<p class='decision {decision_class}'>Decision: <b>{html.escape(summary.decision)}</b> — "
        f"{html.escape(summary.reason)}</p>",
        _table(
            ["rows", "labeled", "validation", "champion", "drifted features"],
            [
                [
                    summary.n_rows,
                    summary.n_labeled,
                    summary.validation,
                    f"v{summary.champion_version}",
                    f"{len(summary.drifted_features)}/{summary.n_features}",
                ]
            ],
        ),
        "<h2>Performance</h2>",
        _table(
            ["metric", "kind", "value", "CI low", "CI high", "n"],
            [[m.name, m.kind, m.value, m.ci_low, m.ci_high, m.n] for m in overall],
        )
        if overall
        else "<p>No labels in this window yet.</p>",
        _figure(history_plot(history, metric=metric, threshold=threshold)),
    ]
    if segments:
        parts += [
            "<h2>Per segment</h2>",
            _table(
                ["segment", "metric", "value", "CI low", "CI high", "n"],
                [[m.segment, m.name, m.value, m.ci_low, m.ci_high, m.n] for m in segments],
            ),
        ]
    parts += [
        "<h2>Drift</h2>",
        _figure(drift_plot(drift)),
        _table(
            [
                "column",
                "method",
                "statistic",
                "p-value",
                "threshold",
                "drifted",
                "missing (window)",
                "unseen categories",
            ],
            [
                [
                    d.column,
                    d.method,
                    d.statistic,
                    d.p_value,
                    d.threshold,
                    "yes" if d.drifted else "no",
                    d.missing_share_current,
                    ", ".join(d.unseen_categories),
                ]
                for d in drift.columns
            ],
        ),
        f"<div class='grid'>{dists}</div>",
    ]
    if warnings:
        parts += [
            "<h2>Validation warnings</h2><ul>"
            + "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
            + "</ul>"
        ]
    if summary.retrain_outcome:
        parts.append(
            f"<h2>Retraining</h2><p>{html.escape(summary.retrain_outcome)}: "
            f"{html.escape(summary.retrain_message)}</p>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def report_path(*, reports_dir: Path, model: str, window_start: datetime) -> Path:
    """Where the window's report is (or will be) written."""
    return reports_dir / model / f"{window_start:%Y-%m-%dT%H%M}.html"


def write_report(text: str, *, reports_dir: Path, model: str, window_start: datetime) -> Path:
    """Write (or replace) the window's report; returns its path."""
    path = report_path(reports_dir=reports_dir, model=model, window_start=window_start)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
