"""Alert episodes: when a degraded or healthy window sends a message (pure rules).

A day of degradation on an hourly model is 24 degraded windows; people want one
message when it starts, a reminder now and then while it lasts, and one message
when it is over. The rules:

* The first degraded window of a model (no open episode) **opens** an episode and
  sends the degraded alert.
* A later degraded window of the same champion **repeats** the alert only when at
  least ``repeat_hours`` have passed since the last message both on the wall clock
  and in window time (so a catch-up of 48 windows in a minute sends no burst, and a
  replay of old windows sends no reminders); otherwise it is **suppressed** (counted).
* A degraded window under another champion (a new version was promoted and degrades
  in turn) closes the old episode without a message and opens a new one.
* A healthy window newer than the episode's last degraded window **resolves** it and
  sends one "resolved" message (``alerts.resolve``). Older (catch-up) windows and
  windows that are neither (validation failed, no data) change nothing.

The store applies these decisions atomically (:mod:`modelwatch.io.alert_episodes`);
this module decides only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = ["AlertEpisode", "EpisodeAction", "EpisodeStep", "on_degraded", "on_healthy"]


class EpisodeAction(StrEnum):
    OPEN = "open"  # first degraded window: send
    REPEAT = "repeat"  # still degraded, repeat_hours passed: send a reminder
    SUPPRESS = "suppress"  # still degraded: no message
    RESOLVE = "resolve"  # healthy again: send "resolved", close
    NONE = "none"  # nothing to do


@dataclass(frozen=True)
class AlertEpisode:
    """An alert episode as stored (``alert_episodes`` row)."""

    id: str
    model: str
    champion_version: str | None
    opened_at: datetime
    first_window_start: datetime
    last_window_start: datetime
    last_sent_at: datetime | None
    last_sent_window: datetime | None
    messages: int
    suppressed: int
    resolved_at: datetime | None = None
    resolution: str | None = None

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


@dataclass(frozen=True)
class EpisodeStep:
    """What a window does to the model's alert episode, and why."""

    action: EpisodeAction
    reason: str
    #: an open episode of an earlier champion that this window closes silently
    supersedes: str | None = None

    @property
    def sends(self) -> bool:
        return self.action in (EpisodeAction.OPEN, EpisodeAction.REPEAT, EpisodeAction.RESOLVE)


def on_degraded(
    episode: AlertEpisode | None,
    *,
    window_start: datetime,
    champion_version: str | None,
    now: datetime,
    repeat_hours: float,
) -> EpisodeStep:
    """The step of a degraded window given the model's open episode (None: no open one)."""
    if episode is None or not episode.is_open:
        return EpisodeStep(EpisodeAction.OPEN, "first degraded window: episode opened")
    if episode.champion_version != champion_version:
        return EpisodeStep(
            EpisodeAction.OPEN,
            f"champion v{champion_version} degraded: new episode (the episode of "
            f"v{episode.champion_version} is closed)",
            supersedes=episode.id,
        )
    every = timedelta(hours=repeat_hours)
    last_wall = episode.last_sent_at or episode.opened_at
    last_window = episode.last_sent_window or episode.first_window_start
    if now - last_wall >= every and window_start - last_window >= every:
        return EpisodeStep(
            EpisodeAction.REPEAT,
            f"still degraded {_hours(window_start - episode.first_window_start)} after the "
            f"first degraded window; reminder every {repeat_hours:g} h",
        )
    due = max(last_wall + every, now)
    return EpisodeStep(
        EpisodeAction.SUPPRESS,
        f"episode {episode.id[:8]} open since {episode.first_window_start:%Y-%m-%d %H:%M} UTC; "
        f"alert not repeated before {due:%Y-%m-%d %H:%M} UTC (alerts.repeat_hours "
        f"{repeat_hours:g})",
    )


def on_healthy(episode: AlertEpisode | None, *, window_start: datetime) -> EpisodeStep:
    """The step of a healthy window: resolve an open episode it comes after."""
    if episode is None or not episode.is_open:
        return EpisodeStep(EpisodeAction.NONE, "no open alert episode")
    if window_start <= episode.last_window_start:
        return EpisodeStep(
            EpisodeAction.NONE,
            "an earlier window than the episode's last degraded window (catch-up): the "
            "episode stays open",
        )
    return EpisodeStep(
        EpisodeAction.RESOLVE,
        f"healthy again after {_hours(window_start - episode.first_window_start)} "
        f"({episode.messages} alert(s) sent, {episode.suppressed} suppressed)",
    )


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.1f} days"
