"""Store schema migrations on SQLite and PostgreSQL: upgrading never loses a row.

A store is created at the first revision, filled, upgraded to head, and every
earlier row is compared (and read back through ``modelwatch runs``); a store
behind or ahead of the code is refused with the command to run; Alembic's
``check`` finds no difference between the code's tables and a migrated store.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from cli.main import main
from modelwatch.errors import StoreError, StoreSchemaError
from modelwatch.io import migrate
from modelwatch.io.store import RunRecord, Store
from tests.servers import clean_env, postgres_database, require_postgres

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 0, tzinfo=UTC)
TABLES = (
    "monitor_runs",
    "metric_values",
    "drift_results",
    "validation_results",
    "decisions",
    "quarantine",
    "data_quality",
    "locks",
    "modelwatch_schema",
)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    require_postgres()
    with postgres_database("mw_migrate") as name:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"


@contextlib.contextmanager
def opened(url: str) -> Iterator[Store]:
    store = Store(url)
    try:
        yield store
    finally:
        store.dispose()


def _record(index: int) -> RunRecord:
    start = T0 + timedelta(hours=index)
    return RunRecord(
        model="credit",
        window_start=start,
        window_end=start + timedelta(hours=1),
        status="degraded" if index % 3 == 2 else "ok",
        validation_passed=True,
        n_rows=2000 + index,
        n_labeled=1600 + index,
        bad=index % 3 == 2,
        reason=f"window {index}: roc_auc 0.{70 + index}",
        share_drifted=index / 10,
        champion_version="1",
        flow_run_id=f"run-{index}",
        metrics=[
            {"name": "roc_auc", "kind": "realized", "segment": None, "value": 0.7 + index / 100,
             "ci_low": 0.68, "ci_high": 0.8, "n": 1600},
            {"name": "roc_auc", "kind": "realized", "segment": "region=north", "value": 0.71,
             "ci_low": None, "ci_high": None, "n": 400},
        ],
        drift=[
            {"column_name": "income", "method": "ks", "statistic": 0.02 * index, "p_value": 0.5,
             "threshold": 0.05, "drifted": index > 3, "missing_share_current": 0.0,
             "unseen_categories": ""},
        ],
        validation=[
            {"expectation": "expect_column_values_to_not_be_null", "column_name": "income",
             "severity": "critical", "success": True, "observed": "0"},
        ],
    )  # fmt: skip


def _save_run_as_written_then(store: Store, record: RunRecord) -> None:
    """A run saved with only the columns the store's current revision has (as that
    revision's code wrote it): later revisions add columns the old code never wrote."""
    from modelwatch.io import store as tables

    run_id = f"run-{record.flow_run_id}"
    with store.engine.begin() as conn:
        live = sa.Table("monitor_runs", sa.MetaData(), autoload_with=conn)
        row = {
            "id": run_id,
            "model": record.model,
            "window_start": record.window_start,
            "window_end": record.window_end,
            "flow_run_id": record.flow_run_id,
            "champion_version": record.champion_version,
            "status": record.status,
            "validation_passed": record.validation_passed,
            "n_rows": record.n_rows,
            "n_labeled": record.n_labeled,
            "bad": record.bad,
            "reason": record.reason,
            "share_drifted": record.share_drifted,
            "created_at": record.window_end,
        }
        conn.execute(live.insert().values({k: v for k, v in row.items() if k in live.c}))
        for table, rows in (
            (tables.metric_values, record.metrics),
            (tables.drift_results, record.drift),
            (tables.validation_results, record.validation),
        ):
            conn.execute(table.insert(), [{**r, "run_id": run_id} for r in rows])


def _fill(store: Store, windows: int = 6) -> None:
    for index in range(windows):
        _save_run_as_written_then(store, _record(index))
    store.save_decision("credit", kind="degradation", outcome="degraded", details={"k": 2})
    store.save_decision("credit", kind="ab", outcome="challenger-wins", details={"ci_low": 0.2})
    store.quarantine_files(
        "credit",
        window_start=T0,
        window_end=T0 + timedelta(hours=1),
        files=[("/data/predictions/part-0.parquet", "ab" * 32)],
        reason="critical: income not numeric",
    )
    store.save_data_quality(
        "credit",
        window_start=T0,
        window_end=T0 + timedelta(hours=1),
        rows=[{"column_name": "income", "stat": "missing_share", "value": 0.01}],
    )
    with store.engine.begin() as conn:  # a lock row as revision 0001 wrote it
        conn.execute(
            sa.text(
                "INSERT INTO locks (name, holder, acquired_at, expires_at) "
                "VALUES ('modelwatch-promote-old', 'abc', :at, 1.0)"
            ),
            {"at": T0},
        )


def _snapshot(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in a stable order, columns of revision 0001 only."""
    out = {}
    with store.engine.connect() as conn:
        for table in TABLES:
            columns = [c["name"] for c in sa.inspect(conn).get_columns(table)]
            columns = [c for c in columns if c not in {"host", "pid", "heartbeat_at", "threshold"}]
            if table == "modelwatch_schema":
                columns = ["version"]
            rows = conn.execute(sa.text(f"SELECT {', '.join(columns)} FROM {table}")).all()
            out[table] = sorted((tuple(str(v) for v in row) for row in rows), key=str)
    return out


def test_upgrading_a_filled_store_keeps_every_row(url: str, capsys: pytest.CaptureFixture[str]):
    with opened(url) as store:
        migrate.upgrade(store.engine, "0001")
        assert migrate.status(store.engine).current == "0001"
        _fill(store)
        before = _snapshot(store)
        assert len(before["monitor_runs"]) == 6 and len(before["metric_values"]) == 12

        with pytest.raises(StoreSchemaError, match="run `modelwatch store upgrade`"):
            store.check_schema()

        after = migrate.upgrade(store.engine)
        assert after.current == migrate.head_revision() == "0004"
        snapshot = _snapshot(store)
        assert snapshot.pop("alert_episodes", []) == []  # new in 0003, empty
        assert {k: v for k, v in snapshot.items() if k != "modelwatch_schema"} == {
            k: v for k, v in before.items() if k != "modelwatch_schema"
        }
        # the legacy guard: modelwatch 0.1 reads the highest version here and refuses
        assert snapshot["modelwatch_schema"] == [("1",), ("2",), ("3",), ("4",)]
        assert migrate.drift(store.engine) == []  # alembic check: no missing migration
        store.check_schema()
        runs = store.runs("credit")
        assert [r["n_rows"] for r in runs] == [2005, 2004, 2003, 2002, 2001, 2000]
        assert store.decisions("credit", kind="ab")[0]["details"] == {"ci_low": 0.2}

    import os

    old = os.environ.get("MODELWATCH_STORE_URL")
    os.environ["MODELWATCH_STORE_URL"] = url
    try:
        assert main(["runs", "credit"]) == 0
    finally:
        if old is None:
            del os.environ["MODELWATCH_STORE_URL"]
        else:
            os.environ["MODELWATCH_STORE_URL"] = old
    printed = capsys.readouterr().out
    for index in range(6):
        assert f"{(T0 + timedelta(hours=index)):%Y-%m-%d %H:%M}" in printed
    assert "window 5: roc_auc 0.75" in printed
    assert "0.7500" in printed  # the watched metric column of `runs`


def test_downgrade_then_upgrade_round_trips(url: str) -> None:
    with opened(url) as store:
        store.upgrade_schema()
        _fill(store, windows=3)
        before = _snapshot(store)
        assert migrate.downgrade(store.engine, "0001").current == "0001"
        cols = {c["name"] for c in sa.inspect(store.engine).get_columns("locks")}
        assert "heartbeat_at" not in cols
        migrate.upgrade(store.engine)
        assert _snapshot(store) == before


def test_a_store_created_before_migrations_is_stamped_and_upgraded(url: str) -> None:
    """modelwatch 0.1 created the tables with create_all: no alembic_version table."""
    with opened(url) as store:
        migrate.upgrade(store.engine, "0001")
        _fill(store, windows=2)
        with store.engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE alembic_version"))
        status = migrate.status(store.engine)
        assert status.legacy and status.current is None
        with pytest.raises(
            StoreSchemaError, match=r"(?s)predates schema migrations.*store upgrade"
        ):
            store.check_schema()
        before = _snapshot(store)
        assert migrate.upgrade(store.engine).current == "0004"
        after = _snapshot(store)
        assert after["monitor_runs"] == before["monitor_runs"]
        assert after["decisions"] == before["decisions"]


def test_a_store_ahead_of_the_code_is_refused(url: str) -> None:
    with opened(url) as store:
        store.upgrade_schema()
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
        with pytest.raises(StoreSchemaError, match=r"(?s)0099.*does not know.*upgrade modelwatch"):
            store.check_schema()
        with pytest.raises(StoreSchemaError, match="does not know"):
            store.upgrade_schema()


def test_an_empty_database_is_created_at_head(url: str) -> None:
    with opened(url) as store:
        assert migrate.status(store.engine).empty
        store.check_schema()  # first run on a new store: nothing to migrate, create it
        assert migrate.status(store.engine).current == migrate.head_revision()
        assert migrate.drift(store.engine) == []


def test_four_workers_opening_a_new_store_at_once_create_it_once(url: str) -> None:
    """Threads of one process (a fleet run) and separate engines (workers) create a new
    store at the same moment: every one ends at head, none fails."""
    import threading

    stores = [Store(url) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def first_run(store: Store) -> None:
        try:
            barrier.wait(timeout=30)
            store.check_schema()
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=first_run, args=(s,)) for s in stores]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert errors == []
        assert migrate.status(stores[0].engine).current == migrate.head_revision()
        assert migrate.drift(stores[0].engine) == []
    finally:
        for store in stores:
            store.dispose()


def test_a_failed_upgrade_on_postgresql_changes_nothing() -> None:
    require_postgres()
    with postgres_database("mw_migrate_fail") as name:
        url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
        with opened(url) as store:
            migrate.upgrade(store.engine, "0001")
            _fill(store, windows=2)
            with store.engine.begin() as conn:  # makes 0002's third ADD COLUMN fail
                conn.execute(sa.text("ALTER TABLE locks ADD COLUMN heartbeat_at TEXT"))
            with pytest.raises(StoreError, match=r"(?s)cannot upgrade.*nothing changed"):
                migrate.upgrade(store.engine)
            assert migrate.status(store.engine).current == "0001"
            cols = {c["name"] for c in sa.inspect(store.engine).get_columns("locks")}
            assert "host" not in cols and "pid" not in cols  # the earlier ADDs rolled back
            with store.engine.connect() as conn:
                versions = conn.execute(sa.text("SELECT version FROM modelwatch_schema")).all()
            assert [v[0] for v in versions] == [1]


@pytest.mark.serial  # asserts a wall-clock bound: not beside another test
def test_monitor_on_a_store_one_revision_behind_fails_fast_naming_the_command(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with opened(url) as store:
        migrate.upgrade(store.engine, "0001")
        _fill(store, windows=1)
    env = clean_env(MODELWATCH_HOME=str(tmp_path / "home"), MODELWATCH_STORE_URL=url)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "cli", "monitor", "credit"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    print(f"refused in {elapsed:.2f} s: {result.stderr.strip()}")
    assert result.returncode == 1
    assert "modelwatch store upgrade" in result.stderr
    assert "revision 0001, behind" in result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < 3.0
    with opened(url) as store:  # refusing wrote nothing
        assert migrate.status(store.engine).current == "0001"
        with store.engine.connect() as conn:  # (this code reads only a store at head)
            assert conn.execute(sa.text("SELECT count(*) FROM monitor_runs")).scalar() == 1
