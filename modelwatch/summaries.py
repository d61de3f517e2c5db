"""Small frozen summaries of runs, and their markdown (for Prefect artifacts and the CLI).

Pure: no Prefect, no I/O. PII never reaches these objects (they hold names and
numbers only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from modelwatch.outcomes import WindowDecision, retrained
from modelwatch.spec import LOWER_IS_BETTER

if TYPE_CHECKING:
    from modelwatch.assessment import WindowAssessment
    from modelwatch.io.store import RunRecord
    from modelwatch.stats.abtest import ABDecision
    from modelwatch.stats.drift import DriftReport


@dataclass(frozen=True)
class MonitorSummary:
    """What one monitor run found and decided."""

    model: str
    window_start: datetime
    window_end: datetime
    champion_version: str | None
    n_rows: int = 0
    n_labeled: int = 0
    validation: str = "n/a"
    metrics: dict[str, float] = field(default_factory=dict)
    """Realized metrics (labels) of the window, overall."""
    estimated: dict[str, float] = field(default_factory=dict)
    """CBPE-estimated metrics of the window, overall (from the scores alone)."""
    multivariate: dict[str, float] = field(default_factory=dict)
    """Multivariate drift values (``domain_classifier_auc``, ``pca_reconstruction_error``)."""
    output_drift: tuple[str, ...] = ()
    """Drifted prediction / target columns (e.g. ``prediction:score``)."""
    drifted_features: tuple[str, ...] = ()
    n_features: int = 0
    share_drifted: float = 0.0
    bad: bool = False
    reason: str = ""
    degraded: bool = False
    store_run_id: str | None = None
    retrain_outcome: str | None = None
    retrain_message: str = ""

    @classmethod
    def empty(
        cls, model: str, start: datetime, end: datetime, champion: str | None
    ) -> MonitorSummary:
        return cls(model, start, end, champion, reason="no predictions in the window")

    @classmethod
    def build(
        cls, record: RunRecord, assessment: WindowAssessment, store_run_id: str | None = None
    ) -> MonitorSummary:
        """The summary of a validated window from its stored record and its assessment.

        ``validation``: ``passed`` / ``passed, <n> warning(s)`` / ``n/a`` (no report);
        ``metrics`` / ``estimated``: the overall realized / CBPE values; ``multivariate``:
        the drift values; ``output_drift``: the drifted prediction / target columns.
        """
        metrics, drift, report = assessment.metrics, assessment.drift, assessment.report
        if report is None:
            validation = "n/a"
        elif report.warnings:
            validation = f"passed, {len(report.warnings)} warning(s)"
        else:
            validation = "passed"
        return cls(
            model=record.model,
            window_start=record.window_start,
            window_end=record.window_end,
            champion_version=record.champion_version,
            n_rows=record.n_rows,
            n_labeled=record.n_labeled,
            validation=validation,
            metrics={
                m.name: m.value for m in metrics if m.segment is None and m.kind == "realized"
            },
            estimated={
                m.name: m.value for m in metrics if m.segment is None and m.kind == "estimated"
            },
            multivariate={m.name: m.value for m in metrics if m.kind == "drift"},
            output_drift=tuple(
                r.column for r in drift.columns if r.role != "feature" and r.drifted
            ),
            drifted_features=tuple(drift.drifted_features),
            n_features=len(drift.features),
            share_drifted=drift.share_drifted,
            bad=assessment.judgement.bad,
            reason=assessment.judgement.reason,
            degraded=assessment.decision.degraded,
            store_run_id=store_run_id,
        )

    def with_retrain(self, outcome: str, message: str) -> MonitorSummary:
        return replace(self, retrain_outcome=outcome, retrain_message=message)

    @property
    def decision(self) -> str:
        """ok | degraded | retrained+promoted | retrained+rejected | retrained+<outcome> | nodata"""
        if self.n_rows == 0:
            return WindowDecision.NO_DATA
        if self.retrain_outcome:
            return retrained(self.retrain_outcome)
        return WindowDecision.DEGRADED if self.degraded else WindowDecision.OK


def window_label(start: datetime) -> str:
    """A window's short name from its start: ``2026-11-23T10`` (``2026-11-23T1030`` off the hour)."""
    return start.strftime("%Y-%m-%dT%H") if start.minute == 0 else start.strftime("%Y-%m-%dT%H%M")


def window_title(start: datetime, end: datetime) -> str:
    """``2026-11-23 10:00 → 11:00 UTC``; a window of 24 h or more, or across midnight,
    shows both dates (``2026-11-23 00:00 → 2026-11-24 00:00 UTC``)."""
    last = end - timedelta(microseconds=1)
    same_day = end - start < timedelta(hours=24) and start.date() == last.date()
    until = f"{end:%H:%M}" if same_day else f"{end:%Y-%m-%d %H:%M}"
    return f"{start:%Y-%m-%d %H:%M} → {until} UTC"


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def monitor_markdown(
    summary: MonitorSummary, drift: DriftReport | None = None, *, notes: Sequence[str] = ()
) -> str:
    """The monitor run's summary artifact; ``notes``: the analyses a small window skipped."""
    lines = [
        f"# {summary.model} — window {window_title(summary.window_start, summary.window_end)}",
        "",
        f"**Decision: {summary.decision}** — {summary.reason}",
        "",
        "| rows | labeled | validation | champion | drifted features |",
        "|---:|---:|---|---|---|",
        f"| {summary.n_rows} | {summary.n_labeled} | {summary.validation} | "
        f"v{summary.champion_version} | {len(summary.drifted_features)}/{summary.n_features} "
        f"({summary.share_drifted:.0%}) |",
        "",
    ]
    names = list(dict.fromkeys([*summary.metrics, *summary.estimated]))
    if names:
        lines += ["| metric | realized | estimated (CBPE) |", "|---|---:|---:|"]
        lines += [
            f"| {name} | {_fmt(summary.metrics.get(name))} | {_fmt(summary.estimated.get(name))} |"
            for name in names
        ]
        lines.append("")
    if summary.multivariate:
        lines += ["| multivariate drift | value |", "|---|---:|"]
        lines += [f"| {name} | {_fmt(value)} |" for name, value in summary.multivariate.items()]
        lines.append("")
    if drift is not None and drift.drifted_features:
        lines.append("Drifted: " + ", ".join(f"`{c}`" for c in drift.drifted_features))
        lines.append("")
    if summary.output_drift:
        lines.append("Output drift: " + ", ".join(f"`{c}`" for c in summary.output_drift))
        lines.append("")
    if summary.retrain_outcome:
        lines.append(f"Retraining: **{summary.retrain_outcome}** {summary.retrain_message}")
    text = "\n".join(lines) + "\n"
    if notes:
        text += "\nSkipped for lack of data: " + "; ".join(notes) + ".\n"
    return text


def ab_markdown(model: str, champion: str, challenger: str, decision: ABDecision) -> str:
    """The A/B comparison's evidence, readable by a person."""
    verdict = "PROMOTE" if decision.should_promote else "REJECT"
    difference = (
        "improvement (champion − challenger, lower is better)"
        if decision.metric in LOWER_IS_BETTER
        else "difference (challenger − champion)"
    )
    return "\n".join(
        [
            f"# A/B comparison — {model}: v{champion} (champion) vs v{challenger} (challenger)",
            "",
            f"**{verdict}** — {decision.reason}",
            "",
            "| | value |",
            "|---|---:|",
            f"| metric | {decision.metric} |",
            f"| champion | {_fmt(decision.champion_value, 4)} |",
            f"| challenger | {_fmt(decision.challenger_value, 4)} |",
            f"| {difference} | {_fmt(decision.difference, 4)} |",
            f"| {decision.confidence:.0%} CI (paired bootstrap, {decision.n_bootstrap} resamples) "
            f"| [{_fmt(decision.ci_low, 4)}, {_fmt(decision.ci_high, 4)}] |",
            f"| paired test | {decision.test or '—'} p = {_fmt(decision.p_value, 4)} |",
            f"| held-out rows | {decision.n} |",
            f"| rule | {decision.rule}, margin {decision.margin} |",
            "",
        ]
    )
