"""What the dashboard shows, read from the monitoring store and the specs folder (read-only).

One query per table per page (runs joined to their children), never one per window:
a model page over a year of hourly windows is a handful of queries. Everything
returned is plain data (dicts, floats, ISO strings); escaping is the templates' job.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from modelwatch.errors import SpecError
from modelwatch.io.alert_episodes import episodes as alert_episodes
from modelwatch.io.alert_episodes import open_episode
from modelwatch.io.store import (
    Store,
    _db_errors,
    decisions,
    drift_results,
    metric_values,
    monitor_runs,
    validation_results,
)
from modelwatch.spec import MonitorSpec, check_model_name, find_spec

__all__ = [
    "FleetRow",
    "ModelHistory",
    "fleet",
    "latest_windows",
    "model_history",
    "model_names",
    "primary_metric",
]

_log = logging.getLogger(__name__)

#: metric watched when a model has no spec and no roc_auc rows
_FALLBACK_METRICS = ("roc_auc", "f1_macro", "mae")


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _is_model_name(name: str) -> bool:
    try:
        check_model_name(name)
    except SpecError:
        return False
    return True


def spec_names(specs_dir: Path) -> list[str]:
    """Models with a spec file ``<specs_dir>/<model>.yaml`` (names that pass the model-name rule)."""
    if not specs_dir.is_dir():
        return []
    return sorted(p.stem for p in specs_dir.glob("*.yaml") if _is_model_name(p.stem))


def stored_names(store: Store) -> list[str]:
    """Models with a monitored window or a decision in the store."""
    query = sa.union(sa.select(monitor_runs.c.model), sa.select(decisions.c.model))
    with _db_errors("list the models of the store"), store.engine.connect() as conn:
        return sorted({str(r[0]) for r in conn.execute(query)})


def model_names(store: Store, specs_dir: Path) -> list[str]:
    """Every model the dashboard knows: the specs folder ∪ the store."""
    return sorted(set(spec_names(specs_dir)) | set(stored_names(store)))


def load_spec_or_none(name: str, specs_dir: Path) -> tuple[MonitorSpec | None, str | None]:
    """The model's spec, or (None, why) — a model can live in the store without a spec."""
    try:
        return find_spec(name, specs_dir), None
    except SpecError as exc:
        return None, str(exc).splitlines()[0]


def primary_metric(spec: MonitorSpec | None, names: Iterable[str]) -> str | None:
    """The spec's watched metric (``degradation.metric``); else a default found in the rows."""
    if spec is not None:
        return str(spec.degradation.metric)
    present = set(names)
    for name in _FALLBACK_METRICS:
        if name in present:
            return name
    return min(present) if present else None


def latest_windows(store: Store, models: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Each model's newest monitored window (its ``monitor_runs`` row), in one query."""
    newest = sa.select(
        monitor_runs.c.model, sa.func.max(monitor_runs.c.window_start).label("start")
    ).group_by(monitor_runs.c.model)
    if models is not None:
        newest = newest.where(monitor_runs.c.model.in_(list(models)))
    sub = newest.subquery()
    query = sa.select(monitor_runs).join(
        sub,
        sa.and_(monitor_runs.c.model == sub.c.model, monitor_runs.c.window_start == sub.c.start),
    )
    with _db_errors("read the newest windows"), store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        for key in ("window_start", "window_end", "created_at"):
            row[key] = _utc(row[key])
    return {row["model"]: row for row in rows}


def overall_metrics(store: Store, run_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Overall (unsegmented) metric rows of the given runs, by run id."""
    if not run_ids:
        return {}
    query = (
        sa.select(metric_values)
        .where(metric_values.c.run_id.in_(list(run_ids)), metric_values.c.segment.is_(None))
        .order_by(metric_values.c.id)
    )
    out: dict[str, list[dict[str, Any]]] = {}
    with _db_errors("read metric values"), store.engine.connect() as conn:
        for r in conn.execute(query):
            out.setdefault(r.run_id, []).append(dict(r._mapping))
    return out


def drift_rows(store: Store, run_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Drift rows of the given runs, by run id."""
    if not run_ids:
        return {}
    query = (
        sa.select(drift_results)
        .where(drift_results.c.run_id.in_(list(run_ids)))
        .order_by(drift_results.c.id)
    )
    out: dict[str, list[dict[str, Any]]] = {}
    with _db_errors("read drift results"), store.engine.connect() as conn:
        for r in conn.execute(query):
            out.setdefault(r.run_id, []).append(dict(r._mapping))
    return out


def _value(rows: Iterable[Mapping[str, Any]], name: str | None, kind: str) -> dict[str, Any] | None:
    for row in rows:
        if row["name"] == name and row["kind"] == kind:
            return dict(row)
    return None


@dataclass(frozen=True)
class FleetRow:
    """One model on the fleet page (and in the Prometheus scrape)."""

    model: str
    has_spec: bool
    spec_error: str | None
    metric: str | None
    last: dict[str, Any] | None  # the newest monitor_runs row
    realized: dict[str, Any] | None  # its overall metric row of `metric` (kind realized)
    estimated: dict[str, Any] | None
    drift: list[dict[str, Any]] = field(default_factory=list)  # its drift rows
    episode_open: bool = False
    episode_since: datetime | None = None
    validation_failures: int = 0

    @property
    def drifted_share(self) -> float | None:
        if self.last is None:
            return None
        share = self.last.get("share_drifted")
        if share is not None:
            return float(share)
        features = [d for d in self.drift if ":" not in str(d["column_name"])]
        return sum(bool(d["drifted"]) for d in features) / len(features) if features else None


def _failures(store: Store, run_ids: Sequence[str]) -> dict[str, int]:
    if not run_ids:
        return {}
    query = (
        sa.select(validation_results.c.run_id, sa.func.count())
        .where(
            validation_results.c.run_id.in_(list(run_ids)),
            validation_results.c.success.is_(False),
        )
        .group_by(validation_results.c.run_id)
    )
    with _db_errors("read validation failures"), store.engine.connect() as conn:
        return {str(r[0]): int(r[1]) for r in conn.execute(query)}


def fleet(store: Store, specs_dir: Path) -> list[FleetRow]:
    """Every model with its newest window's numbers and open alert episode."""
    names = model_names(store, specs_dir)
    latest = latest_windows(store, names)
    run_ids = [row["id"] for row in latest.values()]
    metrics = overall_metrics(store, run_ids)
    drift = drift_rows(store, run_ids)
    failures = _failures(store, run_ids)
    with_spec = set(spec_names(specs_dir))
    rows = []
    for name in names:
        spec, error = load_spec_or_none(name, specs_dir) if name in with_spec else (None, None)
        last = latest.get(name)
        run_metrics = metrics.get(last["id"], []) if last else []
        metric = primary_metric(spec, (m["name"] for m in run_metrics))
        episode = open_episode(store, name)
        rows.append(
            FleetRow(
                model=name,
                has_spec=name in with_spec,
                spec_error=error,
                metric=metric,
                last=last,
                realized=_value(run_metrics, metric, "realized"),
                estimated=_value(run_metrics, metric, "estimated"),
                drift=drift.get(last["id"], []) if last else [],
                episode_open=episode is not None,
                episode_since=episode.first_window_start if episode else None,
                validation_failures=failures.get(last["id"], 0) if last else 0,
            )
        )
    return rows


@dataclass(frozen=True)
class ModelHistory:
    """A model's last windows, oldest first, with their metrics, drift and validation."""

    model: str
    spec: MonitorSpec | None
    spec_error: str | None
    metric: str | None
    runs: list[dict[str, Any]]  # oldest first
    metrics: dict[str, list[dict[str, Any]]]  # run id -> overall rows of `metric`
    drift: dict[str, list[dict[str, Any]]]  # run id -> drift rows
    validation_counts: dict[str, dict[str, int]]  # run id -> total / critical / warning
    validation_failed: dict[str, list[dict[str, Any]]]  # run id -> failed validation rows
    decisions: list[dict[str, Any]]
    episodes: list[Any]
    total_windows: int


def _recent_runs(model: str, windows: int) -> sa.Subquery:
    """Ids of the model's newest ``windows`` runs (a subquery to join children on)."""
    return (
        sa.select(monitor_runs.c.id)
        .where(monitor_runs.c.model == model)
        .order_by(monitor_runs.c.window_start.desc())
        .limit(windows)
        .subquery()
    )


def _by_run(store: Store, query: sa.Select[Any], what: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    with _db_errors(f"read {what}"), store.engine.connect() as conn:
        for r in conn.execute(query):
            out.setdefault(r.run_id, []).append(dict(r._mapping))
    return out


def _recent_children(
    store: Store, table: sa.Table, model: str, windows: int, *, where: Any = None
) -> dict[str, list[dict[str, Any]]]:
    recent = _recent_runs(model, windows)
    query = sa.select(table).join(recent, table.c.run_id == recent.c.id).order_by(table.c.id)
    if where is not None:
        query = query.where(where)
    return _by_run(store, query, f"the {table.name} of model {model!r}")


def _metric_names(store: Store, model: str, windows: int) -> list[str]:
    """Names of the overall metrics stored for the model's recent windows."""
    recent = _recent_runs(model, windows)
    query = (
        sa.select(metric_values.c.name)
        .join(recent, metric_values.c.run_id == recent.c.id)
        .where(metric_values.c.segment.is_(None), metric_values.c.kind != "drift")
        .distinct()
    )
    with _db_errors(f"read the metric names of model {model!r}"), store.engine.connect() as conn:
        return [str(r[0]) for r in conn.execute(query)]


def _validation_counts(store: Store, model: str, windows: int) -> dict[str, dict[str, int]]:
    """Per run: expectations evaluated, failed critical, failed other (one grouped query)."""
    recent = _recent_runs(model, windows)
    t = validation_results
    failed = t.c.success.is_(False)
    query = (
        sa.select(
            t.c.run_id,
            sa.func.count().label("total"),
            sa.func.sum(sa.case((sa.and_(failed, t.c.severity == "critical"), 1), else_=0)).label(
                "critical"
            ),
            sa.func.sum(sa.case((sa.and_(failed, t.c.severity != "critical"), 1), else_=0)).label(
                "other"
            ),
        )
        .join(recent, t.c.run_id == recent.c.id)
        .group_by(t.c.run_id)
    )
    with (
        _db_errors(f"count the validation results of model {model!r}"),
        store.engine.connect() as conn,
    ):
        return {
            str(r.run_id): {
                "total": int(r.total),
                "critical": int(r.critical or 0),
                "warning": int(r.other or 0),
            }
            for r in conn.execute(query)
        }


def _count_windows(store: Store, model: str) -> int:
    query = sa.select(sa.func.count()).where(monitor_runs.c.model == model)
    with _db_errors(f"count the windows of model {model!r}"), store.engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def model_history(
    store: Store, model: str, specs_dir: Path, *, windows: int = 500
) -> ModelHistory | None:
    """The model's last ``windows`` windows; None when neither a spec nor a stored row names it."""
    check_model_name(model)
    has_spec = model in spec_names(specs_dir)
    runs = list(reversed(store.runs(model, limit=windows)))
    made = store.decisions(model)
    if not runs and not made and not has_spec:
        return None
    spec, error = load_spec_or_none(model, specs_dir) if has_spec else (None, None)
    metric = primary_metric(spec, () if spec else _metric_names(store, model, windows))
    metrics = _recent_children(
        store,
        metric_values,
        model,
        windows,
        where=sa.and_(
            metric_values.c.segment.is_(None),
            sa.or_(metric_values.c.name == metric, metric_values.c.kind == "serving"),
        ),
    )
    return ModelHistory(
        model=model,
        spec=spec,
        spec_error=error,
        metric=metric,
        runs=runs,
        metrics=metrics,
        drift=_recent_children(store, drift_results, model, windows),
        validation_counts=_validation_counts(store, model, windows),
        validation_failed=_recent_children(
            store, validation_results, model, windows, where=validation_results.c.success.is_(False)
        ),
        decisions=made,
        episodes=alert_episodes(store, model),
        total_windows=_count_windows(store, model),
    )
