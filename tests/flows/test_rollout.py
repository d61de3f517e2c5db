"""advance-rollout end to end: shadow -> canary -> promoted, a guardrail breach, a timeout.

One bootstrapped world (v1 champion, v2 registered); the served windows' logs get a
``variant`` column from the serving helper's router (20 % canary), and the canary rows
are edited to make the canary better (its answers = the labels) or slower.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from flows.rollout import advance_rollout
from modelwatch import demo as demo_lib
from modelwatch.outcomes import StageTag
from modelwatch.serving import route_many
from modelwatch.spec import FileSource, find_spec
from tests.flows.conftest import REPO, World, make_world

SHARE = 0.2


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """v1 champion, v2 registered; the spec declares columns.variant and ab.canary_share."""
    tmp = tmp_path_factory.mktemp("rollout")
    mp = pytest.MonkeyPatch()
    try:
        world = make_world(tmp, mp)
        specs = tmp / "specs"
        specs.mkdir()
        data = yaml.safe_load((REPO / "deployments" / "specs" / "credit.yaml").read_text())
        data["columns"]["variant"] = "variant"
        data["ab"].update(
            staged_rollout=True, canary_share=SHARE, shadow_hours=24, max_canary_hours=168
        )
        (specs / "credit.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        mp.setenv("MODELWATCH_SPECS_DIR", str(specs))
        spec = find_spec("credit", specs)
        assert spec.columns.variant == "variant"
        # v2: the flow never scores with it (the log's canary rows are edited below), so a
        # second registration of v1's artifact will do (no second training)
        registry = _registry(world)
        v1 = registry.client.get_model_version("credit", "1")
        registry.client.create_model_version("credit", source=v1.source, run_id=v1.run_id)
        yield world
    finally:
        mp.undo()


@pytest.fixture
def reset(world: World) -> World:
    """v1 champion, nothing in rollout."""
    registry = _registry(world)
    for alias in ("canary", "shadow", "previous"):
        registry.delete_alias("credit", alias)
    registry.set_alias("credit", "champion", "1")
    return world


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the Prefect events the flow emits (captured, not sent)."""
    from tasks import publish

    names: list[str] = []
    monkeypatch.setattr(publish, "emit_event", lambda *a, **k: names.append(k["event"]))
    return names


def _registry(world: World) -> Any:
    return world.registry()  # type: ignore[no-untyped-call]


def _serve(
    world: World,
    index: int,
    *,
    better: bool = False,
    slower: bool = False,
    shadow: bool = False,
    unfair: bool = False,
) -> None:
    """Serve window ``index`` and route it: canary rows right (better), 5x slower, or unfair
    (a default predicted for every north row, none for a south row); with ``shadow``, log a
    miscalibrated shadow's answers (scores + 0.3) in shadow_ columns."""
    world.serve(index)
    start, _ = world.window(index)
    spec = find_spec("credit", world.settings.resolved_specs_dir)
    log_source, label_source = spec.sources.predictions, spec.sources.labels
    assert isinstance(log_source, FileSource) and isinstance(label_source, FileSource)
    log_path = demo_lib.window_file(log_source, world.settings.home_dir, start)
    labels_path = demo_lib.window_file(label_source, world.settings.home_dir, start)
    log = pd.read_parquet(log_path)
    labels = pd.read_parquet(labels_path).set_index("prediction_id")["defaulted"]
    log["variant"] = route_many(log["prediction_id"], canary_share=SHARE, salt="credit")
    canary = log["variant"] == "canary"
    if better:
        truth = log["prediction_id"].map(labels)
        known = canary & truth.notna()
        log.loc[known, "prediction"] = truth[known].astype(log["prediction"].dtype)
    if slower:
        log.loc[canary, "latency_ms"] = log.loc[canary, "latency_ms"] * 5
    if unfair:
        log.loc[canary & (log["region"] == "north"), "prediction"] = 1
        log.loc[canary & (log["region"] == "south"), "prediction"] = 0
    if shadow:
        log["shadow_score"] = (log["score"] + 0.3).clip(0, 1)
        log["shadow_prediction"] = (log["shadow_score"] > 0.5).astype(log["prediction"].dtype)
    log.to_parquet(log_path, index=False)


def _stage_start(world: World, version: str, started: datetime) -> None:
    _registry(world).set_version_tags("credit", version, {StageTag.STARTED: started.isoformat()})


def test_shadow_becomes_canary_then_a_better_canary_is_promoted(
    reset: World, events: list[str]
) -> None:
    world = reset
    book = _registry(world).alias_book
    book.start_shadow("credit", "2", reason="won offline")
    _serve(world, 0)
    start, end = world.window(0)
    _stage_start(world, "2", end - timedelta(hours=30))  # past ab.shadow_hours (24)
    state: Any = advance_rollout("credit", start, end, now=end, return_state=True)
    assert state.name == "CanaryStarted", state.message
    assert _registry(world).aliases("credit") == {"champion": "1", "canary": "2"}

    _serve(world, 1, better=True)
    start, end = world.window(1)
    state = advance_rollout("credit", start, end, now=end, return_state=True)
    assert state.name == "Promoted", state.message
    assert _registry(world).aliases("credit") == {"champion": "2", "previous": "1"}
    details = state.result()
    assert details["test"]["kind"] == "promote" and details["test"]["n_b"] > 150
    tags = _registry(world).version_tags("credit", "2")
    assert tags[StageTag.STAGE] == "champion" and '"looks": 1' in tags[StageTag.SEQUENTIAL]
    store: Any
    with world.store() as store:  # type: ignore[no-untyped-call]
        rows = [d for d in store.decisions("credit") if d["kind"] == "rollout"]
    assert sorted(d["outcome"] for d in rows)[-2:] == ["promote", "start-canary"]
    done: Any = advance_rollout("credit", start, end, now=end, return_state=True)
    assert done.name == "NoRollout"
    assert events == ["modelwatch.model.canary_started", "modelwatch.model.promoted"]


def test_a_guardrail_breach_rolls_the_canary_back_at_once(reset: World, events: list[str]) -> None:
    world = reset
    _registry(world).alias_book.start_canary("credit", "2", share=SHARE, reason="test")
    _serve(world, 2, slower=True)
    start, end = world.window(2)
    state: Any = advance_rollout("credit", start, end, return_state=True)
    assert state.name == "Rejected" and "latency" in state.message, state.message
    assert _registry(world).aliases("credit") == {"champion": "1"}
    assert _registry(world).version_tags("credit", "2")[StageTag.STAGE] == "rejected"
    assert events == ["modelwatch.model.rejected"]


def test_an_undecided_canary_is_rejected_after_max_canary_hours(reset: World) -> None:
    world = reset
    _registry(world).alias_book.start_canary("credit", "2", share=SHARE, reason="test")
    _serve(world, 3)
    start, end = world.window(3)
    first: Any = advance_rollout("credit", start, end, return_state=True)
    assert first.name == "RolloutContinues", first.message
    n_b = first.result()["test"]["n_b"]
    rerun: Any = advance_rollout("credit", start, end, return_state=True)  # the same window again
    assert rerun.result()["test"]["n_b"] == n_b  # counted once
    late = datetime.now(UTC) + timedelta(hours=200)  # past ab.max_canary_hours (168)
    state: Any = advance_rollout("credit", start, end, now=late, return_state=True)
    assert state.name == "Rejected" and "no decision after" in state.message
    assert _registry(world).aliases("credit") == {"champion": "1"}


def test_a_miscalibrated_shadow_is_rejected_on_its_logged_answers(
    reset: World, events: list[str]
) -> None:
    world = reset
    _registry(world).alias_book.start_shadow("credit", "2", reason="test")
    _serve(world, 4, shadow=True)
    start, end = world.window(4)
    state: Any = advance_rollout("credit", start, end, return_state=True)
    assert state.name == "Rejected" and "failed: ece" in state.message, state.message
    assert _registry(world).aliases("credit") == {"champion": "1"}
    assert events == ["modelwatch.model.rejected"]


def test_an_offline_winner_enters_the_shadow_stage_instead_of_being_promoted(
    reset: World, events: list[str]
) -> None:
    """compare-models with ab.staged_rollout: the winner goes to shadow; champion unchanged."""
    from flows.rollout import enter_rollout

    world = reset
    state: Any = enter_rollout("credit", "2", "v2 wins offline")
    assert state.name == "ShadowStarted", state.message
    stage = _registry(world).alias_book.rollout("credit")
    assert stage is not None and str(stage.stage) == "shadow" and stage.version == "2"
    assert _registry(world).get_version("credit", "champion").version == "1"
    assert events == ["modelwatch.model.shadow_started"]
    store: Any
    with world.store() as store:  # type: ignore[no-untyped-call]
        rows = [d for d in store.decisions("credit") if d["kind"] == "rollout"]
    assert rows[-1]["outcome"] == "start-shadow" and rows[-1]["details"]["version"] == "2"


def test_a_canary_unfair_to_one_region_is_rolled_back_on_the_fairness_guardrail(
    reset: World, events: list[str]
) -> None:
    world = reset
    _registry(world).alias_book.start_canary("credit", "2", share=SHARE, reason="test")
    _serve(world, 5, unfair=True)
    start, end = world.window(5)
    state: Any = advance_rollout("credit", start, end, return_state=True)
    assert state.name == "Rejected", state.message
    assert "equal_opportunity_difference[region]" in state.message, state.message
    (fairness,) = [g for g in state.result()["guardrails"] if g["name"].startswith("equal")]
    assert not fairness["passed"] and fairness["ci_low"] > 0
    assert fairness["challenger_value"] == 1.0  # TPR 1 in the north, 0 in the south
    assert _registry(world).aliases("credit") == {"champion": "1"}
    assert events == ["modelwatch.model.rejected"]


def _started(world: World, version: str) -> datetime:
    return datetime.fromisoformat(
        _registry(world).version_tags("credit", version)[StageTag.STARTED]
    )


def test_stages_age_on_the_windows_clock_and_the_serving_step_routes_by_the_registry(
    reset: World,
) -> None:
    """The windows lie days in the past (as the demo's): a stage entered on window 6's
    evidence is dated at its end, so it is 1 h old at window 7's end, whatever the wall
    clock says; a canary started on window 8 is dated at window 8's end; the demo's
    serving step logs the shadow's answers, then routes 20 % of the requests to the canary;
    a window served before the shadow existed is no evidence for it."""
    from flows.rollout import enter_rollout

    world = reset
    world.serve(9)  # served before the shadow stage: no shadow answers in its log
    _, end6 = world.window(6)
    entered: Any = enter_rollout("credit", "2", "won offline", window_end=end6)
    assert entered.result()["started_at"] == end6.isoformat()
    assert _started(world, "2") == end6

    world.serve(7)  # the registry says shadow v2: its answers are logged, not served
    log = pd.read_parquet(world.log_file(7))
    assert log["shadow_prediction"].notna().all() and "variant" not in log.columns
    start, end = world.window(7)
    state: Any = advance_rollout("credit", start, end, return_state=True)
    assert state.name == "RolloutContinues", state.message
    assert "shadow for 1.0 h of 24" in state.message  # not 10+ days of wall clock
    assert [g["passed"] for g in state.result()["guardrails"]] == [True, True]  # same model

    _stage_start(world, "2", end6 - timedelta(hours=30))  # past ab.shadow_hours
    start, end = world.window(9)
    stale: Any = advance_rollout("credit", start, end, return_state=True)
    assert stale.name == "RolloutContinues" and "no shadow answers" in stale.message

    world.serve(8)
    start8, end8 = world.window(8)
    state = advance_rollout("credit", start8, end8, return_state=True)
    assert state.name == "CanaryStarted", state.message
    assert _started(world, "2") == end8

    world.serve(10)  # the registry says canary v2 at 20 %: the router splits the requests
    log = pd.read_parquet(world.log_file(10))
    share = float(np.mean(log["variant"] == "canary"))
    assert 0.17 < share < 0.23 and "shadow_prediction" not in log.columns
    start, end = world.window(10)
    state = advance_rollout("credit", start, end, return_state=True)
    assert state.name == "RolloutContinues", state.message  # the same model: no decision
    test = state.result()["test"]
    assert test["looks"] == 1 and test["n_b"] == int(
        pd.read_parquet(world.label_file(10))["prediction_id"]
        .isin(log.loc[log["variant"] == "canary", "prediction_id"])
        .sum()
    )
    assert "canary continues" in state.message and "2.0 h" not in state.message
