"""Retraining, guarded A/B comparison and serialized promotion, end to end under Prefect.

The windows a retraining may use are recorded in the store directly (as a
monitor run that passed validation would record them): that keeps these tests
about the retrain / compare flows and fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.base import BaseEstimator, ClassifierMixin

from flows.compare import compare_online
from flows.retrain import retrain_model
from modelwatch.io.store import RunRecord
from modelwatch.spec import MonitorSpec
from modelwatch.train import build_pipeline, feature_frame
from tests.flows.conftest import World
from tests.specs import spec_path

# --------------------------------------------------------------------------- helpers


def record_validated(world: World, index: int, *, serve: bool = True) -> int:
    """Serve window ``index`` and record it as a monitored window that passed validation."""
    served = world.serve(index) if serve else None
    start, end = world.window(index)
    labeled = served.labeled if served else 1
    store = world.store()
    try:
        store.save_run(
            RunRecord(
                model="credit",
                window_start=start,
                window_end=end,
                status="ok",
                validation_passed=True,
                n_rows=served.rows if served else 1,
                n_labeled=labeled,
                bad=False,
                champion_version="1",
            )
        )
    finally:
        store.dispose()
    return labeled


def spec_variant(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **sections: dict[str, Any]
) -> Path:
    """A copy of the credit spec with some fields changed, used through MODELWATCH_SPECS_DIR."""
    data = yaml.safe_load(spec_path("credit").read_text())
    for section, values in sections.items():
        data[section] = {**data.get(section, {}), **values}
    folder = tmp_path / "specs"
    folder.mkdir(exist_ok=True)
    (folder / "credit.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("MODELWATCH_SPECS_DIR", str(folder))
    return folder


def retrain(world: World, last_index: int, **kwargs: Any) -> Any:
    _, end = world.window(last_index)
    return retrain_model(model_name="credit", window_end=end, return_state=True, **kwargs)


def aliases(world: World) -> dict[str, str]:
    return world.registry().aliases("credit")


# A configured trainer whose model ranks well but is badly calibrated (overconfident).


class Overconfident(ClassifierMixin, BaseEstimator):
    """Wraps a fitted classifier and pushes its probabilities towards 0 and 1."""

    def __init__(self, base: Any = None, power: float = 25.0) -> None:
        self.base = base
        self.power = power

    def fit(self, X: pd.DataFrame, y: Any) -> Overconfident:
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.base.predict(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = np.clip(self.base.predict_proba(X)[:, 1], 1e-9, 1 - 1e-9)
        logit = np.log(p / (1 - p)) * self.power
        q = 1.0 / (1.0 + np.exp(-logit))
        return np.column_stack([1 - q, q])


def overconfident_trainer(frame: pd.DataFrame, spec: MonitorSpec, *, seed: int) -> Any:
    base = build_pipeline(spec, seed=seed)
    base.fit(feature_frame(frame, spec), frame[spec.columns.target])
    return Overconfident(base).fit(feature_frame(frame, spec), frame[spec.columns.target])


# --------------------------------------------------------------------------- tests


def test_a_clearly_better_challenger_is_promoted_with_guardrail_evidence(
    fresh_world: World,
) -> None:
    world = fresh_world
    for index in (6, 7):  # drifted windows: the champion has degraded
        record_validated(world, index)

    state = retrain(world, 7, reason="test: drift")

    assert state.is_completed(), state.message
    assert state.name == "Promoted", state.message
    assert aliases(world) == {"champion": "2", "previous": "1"}
    store = world.store()
    ab = store.decisions("credit", kind="ab")[-1]
    details = ab["details"]
    print(
        "promoted:",
        {k: details[k] for k in ("champion_value", "challenger_value", "ci_low", "ci_high")},
        [
            (g["name"], g["champion_value"], g["challenger_value"], g["limit"])
            for g in details["guardrails"]
        ],
    )
    assert ab["outcome"] == "challenger-wins" and details["ci_low"] > 0
    names = [g["name"] for g in details["guardrails"]]
    assert names == ["ece", "equal_opportunity_difference[region]", "latency"]
    assert all(g["passed"] for g in details["guardrails"])
    assert details["primary_passed"] is True and details["should_promote"] is True
    assert details["test"] == "delong" and details["p_value"] < 0.05
    assert "Guardrails passed: ece" in details["reason"]
    assert [d["outcome"] for d in store.decisions("credit", kind="promotion")] == ["promoted"]
    tags = world.registry().version_tags("credit", "2")
    assert tags["modelwatch.ab.v1_vs_v2"].startswith("challenger-wins: Promote the challenger")
    run = world.registry().client.get_run(tags["modelwatch.ab.last_run_id"])
    assert run.data.metrics["guardrail.ece.passed"] == 1.0
    assert run.data.metrics["guardrail.latency.challenger"] > 0
    card = world.registry().model_card("credit", "2")
    assert card is not None and "region=north" in card and "val_roc_auc" in card

    from prefect.client.orchestration import get_client

    with world.store().engine.connect() as conn:  # the promotion lock was released
        assert conn.exec_driver_sql("select count(*) from locks").scalar() == 0
    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts()
        markdown = next(a for a in artifact if a.key == "credit-ab").data
    assert "## Guardrails" in markdown and "| ece |" in markdown


def test_quarantined_windows_are_never_used_for_training_or_comparison(
    fresh_world: World,
) -> None:
    world = fresh_world
    used = record_validated(world, 6) + record_validated(world, 7)
    # Window 8 passed validation once, then failed on a re-run: it is quarantined.
    record_validated(world, 8)
    start8, end8 = world.window(8)
    store = world.store()
    store.quarantine_files(
        "credit",
        window_start=start8,
        window_end=end8,
        files=[("predictions/8.parquet", "0" * 64)],
        reason="test: critical expectation failed",
    )
    # Window 9 failed validation at once: no monitor run row at all.
    world.serve(9)

    state = retrain(world, 9, promote=False)

    assert state.is_completed(), state.message
    registered = store.decisions("credit", kind="retrain")[-1]["details"]
    starts = [pd.Timestamp(s) for s, _ in registered["windows"]]
    assert starts == [pd.Timestamp(world.window(6)[0]), pd.Timestamp(world.window(7)[0])]
    assert registered["n_recent"] + registered["n_holdout"] == used
    assert pd.Timestamp(registered["holdout"][1]) == pd.Timestamp(world.window(7)[1])
    ab = store.decisions("credit", kind="ab")[-1]["details"]
    assert ab["n"] == registered["n_holdout"]
    assert aliases(world)["champion"] == "1"  # promote=False


def test_an_equal_challenger_is_rejected_under_superiority(fresh_world: World) -> None:
    world = fresh_world
    for index in (0, 1):  # pre-drift: retraining cannot beat the champion
        record_validated(world, index)

    state = retrain(world, 1, reason="forced")

    assert state.is_completed(), state.message
    assert state.name == "Rejected", state.message
    ab = world.store().decisions("credit", kind="ab")[-1]
    details = ab["details"]
    print("equal:", {k: details[k] for k in ("champion_value", "challenger_value", "ci_low")})
    assert ab["outcome"] == "champion-stays"
    assert details["primary_passed"] is False and details["ci_low"] <= 0.0
    assert "Keep the champion" in (state.message or "")
    assert aliases(world) == {"champion": "1", "challenger": "2"}


def test_a_guardrail_violation_rejects_a_better_challenger(
    fresh_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = fresh_world
    for index in (6, 7):
        record_validated(world, index)
    spec_variant(
        world,
        tmp_path,
        monkeypatch,
        retraining={"trainer": "tests.flows.test_retrain:overconfident_trainer"},
        model={"trust_pickle": True},  # a test-module class: skops can't trust it, cloudpickle
    )

    state = retrain(world, 7)

    assert state.is_completed(), state.message
    assert state.name == "Rejected", state.message
    details = world.store().decisions("credit", kind="ab")[-1]["details"]
    ece = next(g for g in details["guardrails"] if g["name"] == "ece")
    print("guardrail:", ece, details["ci_low"])
    assert details["primary_passed"] is True  # it ranks better ...
    assert not ece["passed"] and ece["challenger_value"] > ece["limit"]  # ... but is miscalibrated
    assert "guardrail(s) failed: ece" in details["reason"]
    assert f"{ece['challenger_value']:.4f}" in (state.message or "")
    assert aliases(world)["champion"] == "1"
    registered = world.store().decisions("credit", kind="retrain")[-1]["details"]
    assert registered["trainer"] == "tests.flows.test_retrain:overconfident_trainer"


def test_too_few_labeled_rows_end_not_enough_data(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec_variant(world, tmp_path, monkeypatch, retraining={"min_labeled_rows": 5000})
    labeled = record_validated(world, 0)

    state = retrain(world, 30)  # window 0 is the only recorded window before window 30

    assert state.is_completed()
    assert state.name == "NotEnoughData", state.message
    assert state.message == f"{labeled} recent labeled rows, the policy needs 5000"
    state = retrain(world, -1)  # nothing recorded before window 0
    assert state.name == "NotEnoughData"
    assert state.message == "0 recent labeled rows, the policy needs 5000"
    skipped = world.store().decisions("credit", kind="retrain-skipped")
    assert [d["outcome"] for d in skipped] == ["not-enough-data"] * 2
    assert world.store().decisions("credit", kind="retrain") == []
    assert aliases(world) == {"champion": "1"}


def test_a_retraining_within_the_cooldown_is_skipped(
    fresh_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = fresh_world
    spec_variant(world, tmp_path, monkeypatch, retraining={"cooldown_hours": 6})
    record_validated(world, 6)
    record_validated(world, 7)
    store = world.store()
    store.save_decision("credit", kind="retrain", outcome="challenger-registered", details={})

    state = retrain(world, 7)

    assert state.is_completed()
    assert state.name == "Cooldown"
    assert "within the cooldown of 6 h" in (state.message or "")
    assert aliases(world) == {"champion": "1"}
    assert store.decisions("credit", kind="retrain-skipped")[-1]["outcome"] == "cooldown"


# --------------------------------------------------------------------------- online A/B


def _split_traffic(world: World, index: int, *, challenger_right: float | None) -> None:
    """Rewrite window ``index``'s log with a variant column (alternate rows per variant).

    ``challenger_right``: share of the challenger arm's rows whose prediction is made
    equal to the label (a stand-in for a better challenger); None keeps them.
    """
    log_path = world.log_file(index)
    log = pd.read_parquet(log_path)
    labels = pd.read_parquet(world.label_file(index))[["prediction_id", "defaulted"]]
    log["variant"] = np.where(np.arange(len(log)) % 2 == 0, "champion", "canary")
    if challenger_right is not None:
        truth = log[["prediction_id"]].merge(labels, how="left")["defaulted"].to_numpy()
        rng = np.random.default_rng(index)
        fix = (log["variant"] == "canary").to_numpy() & (rng.random(len(log)) < challenger_right)
        fix &= ~pd.isna(truth)
        log.loc[fix, "prediction"] = truth[fix].astype(log["prediction"].dtype)
    log.to_parquet(log_path, index=False)


def test_online_ab_waits_for_enough_traffic_then_promotes(
    fresh_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = fresh_world
    registry = world.registry()
    model = registry.load_model("credit", "1")
    reference = pd.read_parquet(world.home / "demo" / "credit" / "reference.parquet")
    registry.log_model_version(
        "credit",
        model,
        training_data=reference,
        input_example=reference.head(5),
        params={},
        metrics={},
        tags={},
        run_name="online-challenger",
        pii=("email",),
        alias="challenger",
        target="defaulted",
    )
    spec_variant(
        world,
        tmp_path,
        monkeypatch,
        columns={"variant": "variant"},
        ab={"online_metric": "accuracy", "minimum_detectable_effect": 0.08},
    )
    world.serve(0)
    _split_traffic(world, 0, challenger_right=0.5)
    start, end = world.window(0)
    first = compare_online(
        model_name="credit", window_start=start, window_end=start + (end - start) / 8,
        return_state=True,
    )  # fmt: skip
    assert first.is_completed(), first.message
    assert first.name == "InsufficientData", first.message
    insufficient = first.result()
    assert insufficient.required_n > max(insufficient.champion_n, insufficient.challenger_n)
    assert aliases(world)["champion"] == "1"

    state = compare_online(
        model_name="credit", window_start=start, window_end=end, return_state=True
    )
    decision = state.result()
    print("online:", decision.reason)
    assert state.name == "Promoted", state.message
    assert decision.test == "two_proportion_ztest" and decision.p_value < 0.05
    assert min(decision.champion_n, decision.challenger_n) >= decision.required_n
    assert aliases(world) == {"champion": "2", "previous": "1"}
    outcomes = [d["outcome"] for d in world.store().decisions("credit", kind="online-ab")]
    assert outcomes == ["insufficient-data", "challenger-wins"]
