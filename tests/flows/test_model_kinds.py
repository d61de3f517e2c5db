"""A regression model (``house``) and a multiclass model (``churn3``) end to end.

Each test bootstraps its own generated world of that kind, then monitors a
healthy window, two drifted windows (degraded at the second, k = 2 of n = 3),
which retrains, A/B-compares and promotes, and one more drifted window served
by the new champion. Realized metrics are checked against scikit-learn on the
window's labeled rows, both in the run's summary and in the store.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from flows.monitor import monitor_model
from modelwatch.io import sources
from modelwatch.spec import find_spec
from modelwatch.summaries import MonitorSummary
from tests.flows.conftest import World, make_world

DRIFT_START = 2


def _monitor(world: World, index: int) -> Any:
    _, end = world.window(index)
    return monitor_model(
        model_name=world.model, window_end=end, window_hours=1.0, return_state=True
    )


def _labeled(world: World, index: int) -> pd.DataFrame:
    spec = find_spec(world.model, world.settings.resolved_specs_dir)
    start, end = world.window(index)
    return sources.load_window(spec, start, end, world.settings.home_dir).labeled


def _stored(world: World, index: int) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(name, kind): row}`` of the window's overall metric rows in the store."""
    start, _ = world.window(index)
    store = world.store()
    try:
        naive = start.replace(tzinfo=None)
        run = next(
            r for r in store.runs(world.model) if r["window_start"].replace(tzinfo=None) == naive
        )
        rows = store.metrics(run["id"])
        drift = store.drift(run["id"])
    finally:
        store.dispose()
    out = {(r["name"], r["kind"]): r for r in rows if r["segment"] is None}
    out.update({(r["column_name"], "drift-method"): r for r in drift})
    return out


def _drift_to_promotion(world: World, metric: str) -> tuple[MonitorSummary, MonitorSummary]:
    """Windows 0 (healthy), 2, 3 (drifted: degraded, retrained, promoted); summaries of 0 and 3."""
    for index in (0, DRIFT_START, DRIFT_START + 1):
        world.serve(index, drift_start=DRIFT_START)
    healthy = _monitor(world, 0)
    assert healthy.name == "Completed", healthy.message
    first_bad = _monitor(world, DRIFT_START).result(raise_on_failure=False)
    assert first_bad.bad and not first_bad.degraded, first_bad.reason
    degraded = _monitor(world, DRIFT_START + 1)
    summary = degraded.result(raise_on_failure=False)
    assert degraded.name == "Degraded", degraded.message
    assert summary.degraded and summary.decision == "retrained+promoted", summary.reason
    assert metric in summary.metrics
    return healthy.result(), summary


def _promotion_recorded(world: World) -> dict[str, Any]:
    registry = world.registry()
    assert registry.get_version(world.model, "champion").version == "2"
    assert registry.get_version(world.model, "previous").version == "1"
    store = world.store()
    try:
        retrain = store.decisions(world.model, kind="retrain")
        ab = store.decisions(world.model, kind="ab")
        promotion = store.decisions(world.model, kind="promotion")
        runs = store.runs(world.model)
    finally:
        store.dispose()
    assert [d["outcome"] for d in retrain] == ["challenger-registered"]
    assert [d["outcome"] for d in ab] == ["challenger-wins"]
    assert [d["outcome"] for d in promotion] == ["promoted"]
    assert [r["bad"] for r in runs] == [True, True, False]  # newest window first
    return ab[0]["details"]


def test_a_regression_model_is_monitored_retrained_and_promoted(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(tmp_path, monkeypatch, model="house")
    healthy, degraded = _drift_to_promotion(world, "mae")

    # realized metrics of the healthy window: sklearn's, in the summary and in the store
    labeled = _labeled(world, 0)
    y, pred = labeled["price"].to_numpy(), labeled["predicted_price"].to_numpy()
    expected = {
        "mae": skm.mean_absolute_error(y, pred),
        "rmse": skm.root_mean_squared_error(y, pred),
        "r2": skm.r2_score(y, pred),
        "mape": skm.mean_absolute_percentage_error(y, pred),
    }
    stored = _stored(world, 0)
    for name, value in expected.items():
        assert healthy.metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-12)
        row = stored[(name, "realized")]
        assert row["value"] == pytest.approx(value, rel=1e-9, abs=1e-12)
        assert row["ci_low"] <= value <= row["ci_high"]
    assert not any(kind == "estimated" for _, kind in stored)  # no CBPE for regression
    # drift of the output and of the target is numeric (KS up to 5000 rows)
    assert stored[("prediction:predicted_price", "drift-method")]["method"] == "ks"
    assert stored[("target:price", "drift-method")]["method"] == "ks"

    # lower is better: the degraded window's MAE is above baseline + max_increase
    assert degraded.metrics["mae"] > healthy.metrics["mae"] + 8.0
    assert "above the threshold" in degraded.reason

    evidence = _promotion_recorded(world)
    assert evidence["metric"] == "mae"
    assert evidence["test"] == "wilcoxon"
    assert evidence["ci_low"] > 0  # MAE improvement of the challenger

    # the new champion serves the drifted world well again
    world.serve(DRIFT_START + 2, drift_start=DRIFT_START)
    after = _monitor(world, DRIFT_START + 2)
    summary = after.result()
    assert after.name == "Completed" and not summary.bad, summary.reason
    assert summary.champion_version == "2"
    assert summary.metrics["mae"] < healthy.metrics["mae"] + 8.0


def test_a_multiclass_model_is_monitored_estimated_retrained_and_promoted(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(tmp_path, monkeypatch, model="churn3")
    healthy, degraded = _drift_to_promotion(world, "f1_macro")

    labeled = _labeled(world, 0)
    y = labeled["next_step"].astype(str).to_numpy()
    pred = labeled["predicted_step"].astype(str).to_numpy()
    classes = ["stay", "downgrade", "churn"]
    proba = labeled[["p_stay", "p_downgrade", "p_churn"]].to_numpy()
    recalls = skm.recall_score(y, pred, labels=classes, average=None)
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "f1_macro": skm.f1_score(y, pred, average="macro"),
        "f1_weighted": skm.f1_score(y, pred, average="weighted"),
        # sklearn reads the probability columns in sorted label order
        "log_loss": skm.log_loss(y, proba[:, np.argsort(classes)], labels=sorted(classes)),
        **{f"recall[{c}]": r for c, r in zip(classes, recalls, strict=True)},
    }
    stored = _stored(world, 0)
    for name, value in expected.items():
        assert healthy.metrics[name] == pytest.approx(value, rel=1e-9), name
        assert stored[(name, "realized")]["value"] == pytest.approx(value, rel=1e-9), name
    # CBPE from the per-class score columns, without labels: close to the realized value
    estimate = stored[("f1_macro", "estimated")]
    assert abs(estimate["value"] - expected["f1_macro"]) < 0.05
    assert estimate["ci_low"] < estimate["value"] < estimate["ci_high"]
    # the predicted class and the target drift as categories (chi-squared)
    assert stored[("prediction:predicted_step", "drift-method")]["method"] == "chi2"
    assert stored[("target:next_step", "drift-method")]["method"] == "chi2"

    assert degraded.metrics["f1_macro"] < healthy.metrics["f1_macro"] - 0.05
    evidence = _promotion_recorded(world)
    assert evidence["metric"] == "f1_macro"
    assert evidence["ci_low"] > 0

    world.serve(DRIFT_START + 2, drift_start=DRIFT_START)
    summary = _monitor(world, DRIFT_START + 2).result()
    assert not summary.bad, summary.reason
    assert summary.champion_version == "2"
    assert summary.metrics["f1_macro"] > degraded.metrics["f1_macro"] + 0.1
    assert np.isfinite(summary.estimated["f1_macro"])
