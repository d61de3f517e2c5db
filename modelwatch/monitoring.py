"""Which monitored windows to re-judge once delayed labels arrived (pure; no I/O).

Labels come after the window was monitored. The ``relabel-model`` flow compares,
for each of the last monitored windows, the labels it was judged with (the
stored ``n_labeled``) with the labels available now; a window whose coverage
grew by at least ``min_new_labels`` labels and ``min_new_fraction`` of its
predictions is re-judged, oldest first, against the champion that served it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class JudgedWindow:
    """A stored monitor run: its window, the champion that served it, what it was judged on."""

    start: datetime
    end: datetime
    champion_version: str
    n_rows: int
    n_labeled: int


@dataclass(frozen=True)
class Relabeled:
    """A window whose label coverage grew since it was judged."""

    window: JudgedWindow
    n_labeled_now: int

    @property
    def new_labels(self) -> int:
        return self.n_labeled_now - self.window.n_labeled


def judged_windows(rows: Iterable[Mapping[str, Any]]) -> list[JudgedWindow]:
    """The stored runs that can be re-judged (passed validation, champion known), oldest first."""
    windows = [
        JudgedWindow(
            start=row["window_start"],
            end=row["window_end"],
            champion_version=str(row["champion_version"]),
            n_rows=int(row["n_rows"]),
            n_labeled=int(row["n_labeled"]),
        )
        for row in rows
        if row["validation_passed"] and row["champion_version"] is not None
    ]
    return sorted(windows, key=lambda w: w.start)


def windows_to_rejudge(
    windows: Sequence[JudgedWindow],
    labeled_now: Sequence[int],
    *,
    min_new_labels: int = 1,
    min_new_fraction: float = 0.0,
) -> list[Relabeled]:
    """The windows to re-judge, oldest first.

    ``labeled_now[i]`` is the number of predictions of ``windows[i]`` that have a
    label now. A window qualifies when its coverage grew by at least
    ``min_new_labels`` labels and by at least ``min_new_fraction`` of its rows.
    Fewer labels than before (a label file removed) never qualify.
    """
    if (
        isinstance(min_new_labels, bool)
        or not isinstance(min_new_labels, int)
        or min_new_labels < 1
    ):
        raise ValueError(
            "The 'min_new_labels' parameter of windows_to_rejudge must be an int >= 1. "
            f"Got {min_new_labels!r} instead."
        )
    if not (math.isfinite(min_new_fraction) and 0.0 <= min_new_fraction <= 1.0):
        raise ValueError(
            "The 'min_new_fraction' parameter of windows_to_rejudge must be a float in [0, 1]. "
            f"Got {min_new_fraction!r} instead."
        )
    if len(labeled_now) != len(windows):
        raise ValueError(
            "The 'labeled_now' parameter of windows_to_rejudge must hold one count per window "
            f"({len(windows)}). Got {len(labeled_now)} instead."
        )
    chosen = [
        Relabeled(window, int(now))
        for window, now in zip(windows, labeled_now, strict=True)
        if now - window.n_labeled >= min_new_labels
        and now - window.n_labeled >= min_new_fraction * window.n_rows
    ]
    return sorted(chosen, key=lambda r: r.window.start)
