"""Prometheus metrics of the fleet, read from the monitoring store at scrape time.

:class:`StoreCollector` is a custom ``prometheus_client`` collector: every scrape
(``/metrics`` on the dashboard, or :func:`push_metrics` to a Pushgateway) reads
the newest window of every model, so values are current and nothing is kept in
process globals (each app / push has its own :class:`~prometheus_client.CollectorRegistry`).
Label values are escaped by the client library.

Gauges (the newest monitored window of each model, unless said otherwise):

* ``modelwatch_metric_value{model,metric,kind}`` — overall realized / estimated metrics and
  serving health (kind ``serving``: latency_p95_ms, rows_per_hour, error_share, ...)
* ``modelwatch_metric_threshold{model,metric}`` — the watched metric's threshold (when stored)
* ``modelwatch_drift_statistic{model,feature,method}``, ``modelwatch_drift_threshold{...}``,
  ``modelwatch_feature_drifted{...}`` (0/1) — per drift column (features, ``prediction:<col>``,
  ``target:<col>``)
* ``modelwatch_drifted_share{model}`` — share of drifted features
* ``modelwatch_window_rows{model}``, ``modelwatch_window_labeled_rows{model}``
* ``modelwatch_validation_failures{model}`` — failed expectations (stored rows)
* ``modelwatch_degraded{model}`` — 1 when the window's status is ``degraded``
* ``modelwatch_champion_version{model}`` — the version that served the window
* ``modelwatch_last_window_timestamp_seconds{model}`` — end of the newest monitored window
* ``modelwatch_alert_episode_open{model}`` — 1 while an alert episode is open (every model)
* ``modelwatch_store_up`` — 0 when the store could not be read (then nothing else)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, push_to_gateway
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from modelwatch.dashboard.data import FleetRow, fleet, overall_metrics
from modelwatch.errors import ModelwatchError
from modelwatch.io.store import Store

__all__ = ["StoreCollector", "metrics_registry", "push_metrics"]

_log = logging.getLogger(__name__)

_M = "model"


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


class StoreCollector(Collector):
    """Reads the fleet from the store on every ``collect`` (one scrape)."""

    def __init__(self, store: Callable[[], Store] | Store, specs_dir: Path) -> None:
        self._store = store
        self._specs_dir = specs_dir

    def describe(self) -> list[Metric]:
        return []  # no store read at registration

    def _read(self) -> tuple[list[FleetRow], dict[str, list[dict[str, object]]]]:
        if isinstance(self._store, Store):
            return self._read_from(self._store)
        with self._store() as store:
            return self._read_from(store)

    def _read_from(self, store: Store) -> tuple[list[FleetRow], dict[str, list[dict[str, object]]]]:
        rows = fleet(store, self._specs_dir)
        ids = [r.last["id"] for r in rows if r.last is not None]
        return rows, overall_metrics(store, ids)

    def collect(self) -> Iterator[Metric]:
        up = _gauge("modelwatch_store_up", "1 when the monitoring store could be read.", [])
        try:
            rows, metrics = self._read()
        except ModelwatchError as exc:
            _log.warning("metrics scrape: cannot read the store: %s", str(exc).splitlines()[0])
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield from _families(rows, metrics)


def _families(
    rows: list[FleetRow], metrics: dict[str, list[dict[str, object]]]
) -> Iterator[Metric]:
    value = _gauge(
        "modelwatch_metric_value",
        "Overall metric of the newest window (kind: realized, estimated or serving).",
        [_M, "metric", "kind"],
    )
    threshold = _gauge(
        "modelwatch_metric_threshold",
        "Threshold of the watched metric the newest window was judged against.",
        [_M, "metric"],
    )
    drift_labels = [_M, "feature", "method"]
    statistic = _gauge(
        "modelwatch_drift_statistic", "Drift statistic of a column, newest window.", drift_labels
    )
    drift_threshold = _gauge(
        "modelwatch_drift_threshold", "Drift threshold of a column, newest window.", drift_labels
    )
    drifted = _gauge(
        "modelwatch_feature_drifted", "1 when the column drifted, newest window.", drift_labels
    )
    share = _gauge("modelwatch_drifted_share", "Share of drifted features, newest window.", [_M])
    n_rows = _gauge("modelwatch_window_rows", "Rows of the newest window.", [_M])
    labeled = _gauge("modelwatch_window_labeled_rows", "Labeled rows of the newest window.", [_M])
    failures = _gauge(
        "modelwatch_validation_failures", "Failed expectations of the newest window.", [_M]
    )
    degraded = _gauge("modelwatch_degraded", "1 when the newest window is degraded.", [_M])
    champion = _gauge(
        "modelwatch_champion_version", "Champion version that served the newest window.", [_M]
    )
    last = _gauge(
        "modelwatch_last_window_timestamp_seconds",
        "End of the newest monitored window (Unix seconds).",
        [_M],
    )
    episode = _gauge(
        "modelwatch_alert_episode_open", "1 while the model has an open alert episode.", [_M]
    )
    for row in rows:
        episode.add_metric([row.model], float(row.episode_open))
        run = row.last
        if run is None:
            continue
        for m in metrics.get(str(run["id"]), []):
            if m["kind"] in ("realized", "estimated", "serving") and m["value"] is not None:
                value.add_metric([row.model, str(m["name"]), str(m["kind"])], float(m["value"]))  # type: ignore[arg-type]
        if row.metric and run.get("threshold") is not None:
            threshold.add_metric([row.model, row.metric], float(run["threshold"]))
        for d in row.drift:
            labels = [row.model, str(d["column_name"]), str(d["method"])]
            if d["statistic"] is not None:
                statistic.add_metric(labels, float(d["statistic"]))
            if d["threshold"] is not None:
                drift_threshold.add_metric(labels, float(d["threshold"]))
            drifted.add_metric(labels, float(bool(d["drifted"])))
        if row.drifted_share is not None:
            share.add_metric([row.model], row.drifted_share)
        n_rows.add_metric([row.model], float(run["n_rows"]))
        labeled.add_metric([row.model], float(run["n_labeled"]))
        failures.add_metric([row.model], float(row.validation_failures))
        degraded.add_metric([row.model], float(run["status"] == "degraded"))
        version = str(run.get("champion_version") or "")
        if version.isdigit():
            champion.add_metric([row.model], float(version))
        last.add_metric([row.model], run["window_end"].timestamp())
    yield from (
        value,
        threshold,
        statistic,
        drift_threshold,
        drifted,
        share,
        n_rows,
        labeled,
        failures,
        degraded,
        champion,
        last,
        episode,
    )


def metrics_registry(store: Callable[[], Store] | Store, specs_dir: Path) -> CollectorRegistry:
    """A registry of its own holding one :class:`StoreCollector` (never the global one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, specs_dir))
    return registry


def push_metrics(
    gateway_url: str,
    *,
    store_url: str | None = None,
    specs_dir: Path | None = None,
    job: str = "modelwatch",
    timeout_s: float = 10.0,
) -> None:
    """Push the current fleet metrics to a Prometheus Pushgateway (replaces the job's group)."""
    from modelwatch.settings import get_settings

    settings = get_settings()
    url = store_url or settings.resolved_store_url
    registry = metrics_registry(lambda: Store.open(url), specs_dir or settings.resolved_specs_dir)
    push_to_gateway(gateway_url, job=job, registry=registry, timeout=timeout_s)
