"""Monitoring-store tasks (each opens the store from the settings' URL).

I/O only: the rules over the rows they read are :mod:`modelwatch.monitoring`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from prefect import task

from modelwatch import monitoring
from modelwatch.assessment import run_rows, window_record
from modelwatch.io.store import RunRecord, Store
from modelwatch.monitoring import Episode
from modelwatch.outcomes import DecisionKind, Outcome
from modelwatch.settings import get_settings
from tasks import IO_TASK

__all__ = [
    "Episode",
    "check_schema",
    "claim_episode",
    "degradation_episode",
    "judged_windows",
    "keep_decision",
    "last_decision_time",
    "open_store",
    "quarantine_window",
    "recent_bad_flags",
    "recent_validated_windows",
    "run_rows",
    "save_decision",
    "save_run",
    "unmonitored_windows",
    "window_record",
]


def open_store() -> Store:
    """The store at the settings' URL, schema checked; use it as ``with open_store() as store``."""
    return Store.open(get_settings().resolved_store_url)


@task(name="check-store-schema", **IO_TASK)
def check_schema() -> None:
    """Refuse to start on a store behind or ahead of this code (names the command to run)."""
    with open_store():
        pass


@task(name="save-run", **IO_TASK)
def save_run(record: RunRecord) -> str:
    with open_store() as store:
        return store.save_run(record)


@task(name="recent-window-flags", **IO_TASK)
def recent_bad_flags(
    model: str, before: datetime, *, champion_version: str | None, n: int
) -> list[bool]:
    """Bad-window flags of the last ``n - 1`` earlier windows served by the same champion."""
    with open_store() as store:
        rows = store.runs(model, before=before, limit=max(n - 1, 0))
    return monitoring.recent_bad_flags(rows, champion_version)


@task(name="recent-validated-windows", **IO_TASK)
def recent_validated_windows(
    model: str, before: datetime, limit: int
) -> list[tuple[datetime, datetime]]:
    """Windows that passed validation and have labels, newest first."""
    with open_store() as store:
        rows = store.runs(model, before=before)
    return monitoring.validated_windows(rows, limit)


@task(name="unmonitored-windows", **IO_TASK)
def unmonitored_windows(
    model: str, windows: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """The ``windows`` (oldest first) that have no run in the store (catch-up candidates)."""
    if not windows:
        return []
    with open_store() as store:
        rows = store.runs(model, before=windows[-1][1], limit=len(windows))
    return monitoring.unmonitored_windows(windows, rows)


@task(name="judged-windows", **IO_TASK)
def judged_windows(model: str, limit: int) -> list[monitoring.JudgedWindow]:
    """The last ``limit`` monitored windows that can be re-judged, oldest first."""
    with open_store() as store:
        rows = store.runs(model, limit=limit)
    return monitoring.judged_windows(rows)


@task(name="keep-window-decision", **IO_TASK)
def keep_decision(record: RunRecord) -> RunRecord:
    """A re-judged window's record with its stored status (:func:`modelwatch.monitoring.keep_decision`)."""
    with open_store() as store:
        rows = store.runs(record.model, before=record.window_end, limit=1)
    return monitoring.keep_decision(record, rows[0] if rows else None)


@task(name="degradation-episode", **IO_TASK)
def degradation_episode(
    model: str,
    window: tuple[datetime, datetime],
    champion_version: str,
    *,
    n: int,
    current_bad: bool,
) -> Episode:
    """The episode of a degraded window and its k-of-n bad windows (:mod:`modelwatch.monitoring`)."""
    with open_store() as store:
        return monitoring.degradation_episode(
            model,
            window,
            champion_version=champion_version,
            n=n,
            current_bad=current_bad,
            recent=store.runs(model, before=window[0], limit=max(n - 1, 0)),
            page=lambda before: store.runs(model, before=before, limit=monitoring.EPISODE_PAGE),
        )


@task(name="claim-retrain-episode", **IO_TASK)
def claim_episode(model: str, episode: str, flow_run_id: str | None) -> str | None:
    """Claim retraining for a degradation episode: None if this run holds it, else the holder.

    The claim is a ``retrain-episode`` decision row; the oldest claim wins
    (:func:`modelwatch.monitoring.claim_holder`).
    """
    with open_store() as store:
        if holder := monitoring.claim_holder(_claims(store, model, episode)):
            return holder
        mine = store.save_decision(
            model,
            kind=DecisionKind.RETRAIN_EPISODE,
            outcome=Outcome.CLAIMED,
            details={"episode": episode},
            flow_run_id=flow_run_id,
        )
        return monitoring.claim_holder(_claims(store, model, episode), mine)


def _claims(store: Store, model: str, episode: str) -> list[dict[str, Any]]:
    rows = store.decisions(model, kind=DecisionKind.RETRAIN_EPISODE)
    return [dict(r) for r in monitoring.episode_claims(rows, episode)]


@task(name="save-decision", **IO_TASK)
def save_decision(
    model: str, kind: str, outcome: str, details: Mapping[str, Any], flow_run_id: str | None
) -> str:
    with open_store() as store:
        return store.save_decision(
            model, kind=kind, outcome=outcome, details=details, flow_run_id=flow_run_id
        )


@task(name="last-decision-time", **IO_TASK)
def last_decision_time(model: str, kind: str) -> datetime | None:
    with open_store() as store:
        rows = store.decisions(model, kind=kind)
    return rows[-1]["created_at"] if rows else None


@task(name="quarantine-window", **IO_TASK)
def quarantine_window(
    model: str,
    window: tuple[datetime, datetime],
    files: list[tuple[str, str]],
    *,
    reason: str,
    flow_run_id: str | None,
) -> int:
    """Record the window's files (path, sha256) as quarantined; returns the rows written."""
    with open_store() as store:
        return store.quarantine_files(
            model,
            window_start=window[0],
            window_end=window[1],
            files=files,
            reason=reason,
            flow_run_id=flow_run_id,
        )
