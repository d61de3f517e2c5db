"""A window above execution.stream_above_rows is monitored slice by slice, with the same results.

The same served window is monitored twice: once streamed (validated in slices, drift
and realized metrics from mergeable aggregates) and once as one frame. The stored
drift statistics, p-values and decisions and the realized metric values must agree;
intervals differ by design (a Poisson bootstrap per batch instead of the frame's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flows.monitor import monitor_model
from tests.flows.conftest import World, make_world
from tests.flows.test_retrain import spec_variant


def _stored(world: World, window_start: Any) -> tuple[dict[str, Any], dict[str, Any], Any]:
    store: Any
    with world.store() as store:  # type: ignore[no-untyped-call]
        (run,) = [r for r in store.runs("credit") if r["window_start"] == window_start]
        drift = {d["column_name"]: d for d in store.drift(run["id"])}
        metrics = {(m["name"], m["kind"], m["segment"]): m for m in store.metrics(run["id"])}
    return drift, metrics, run


def test_a_streamed_window_stores_what_the_in_memory_path_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(tmp_path, monkeypatch)
    world.serve(3)
    start, end = world.window(3)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    spec_variant(world, tmp_path / "a", monkeypatch, execution={"stream_above_rows": 500,
                                                                   "batch_rows": 1000})  # fmt: skip
    state: Any = monitor_model(model_name="credit", window_end=end, return_state=True)
    assert state.is_completed(), state.message
    streamed_drift, streamed_metrics, streamed_run = _stored(world, start)

    spec_variant(world, tmp_path / "b", monkeypatch)  # the default: one frame
    state = monitor_model(model_name="credit", window_end=end, return_state=True)
    assert state.is_completed(), state.message
    drift, metrics, run = _stored(world, start)

    assert streamed_run["n_rows"] == run["n_rows"] > 1000
    assert streamed_run["n_labeled"] == run["n_labeled"]
    assert streamed_run["status"] == run["status"]
    assert set(streamed_drift) == set(drift)
    for column, row in drift.items():
        other = streamed_drift[column]
        assert other["method"] == row["method"], column
        assert other["statistic"] == pytest.approx(row["statistic"], rel=1e-9, abs=1e-12)
        assert other["p_value"] == pytest.approx(row["p_value"], rel=1e-9, abs=1e-12)
        assert other["drifted"] == row["drifted"], column
    realized = {k: m for k, m in metrics.items() if k[1] == "realized"}
    assert realized
    for key, row in realized.items():
        assert streamed_metrics[key]["value"] == pytest.approx(row["value"], rel=1e-9), key
    # throughput counts every row of the streamed window, not its sample
    rows_per_hour = ("rows_per_hour", "serving", None)
    assert streamed_metrics[rows_per_hour]["value"] == metrics[rows_per_hour]["value"]
