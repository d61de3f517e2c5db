"""Retraining tasks: assemble the training set, fit the candidate, score models."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from prefect import task

from modelwatch import train
from modelwatch.spec import MonitorSpec
from tasks import TASK_DEFAULTS


@dataclass(frozen=True)
class TrainingSet:
    """Reference + recent labeled rows before ``holdout_start``; the rest is held out."""

    frame: pd.DataFrame
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
        n_reference=len(base),
        n_recent=len(train_recent),
        n_holdout=len(labeled) - len(train_recent),
        holdout_start=holdout_start,
        windows=tuple(sorted(windows)),
    )


@task(name="fit-candidate", **TASK_DEFAULTS)
def fit_candidate(spec: MonitorSpec, frame: pd.DataFrame, base: Any, seed: int) -> Any:
    return train.fit_candidate(frame, spec, base=base, seed=seed)


@task(name="score-rows", **TASK_DEFAULTS)
def score_rows(
    spec: MonitorSpec, model: Any, frame: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray | None]:
    return train.score_frame(model, frame, spec)
