"""The monitoring store: SQLAlchemy Core, SQLite by default, PostgreSQL by URL.

Tables (one row per ...):

* ``monitor_runs``       monitored window of a model; unique ``(model, window_start)``
* ``metric_values``      metric of a run (realized / estimated, overall or per segment)
* ``drift_results``      column's drift result of a run
* ``validation_results`` expectation result of a run
* ``decisions``          retrain, A/B, promotion, rollback decisions (with evidence JSON;
                         kinds and outcomes: ``modelwatch.outcomes``)
* ``quarantine``         window files held back by a critical validation failure
* ``alert_episodes``     degradation alert episode of a model (revision 0003): opened by the
                         first degraded window, resolved by a healthy one; operations in
                         :mod:`modelwatch.io.alert_episodes`

Re-running a window replaces its run (and, by cascade, its metrics, drift and
validation rows) inside one transaction: a failed write leaves the earlier
results as they were.

Use it as a context manager (``with Store.open(url) as store:``), which disposes
the engine's connections at the end. The schema is checked (an empty store is
created) once per process and URL, not on every open: :meth:`Store.check_schema`.
A failure that may pass on retry (connection lost or refused, lock or statement
timeout, deadlock, SQLite busy — decided by class and SQLSTATE/SQLite code, never
by message text) raises :class:`~modelwatch.errors.StoreUnavailable`, a
:class:`~modelwatch.errors.TransientError`; anything else :class:`StoreError`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from modelwatch.errors import LockTimeout, StoreError, StoreUnavailable

_log = logging.getLogger(__name__)


metadata = sa.MetaData()

# Legacy guard (revision 0001): modelwatch 0.1 created the schema with ``create_all`` and
# refused a store whose highest version here was newer than its own. Every revision that
# changes tables inserts its number, so an old modelwatch refuses a migrated store.
schema_info = sa.Table(
    "modelwatch_schema",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)

monitor_runs = sa.Table(
    "monitor_runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("flow_run_id", sa.String(64)),
    sa.Column("champion_version", sa.String(32)),
    sa.Column("status", sa.String(32), nullable=False),  # ok | degraded | quarantined | nodata
    sa.Column("validation_passed", sa.Boolean, nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("n_labeled", sa.Integer, nullable=False),
    sa.Column("bad", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("share_drifted", sa.Float),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # the watched metric's threshold this window was judged against (revision 0004;
    # NULL for earlier rows): each champion's own threshold in history charts
    sa.Column("threshold", sa.Float),
    sa.UniqueConstraint("model", "window_start", name="uq_monitor_runs_model_window"),
)

metric_values = sa.Table(
    "metric_values",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id", sa.String(36), sa.ForeignKey("monitor_runs.id", ondelete="CASCADE"), index=True
    ),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("segment", sa.String(200)),
    sa.Column("value", sa.Float),
    sa.Column("ci_low", sa.Float),
    sa.Column("ci_high", sa.Float),
    sa.Column("n", sa.Integer),
)

drift_results = sa.Table(
    "drift_results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id", sa.String(36), sa.ForeignKey("monitor_runs.id", ondelete="CASCADE"), index=True
    ),
    sa.Column("column_name", sa.String(200), nullable=False),
    sa.Column("method", sa.String(32), nullable=False),
    sa.Column("statistic", sa.Float),
    sa.Column("p_value", sa.Float),
    sa.Column("threshold", sa.Float),
    sa.Column("drifted", sa.Boolean, nullable=False),
    sa.Column("missing_share_current", sa.Float),
    sa.Column("unseen_categories", sa.Text),
)

validation_results = sa.Table(
    "validation_results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id", sa.String(36), sa.ForeignKey("monitor_runs.id", ondelete="CASCADE"), index=True
    ),
    sa.Column("expectation", sa.String(200), nullable=False),
    sa.Column("column_name", sa.String(200)),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("observed", sa.Text),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),  # modelwatch.outcomes.DecisionKind
    sa.Column("outcome", sa.String(64), nullable=False),
    sa.Column("flow_run_id", sa.String(64)),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("flow_run_id", sa.String(64)),
    sa.Column("released", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Data-quality statistics of each validated window (long format: one row per statistic),
# written by validate-window; kept per flow run (a re-validation adds rows, never rewrites).
data_quality = sa.Table(
    "data_quality",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("flow_run_id", sa.String(64)),
    sa.Column("column_name", sa.String(200)),  # NULL: a statistic of the whole window
    sa.Column("stat", sa.String(64), nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("detail", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_data_quality_model_window", "model", "window_start"),
)


locks = sa.Table(
    "locks",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),  # epoch seconds: portable comparison
    sa.Column("host", sa.String(255)),  # holder's host and pid (revision 0002)
    sa.Column("pid", sa.Integer),
    sa.Column("heartbeat_at", sa.Float),  # epoch seconds of the holder's last heartbeat
)

# One row per alert episode (revision 0003). ``open_key`` is the model while the episode is
# open and NULL once resolved: its unique constraint allows one open episode per model
# (NULLs are distinct on SQLite and PostgreSQL), so two workers cannot both open one.
alert_episodes = sa.Table(
    "alert_episodes",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("open_key", sa.String(200), unique=True),
    sa.Column("champion_version", sa.String(64)),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("first_window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_sent_at", sa.DateTime(timezone=True)),  # wall clock of the last message
    sa.Column("last_sent_window", sa.DateTime(timezone=True)),  # window of the last message
    sa.Column("messages", sa.Integer, nullable=False),
    sa.Column("suppressed", sa.Integer, nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("resolution", sa.Text),
)


@dataclass(frozen=True)
class RunRecord:
    """One monitored window, as persisted."""

    model: str
    window_start: datetime
    window_end: datetime
    status: str
    validation_passed: bool
    n_rows: int
    n_labeled: int
    bad: bool
    reason: str = ""
    share_drifted: float | None = None
    threshold: float | None = None
    champion_version: str | None = None
    flow_run_id: str | None = None
    metrics: Sequence[Mapping[str, Any]] = field(default=())
    drift: Sequence[Mapping[str, Any]] = field(default=())
    validation: Sequence[Mapping[str, Any]] = field(default=())


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


class Store:
    """Monitoring store at a SQLAlchemy URL. Create it where it is used; pass the URL around.

    On PostgreSQL every session is bounded: ``statement_timeout``, ``lock_timeout``
    and ``idle_in_transaction_session_timeout`` (so a half-open client cannot hold
    a window's rows forever), TCP keepalives both ways, a connect timeout, and
    ``pool_pre_ping`` (a connection that died while pooled is replaced, not used).
    """

    def __init__(
        self,
        url: str,
        *,
        statement_timeout_s: float = 120.0,
        lock_timeout_s: float = 30.0,
        idle_in_transaction_timeout_s: float = 60.0,
        connect_timeout_s: int = 10,
        save_attempts: int = 3,
    ) -> None:
        self.url = url
        self.save_attempts = save_attempts
        try:
            backend = sa.engine.make_url(url).get_backend_name()
            connect_args: dict[str, Any] = {}
            if backend == "sqlite":
                connect_args = {"timeout": lock_timeout_s}  # SQLite: wait this long when busy
            elif backend == "postgresql":
                options = " ".join(
                    f"-c {name}={int(value * 1000)}"
                    for name, value in (
                        ("statement_timeout", statement_timeout_s),
                        ("lock_timeout", lock_timeout_s),
                        ("idle_in_transaction_session_timeout", idle_in_transaction_timeout_s),
                    )
                )
                # server side: notice a vanished client within ~60 s
                options += " -c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10"
                options += " -c tcp_keepalives_count=3"
                connect_args = {
                    "connect_timeout": connect_timeout_s,
                    "keepalives": 1,
                    "keepalives_idle": 30,
                    "keepalives_interval": 10,
                    "keepalives_count": 3,
                    "options": options,
                }
            self.engine = sa.create_engine(
                url, future=True, connect_args=connect_args, pool_pre_ping=True
            )
            if backend == "sqlite":
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        except Exception as exc:
            raise StoreError(f"cannot open the monitoring store at {url!r}: {exc}") from exc

    @classmethod
    def open(cls, url: str, **options: Any) -> Store:
        """A store at ``url`` whose schema revision is this code's (checked once per process).

        ``options``: the keyword arguments of :class:`Store`. Use it as a context
        manager: ``with Store.open(url) as store: ...``.
        """
        store = cls(url, **options)
        try:
            store.check_schema()
        except BaseException:
            store.dispose()
            raise
        return store

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.dispose()

    def check_schema(self, *, recheck: bool = False) -> None:
        """Refuse a store behind or ahead of this code (naming the command); create a new one.

        The first call per process and URL reads the revision; once it is this code's
        head, later calls answer from memory (:func:`modelwatch.io.migrate.check`), so
        opening the store in every task costs no query. ``recheck`` reads it again.
        """
        from modelwatch.io import migrate

        migrate.check(self.engine, recheck=recheck)

    def upgrade_schema(self) -> None:
        """Bring the store to this code's schema revision (creates it when empty)."""
        from modelwatch.io import migrate

        migrate.upgrade(self.engine)

    def dispose(self) -> None:
        """Close the engine's pooled connections (the store can be used again afterwards)."""
        self.engine.dispose()

    # -- monitor runs -----------------------------------------------------------------
    def save_run(self, record: RunRecord) -> str:
        """Insert a run, replacing an earlier run of the same window; one transaction.

        The write is idempotent (delete the window's run, insert the new one, same
        run id), so a transient failure (dropped connection, lock or statement
        timeout, server restart) is retried up to ``save_attempts`` times with
        back-off; any failure leaves the earlier rows as they were.
        """
        run_id = str(uuid.uuid4())
        attempt = 1
        while True:
            try:
                self._save_run(record, run_id)
                return run_id
            except StoreError as exc:
                if not exc.transient or attempt >= self.save_attempts:
                    raise
                _log.warning(
                    "saving the run of model %r failed (attempt %d of %d, transient): %s",
                    record.model,
                    attempt,
                    self.save_attempts,
                    str(exc).splitlines()[0],
                )
                time.sleep(min(2.0**attempt, 10.0))
                attempt += 1

    def _save_run(self, record: RunRecord, run_id: str) -> None:
        start = _utc(record.window_start)
        try:
            with self.engine.begin() as conn:
                old = (
                    conn.execute(
                        sa.select(monitor_runs.c.id).where(
                            monitor_runs.c.model == record.model,
                            monitor_runs.c.window_start == start,
                        )
                    )
                    .scalars()
                    .all()
                )
                for table in (metric_values, drift_results, validation_results):
                    if old:
                        conn.execute(table.delete().where(table.c.run_id.in_(old)))
                if old:
                    conn.execute(monitor_runs.delete().where(monitor_runs.c.id.in_(old)))
                conn.execute(
                    monitor_runs.insert().values(
                        id=run_id,
                        model=record.model,
                        window_start=start,
                        window_end=_utc(record.window_end),
                        flow_run_id=record.flow_run_id,
                        champion_version=record.champion_version,
                        status=record.status,
                        validation_passed=record.validation_passed,
                        n_rows=record.n_rows,
                        n_labeled=record.n_labeled,
                        bad=record.bad,
                        reason=record.reason,
                        share_drifted=record.share_drifted,
                        threshold=record.threshold,
                        created_at=_now(),
                    )
                )
                for table, rows in (
                    (metric_values, record.metrics),
                    (drift_results, record.drift),
                    (validation_results, record.validation),
                ):
                    if rows:
                        conn.execute(table.insert(), [{**row, "run_id": run_id} for row in rows])
        except sa.exc.SQLAlchemyError as exc:
            raise _failure(
                f"cannot save the run of model {record.model!r} window {start.isoformat()}", exc
            ) from exc

    def runs(
        self, model: str, *, before: datetime | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Runs of a model, newest window first (optionally only windows starting before)."""
        query = sa.select(monitor_runs).where(monitor_runs.c.model == model)
        if before is not None:
            query = query.where(monitor_runs.c.window_start < _utc(before))
        query = query.order_by(monitor_runs.c.window_start.desc())
        if limit is not None:
            query = query.limit(limit)
        with _db_errors(f"read the runs of model {model!r}"), self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            for key in ("window_start", "window_end", "created_at"):
                row[key] = _utc(row[key])
        return rows

    def metric_history(
        self, model: str, name: str, *, kind: str = "realized", limit: int = 48
    ) -> list[dict[str, Any]]:
        """The overall value of one metric over the last ``limit`` windows, oldest first."""
        runs = (
            sa.select(monitor_runs)
            .where(monitor_runs.c.model == model)
            .order_by(monitor_runs.c.window_start.desc())
            .limit(limit)
            .subquery()
        )
        query = (
            sa.select(
                runs.c.window_start,
                runs.c.champion_version,
                runs.c.bad,
                runs.c.threshold,
                metric_values.c.value,
            )
            .select_from(
                runs.outerjoin(
                    metric_values,
                    sa.and_(
                        metric_values.c.run_id == runs.c.id,
                        metric_values.c.name == name,
                        metric_values.c.kind == kind,
                        metric_values.c.segment.is_(None),
                    ),
                )
            )
            .order_by(runs.c.window_start)
        )
        with (
            _db_errors(f"read the {name} history of model {model!r}"),
            self.engine.connect() as conn,
        ):
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["window_start"] = _utc(row["window_start"])
        return rows

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        return self._children(metric_values, run_id)

    def drift(self, run_id: str) -> list[dict[str, Any]]:
        return self._children(drift_results, run_id)

    def validation(self, run_id: str) -> list[dict[str, Any]]:
        return self._children(validation_results, run_id)

    def _children(self, table: sa.Table, run_id: str) -> list[dict[str, Any]]:
        with _db_errors(f"read the {table.name} of run {run_id}"), self.engine.connect() as conn:
            query = sa.select(table).where(table.c.run_id == run_id).order_by(table.c.id)
            return [dict(r._mapping) for r in conn.execute(query)]

    # -- decisions --------------------------------------------------------------------
    def save_decision(
        self,
        model: str,
        *,
        kind: str,
        outcome: str,
        details: Mapping[str, Any],
        flow_run_id: str | None = None,
    ) -> str:
        decision_id = str(uuid.uuid4())
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    decisions.insert().values(
                        id=decision_id,
                        model=model,
                        kind=kind,
                        outcome=outcome,
                        flow_run_id=flow_run_id,
                        details=json.dumps(details, default=str, sort_keys=True),
                        created_at=_now(),
                    )
                )
        except sa.exc.SQLAlchemyError as exc:
            raise _failure(f"cannot save the {kind} decision of model {model!r}", exc) from exc
        return decision_id

    def decisions(self, model: str, *, kind: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(decisions).where(decisions.c.model == model)
        if kind is not None:
            query = query.where(decisions.c.kind == kind)
        with _db_errors(f"read the decisions of model {model!r}"), self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query.order_by(decisions.c.created_at))]
        for row in rows:
            row["details"] = json.loads(row["details"])
            row["created_at"] = _utc(row["created_at"])
        return rows

    # -- quarantine -------------------------------------------------------------------
    def quarantine_files(
        self,
        model: str,
        *,
        window_start: datetime,
        window_end: datetime,
        files: Iterable[tuple[str, str]],
        reason: str,
        flow_run_id: str | None = None,
    ) -> int:
        rows = [
            {
                "model": model,
                "window_start": _utc(window_start),
                "window_end": _utc(window_end),
                "path": path,
                "sha256": digest,
                "reason": reason,
                "flow_run_id": flow_run_id,
                "released": False,
                "created_at": _now(),
            }
            for path, digest in files
        ]
        if not rows:
            return 0
        try:
            with self.engine.begin() as conn:
                conn.execute(quarantine.insert(), rows)
        except sa.exc.SQLAlchemyError as exc:
            raise _failure(f"cannot record quarantine of model {model!r}", exc) from exc
        return len(rows)

    def quarantined(
        self,
        model: str,
        *,
        include_released: bool = False,
        window_start: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Quarantine rows of a model, oldest first (released rows are kept as history)."""
        query = sa.select(quarantine).where(quarantine.c.model == model)
        if not include_released:
            query = query.where(quarantine.c.released.is_(False))
        if window_start is not None:
            query = query.where(quarantine.c.window_start == _utc(window_start))
        with _db_errors(f"read the quarantine of model {model!r}"), self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query.order_by(quarantine.c.id))]
        for row in rows:
            for key in ("window_start", "window_end", "created_at"):
                row[key] = _utc(row[key])
        return rows

    def release_quarantine(self, model: str, window_start: datetime) -> int:
        """Mark a window's quarantine rows released (kept); returns how many were held."""
        try:
            with self.engine.begin() as conn:
                result = conn.execute(
                    quarantine.update()
                    .where(
                        quarantine.c.model == model,
                        quarantine.c.window_start == _utc(window_start),
                        quarantine.c.released.is_(False),
                    )
                    .values(released=True)
                )
        except sa.exc.SQLAlchemyError as exc:
            raise _failure(f"cannot release quarantine of model {model!r}", exc) from exc
        return int(result.rowcount or 0)

    # -- data quality -----------------------------------------------------------------
    def save_data_quality(
        self,
        model: str,
        *,
        window_start: datetime,
        window_end: datetime,
        rows: Iterable[Mapping[str, Any]],
        flow_run_id: str | None = None,
    ) -> int:
        """Append a window's data-quality rows ``{column_name, stat, value, detail}``."""
        now = _now()
        values = [
            {
                "model": model,
                "window_start": _utc(window_start),
                "window_end": _utc(window_end),
                "flow_run_id": flow_run_id,
                "column_name": row.get("column_name"),
                "stat": row["stat"],
                "value": row.get("value"),
                "detail": row.get("detail"),
                "created_at": now,
            }
            for row in rows
        ]
        if not values:
            return 0
        try:
            with self.engine.begin() as conn:
                conn.execute(data_quality.insert(), values)
        except sa.exc.SQLAlchemyError as exc:
            raise _failure(
                f"cannot save the data quality of model {model!r} window "
                f"{_utc(window_start).isoformat()}",
                exc,
            ) from exc
        return len(values)

    def data_quality(
        self,
        model: str,
        *,
        window_start: datetime | None = None,
        stat: str | None = None,
        column: str | None = None,
        latest: bool = True,
    ) -> list[dict[str, Any]]:
        """Data-quality rows of a model, by window (oldest first), optionally filtered.

        ``latest``: per window, only the rows of its most recent validation.
        """
        query = sa.select(data_quality).where(data_quality.c.model == model)
        if window_start is not None:
            query = query.where(data_quality.c.window_start == _utc(window_start))
        if stat is not None:
            query = query.where(data_quality.c.stat == stat)
        if column is not None:
            query = query.where(data_quality.c.column_name == column)
        query = query.order_by(data_quality.c.window_start, data_quality.c.id)
        with _db_errors(f"read the data quality of model {model!r}"), self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            for key in ("window_start", "window_end", "created_at"):
                row[key] = _utc(row[key])
        if latest:
            newest: dict[datetime, tuple[datetime, str | None]] = {}
            for row in rows:
                mark = (row["created_at"], row["flow_run_id"])
                if row["window_start"] not in newest or mark[0] > newest[row["window_start"]][0]:
                    newest[row["window_start"]] = mark
            rows = [
                r for r in rows if (r["created_at"], r["flow_run_id"]) == newest[r["window_start"]]
            ]
        return rows

    # -- locks ------------------------------------------------------------------------
    @contextmanager
    def lock(
        self, name: str, *, ttl_s: float = 30.0, timeout_s: float = 600.0, poll_s: float = 0.5
    ) -> Iterator[str]:
        """Hold the named lock: one holder across the processes and hosts sharing this store.

        The lock dies with its holder. On PostgreSQL it is a session-level advisory
        lock on a dedicated connection: the server releases it the moment the
        holder's session ends (killed process, closed socket; a vanished host within
        the TCP keepalive time). Elsewhere it is a row in ``locks`` with the holder's
        host, pid and a heartbeat refreshed every ``ttl_s / 3`` by a thread: a row
        whose pid is gone on this host is taken over at once, a row whose heartbeat
        is older than ``ttl_s`` (holder on another host died) after ``ttl_s``.
        Waiting longer than ``timeout_s`` raises :class:`LockTimeout` naming the
        holder (:meth:`break_lock` is the operator's override).
        """
        if self.engine.dialect.name == "postgresql":
            with self._advisory_lock(name, timeout_s=timeout_s, poll_s=poll_s) as holder:
                yield holder
        else:
            with self._row_lock(name, ttl_s=ttl_s, timeout_s=timeout_s, poll_s=poll_s) as holder:
                yield holder

    def lock_holder(self, name: str) -> dict[str, Any] | None:
        """The recorded holder of a lock (host, pid, since), or None."""
        with _db_errors(f"read the holder of lock {name!r}"), self.engine.connect() as conn:
            row = conn.execute(sa.select(locks).where(locks.c.name == name)).first()
        return dict(row._mapping) if row else None

    def break_lock(self, name: str) -> dict[str, Any] | None:
        """Take a lock away from its holder (operator override); returns the holder it had.

        On PostgreSQL the holder's session is terminated, which also rolls back
        whatever it was writing. Use only when the holder is known to be gone or stuck.
        """
        holder = self.lock_holder(name)
        with _db_errors(f"break lock {name!r}"), self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                space, key = _advisory_key(name)
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = "
                        "'advisory' AND granted AND classid = :space AND objid = :key "
                        "AND objsubid = 2 AND pid <> pg_backend_pid()"
                    ),
                    {"space": space, "key": key},
                )
            conn.execute(locks.delete().where(locks.c.name == name))
        _log.warning("lock %r broken by an operator (holder was %s)", name, _describe(holder))
        return holder

    def _timeout(self, name: str, timeout_s: float) -> LockTimeout:
        holder = self.lock_holder(name)
        return LockTimeout(
            f"lock {name!r} is held by another run ({_describe(holder)}); waited "
            f"{timeout_s:.0f} s. If that holder is gone or stuck, an operator can take the "
            f"lock with --force (e.g. modelwatch rollback <model> --force)"
        )

    @contextmanager
    def _advisory_lock(self, name: str, *, timeout_s: float, poll_s: float) -> Iterator[str]:
        holder = uuid.uuid4().hex
        space, key = _advisory_key(name)
        deadline = time.monotonic() + timeout_s
        # autocommit: the session holds the lock, not a transaction (which the
        # idle-in-transaction timeout would end)
        with _db_errors(f"connect to take lock {name!r}"):
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            lock_sql = sa.text("SELECT pg_try_advisory_lock(:space, :key)")
            with _db_errors(f"take lock {name!r}"):
                while not conn.execute(lock_sql, {"space": space, "key": key}).scalar():
                    if time.monotonic() > deadline:
                        raise self._timeout(name, timeout_s)
                    time.sleep(poll_s)
            try:
                with _db_errors(f"record the holder of lock {name!r}"):
                    self._record_holder(conn, name, holder, expires_at=float("inf"))
                yield holder
            finally:
                try:
                    conn.execute(locks.delete().where(locks.c.holder == holder))
                    conn.execute(
                        sa.text("SELECT pg_advisory_unlock(:space, :key)"),
                        {"space": space, "key": key},
                    )
                except sa.exc.SQLAlchemyError as exc:  # session gone: so is the lock
                    _log.warning("releasing lock %r: %s", name, str(exc).splitlines()[0])
        finally:
            conn.close()

    def _record_holder(
        self, conn: sa.Connection, name: str, holder: str, *, expires_at: float
    ) -> None:
        now = time.time()
        conn.execute(locks.delete().where(locks.c.name == name))
        conn.execute(
            locks.insert().values(
                name=name,
                holder=holder,
                acquired_at=_now(),
                expires_at=min(expires_at, 1e18),
                host=socket.gethostname(),
                pid=os.getpid(),
                heartbeat_at=now,
            )
        )

    @contextmanager
    def _row_lock(
        self, name: str, *, ttl_s: float, timeout_s: float, poll_s: float
    ) -> Iterator[str]:
        holder = uuid.uuid4().hex
        deadline = time.monotonic() + timeout_s
        while not self._try_row_lock(name, holder, ttl_s):
            if time.monotonic() > deadline:
                raise self._timeout(name, timeout_s)
            time.sleep(poll_s)
        stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat,
            args=(name, holder, ttl_s, stop),
            name=f"lock-heartbeat-{name}",
            daemon=True,
        )
        beat.start()
        try:
            yield holder
        finally:
            stop.set()
            beat.join(timeout=5)
            with _db_errors(f"release lock {name!r}"), self.engine.begin() as conn:
                conn.execute(locks.delete().where(locks.c.name == name, locks.c.holder == holder))

    def _heartbeat(self, name: str, holder: str, ttl_s: float, stop: threading.Event) -> None:
        while not stop.wait(ttl_s / 3):
            now = time.time()
            try:
                with self.engine.begin() as conn:
                    kept = conn.execute(
                        locks.update()
                        .where(locks.c.name == name, locks.c.holder == holder)
                        .values(heartbeat_at=now, expires_at=now + ttl_s)
                    ).rowcount
            except sa.exc.SQLAlchemyError as exc:
                _log.warning("heartbeat of lock %r failed: %s", name, str(exc).splitlines()[0])
                continue
            if not kept:
                _log.error("lock %r was taken away from this holder (broken by an operator?)", name)
                return

    def _try_row_lock(self, name: str, holder: str, ttl_s: float) -> bool:
        now = time.time()
        try:
            with self.engine.begin() as conn:
                row = conn.execute(sa.select(locks).where(locks.c.name == name)).first()
                if row is not None:
                    if row.expires_at >= now and not _holder_is_dead(row.host, row.pid):
                        return False
                    _log.warning(
                        "taking over lock %r from a dead holder (%s)",
                        name,
                        _describe(dict(row._mapping)),
                    )
                    conn.execute(
                        locks.delete().where(locks.c.name == name, locks.c.holder == row.holder)
                    )
                self._record_holder(conn, name, holder, expires_at=now + ttl_s)
        except sa.exc.IntegrityError:  # another process inserted first
            return False
        except sa.exc.SQLAlchemyError as exc:
            if is_transient_db_error(exc):  # SQLite busy/locked: try again
                return False
            raise _failure(f"cannot take lock {name!r}", exc) from exc
        return True

    def delete_model(self, model: str) -> None:
        """Remove every row of a model (used by the demo's reset, never by the monitor)."""
        with _db_errors(f"delete the rows of model {model!r}"), self.engine.begin() as conn:
            ids = (
                conn.execute(sa.select(monitor_runs.c.id).where(monitor_runs.c.model == model))
                .scalars()
                .all()
            )
            if ids:
                for table in (metric_values, drift_results, validation_results):
                    conn.execute(table.delete().where(table.c.run_id.in_(ids)))
            for table in (monitor_runs, decisions, quarantine, data_quality, alert_episodes):
                conn.execute(table.delete().where(table.c.model == model))


def _failure(message: str, exc: sa.exc.SQLAlchemyError) -> StoreError:
    """``message: <cause>`` as :class:`StoreUnavailable` when retrying may help, else StoreError."""
    text = f"{message}: {exc}"
    return StoreUnavailable(text) if is_transient_db_error(exc) else StoreError(text)


@contextmanager
def _db_errors(what: str) -> Iterator[None]:
    """Raise a database failure inside the block as a store error: ``cannot <what>: ...``."""
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        raise _failure(f"cannot {what}", exc) from exc


#: SQLSTATE codes worth retrying: serialization/deadlock, lock/statement timeout,
#: admin shutdown / crash / cannot connect now, and class 08 (connection exceptions)
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03"})
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def is_transient_db_error(exc: BaseException) -> bool:
    """Whether a database error may go away by trying again (decided by class and code).

    Disconnects (SQLAlchemy's ``connection_invalidated``), PostgreSQL SQLSTATEs of
    timeouts, deadlocks, shutdowns and class 08, PostgreSQL connection failures
    that carry no SQLSTATE (refused, reset), and SQLite BUSY/LOCKED.
    """
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    if code:
        return code in _TRANSIENT_SQLSTATES or str(code).startswith("08")
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if sqlite_code is not None:
        return (int(sqlite_code) & 0xFF) in (_SQLITE_BUSY, _SQLITE_LOCKED)
    # libpq errors raised before/without a server response (connection refused or reset)
    return isinstance(exc, sa.exc.OperationalError) and type(orig).__module__.startswith(
        ("psycopg2", "psycopg")
    )


def _advisory_key(name: str) -> tuple[int, int]:
    """Two int4 keys of a named advisory lock: modelwatch's key space and a hash of the name."""
    digest = hashlib.blake2b(name.encode(), digest_size=4).digest()
    return 0x6D77, int.from_bytes(digest, "big") & 0x7FFFFFFF


def _holder_is_dead(host: str | None, pid: int | None) -> bool:
    """A holder on this host whose process is gone (or a zombie) is dead; others are unknown."""
    if host is None or pid is None or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    try:
        stat = open(f"/proc/{pid}/stat").read()  # noqa: SIM115 - tiny file
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _describe(holder: Mapping[str, Any] | None) -> str:
    if not holder:
        return "holder unknown"
    since = holder.get("acquired_at")
    when = f" since {_utc(since):%Y-%m-%d %H:%M:%S} UTC" if since else ""
    return f"pid {holder.get('pid') or '?'} on host {holder.get('host') or '?'}{when}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
