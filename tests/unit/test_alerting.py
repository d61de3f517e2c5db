"""Alert episodes: one message when a model degrades, few reminders, one when it recovers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelwatch.alerting import AlertEpisode, EpisodeAction, on_degraded, on_healthy
from modelwatch.io import alert_episodes
from modelwatch.io.alerts import Alert, dispatch
from modelwatch.io.store import Store
from modelwatch.spec import AppriseChannel, parse_spec
from tests.servers import alert_receivers, postgres_available, postgres_database

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def _episode(**changes: object) -> AlertEpisode:
    base = {
        "id": "e1",
        "model": "credit",
        "champion_version": "1",
        "opened_at": T0,
        "first_window_start": T0,
        "last_window_start": T0,
        "last_sent_at": T0,
        "last_sent_window": T0,
        "messages": 1,
        "suppressed": 0,
    }
    return AlertEpisode(**{**base, **changes})  # type: ignore[arg-type]


def test_the_first_degraded_window_opens_an_episode() -> None:
    step = on_degraded(None, window_start=T0, champion_version="1", now=T0, repeat_hours=24)
    assert step.action is EpisodeAction.OPEN and step.sends


def test_a_reminder_needs_repeat_hours_on_the_wall_clock_and_in_window_time() -> None:
    episode = _episode()
    later = T0 + timedelta(hours=6)
    # window time passed, wall clock did not (a catch-up): no burst of reminders
    step = on_degraded(episode, window_start=later, champion_version="1", now=T0, repeat_hours=6)
    assert step.action is EpisodeAction.SUPPRESS
    assert "repeat_hours 6" in step.reason
    # wall clock passed, window time did not (a replay of old windows): no reminder
    step = on_degraded(episode, window_start=T0, champion_version="1", now=later, repeat_hours=6)
    assert step.action is EpisodeAction.SUPPRESS
    step = on_degraded(episode, window_start=later, champion_version="1", now=later, repeat_hours=6)
    assert step.action is EpisodeAction.REPEAT and step.sends


def test_another_champion_degrading_opens_a_new_episode_and_closes_the_old_one() -> None:
    step = on_degraded(_episode(), window_start=T0, champion_version="2", now=T0, repeat_hours=24)
    assert step.action is EpisodeAction.OPEN and step.supersedes == "e1"


def test_only_a_newer_healthy_window_resolves() -> None:
    episode = _episode(last_window_start=T0 + timedelta(hours=3))
    assert on_healthy(None, window_start=T0).action is EpisodeAction.NONE
    older = on_healthy(episode, window_start=T0 + timedelta(hours=2))
    assert older.action is EpisodeAction.NONE and "catch-up" in older.reason
    step = on_healthy(episode, window_start=T0 + timedelta(hours=4))
    assert step.action is EpisodeAction.RESOLVE and "healthy again after 4 h" in step.reason


def test_alerts_may_be_a_list_of_channels_or_a_mapping() -> None:
    from tests.unit.test_spec import _demo

    data = _demo()
    data["alerts"] = [{"type": "webhook", "url_env": "X"}]
    spec = parse_spec(data)
    assert spec.alerts.repeat_hours == 24 and spec.alerts.channels[0].type == "webhook"
    data["alerts"] = {"repeat_hours": 6, "channels": [{"type": "apprise", "urls_env": "Y"}]}
    spec = parse_spec(data)
    assert spec.alerts.repeat_hours == 6 and isinstance(spec.alerts.channels[0], AppriseChannel)
    assert "resolved" in spec.alerts.channels[0].events


# ------------------------------------------------------------------ the store, atomically


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as opened:
            yield opened
        return
    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable")
    with (
        postgres_database("mw_alerts") as name,
        Store.open(f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}") as opened,
    ):
        yield opened


def test_a_day_of_degradation_sends_one_alert_a_reminder_and_one_resolution(
    store: Store,
) -> None:
    sent = []
    for hour in range(24):  # an hourly model, each window judged an hour after it started
        window = T0 + timedelta(hours=hour)
        step, episode = alert_episodes.record_degraded(
            store,
            "credit",
            window_start=window,
            champion_version="1",
            repeat_hours=12,
            now=window + timedelta(hours=1),
        )
        if step.sends:
            sent.append((hour, step.action))
    assert sent == [(0, EpisodeAction.OPEN), (12, EpisodeAction.REPEAT)]
    assert episode.messages == 2 and episode.suppressed == 22
    step, closed = alert_episodes.record_healthy(store, "credit", window_start=T0 + timedelta(1))
    assert step.action is EpisodeAction.RESOLVE and closed is not None
    assert closed.resolved_at is not None and alert_episodes.open_episode(store, "credit") is None
    # a second healthy window: nothing more
    step, _ = alert_episodes.record_healthy(store, "credit", window_start=T0 + timedelta(2))
    assert step.action is EpisodeAction.NONE
    # the next degradation is a new episode
    step, again = alert_episodes.record_degraded(
        store, "credit", window_start=T0 + timedelta(3), champion_version="1", repeat_hours=12
    )
    assert step.action is EpisodeAction.OPEN and again.id != closed.id
    assert [e.id for e in alert_episodes.episodes(store, "credit")] == [closed.id, again.id]


def test_a_new_champion_degrading_supersedes_the_open_episode(store: Store) -> None:
    alert_episodes.record_degraded(
        store, "credit", window_start=T0, champion_version="1", repeat_hours=24
    )
    step, episode = alert_episodes.record_degraded(
        store, "credit", window_start=T0 + timedelta(hours=1), champion_version="2", repeat_hours=24
    )
    assert step.action is EpisodeAction.OPEN and episode.champion_version == "2"
    first, second = alert_episodes.episodes(store, "credit")
    assert first.resolution == "superseded: v2 degraded" and second.is_open


def test_two_workers_judging_degraded_windows_at_once_send_one_alert(store: Store) -> None:
    steps = []
    barrier = threading.Barrier(4)

    def judge(hour: int) -> None:
        barrier.wait()
        step, _ = alert_episodes.record_degraded(
            store,
            "credit",
            window_start=T0 + timedelta(hours=hour),
            champion_version="1",
            repeat_hours=24,
        )
        steps.append(step.action)

    threads = [threading.Thread(target=judge, args=(h,)) for h in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(steps) == sorted([EpisodeAction.OPEN, *[EpisodeAction.SUPPRESS] * 3])
    (episode,) = alert_episodes.episodes(store, "credit")
    assert episode.messages == 1 and episode.suppressed == 3


# ------------------------------------------------------------------ Apprise, for real


def test_an_apprise_channel_reaches_a_json_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with alert_receivers(tmp_path / "receivers") as receivers:
        endpoint = receivers.webhook_url.replace("http://", "json://")
        monkeypatch.setenv("MW_APPRISE", f"{endpoint}, ")
        monkeypatch.setenv("MW_APPRISE_BAD", "nosuchscheme://x")
        channels = (
            AppriseChannel(type="apprise", urls_env="MW_APPRISE"),
            AppriseChannel(type="apprise", urls_env="MW_APPRISE_BAD"),
            AppriseChannel(type="apprise", urls_env="MW_APPRISE_UNSET"),
        )
        alert = Alert("credit", "resolved", "credit healthy again", "episode resolved", {"k": 1})
        deliveries = dispatch(alert, channels)
        assert [d.ok for d in deliveries] == [True, False, False]
        assert "scheme 'nosuchscheme'" in deliveries[1].error
        assert "'MW_APPRISE_UNSET' is not set" in deliveries[2].error
        (received,) = receivers.webhooks()
    assert received["title"] == "[modelwatch] credit healthy again"
    assert received["message"].startswith("episode resolved")
