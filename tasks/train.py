"""Retraining tasks: assemble the training set, fit the candidate, score models."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from prefect import task

from modelwatch import train
from modelwatch.spec import MonitorSpec
from tasks import IO_TASK, TASK_DEFAULTS
from tasks.store import open_store


@dataclass(frozen=True)
class TrainingSet:
    """Reference + recent labeled rows before ``holdout_start``; the rest is held out."""

    frame: pd.DataFrame
    holdout: pd.DataFrame
    n_reference: int
    n_recent: int
    n_holdout: int
    holdout_start: datetime | None
    windows: tuple[tuple[datetime, datetime], ...]


@task(name="assemble-training-set", **TASK_DEFAULTS)
def assemble_training_set(
    spec: MonitorSpec,
    reference: pd.DataFrame,
    recent: list[pd.DataFrame],
    windows: list[tuple[datetime, datetime]],
) -> TrainingSet:
    """Time-ordered split: the newest ``holdout_fraction`` of recent labeled rows is held out."""
    cols = spec.columns
    keep = [*cols.features, cols.target]
    labeled = (
        pd.concat(recent, ignore_index=True).sort_values(cols.timestamp, kind="stable")
        if recent
        else pd.DataFrame(columns=[*keep, cols.timestamp])
    )
    n_holdout = int(np.ceil(len(labeled) * spec.retraining.holdout_fraction))
    cut = len(labeled) - n_holdout
    holdout_start = (
        labeled[cols.timestamp].iloc[cut].floor("us").to_pydatetime() if n_holdout else None
    )
    train_recent = (
        labeled.iloc[:cut]
        if holdout_start is None
        else labeled[labeled[cols.timestamp] < holdout_start]
    )
    base = reference[keep] if spec.retraining.include_reference else reference[keep].iloc[0:0]
    frame = pd.concat([base, train_recent[keep]], ignore_index=True)
    return TrainingSet(
        frame=frame,
        holdout=labeled.iloc[len(train_recent) :].reset_index(drop=True),
        n_reference=len(base),
        n_recent=len(train_recent),
        n_holdout=len(labeled) - len(train_recent),
        holdout_start=holdout_start,
        windows=tuple(sorted(windows)),
    )


@task(name="fit-candidate", **TASK_DEFAULTS)
def fit_candidate(spec: MonitorSpec, frame: pd.DataFrame, base: Any, seed: int) -> Any:
    """The spec's trainer when configured, else the champion's pipeline cloned and refit."""
    if spec.retraining.trainer:
        trainer = train.load_trainer(spec.retraining.trainer)
        return train.fit_candidate(frame, spec, trainer=trainer, seed=seed)
    return train.fit_candidate(frame, spec, base=base, seed=seed)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@task(name="quarantined-windows", **IO_TASK)
def quarantined_windows(model: str) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` of every quarantined (failed validation, not released) window."""
    store = open_store()
    try:
        rows = store.quarantined(model)
    finally:
        store.dispose()
    return sorted({(_utc(r["window_start"]), _utc(r["window_end"])) for r in rows})


@task(name="without-quarantined-windows", **TASK_DEFAULTS)
def without_quarantined(
    windows: list[tuple[datetime, datetime]],
    quarantined: list[tuple[datetime, datetime]],
    limit: int | None = None,
) -> list[tuple[datetime, datetime]]:
    """The first ``limit`` of ``windows`` that overlap no quarantined window (order kept)."""
    kept = [
        (s, e)
        for s, e in windows
        if not any(_utc(s) < qe and qs < _utc(e) for qs, qe in quarantined)
    ]
    return kept if limit is None else kept[:limit]


@task(name="drop-quarantined-rows", **TASK_DEFAULTS)
def drop_quarantined(
    spec: MonitorSpec, frame: pd.DataFrame, quarantined: list[tuple[datetime, datetime]]
) -> pd.DataFrame:
    """Rows outside every quarantined window."""
    kept = train.drop_windows(frame, quarantined, timestamp=spec.columns.timestamp)
    return kept.reset_index(drop=True)


@task(name="score-rows", **TASK_DEFAULTS)
def score_rows(
    spec: MonitorSpec, model: Any, frame: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray | None]:
    return train.score_frame(model, frame, spec)
