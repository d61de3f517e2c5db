"""The staged rollout in the alias book (shadow -> canary -> champion / rejected), against a
real SQLite MLflow registry in a temp dir (versions registered without artifacts: fast)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from modelwatch.errors import AliasNotFound, ChampionChanged, ParameterError, RegistryError
from modelwatch.io.aliases import (
    CANARY_SHARE_TAG,
    SEQUENTIAL_TAG,
    STAGE_REASON_TAG,
    STAGE_STARTED_TAG,
    STAGE_TAG,
    AliasBook,
)
from modelwatch.io.registry import Registry
from modelwatch.outcomes import Stage

_names = (f"m{i}" for i in itertools.count())


@pytest.fixture(scope="module", autouse=True)
def _mlflow_env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        yield


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    root = tmp_path_factory.mktemp("mlflow")
    return Registry(f"sqlite:///{root}/mlflow.db", artifact_root=root / "artifacts")


@pytest.fixture
def model(registry: Registry) -> str:
    """A registered model with versions 1 (champion), 2 and 3."""
    name = next(_names)
    client = registry.client
    client.create_registered_model(name)
    for _ in range(3):
        client.create_model_version(name, source="file:///nowhere/model", run_id=None)
    registry.set_alias(name, "champion", "1")
    return name


def _book(registry: Registry) -> AliasBook:
    return registry.alias_book


def test_shadow_then_canary_then_promote_moves_aliases_and_tags(
    registry: Registry, model: str
) -> None:
    book = _book(registry)
    before = datetime.now(UTC).replace(microsecond=0)
    shadow = book.start_shadow(model, "2", reason="won offline A/B")
    assert (shadow.version, shadow.stage, shadow.canary_share) == ("2", Stage.SHADOW, None)
    assert shadow.started_at >= before and book.rollout(model) == shadow
    assert registry.aliases(model) == {"champion": "1", "shadow": "2"}
    assert book.start_shadow(model, "2", reason="again") == shadow  # idempotent

    canary = book.start_canary(model, "2", share=0.1, reason="shadow clean for 24 h")
    assert (canary.stage, canary.canary_share) == (Stage.CANARY, 0.1)
    assert registry.aliases(model) == {"champion": "1", "canary": "2"}
    tags = registry.version_tags(model, "2")
    assert tags[STAGE_TAG] == "canary" and tags[CANARY_SHARE_TAG] == "0.1"
    assert tags[STAGE_REASON_TAG] == "shadow clean for 24 h" and tags[SEQUENTIAL_TAG] == ""
    registry.set_version_tags(model, "2", {SEQUENTIAL_TAG: '{"state": "..."}'})
    ramped = book.start_canary(model, "2", share=0.25, reason="ramp")
    assert ramped.canary_share == 0.25 and ramped.started_at == canary.started_at
    assert ramped.tags[SEQUENTIAL_TAG] == '{"state": "..."}'  # a ramp keeps the test

    result = book.promote_canary(model, reason="mSPRT: promote", expected_champion="1")
    assert (result.champion, result.previous) == ("2", "1")
    assert registry.aliases(model) == {"champion": "2", "previous": "1"}
    assert registry.version_tags(model, "2")[STAGE_TAG] == "champion"
    assert registry.version_tags(model, "2")["modelwatch.replaced_version"] == "1"
    assert book.rollout(model) is None
    back = registry.rollback(model, reason="one-step rollback still works")
    assert back.champion == "1" and registry.aliases(model) == {"champion": "1"}


def test_end_canary_rolls_the_canary_back_and_records_why(registry: Registry, model: str) -> None:
    book = _book(registry)
    book.start_canary(model, "3", share=0.2, reason="direct canary")
    assert book.end_canary(model, reason="latency guardrail failed") == "3"
    assert registry.aliases(model) == {"champion": "1"}
    tags = registry.version_tags(model, "3")
    assert tags[STAGE_TAG] == "rejected" and tags[STAGE_REASON_TAG] == "latency guardrail failed"
    assert book.end_canary(model, reason="again") is None  # nothing left: a no-op
    assert book.rollout(model) is None
    book.start_shadow(model, "2", reason="next candidate")  # a new rollout may start now
    assert book.end_shadow(model, reason="shadow too slow") == "2"
    assert registry.version_tags(model, "2")[STAGE_TAG] == "rejected"


def test_one_rollout_at_a_time_and_never_the_champion(registry: Registry, model: str) -> None:
    book = _book(registry)
    with pytest.raises(RegistryError, match="version 1 is the champion"):
        book.start_shadow(model, "1", reason="x")
    book.start_shadow(model, "2", reason="x")
    with pytest.raises(RegistryError, match="version 2 is in the shadow stage"):
        book.start_canary(model, "3", share=0.1, reason="x")
    book.start_canary(model, "2", share=0.1, reason="x")
    with pytest.raises(RegistryError, match="does not go back to shadow"):
        book.start_shadow(model, "2", reason="x")
    with pytest.raises(ParameterError, match="'share' parameter of start_canary"):
        book.start_canary(model, "2", share=1.0, reason="x")
    with pytest.raises(ChampionChanged):
        book.promote_canary(model, reason="x", expected_champion="3")
    assert registry.aliases(model) == {"champion": "1", "canary": "2"}  # nothing moved


def test_promote_canary_without_a_canary_and_stale_aliases(registry: Registry, model: str) -> None:
    book = _book(registry)
    with pytest.raises(AliasNotFound, match="no canary"):
        book.promote_canary(model, reason="x")
    # a promotion stopped after the champion moved leaves canary == champion: finished
    registry.set_alias(model, "canary", "1")
    assert book.rollout(model) is None
    assert book.end_canary(model, reason="cleanup") == "1"
    assert STAGE_TAG not in registry.version_tags(model, "1")  # the champion is not 'rejected'
    # a canary whose tags were never written is reported, not guessed
    registry.set_alias(model, "canary", "3")
    with pytest.raises(RegistryError, match=STAGE_STARTED_TAG):
        book.rollout(model)


def test_concurrent_promotions_of_one_canary_move_the_champion_once(
    registry: Registry, model: str
) -> None:
    book = _book(registry)
    book.start_canary(model, "2", share=0.5, reason="x")

    def promote(_: int) -> str:
        try:
            return book.promote_canary(model, reason="race", expected_champion="1").champion
        except AliasNotFound:
            return "lost"

    with ThreadPoolExecutor(4) as pool:
        results = sorted(pool.map(promote, range(4)))
    assert results == ["2", "lost", "lost", "lost"]
    assert registry.aliases(model) == {"champion": "2", "previous": "1"}


def test_stage_age(registry: Registry, model: str) -> None:
    stage = _book(registry).start_shadow(model, "3", reason="x")
    later = stage.started_at + timedelta(hours=30)
    assert stage.age_hours(later) == pytest.approx(30.0)
