"""The store on a real PostgreSQL when connections die, hang half-open, or the server restarts.

Every case ends in bounded time with exactly one row per window: the save is
retried when that can help (it is idempotent) and fails cleanly otherwise,
leaving the earlier rows as they were.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import sqlalchemy as sa

from modelwatch.errors import StoreError
from modelwatch.io.store import RunRecord, Store
from tests.servers import PG_DSN, postgres_available, postgres_database, require_postgres

pytestmark = [pytest.mark.integration, pytest.mark.serial]

T0 = datetime(2026, 11, 23, 0, tzinfo=UTC)


@pytest.fixture
def database() -> Iterator[str]:
    require_postgres()
    with postgres_database("mw_faults") as name:
        url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
        store = Store(url)
        store.upgrade_schema()
        store.save_run(_record(0, "earlier"))
        store.dispose()
        yield url


def _record(index: int, reason: str) -> RunRecord:
    start = T0 + timedelta(hours=index)
    return RunRecord(
        model="credit",
        window_start=start,
        window_end=start + timedelta(hours=1),
        status="ok",
        validation_passed=True,
        n_rows=100,
        n_labeled=80,
        bad=False,
        reason=reason,
        metrics=[{"name": "accuracy", "kind": "realized", "value": 0.8, "n": 80}],
    )


def _rows(url: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT window_start, reason FROM monitor_runs ORDER BY window_start")
        ).all()
    engine.dispose()
    return [(r[0].astimezone(UTC), r[1]) for r in rows]


def test_a_backend_terminated_mid_save_is_retried_without_duplicates(database: str) -> None:
    store = Store(database)
    killed: list[int] = []

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def _kill_once(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO monitor_runs") and not killed:
            pid = cursor.connection.info.backend_pid
            killed.append(pid)
            admin = psycopg2.connect(PG_DSN)
            admin.autocommit = True
            with admin.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
            admin.close()

    started = time.monotonic()
    store.save_run(_record(1, "after a killed backend"))
    elapsed = time.monotonic() - started
    store.dispose()
    print(f"saved in {elapsed:.1f} s after backend {killed[0]} was terminated mid-save")
    assert killed and elapsed < 15
    assert _rows(database) == [(T0, "earlier"), (T0 + timedelta(hours=1), "after a killed backend")]


def _half_open(url: str, start: datetime, *, idle_timeout_s: float) -> threading.Event:
    """A client that deletes a window's run inside a transaction, then goes silent."""
    blocker = Store(url, idle_in_transaction_timeout_s=idle_timeout_s)
    ready = threading.Event()

    def hang() -> None:
        conn = blocker.engine.connect()
        conn.begin()
        conn.execute(sa.text("DELETE FROM monitor_runs WHERE window_start = :s"), {"s": start})
        ready.set()
        time.sleep(idle_timeout_s + 30)  # never commits; the server ends the session first

    threading.Thread(target=hang, daemon=True).start()
    assert ready.wait(10)
    return ready


def test_a_half_open_session_is_ended_by_the_server_and_the_save_retried(database: str) -> None:
    _half_open(database, T0, idle_timeout_s=3.0)
    store = Store(database, lock_timeout_s=1.0)
    started = time.monotonic()
    store.save_run(_record(0, "re-run"))
    elapsed = time.monotonic() - started
    store.dispose()
    print(f"re-run saved in {elapsed:.1f} s past a half-open session holding its window")
    assert 2.0 < elapsed < 20.0
    assert _rows(database) == [(T0, "re-run")]


def test_a_save_blocked_for_good_fails_in_bounded_time_and_keeps_earlier_rows(
    database: str,
) -> None:
    _half_open(database, T0, idle_timeout_s=120.0)
    store = Store(database, lock_timeout_s=0.5, save_attempts=2)
    started = time.monotonic()
    with pytest.raises(StoreError, match="cannot save the run of model 'credit'") as info:
        store.save_run(_record(0, "re-run"))
    elapsed = time.monotonic() - started
    store.dispose()
    assert info.value.transient
    assert elapsed < 10.0
    # the half-open session still holds its uncommitted DELETE; the committed row is intact
    assert _rows(database) == [(T0, "earlier")]


def _pg_cluster() -> tuple[str, str] | None:
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        return None
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir())
    return (versions[0], "main") if versions else None


def test_a_server_restart_between_runs_is_survived(database: str) -> None:
    cluster = _pg_cluster()
    if cluster is None:
        pytest.skip("pg_ctlcluster is not available to restart PostgreSQL")
    store = Store(database)
    store.save_run(_record(1, "before restart"))  # the pool now holds a live connection
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, "restart"],
        check=True,
        timeout=60,
    )
    deadline = time.monotonic() + 30
    while not postgres_available() and time.monotonic() < deadline:
        time.sleep(0.5)
    started = time.monotonic()
    store.save_run(_record(2, "after restart"))  # pre-ping replaces the dead pooled connection
    elapsed = time.monotonic() - started
    store.dispose()
    assert elapsed < 15
    assert [r[1] for r in _rows(database)] == ["earlier", "before restart", "after restart"]
