"""A dry run changes nothing: no store rows, no report overwritten, no events, no alerts, no retrain."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from flows.monitor import monitor_model
from tests.flows.conftest import World

# derived read-through caches and Prefect's own database are not the user's data
IGNORED = ("prefect", "cache", "reports/_dry-run")


def _dump(db: Path) -> list[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return list(conn.iterdump())


def _snapshot(home: Path) -> dict[str, Any]:
    """Every file of the home by content; SQLite databases by their logical content."""
    out: dict[str, Any] = {}
    for path in sorted(home.rglob("*")):
        rel = path.relative_to(home).as_posix()
        if not path.is_file() or rel.startswith(IGNORED) or rel.endswith(("-wal", "-shm")):
            continue
        if path.suffix == ".db":
            out[rel] = _dump(path)
        else:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_a_dry_run_of_a_degraded_window_changes_nothing(
    fresh_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = fresh_world
    for index in (6, 7):
        world.serve(index)
    _, end6 = world.window(6)
    _, end7 = world.window(7)
    first = monitor_model(model_name="credit", window_end=end6, window_hours=1.0, return_state=True)
    assert first.name == "Completed" and first.result().bad

    from tasks import publish

    events: list[tuple[Any, ...]] = []
    alerts: list[tuple[Any, ...]] = []
    monkeypatch.setattr(publish, "emit_event", lambda *a, **k: events.append((a, k)))
    monkeypatch.setattr(publish, "send_alert", lambda *a, **k: alerts.append((a, k)))
    before = _snapshot(world.home)
    report6 = world.home / "reports" / "credit" / f"{world.window(6)[0]:%Y-%m-%dT%H%M}.html"
    assert report6.name in {Path(p).name for p in before}

    for end in (end6, end7):  # re-run a past window and a window that is degraded
        state = monitor_model(
            model_name="credit", window_end=end, window_hours=1.0, dry_run=True, return_state=True
        )
        summary = state.result(raise_on_failure=False)
        assert summary.store_run_id is None
    assert state.name == "Degraded", state.message  # window 7: 2 of the last 3 windows bad
    assert summary.retrain_outcome is None  # a dry run never retrains

    assert _snapshot(world.home) == before  # store, MLflow, reports, Data Docs, quarantine
    assert events == [] and alerts == []
    dry = sorted(p.name for p in (world.home / "reports" / "_dry-run" / "credit").iterdir())
    assert dry == sorted({report6.name, f"{world.window(7)[0]:%Y-%m-%dT%H%M}.html"})
    versions = world.registry().client.search_model_versions("name='credit'")
    assert [str(v.version) for v in versions] == ["1"]
