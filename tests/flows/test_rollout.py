"""advance-rollout end to end: shadow -> canary -> promoted, a guardrail breach, a timeout.

One bootstrapped world (v1 champion, v2 registered); the served windows' logs get a
``variant`` column from the serving helper's router (20 % canary), and the canary rows
are edited to make the canary better (its answers = the labels) or slower.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

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
        text = (REPO / "deployments" / "specs" / "credit.yaml").read_text()
        text = text.replace(
            "  latency_ms: latency_ms\n", "  latency_ms: latency_ms\n  variant: variant\n"
        )
        text = text.replace("  n_bootstrap: 2000\n", "  n_bootstrap: 2000\n  canary_share: 0.2\n")
        (specs / "credit.yaml").write_text(text)
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
    world: World, index: int, *, better: bool = False, slower: bool = False, shadow: bool = False
) -> None:
    """Serve window ``index`` and route it: canary rows right (better) or 5x slower; with
    ``shadow``, log a miscalibrated shadow's answers (scores + 0.3) in shadow_ columns."""
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
