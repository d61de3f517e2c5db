"""Rules over a model's stored monitoring history (pure; no Prefect, no I/O).

The ``tasks.store`` tasks read rows (dicts as :class:`modelwatch.io.store.Store`
returns them, newest first) and hand them to these functions:

* :func:`window_bounds`, :func:`earlier_windows` — window arithmetic (catch-up candidates);
* :func:`metric_series` — the champion's metric over its earlier windows (realized, else
  the estimate of the same window);
* :func:`recent_bad_flags` — the k-of-n evidence of earlier windows under one champion;
* :func:`unmonitored_windows`, :func:`validated_windows` — catch-up candidates, training windows;
* :func:`degradation_episode` — the episode a degraded window belongs to (id + bad windows);
* :func:`claim_holder` — who holds the retraining claim of an episode;
* :func:`keep_decision` — a re-judged window keeps the status decided when first monitored;
* :func:`judged_windows`, :func:`windows_to_rejudge` — the delayed-label re-judge.

Labels come after the window was monitored. The ``relabel-model`` flow compares,
for each of the last monitored windows, the labels it was judged with (the
stored ``n_labeled``) with the labels available now; a window whose coverage
grew by at least ``min_new_labels`` labels and ``min_new_fraction`` of its
predictions is re-judged, oldest first, against the champion that served it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from modelwatch.outcomes import StateName
from modelwatch.stats.params import Interval, check_param, param_error
from modelwatch.summaries import window_label

if TYPE_CHECKING:
    from modelwatch.io.store import RunRecord

Row = Mapping[str, Any]
Window = tuple[datetime, datetime]


class WindowStatus(StrEnum):
    """A monitored window's stored ``status`` (the decision taken when it was monitored)."""

    OK = "ok"
    DEGRADED = "degraded"


#: rows read per page when walking back through an episode
EPISODE_PAGE = 200


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


def window_bounds(
    window_end: datetime | None, window_hours: float, *, now: datetime | None = None
) -> Window:
    """``[end - hours, end)`` in UTC (a naive end is UTC); without an end, the last complete
    window before ``now`` (default: the wall clock), windows aligned on the epoch."""
    step = timedelta(hours=window_hours)
    if window_end is None:
        now = datetime.now(UTC) if now is None else now.astimezone(UTC)
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        window_end = epoch + ((now - epoch) // step) * step
    elif window_end.tzinfo is None:
        window_end = window_end.replace(tzinfo=UTC)
    else:
        window_end = window_end.astimezone(UTC)
    return window_end - step, window_end


def earlier_windows(start: datetime, window_hours: float, count: int) -> list[Window]:
    """The ``count`` windows just before the one starting at ``start``, oldest first."""
    step = timedelta(hours=window_hours)
    return [(start - i * step, start - (i - 1) * step) for i in range(count, 0, -1)]


def metric_series(
    realized: Iterable[Row],
    estimated: Iterable[Row],
    *,
    before: datetime,
    champion_version: str,
) -> list[float]:
    """The champion's metric over its windows before ``before``, in the rows' order.

    Each window's realized value, else the estimate of the same window (CBPE, no labels
    yet); a window with neither, a later window, or one served by another champion is
    left out.
    """
    fallback = {row["window_start"]: row["value"] for row in estimated}
    series = []
    for row in realized:
        if row["window_start"] >= before or row["champion_version"] != champion_version:
            continue
        value = row["value"] if row["value"] is not None else fallback.get(row["window_start"])
        if value is not None:
            series.append(float(value))
    return series


def recent_bad_flags(rows: Iterable[Row], champion_version: str | None) -> list[bool]:
    """Bad flags of the earlier windows (newest first) up to the first of another champion."""
    flags = []
    for row in rows:
        if row["champion_version"] != champion_version:
            break
        flags.append(bool(row["bad"]))
    return flags


def validated_windows(rows: Iterable[Row], limit: int) -> list[Window]:
    """The first ``limit`` windows (newest first) that passed validation and have labels."""
    good = [r for r in rows if r["validation_passed"] and r["n_labeled"] > 0]
    return [(r["window_start"], r["window_end"]) for r in good[:limit]]


def unmonitored_windows(windows: Sequence[Window], rows: Iterable[Row]) -> list[Window]:
    """The ``windows`` (order kept) whose start has no stored run among ``rows``."""
    done = {row["window_start"] for row in rows}
    return [(start, end) for start, end in windows if start not in done]


class Episode(NamedTuple):
    """A degradation episode: consecutive degraded windows under one champion."""

    id: str  # "<model>-v<champion>-<first degraded window start>"
    windows: list[list[str]]  # the bad windows of the decision, [start, end] ISO, oldest first


def episode_id(model: str, champion_version: str, first_start: datetime) -> str:
    return f"{model}-v{champion_version}-{first_start:%Y-%m-%dT%H%M}"


def degradation_episode(
    model: str,
    window: Window,
    *,
    champion_version: str,
    n: int,
    current_bad: bool,
    recent: Sequence[Row],
    page: Callable[[datetime], Sequence[Row]],
) -> Episode:
    """The episode a degraded window belongs to and the bad windows behind the decision.

    The episode starts at the oldest window of the unbroken run of ``degraded`` windows
    (same champion) that ends at this one; a promotion (new champion) or a healthy
    window starts a new episode. ``page(before)`` returns the stored runs before a time,
    newest first (a page at a time: one episode never reads a year of history). The bad
    windows are the k-of-n evidence: bad windows among the last ``n`` served by this
    champion (``recent``: the earlier runs, newest first), this one included.
    """
    start, end = window
    first, cursor, ended = start, start, False
    while not ended and (rows := page(cursor)):
        for row in rows:
            if (
                row["champion_version"] != champion_version
                or row["status"] != WindowStatus.DEGRADED
            ):
                ended = True
                break
            first = row["window_start"]
        cursor = rows[-1]["window_start"]
    bad = [(start, end)] if current_bad else []
    for row in recent[: max(n - 1, 0)]:
        if row["champion_version"] != champion_version:
            break
        if row["bad"]:
            bad.append((row["window_start"], row["window_end"]))
    windows = [[s.isoformat(), e.isoformat()] for s, e in sorted(bad)]
    return Episode(episode_id(model, champion_version, first), windows)


def episode_claims(rows: Iterable[Row], episode: str) -> list[Row]:
    """The ``retrain-episode`` decision rows that claim ``episode``."""
    return [r for r in rows if r["details"].get("episode") == episode]


def claim_holder(claims: Sequence[Row], mine: str | None = None) -> str | None:
    """Who holds an episode's claim: None if ``mine`` (a decision row id) does, else the holder.

    The oldest claim (created_at, then id) wins, so two runs that claimed at once agree.
    The holder is named by its flow run id, else its row id. No claims and no ``mine``:
    None (nobody holds it yet).
    """
    if not claims:
        return None
    first = min(claims, key=lambda r: (r["created_at"], r["id"]))
    return None if first["id"] == mine else str(first["flow_run_id"] or first["id"])


def keep_decision(record: RunRecord, stored: Row | None) -> RunRecord:
    """A re-judged window's record with the status decided when it was first monitored.

    ``stored``: the window's stored run (None or another window's run: the record is
    kept as it is). Re-judging replaces a window's evidence (metrics, labels, bad flag)
    but not the decision that events and retraining acted on: degradation episodes are
    built from the stored statuses, so a re-judge never starts or stretches an episode.
    """
    if stored is None or stored["window_start"] != record.window_start:
        return record
    reason = (
        f"re-judged with {record.n_labeled} labels (was {stored['n_labeled']}): {record.reason}; "
        f"status kept as decided then ({stored['status']})"
    )
    return replace(record, status=stored["status"], reason=reason)


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
    min_new_labels = check_param(
        "windows_to_rejudge", "min_new_labels", min_new_labels, Interval(int, 1, None)
    )
    min_new_fraction = check_param(
        "windows_to_rejudge",
        "min_new_fraction",
        min_new_fraction,
        Interval(float, 0, 1, closed="both"),
    )
    if len(labeled_now) != len(windows):
        raise param_error(
            "windows_to_rejudge",
            "labeled_now",
            f"a sequence with one count per window ({len(windows)})",
            len(labeled_now),
        )
    chosen = [
        Relabeled(window, int(now))
        for window, now in zip(windows, labeled_now, strict=True)
        if now - window.n_labeled >= min_new_labels
        and now - window.n_labeled >= min_new_fraction * window.n_rows
    ]
    return sorted(chosen, key=lambda r: r.window.start)


def rejudge_line(item: Relabeled) -> str:
    """``<window> (v<champion>, labels <before> → <now>)`` for the relabel run's log and message."""
    window = item.window
    return (
        f"{window_label(window.start)} (v{window.champion_version}, "
        f"labels {window.n_labeled} → {item.n_labeled_now})"
    )


@dataclass(frozen=True)
class RelabelEnd:
    """The relabel run's final state: name (None: ``Failed``), message."""

    name: str | None
    message: str
    failed: bool = False


def relabel_end(n_judged: int, *, done: Sequence[str], failed: Sequence[str]) -> RelabelEnd:
    """``NoNewLabels`` (nothing re-judged), ``Relabeled``, or a failure naming the windows."""
    if not done and not failed:
        return RelabelEnd(
            StateName.NO_NEW_LABELS, f"no new labels for the last {n_judged} monitored window(s)"
        )
    if failed:
        return RelabelEnd(
            None,
            f"{len(failed)} of {len(done) + len(failed)} window(s) could not be re-judged: "
            + "; ".join(failed),
            failed=True,
        )
    return RelabelEnd(StateName.RELABELED, f"{len(done)} window(s) re-judged: " + "; ".join(done))
