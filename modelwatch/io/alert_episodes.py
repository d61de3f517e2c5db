"""Alert episodes in the monitoring store: the rules of :mod:`modelwatch.alerting`, applied atomically.

Two workers may judge windows of one model at once. Every step is claimed in the
database before a message is sent, so exactly one of them sends it:

* opening inserts a row whose ``open_key`` (unique) is the model: the second
  insert fails, and that worker re-reads the episode and suppresses instead;
* a reminder or a resolution is a compare-and-set ``UPDATE … WHERE id = :id AND
  messages = :seen`` (resp. ``AND open_key IS NOT NULL``): the worker whose update
  changed no row lost the race and sends nothing.

A claimed message whose delivery then fails is still counted (the failure is in
the run's log and the flow's alert task); the next reminder follows the usual rule.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from modelwatch.alerting import AlertEpisode, EpisodeAction, EpisodeStep, on_degraded, on_healthy
from modelwatch.io.store import Store, _db_errors, alert_episodes

__all__ = ["episodes", "open_episode", "record_degraded", "record_healthy"]

_T = alert_episodes


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _episode(row: Any) -> AlertEpisode:
    m = row._mapping
    return AlertEpisode(
        id=m["id"],
        model=m["model"],
        champion_version=m["champion_version"],
        opened_at=_utc(m["opened_at"]),  # type: ignore[arg-type]
        first_window_start=_utc(m["first_window_start"]),  # type: ignore[arg-type]
        last_window_start=_utc(m["last_window_start"]),  # type: ignore[arg-type]
        last_sent_at=_utc(m["last_sent_at"]),
        last_sent_window=_utc(m["last_sent_window"]),
        messages=m["messages"],
        suppressed=m["suppressed"],
        resolved_at=_utc(m["resolved_at"]),
        resolution=m["resolution"],
    )


def open_episode(store: Store, model: str) -> AlertEpisode | None:
    """The model's open alert episode, if any."""
    with _db_errors(f"read the alert episode of model {model!r}"), store.engine.connect() as conn:
        row = conn.execute(sa.select(_T).where(_T.c.open_key == model)).first()
    return None if row is None else _episode(row)


def episodes(store: Store, model: str) -> list[AlertEpisode]:
    """Every alert episode of a model, oldest first."""
    query = sa.select(_T).where(_T.c.model == model).order_by(_T.c.opened_at, _T.c.id)
    with _db_errors(f"read the alert episodes of model {model!r}"), store.engine.connect() as conn:
        return [_episode(r) for r in conn.execute(query)]


def _close(conn: sa.Connection, episode_id: str, now: datetime, resolution: str) -> bool:
    done = conn.execute(
        _T.update()
        .where(_T.c.id == episode_id, _T.c.open_key.is_not(None))
        .values(open_key=None, resolved_at=now, resolution=resolution)
    )
    return done.rowcount == 1


def record_degraded(
    store: Store,
    model: str,
    *,
    window_start: datetime,
    champion_version: str | None,
    repeat_hours: float,
    now: datetime | None = None,
) -> tuple[EpisodeStep, AlertEpisode]:
    """Apply a degraded window to the model's episode; the step says whether to send."""
    now = now or datetime.now(UTC)
    window_start = _utc(window_start)  # type: ignore[assignment]
    with _db_errors(f"record the alert episode of model {model!r}"):
        return _record_degraded(store, model, window_start, champion_version, repeat_hours, now)


def _record_degraded(
    store: Store,
    model: str,
    window_start: datetime,
    champion_version: str | None,
    repeat_hours: float,
    now: datetime,
) -> tuple[EpisodeStep, AlertEpisode]:
    for _attempt in range(5):
        current = open_episode(store, model)
        step = on_degraded(
            current,
            window_start=window_start,
            champion_version=champion_version,
            now=now,
            repeat_hours=repeat_hours,
        )
        try:
            with store.engine.begin() as conn:
                if step.action is EpisodeAction.OPEN:
                    if step.supersedes:
                        _close(
                            conn, step.supersedes, now, f"superseded: v{champion_version} degraded"
                        )
                    episode_id = str(uuid.uuid4())
                    conn.execute(
                        _T.insert().values(
                            id=episode_id,
                            model=model,
                            open_key=model,
                            champion_version=champion_version,
                            opened_at=now,
                            first_window_start=window_start,
                            last_window_start=window_start,
                            last_sent_at=now,
                            last_sent_window=window_start,
                            messages=1,
                            suppressed=0,
                        )
                    )
                else:
                    assert current is not None
                    episode_id = current.id
                    values: dict[str, Any] = {
                        "last_window_start": max(current.last_window_start, window_start)
                    }
                    claim = _T.c.messages == current.messages
                    if step.action is EpisodeAction.REPEAT:
                        values |= {
                            "messages": current.messages + 1,
                            "last_sent_at": now,
                            "last_sent_window": window_start,
                        }
                    else:
                        values["suppressed"] = _T.c.suppressed + 1
                        claim = sa.true()
                    done = conn.execute(
                        _T.update().where(_T.c.id == current.id, claim).values(**values)
                    )
                    if done.rowcount != 1:  # another worker sent this reminder first
                        continue
        except sa.exc.IntegrityError:  # another worker opened the episode first
            continue
        row = _read(store, episode_id)
        return step, row
    step = EpisodeStep(EpisodeAction.SUPPRESS, "another worker updated the episode meanwhile")
    current = open_episode(store, model)
    assert current is not None
    return step, current


def record_healthy(
    store: Store, model: str, *, window_start: datetime, now: datetime | None = None
) -> tuple[EpisodeStep, AlertEpisode | None]:
    """Apply a healthy window: resolve the model's open episode when the window is newer."""
    now = now or datetime.now(UTC)
    current = open_episode(store, model)
    step = on_healthy(current, window_start=_utc(window_start))  # type: ignore[arg-type]
    if step.action is not EpisodeAction.RESOLVE:
        return step, current
    assert current is not None
    with (
        _db_errors(f"resolve the alert episode of model {model!r}"),
        store.engine.begin() as conn,
    ):
        won = _close(conn, current.id, now, step.reason)
    if not won:  # another worker resolved it first
        return EpisodeStep(EpisodeAction.NONE, "resolved by another run"), _read(store, current.id)
    return step, _read(store, current.id)


def _read(store: Store, episode_id: str) -> AlertEpisode:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(_T).where(_T.c.id == episode_id)).one()
    return _episode(row)
