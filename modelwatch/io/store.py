"""The monitoring store: SQLAlchemy Core, SQLite by default, PostgreSQL by URL.

Tables (one row per ...):

* ``monitor_runs``       monitored window of a model; unique ``(model, window_start)``
* ``metric_values``      metric of a run (realized / estimated, overall or per segment)
* ``drift_results``      column's drift result of a run
* ``validation_results`` expectation result of a run
* ``decisions``          degradation, A/B, promotion, rollback decisions (with evidence JSON)
* ``quarantine``         window files held back by a critical validation failure

Re-running a window replaces its run (and, by cascade, its metrics, drift and
validation rows) inside one transaction: a failed write leaves the earlier
results as they were.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from modelwatch.errors import StoreError

SCHEMA_VERSION = 1

metadata = sa.MetaData()

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
    sa.Column("kind", sa.String(32), nullable=False),  # degradation | ab | promotion | rollback
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
)


class LockTimeout(StoreError):
    """A named lock stayed held by someone else for longer than the timeout."""


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
    """Monitoring store at a SQLAlchemy URL. Create it where it is used; pass the URL around."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
            self.engine = sa.create_engine(url, future=True, connect_args=connect_args)
            if url.startswith("sqlite"):
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        except Exception as exc:
            raise StoreError(f"cannot open the monitoring store at {url!r}: {exc}") from exc

    def create_schema(self) -> None:
        """Create the tables (idempotent) and record the schema version."""
        try:
            metadata.create_all(self.engine)
            with self.engine.begin() as conn:
                current = conn.execute(sa.select(sa.func.max(schema_info.c.version))).scalar()
                if current is None:
                    conn.execute(
                        schema_info.insert().values(version=SCHEMA_VERSION, applied_at=_now())
                    )
                elif current > SCHEMA_VERSION:
                    raise StoreError(
                        f"the store at {self.url!r} has schema version {current}, newer than this "
                        f"modelwatch ({SCHEMA_VERSION}); upgrade modelwatch"
                    )
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot create the store schema at {self.url!r}: {exc}") from exc

    def dispose(self) -> None:
        self.engine.dispose()

    # -- monitor runs -----------------------------------------------------------------
    def save_run(self, record: RunRecord) -> str:
        """Insert a run, replacing an earlier run of the same window; one transaction."""
        run_id = str(uuid.uuid4())
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
            raise StoreError(
                f"cannot save the run of model {record.model!r} window {start.isoformat()}: {exc}"
            ) from exc
        return run_id

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
        with self.engine.connect() as conn:
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
        with self.engine.connect() as conn:
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
        with self.engine.connect() as conn:
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
            raise StoreError(f"cannot save the {kind} decision of model {model!r}: {exc}") from exc
        return decision_id

    def decisions(self, model: str, *, kind: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(decisions).where(decisions.c.model == model)
        if kind is not None:
            query = query.where(decisions.c.kind == kind)
        with self.engine.connect() as conn:
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
            raise StoreError(f"cannot record quarantine of model {model!r}: {exc}") from exc
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
        with self.engine.connect() as conn:
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
            raise StoreError(f"cannot release quarantine of model {model!r}: {exc}") from exc
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
            raise StoreError(
                f"cannot save the data quality of model {model!r} window "
                f"{_utc(window_start).isoformat()}: {exc}"
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
        with self.engine.connect() as conn:
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
        self, name: str, *, ttl_s: float = 600.0, timeout_s: float = 600.0, poll_s: float = 0.5
    ) -> Iterator[str]:
        """Hold the named lock (one holder across processes sharing this store).

        A lock whose holder died expires after ``ttl_s``; waiting longer than
        ``timeout_s`` raises :class:`LockTimeout` naming the holder.
        """
        holder = uuid.uuid4().hex
        deadline = time.monotonic() + timeout_s
        while not self._try_lock(name, holder, ttl_s):
            if time.monotonic() > deadline:
                with self.engine.connect() as conn:
                    row = conn.execute(sa.select(locks).where(locks.c.name == name)).first()
                since = f" since {row.acquired_at:%Y-%m-%d %H:%M:%S}" if row else ""
                raise LockTimeout(
                    f"lock {name!r} is held by another run{since}; waited {timeout_s:.0f} s"
                )
            time.sleep(poll_s)
        try:
            yield holder
        finally:
            with self.engine.begin() as conn:
                conn.execute(locks.delete().where(locks.c.name == name, locks.c.holder == holder))

    def _try_lock(self, name: str, holder: str, ttl_s: float) -> bool:
        now = time.time()
        try:
            with self.engine.begin() as conn:
                conn.execute(locks.delete().where(locks.c.name == name, locks.c.expires_at < now))
                conn.execute(
                    locks.insert().values(
                        name=name, holder=holder, acquired_at=_now(), expires_at=now + ttl_s
                    )
                )
        except sa.exc.IntegrityError:
            return False
        except sa.exc.OperationalError as exc:  # SQLite "database is locked": try again
            if "locked" in str(exc):
                return False
            raise
        return True

    def delete_model(self, model: str) -> None:
        """Remove every row of a model (used by the demo's reset, never by the monitor)."""
        with self.engine.begin() as conn:
            ids = (
                conn.execute(sa.select(monitor_runs.c.id).where(monitor_runs.c.model == model))
                .scalars()
                .all()
            )
            if ids:
                for table in (metric_values, drift_results, validation_results):
                    conn.execute(table.delete().where(table.c.run_id.in_(ids)))
            for table in (monitor_runs, decisions, quarantine, data_quality):
                conn.execute(table.delete().where(table.c.model == model))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
