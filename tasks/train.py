"""Retraining tasks over :mod:`modelwatch.retraining` and :mod:`modelwatch.train`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from prefect import task

from modelwatch import retraining, train
from modelwatch.retraining import Span, TrainingSet
from modelwatch.spec import MonitorSpec
from tasks import IO_TASK, TASK_DEFAULTS
from tasks.store import open_store

__all__ = [
    "TrainingSet",
    "assemble_training_set",
    "drop_quarantined",
    "fit_candidate",
    "quarantined_windows",
    "score_rows",
    "without_quarantined",
]


@task(name="assemble-training-set", **TASK_DEFAULTS)
def assemble_training_set(
    spec: MonitorSpec,
    reference: pd.DataFrame,
    recent: list[pd.DataFrame],
    windows: list[Span],
) -> TrainingSet:
    """Reference + older recent rows; the newest ``holdout_fraction`` held out by time."""
    return retraining.assemble_training_set(spec, reference, recent, windows)


@task(name="fit-candidate", **TASK_DEFAULTS)
def fit_candidate(spec: MonitorSpec, frame: pd.DataFrame, base: Any, seed: int) -> Any:
    """The spec's trainer when configured, else the champion's pipeline cloned and refit."""
    if spec.retraining.trainer:
        trainer = train.load_trainer(spec.retraining.trainer)
        return train.fit_candidate(frame, spec, trainer=trainer, seed=seed)
    return train.fit_candidate(frame, spec, base=base, seed=seed)


@task(name="quarantined-windows", **IO_TASK)
def quarantined_windows(model: str) -> list[Span]:
    """``[start, end)`` of every quarantined (failed validation, not released) window."""
    with open_store() as store:
        return retraining.quarantined_spans(store.quarantined(model))


@task(name="without-quarantined-windows", **TASK_DEFAULTS)
def without_quarantined(
    windows: list[Span], quarantined: list[Span], limit: int | None = None
) -> list[Span]:
    """The first ``limit`` of ``windows`` that overlap no quarantined window (order kept)."""
    return retraining.without_quarantined(windows, quarantined, limit=limit)


@task(name="training-windows", **TASK_DEFAULTS)
def training_windows(
    spec: MonitorSpec,
    requested: list[Span] | None,
    recent: list[Span],
    quarantined: list[Span],
) -> list[Span]:
    """The requested windows, or the policy's most recent ones; never a quarantined one."""
    return retraining.training_windows(
        requested=requested,
        recent=recent,
        quarantined=quarantined,
        limit=spec.retraining.recent_windows,
    )


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
    """``(predictions, scores)`` of ``model`` on ``frame`` (:func:`modelwatch.train.score_frame`)."""
    return train.score_frame(model, frame, spec)
