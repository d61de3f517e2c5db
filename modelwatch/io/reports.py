"""Self-contained HTML report of one monitor run, with plots (matplotlib, PNG inlined).

One file per window: ``<reports_dir>/<model>/<window start>.html`` (re-running a
window replaces its report). Only feature columns, metrics and statistics reach
the report — never PII columns, never row values.

Escaping: every name and value written into the HTML (model, column and
category names, reasons, warnings, alt text) goes through :func:`html.escape`;
the plots draw text as typed (matplotlib's mathtext is off, so a name like
``$x_1$`` is neither interpreted nor able to fail the report).
"""

from __future__ import annotations

import base64
import functools
import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec

import numpy as np
import pandas as pd

from modelwatch.outcomes import WindowDecision
from modelwatch.summaries import window_title

if TYPE_CHECKING:
    from modelwatch.stats.drift import DriftReport
    from modelwatch.stats.performance import MetricValue
    from modelwatch.summaries import MonitorSummary

_P = ParamSpec("_P")


@dataclass(frozen=True)
class HistoryPoint:
    """The watched metric of an earlier (or this) window."""

    window_start: datetime
    value: float | None
    champion_version: str | None
    bad: bool
    #: the threshold the window was judged against (None: not stored, before revision 0004)
    threshold: float | None = None


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float = 7.0, height: float = 3.0) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def _literal_text(plot: Callable[_P, str]) -> Callable[_P, str]:
    """Run ``plot`` with mathtext off: column names and categories are drawn as typed.

    With mathtext on, a category like ``$100-$200`` is drawn in italics and one
    like ``$\\bar$`` raises a ParseSyntaxException that loses the whole report.
    """

    @functools.wraps(plot)
    def literal(*args: _P.args, **kwargs: _P.kwargs) -> str:
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return plot(*args, **kwargs)

    return literal


@_literal_text
def drift_plot(drift: DriftReport) -> str:
    """Bar chart of statistic / threshold per column (above 1 = drifted)."""
    fig, ax = _figure(7.0, 0.35 * max(len(drift.columns), 3) + 1.0)
    names, ratios, colors = [], [], []
    for result in drift.columns:
        if result.p_value is not None:  # tests: how far below alpha, in -log10 units
            value = -np.log10(max(result.p_value, 1e-300)) / -np.log10(
                max(result.threshold, 1e-300)
            )
        else:
            value = result.statistic / result.threshold if result.threshold else 0.0
        names.append(f"{result.column} ({result.method})")
        ratios.append(float(min(value, 10.0)))
        colors.append("#d62728" if result.drifted else "#1f77b4")
    ax.barh(names[::-1], ratios[::-1], color=colors[::-1])
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set_xlabel("statistic relative to its threshold (1 = threshold, capped at 10)")
    ax.set_title("Feature drift")
    return _png(fig)


def _draw_thresholds(ax: Any, points: Sequence[HistoryPoint], current: float | None) -> None:
    """Each window's own threshold (a step line: a new champion brings its own); a window
    without a stored threshold gets the current one only if the current champion judged it."""
    if not points:
        if current is not None:
            ax.axhline(current, color="#d62728", linestyle="--", linewidth=1, label="threshold")
        return
    latest = points[-1].champion_version
    values = [
        p.threshold
        if p.threshold is not None
        else (current if p.champion_version == latest else None)
        for p in points
    ]
    if all(v is None for v in values):
        return
    xs = [p.window_start for p in points]
    ys = [np.nan if v is None else v for v in values]
    ax.step(xs, ys, where="post", color="#d62728", linestyle="--", linewidth=1, label="threshold")


@_literal_text
def history_plot(history: Sequence[HistoryPoint], *, metric: str, threshold: float | None) -> str:
    fig, ax = _figure()
    points = [p for p in history if p.value is not None]
    if points:
        xs = [p.window_start for p in points]
        ax.plot(xs, [p.value for p in points], marker="o", color="#1f77b4", label=metric)
        bad = [p for p in points if p.bad]
        if bad:
            ax.scatter(
                [p.window_start for p in bad],
                [p.value for p in bad],
                color="#d62728",
                zorder=3,
                label="bad window",
            )
        versions = [p.champion_version for p in points]
        for i in range(1, len(points)):
            if versions[i] != versions[i - 1]:
                ax.axvline(xs[i], color="#2ca02c", linestyle=":", linewidth=1)
                ax.annotate(
                    f"v{versions[i]}",
                    (xs[i], ax.get_ylim()[1]),
                    fontsize=8,
                    color="#2ca02c",
                    va="top",
                )
    _draw_thresholds(ax, points, threshold)
    ax.set_title(f"{metric} per window")
    ax.legend(loc="lower left", fontsize=8)
    fig.autofmt_xdate()
    return _png(fig)


@_literal_text
def distribution_plot(reference: pd.Series, current: pd.Series, *, column: str) -> str:
    fig, ax = _figure(3.4, 2.4)
    if pd.api.types.is_numeric_dtype(reference) and pd.api.types.is_numeric_dtype(current):
        ref = reference.to_numpy(dtype="float64", na_value=np.nan)
        cur = current.to_numpy(dtype="float64", na_value=np.nan)
        both = np.concatenate([ref[np.isfinite(ref)], cur[np.isfinite(cur)]])
        if both.size:
            edges = np.histogram_bin_edges(both, bins=30)
            ax.hist(ref[np.isfinite(ref)], bins=edges, density=True, alpha=0.5, label="reference")
            ax.hist(cur[np.isfinite(cur)], bins=edges, density=True, alpha=0.5, label="window")
    else:
        ref_share = reference.astype("string").value_counts(normalize=True)
        cur_share = current.astype("string").value_counts(normalize=True)
        table = pd.concat([ref_share, cur_share], axis=1, keys=["reference", "window"]).fillna(0)
        table.head(15).plot.bar(ax=ax, alpha=0.7)
    ax.set_title(column, fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


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
.ok{background:#e6f4ea}.bad{background:#fde7e9}img{max-width:100%}.grid{display:flex;flex-wrap:wrap;gap:8px}
"""


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
        f'<img alt="{html.escape(d.column)}" src="data:image/png;base64,'
        f'{distribution_plot(reference[d.column], current[d.column], column=d.column)}">'
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
        f"<img alt='history' src='data:image/png;base64,"
        f"{history_plot(history, metric=metric, threshold=threshold)}'>",
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
        f"<img alt='drift' src='data:image/png;base64,{drift_plot(drift)}'>",
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
