"""Monitoring store: idempotent windows, one transaction per run, decisions, quarantine."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelwatch.errors import StoreError, StoreSchemaError, StoreUnavailable, is_transient
from modelwatch.io import migrate
from modelwatch.io.store import RunRecord, Store

T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'store.db'}")
    s.upgrade_schema()
    return s


def _record(start: datetime, *, bad: bool = False, metric: float = 0.8) -> RunRecord:
    return RunRecord(
        model="m",
        window_start=start,
        window_end=start + timedelta(hours=1),
        status="ok",
        validation_passed=True,
        n_rows=100,
        n_labeled=80,
        bad=bad,
        champion_version="1",
        metrics=[
            {
                "name": "roc_auc",
                "kind": "realized",
                "segment": None,
                "value": metric,
                "ci_low": metric - 0.1,
                "ci_high": metric + 0.1,
                "n": 80,
            }
        ],
        drift=[
            {
                "column_name": "x",
                "method": "ks",
                "statistic": 0.1,
                "p_value": 0.5,
                "threshold": 0.05,
                "drifted": False,
                "missing_share_current": 0.0,
                "unseen_categories": "",
            }
        ],
    )


def test_rerunning_a_window_replaces_its_results(store: Store) -> None:
    first = store.save_run(_record(T0, metric=0.8))
    second = store.save_run(_record(T0, metric=0.7))
    runs = store.runs("m")
    assert [r["id"] for r in runs] == [second]
    assert store.metrics(first) == [] and store.drift(first) == []
    assert [m["value"] for m in store.metrics(second)] == [0.7]


def test_runs_are_newest_first_and_filtered_by_before(store: Store) -> None:
    for i in range(4):
        store.save_run(_record(T0 + timedelta(hours=i), bad=i % 2 == 0))
    runs = store.runs("m", before=T0 + timedelta(hours=3), limit=2)
    assert [r["window_start"] for r in runs] == [T0 + timedelta(hours=2), T0 + timedelta(hours=1)]
    assert runs[0]["window_start"].tzinfo is not None


def test_a_failed_write_leaves_the_earlier_results_intact(store: Store) -> None:
    good = store.save_run(_record(T0))
    broken = _record(T0)
    broken = RunRecord(**{**broken.__dict__, "metrics": [{"name": None, "kind": "realized"}]})
    with pytest.raises(
        StoreError, match="cannot save the run of model 'm' window 2026-11-23T10:00"
    ):
        store.save_run(broken)
    assert [r["id"] for r in store.runs("m")] == [good]
    assert len(store.metrics(good)) == 1


def test_decisions_and_quarantine(store: Store) -> None:
    store.save_decision("m", kind="ab", outcome="promoted", details={"ci_low": 0.01})
    assert store.decisions("m", kind="ab")[0]["details"] == {"ci_low": 0.01}
    n = store.quarantine_files(
        "m",
        window_start=T0,
        window_end=T0 + timedelta(hours=1),
        files=[("/data/a.parquet", "ab" * 32)],
        reason="bad",
    )
    assert n == 1
    assert store.quarantined("m")[0]["path"] == "/data/a.parquet"
    assert store.release_quarantine("m", T0) == 1
    assert store.quarantined("m") == []


def test_unreachable_database_is_a_clear_error_worth_retrying() -> None:
    store = Store("postgresql+psycopg2://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreUnavailable, match="cannot read the schema revision") as caught:
        store.upgrade_schema()
    assert is_transient(caught.value)  # connection refused: a task may try again


def test_a_busy_database_is_unavailable_not_broken(tmp_path: Path) -> None:
    """SQLite busy (by its error code, not its message) -> StoreUnavailable, a TransientError."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    Store.open(url).dispose()
    blocker = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the database
    try:
        with Store(url, lock_timeout_s=0.2) as store, pytest.raises(StoreUnavailable) as caught:
            store.save_decision("m", kind="ab", outcome="promoted", details={})
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert "cannot save the ab decision of model 'm'" in str(caught.value)
    assert is_transient(caught.value) and isinstance(caught.value, StoreError)


def test_a_broken_statement_is_a_store_error_not_worth_retrying(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE decisions")
    with pytest.raises(StoreError, match="cannot read the decisions of model 'm'") as caught:
        store.decisions("m")
    assert not is_transient(caught.value)


def test_a_store_used_as_a_context_manager_is_disposed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disposed: list[str] = []
    monkeypatch.setattr(Store, "dispose", lambda self: disposed.append(self.url))
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Store.open(url) as store:
        assert store.runs("m") == []
    assert disposed == [url]
    with pytest.raises(RuntimeError), Store.open(url):
        raise RuntimeError("the body failed")
    assert disposed == [url, url]


def test_the_schema_is_checked_once_per_process_not_per_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    reads: list[str] = []
    status = migrate.status
    monkeypatch.setattr(migrate, "status", lambda engine: reads.append("read") or status(engine))
    with Store.open(url) as store:  # a new store: created at head
        store.save_decision("m", kind="ab", outcome="promoted", details={})
    created = len(reads)
    for _ in range(3):  # e.g. one open per task
        with Store.open(url) as store:
            assert len(store.decisions("m")) == 1
    assert len(reads) == created  # no query for the schema after the first open
    with Store(url) as store:
        store.check_schema(recheck=True)
    assert len(reads) == created + 1


def test_a_revision_change_or_a_new_file_is_checked_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Store.open(url) as store:
        migrate.downgrade(store.engine, "0001")
        with pytest.raises(StoreSchemaError, match="run `modelwatch store upgrade`"):
            store.check_schema()  # downgrading forgot that it was at head
        store.upgrade_schema()
        store.check_schema()
    (tmp_path / "store.db").unlink()  # a new, empty file at the same path: created again
    with Store.open(url) as store:
        assert store.runs("m") == []
        assert migrate.status(store.engine).up_to_date


def test_a_lock_has_one_holder(store: Store) -> None:
    import threading
    import time

    from modelwatch.io.store import LockTimeout

    order: list[str] = []
    kept = []  # a holder that never releases (a crashed run): keep its context alive

    def second() -> None:
        held = store.lock("promote-m", timeout_s=5, poll_s=0.05)
        held.__enter__()
        kept.append(held)
        order.append("second")

    with store.lock("promote-m", timeout_s=5):
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.5)
        order.append("first released")
    waiter.join(5)
    assert order == ["first released", "second"]
    with (
        pytest.raises(
            LockTimeout, match=r"lock 'promote-m' is held by another run \(pid \d+ on host .+ since"
        ),
        store.lock("promote-m", timeout_s=0.3, poll_s=0.05),
    ):
        pass
