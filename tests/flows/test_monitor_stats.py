"""The monitor flow's statistics: CBPE estimates, output and multivariate drift, spec options."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from flows.monitor import monitor_model
from modelwatch.summaries import MonitorSummary
from tests.flows.conftest import World, make_world
from tests.specs import spec_path


@pytest.fixture(scope="module")
def stats_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A world whose spec uses calibrated drift thresholds and a CUSUM detector."""
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("stats-world")
    try:
        world = make_world(tmp, mp)
        spec = yaml.safe_load(spec_path("credit").read_text())
        spec["drift"]["thresholds"] = "calibrated"
        spec["degradation"]["detector"] = "cusum"
        specs = tmp / "specs"
        specs.mkdir()
        (specs / "credit.yaml").write_text(yaml.safe_dump(spec))
        mp.setenv("MODELWATCH_SPECS_DIR", str(specs))
        yield world
    finally:
        mp.undo()


def _run(world: World, index: int) -> MonitorSummary:
    _, end = world.window(index)
    state = monitor_model(model_name="credit", window_end=end, window_hours=1.0, return_state=True)
    # a degraded window ends Failed(name="Degraded") and still carries its summary
    assert state.is_completed() or state.name == "Degraded", state.message
    summary = state.result(raise_on_failure=False)
    assert isinstance(summary, MonitorSummary)
    return summary


def _drop_labels(world: World, index: int) -> None:
    world.label_file(index).unlink()


def test_a_window_without_labels_is_judged_on_the_cbpe_estimate(stats_world: World) -> None:
    world = stats_world
    world.serve(0)
    _drop_labels(world, 0)
    summary = _run(world, 0)
    assert summary.n_labeled == 0 and summary.metrics == {}
    assert 0.7 < summary.estimated["roc_auc"] < 0.95
    assert summary.reason.startswith("no labels; estimated roc_auc")
    assert not summary.bad
    store = world.store()
    rows = store.metrics(summary.store_run_id)
    assert {r["kind"] for r in rows} == {"estimated", "drift", "serving"}  # no realized rows
    estimate = next(r for r in rows if r["name"] == "roc_auc")
    assert estimate["ci_low"] < estimate["value"] < estimate["ci_high"]
    columns = [d["column_name"] for d in store.drift(summary.store_run_id)]
    assert "prediction:score" in columns and "target:defaulted" not in columns


def test_estimates_are_stored_next_to_realized_metrics_and_bracket_them(
    stats_world: World,
) -> None:
    world = stats_world
    world.serve(1)
    summary = _run(world, 1)
    rows = world.store().metrics(summary.store_run_id)
    overall = {(r["name"], r["kind"]): r for r in rows if r["segment"] is None}
    for name in ("accuracy", "roc_auc"):
        realized, estimated = overall[(name, "realized")], overall[(name, "estimated")]
        assert estimated["ci_low"] <= realized["value"] <= estimated["ci_high"], name
    assert summary.estimated["roc_auc"] == overall[("roc_auc", "estimated")]["value"]


def test_calibrated_thresholds_and_the_cusum_detector_come_from_the_spec(
    stats_world: World,
) -> None:
    world = stats_world
    world.serve(2)
    summary = _run(world, 2)
    drift = world.store().drift(summary.store_run_id)
    features = [d for d in drift if ":" not in d["column_name"]]
    assert len(features) == 9
    # calibrated: thresholds on the KS / chi-squared statistic, not the BH p-value cut-off
    assert len({round(d["threshold"], 9) for d in features}) == 9
    assert summary.drifted_features == ()
    run = next(r for r in world.store().runs("credit") if r["id"] == summary.store_run_id)
    assert "CUSUM" in run["reason"]


def test_a_drifted_window_shows_multivariate_and_prediction_drift(stats_world: World) -> None:
    world = stats_world
    world.serve(6)
    summary = _run(world, 6)
    assert summary.multivariate["domain_classifier_auc"] > 0.7
    rows = world.store().metrics(summary.store_run_id)
    domain = next(r for r in rows if r["name"] == "domain_classifier_auc")
    assert domain["kind"] == "drift" and domain["ci_low"] > 0.55
    pca = next(r for r in rows if r["name"] == "pca_reconstruction_error")
    assert pca["value"] > pca["ci_high"]  # above the reference chunks' mean + 3 std
    assert "prediction:score" in summary.output_drift
    assert len(summary.drifted_features) >= 3
