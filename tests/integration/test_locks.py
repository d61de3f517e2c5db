"""Store locks die with their holder (SQLite: pid + host + heartbeat; PostgreSQL: advisory).

A holder is a real process killed with SIGKILL; the next taker gets the lock in
seconds, not after a lease. A live holder keeps its lock past the heartbeat
TTL; a holder on another host is trusted until its heartbeat is older than the
TTL; an operator can break a lock.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelwatch.errors import LockTimeout
from modelwatch.io.store import Store, locks
from tests.servers import postgres_database, require_postgres

pytestmark = [pytest.mark.integration, pytest.mark.serial]

HOLDER = textwrap.dedent(
    """
    import sys, time
    from modelwatch.io.store import Store

    store = Store(sys.argv[1])
    with store.lock(sys.argv[2], ttl_s=float(sys.argv[3])):
        print("held", flush=True)
        time.sleep(600)
    """
)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'store.db'}")
        s.upgrade_schema()
        yield s
        s.dispose()
        return
    require_postgres()
    with postgres_database("mw_locks") as name:
        s = Store(f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}")
        s.upgrade_schema()
        yield s
        s.dispose()


def _spawn_holder(store: Store, name: str, ttl_s: float = 30.0) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, store.url, name, str(ttl_s)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_lock_dies_with_its_killed_holder(store: Store) -> None:
    holder = _spawn_holder(store, "modelwatch-promote-credit")
    try:
        info = store.lock_holder("modelwatch-promote-credit")
        assert info is not None and info["pid"] == holder.pid
        assert info["host"] == socket.gethostname()
        with (
            pytest.raises(LockTimeout, match=rf"pid {holder.pid} on host .*--force"),
            store.lock("modelwatch-promote-credit", timeout_s=1.0, poll_s=0.1),
        ):
            pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
    started = time.monotonic()
    with store.lock("modelwatch-promote-credit", timeout_s=10, poll_s=0.1):
        waited = time.monotonic() - started
    print(f"lock taken {waited:.2f} s after its holder was killed ({store.engine.dialect.name})")
    assert waited < 5.0


def test_a_live_holder_keeps_its_lock_past_the_heartbeat_ttl(store: Store) -> None:
    holder = _spawn_holder(store, "long", ttl_s=0.6)
    try:
        time.sleep(2.0)  # > 3 TTLs: only the heartbeat keeps the row alive
        with (
            pytest.raises(LockTimeout),
            store.lock("long", ttl_s=0.6, timeout_s=1.0, poll_s=0.1),
        ):
            pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)


def test_a_holder_on_another_host_is_trusted_until_its_heartbeat_stops(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.upgrade_schema()
    now = time.time()
    with store.engine.begin() as conn:
        conn.execute(
            locks.insert().values(
                name="remote",
                holder="h1",
                acquired_at=sa.func.current_timestamp(),
                expires_at=now + 0.8,
                host="another-host",
                pid=1,
                heartbeat_at=now,
            )
        )
    with (
        pytest.raises(LockTimeout, match="pid 1 on host another-host"),
        store.lock("remote", timeout_s=0.3, poll_s=0.05),
    ):
        pass
    # its heartbeat stops: the row expires one TTL after the last beat
    with store.lock("remote", timeout_s=3.0, poll_s=0.05):
        assert store.lock_holder("remote")["host"] == socket.gethostname()  # type: ignore[index]
    store.dispose()


def test_a_row_written_before_liveness_columns_still_expires(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.upgrade_schema()
    with store.engine.begin() as conn:
        conn.execute(
            locks.insert().values(
                name="old", holder="h0", acquired_at=sa.func.current_timestamp(), expires_at=1.0
            )
        )
    with store.lock("old", timeout_s=1.0, poll_s=0.05):
        pass
    store.dispose()


def test_an_operator_can_break_a_live_holders_lock(store: Store) -> None:
    holder = _spawn_holder(store, "stuck")
    try:
        broken = store.break_lock("stuck")
        assert broken is not None and broken["pid"] == holder.pid
        started = time.monotonic()
        with store.lock("stuck", timeout_s=5.0, poll_s=0.1):
            assert time.monotonic() - started < 2.0
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
