"""Retraining rules (pure; no I/O): which windows train, the holdout split, when to skip.

The ``retrain-model`` flow is these steps, each a function here:

1. :func:`cooldown_skip` — a retraining within ``retraining.cooldown_hours`` ends the run;
2. :func:`training_windows` — the caller's windows (an event's degraded windows) or
   the most recent validated, labeled ones, never one overlapping a quarantined
   window (:func:`without_quarantined`);
3. :func:`assemble_training_set` — the champion's reference (policy) plus the
   recent labeled rows, the newest ``holdout_fraction`` of them held out by time;
4. :func:`not_enough_data_skip` / :func:`duplicate_episode_skip` — the other two
   reasons to stop before fitting;
5. :func:`training_params` / :func:`registration_details` — what is logged with the
   challenger and stored as the ``retrain`` decision (lineage tags:
   :mod:`modelwatch.lineage`).

A skip is a :class:`Skip`: the decision row's outcome and details and the flow's
state name and message, so the flow records and returns it without building anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from modelwatch import train
from modelwatch.errors import RetrainError
from modelwatch.outcomes import Alias, Outcome, StateName
from modelwatch.spec import MonitorSpec, RetrainingPolicy

__all__ = [
    "CHAMPION_PIPELINE",
    "Skip",
    "Span",
    "TrainingSet",
    "assemble_training_set",
    "challenger_artifacts",
    "cooldown_skip",
    "duplicate_episode_skip",
    "not_enough_data_skip",
    "overlaps",
    "quarantined_spans",
    "registration_details",
    "trainer_name",
    "training_params",
    "training_windows",
    "utc",
    "windows_to_fetch",
    "without_quarantined",
]

Span = tuple[datetime, datetime]
"""A ``[start, end)`` window."""

#: the trainer recorded when the champion's pipeline is cloned and refit
CHAMPION_PIPELINE = "champion-pipeline"


@dataclass(frozen=True)
class TrainingSet:
    """Reference + recent labeled rows before ``holdout_start``; the rest is held out."""

    frame: pd.DataFrame
    holdout: pd.DataFrame
    n_reference: int
    n_recent: int
    n_holdout: int
    holdout_start: datetime | None
    windows: tuple[Span, ...]

    @property
    def n_labeled(self) -> int:
        """Recent labeled rows, trained on or held out."""
        return self.n_recent + self.n_holdout

    @property
    def data_from(self) -> datetime:
        """Start of the oldest training window."""
        return min(s for s, _ in self.windows)

    @property
    def holdout_window(self) -> Span:
        """``[holdout_start, end of the newest window)``: where the held-out rows lie.

        Raises :class:`~modelwatch.errors.RetrainError` when nothing is held out.
        """
        if self.holdout_start is None:
            raise RetrainError(
                f"the training set of {self.n_labeled} recent rows holds nothing out: "
                "a challenger cannot be compared without a holdout"
            )
        return self.holdout_start, max(e for _, e in self.windows)


@dataclass(frozen=True)
class Skip:
    """Why a retraining stops before fitting: the ``retrain-skipped`` row and the final state."""

    outcome: Outcome
    state: StateName
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- windows


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (a naive one is taken as UTC: SQLite drops the zone)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def quarantined_spans(rows: Iterable[Mapping[str, Any]]) -> list[Span]:
    """The distinct ``[window_start, window_end)`` of quarantine rows, in UTC, sorted."""
    return sorted({(utc(r["window_start"]), utc(r["window_end"])) for r in rows})


def overlaps(window: Span, other: Span) -> bool:
    """Whether two ``[start, end)`` windows share an instant."""
    return utc(window[0]) < utc(other[1]) and utc(other[0]) < utc(window[1])


def without_quarantined(
    windows: Sequence[Span], quarantined: Sequence[Span], *, limit: int | None = None
) -> list[Span]:
    """The first ``limit`` of ``windows`` that overlap no quarantined window (order kept)."""
    kept = [w for w in windows if not any(overlaps(w, q) for q in quarantined)]
    return kept if limit is None else kept[:limit]


def windows_to_fetch(policy: RetrainingPolicy, quarantined: Sequence[Span]) -> int:
    """How many recent validated windows to read so ``recent_windows`` survive the quarantine."""
    return policy.recent_windows + len(quarantined)


def training_windows(
    *,
    requested: Sequence[Span] | None,
    recent: Sequence[Span],
    quarantined: Sequence[Span],
    limit: int,
) -> list[Span]:
    """The windows to train on, newest first, none overlapping a quarantined window.

    ``requested`` (the caller's windows, e.g. an event's degraded windows): all of
    them; otherwise the first ``limit`` of ``recent`` (the store's recent validated,
    labeled windows, newest first).
    """
    if requested:
        return without_quarantined(sorted(requested, reverse=True), quarantined)
    return without_quarantined(recent, quarantined, limit=limit)


# --------------------------------------------------------------------------- training set


def assemble_training_set(
    spec: MonitorSpec,
    reference: pd.DataFrame,
    recent: Sequence[pd.DataFrame],
    windows: Sequence[Span],
) -> TrainingSet:
    """Time-ordered split: the newest ``holdout_fraction`` of recent labeled rows is held out.

    The recent rows are sorted by timestamp (stable); ``ceil(n * holdout_fraction)``
    of the newest are held out, and every row at or after the first held-out
    timestamp (floored to the microsecond) too, so training and holdout never
    share an instant. The training frame is the reference (features + target;
    empty when ``retraining.include_reference`` is off) followed by the older rows.
    """
    cols = spec.columns
    keep = [*cols.features, cols.target]
    labeled = (
        pd.concat(list(recent), ignore_index=True).sort_values(cols.timestamp, kind="stable")
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


# --------------------------------------------------------------------------- skips


def cooldown_skip(
    last_retrain: datetime | None, *, now: datetime, cooldown_hours: float
) -> Skip | None:
    """A :class:`Skip` when the last retraining is less than ``cooldown_hours`` before ``now``."""
    if last_retrain is None or now - last_retrain >= timedelta(hours=cooldown_hours):
        return None
    message = (
        f"last retraining at {last_retrain:%Y-%m-%d %H:%M:%S} UTC, within the cooldown of "
        f"{cooldown_hours:g} h"
    )
    return Skip(Outcome.COOLDOWN, StateName.COOLDOWN, message, {"message": message})


def not_enough_data_skip(
    training: TrainingSet, *, min_labeled_rows: int, windows: Sequence[Span]
) -> Skip | None:
    """A :class:`Skip` when nothing is held out or fewer than ``min_labeled_rows`` recent rows."""
    if training.holdout_start is not None and training.n_labeled >= min_labeled_rows:
        return None
    message = f"{training.n_labeled} recent labeled rows, the policy needs {min_labeled_rows}"
    details = {"message": message, "windows": _iso_windows(windows)}
    return Skip(Outcome.NOT_ENOUGH_DATA, StateName.NOT_ENOUGH_DATA, message, details)


def duplicate_episode_skip(episode: str | None, holder: str | None) -> Skip | None:
    """A :class:`Skip` when another run (``holder``) already claimed the degradation episode."""
    if holder is None:
        return None
    message = f"degradation episode {episode} was already retrained (flow run {holder})"
    details = {"message": message, "episode": episode}
    return Skip(Outcome.DUPLICATE_EPISODE, StateName.ALREADY_RETRAINED, message, details)


# --------------------------------------------------------------------------- records


def trainer_name(policy: RetrainingPolicy) -> str:
    """The configured ``retraining.trainer``, or ``champion-pipeline``."""
    return policy.trainer or CHAMPION_PIPELINE


def training_params(training: TrainingSet, *, seed: int) -> dict[str, Any]:
    """The MLflow params of a challenger's run (row counts and seed)."""
    return {
        "n_reference": training.n_reference,
        "n_recent": training.n_recent,
        "n_holdout": training.n_holdout,
        "seed": seed,
    }


def registration_details(
    training: TrainingSet,
    *,
    version: str,
    run_id: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    reason: str,
    episode: str | None,
    trainer: str,
) -> dict[str, Any]:
    """The details of the ``retrain`` / ``challenger-registered`` decision row."""
    holdout = training.holdout_window
    return {
        "version": version,
        "run_id": run_id,
        **params,
        **metrics,
        "reason": reason,
        "episode": episode,
        "trainer": trainer,
        "windows": _iso_windows(training.windows),
        "holdout": [holdout[0].isoformat(), holdout[1].isoformat()],
    }


def challenger_artifacts(spec: MonitorSpec, training_data: pd.DataFrame) -> dict[str, Any]:
    """The keyword arguments of ``Registry.log_model_version`` that follow from the spec and
    the training data: the reference (PII dropped), an input example, the drift profile,
    the run name, the ``challenger`` alias and the trust setting."""
    return {
        "training_data": training_data.drop(columns=list(spec.columns.pii), errors="ignore"),
        "input_example": training_data[list(spec.columns.features)].head(5),
        "run_name": f"retrain-{spec.name}",
        "pii": spec.columns.pii,
        "alias": Alias.CHALLENGER,
        "target": spec.columns.target,
        "profile": train.reference_profile(training_data, spec),
        "trust_pickle": spec.model.trust_pickle,
    }


def _iso_windows(windows: Iterable[Span]) -> list[list[str]]:
    return [[s.isoformat(), e.isoformat()] for s, e in windows]
