"""Monitoring-store tasks (each opens the store from the settings' URL)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any, NamedTuple

from prefect import task

from modelwatch import monitoring
from modelwatch.io.gx_runtime import ValidationReport
from modelwatch.io.sources import WindowData
from modelwatch.io.store import RunRecord, Store
from modelwatch.settings import get_settings
from modelwatch.stats.degradation import DegradationDecision, WindowJudgement
from modelwatch.stats.drift import DriftReport
from modelwatch.stats.performance import MetricValue
from tasks import IO_TASK


def open_store() -> Store:
    store = Store(get_settings().resolved_store_url)
    store.check_schema()
    return store


def run_rows(
    metrics: list[MetricValue], drift: DriftReport | None, report: ValidationReport | None
) -> dict[str, list[dict[str, Any]]]:
    """Store rows of a window's results (plain dicts, PII-free by construction)."""
    metric_rows = [
        {
            k: v
            for k, v in asdict(m).items()
            if k in {"name", "kind", "segment", "value", "ci_low", "ci_high", "n"}
        }
        for m in metrics
    ]
    drift_rows = [
        {
            "column_name": d.column,
            "method": d.method,
            "statistic": d.statistic,
            "p_value": d.p_value,
            "threshold": d.threshold,
            "drifted": d.drifted,
            "missing_share_current": d.missing_share_current,
            "unseen_categories": ",".join(d.unseen_categories),
        }
        for d in (drift.columns if drift else ())
    ]
    validation_rows = [
        {
            "expectation": o.expectation_type,
            "column_name": o.column,
            "severity": o.severity,
            "success": o.success,
            "observed": o.observed,
        }
        for o in (report.outcomes if report else ())
    ]
    return {"metrics": metric_rows, "drift": drift_rows, "validation": validation_rows}


@task(name="check-store-schema", **IO_TASK)
def check_schema() -> None:
    """Refuse to start on a store behind or ahead of this code (names the command to run)."""
    open_store().dispose()


@task(name="save-run", **IO_TASK)
def save_run(record: RunRecord) -> str:
    store = open_store()
    try:
        return store.save_run(record)
    finally:
        store.dispose()


@task(name="recent-window-flags", **IO_TASK)
def recent_bad_flags(
    model: str, before: datetime, champion_version: str | None, n: int
) -> list[bool]:
    """Bad-window flags of the last ``n - 1`` earlier windows served by the same champion."""
    store = open_store()
    try:
        rows = store.runs(model, before=before, limit=max(n - 1, 0))
    finally:
        store.dispose()
    flags = []
    for row in rows:
        if row["champion_version"] != champion_version:
            break
        flags.append(bool(row["bad"]))
    return flags


@task(name="recent-validated-windows", **IO_TASK)
def recent_validated_windows(
    model: str, before: datetime, limit: int
) -> list[tuple[datetime, datetime]]:
    """Windows that passed validation and have labels, newest first."""
    store = open_store()
    try:
        rows = store.runs(model, before=before)
    finally:
        store.dispose()
    good = [r for r in rows if r["validation_passed"] and r["n_labeled"] > 0]
    return [(r["window_start"], r["window_end"]) for r in good[:limit]]


@task(name="unmonitored-windows", **IO_TASK)
def unmonitored_windows(
    model: str, windows: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """The ``windows`` (oldest first) that have no run in the store (catch-up candidates)."""
    if not windows:
        return []
    store = open_store()
    try:
        rows = store.runs(model, before=windows[-1][1], limit=len(windows))
    finally:
        store.dispose()
    done = {row["window_start"] for row in rows}
    return [(start, end) for start, end in windows if start not in done]


@task(name="judged-windows", **IO_TASK)
def judged_windows(model: str, limit: int) -> list[monitoring.JudgedWindow]:
    """The last ``limit`` monitored windows that can be re-judged, oldest first."""
    store = open_store()
    try:
        rows = store.runs(model, limit=limit)
    finally:
        store.dispose()
    return monitoring.judged_windows(rows)


@task(name="keep-window-decision", **IO_TASK)
def keep_decision(record: RunRecord) -> RunRecord:
    """A re-judged window's record with the status decided when it was first monitored.

    Re-judging replaces a window's evidence (metrics, labels, bad flag) but not the
    decision that events and retraining acted on: degradation episodes are built
    from the stored statuses, so a re-judge never starts or stretches an episode.
    """
    store = open_store()
    try:
        rows = store.runs(record.model, before=record.window_end, limit=1)
    finally:
        store.dispose()
    if not rows or rows[0]["window_start"] != record.window_start:
        return record
    row = rows[0]
    reason = (
        f"re-judged with {record.n_labeled} labels (was {row['n_labeled']}): {record.reason}; "
        f"status kept as decided then ({row['status']})"
    )
    return replace(record, status=row["status"], reason=reason)


class Episode(NamedTuple):
    """A degradation episode: consecutive degraded windows under one champion."""

    id: str  # "<model>-v<champion>-<first degraded window start>"
    windows: list[list[str]]  # the bad windows of the decision, [start, end] ISO, oldest first


@task(name="degradation-episode", **IO_TASK)
def degradation_episode(
    model: str,
    start: datetime,
    end: datetime,
    champion_version: str,
    n: int,
    current_bad: bool,
) -> Episode:
    """The episode a degraded window belongs to and the bad windows behind the decision.

    The episode starts at the oldest window of the unbroken run of ``degraded`` windows
    (same champion) that ends at this one; a promotion (new champion) or a healthy
    window starts a new episode. The bad windows are the k-of-n evidence: bad windows
    among the last ``n`` served by this champion, this one included.
    """
    store = open_store()
    try:
        rows = store.runs(model, before=start, limit=max(n - 1, 0))
        # walk back a page at a time: one episode never reads a year of history
        first, cursor, ended = start, start, False
        while not ended and (page := store.runs(model, before=cursor, limit=200)):
            for row in page:
                if row["champion_version"] != champion_version or row["status"] != "degraded":
                    ended = True
                    break
                first = row["window_start"]
            cursor = page[-1]["window_start"]
    finally:
        store.dispose()
    bad = [(start, end)] if current_bad else []
    for row in rows[: max(n - 1, 0)]:
        if row["champion_version"] != champion_version:
            break
        if row["bad"]:
            bad.append((row["window_start"], row["window_end"]))
    windows = [[s.isoformat(), e.isoformat()] for s, e in sorted(bad)]
    return Episode(f"{model}-v{champion_version}-{first:%Y-%m-%dT%H%M}", windows)


@task(name="claim-retrain-episode", **IO_TASK)
def claim_episode(model: str, episode: str, flow_run_id: str | None) -> str | None:
    """Claim retraining for a degradation episode: None if this run holds it, else the holder.

    The claim is a ``retrain-episode`` decision row. Two runs that claim at once both
    insert a row; the oldest row (created_at, then id) wins for both readers.
    """
    store = open_store()
    try:

        def claims() -> list[dict[str, Any]]:
            rows = store.decisions(model, kind="retrain-episode")
            return [r for r in rows if r["details"].get("episode") == episode]

        earlier = claims()
        if earlier:
            return str(earlier[0]["flow_run_id"] or earlier[0]["id"])
        mine = store.save_decision(
            model,
            kind="retrain-episode",
            outcome="claimed",
            details={"episode": episode},
            flow_run_id=flow_run_id,
        )
        first = min(claims(), key=lambda r: (r["created_at"], r["id"]))
        return None if first["id"] == mine else str(first["flow_run_id"] or first["id"])
    finally:
        store.dispose()


@task(name="save-decision", **IO_TASK)
def save_decision(
    model: str, kind: str, outcome: str, details: Mapping[str, Any], flow_run_id: str | None
) -> str:
    store = open_store()
    try:
        return store.save_decision(
            model, kind=kind, outcome=outcome, details=details, flow_run_id=flow_run_id
        )
    finally:
        store.dispose()


@task(name="last-decision-time", **IO_TASK)
def last_decision_time(model: str, kind: str) -> datetime | None:
    store = open_store()
    try:
        rows = store.decisions(model, kind=kind)
    finally:
        store.dispose()
    return rows[-1]["created_at"] if rows else None


@task(name="quarantine-window", **IO_TASK)
def quarantine_window(
    model: str,
    window_start: datetime,
    window_end: datetime,
    files: list[tuple[str, str]],
    reason: str,
    flow_run_id: str | None,
) -> int:
    store = open_store()
    try:
        return store.quarantine_files(
            model,
            window_start=window_start,
            window_end=window_end,
            files=files,
            reason=reason,
            flow_run_id=flow_run_id,
        )
    finally:
        store.dispose()


def window_record(
    model: str,
    window: WindowData,
    champion_version: str,
    metrics: list[MetricValue],
    drift: DriftReport,
    report: ValidationReport | None,
    judgement: WindowJudgement,
    decision: DegradationDecision,
    flow_run_id: str | None,
) -> RunRecord:
    """The store record of a validated window (not a task: pure assembly)."""
    return RunRecord(
        model=model,
        window_start=window.start,
        window_end=window.end,
        status="degraded" if decision.degraded else "ok",
        validation_passed=True,
        n_rows=window.n_rows,
        n_labeled=window.n_labeled,
        bad=judgement.bad,
        reason=f"{judgement.reason}; {decision.reason}",
        share_drifted=drift.share_drifted,
        champion_version=champion_version,
        flow_run_id=flow_run_id,
        **run_rows(metrics, drift, report),
    )
