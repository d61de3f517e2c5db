"""The demo resets only a model it created (modelwatch.demo.check_resettable / reset)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelwatch import demo
from modelwatch.errors import DemoRefused
from modelwatch.io.store import RunRecord, Store
from modelwatch.settings import Settings
from modelwatch.spec import MonitorSpec, find_spec

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MODELWATCH_STORE_URL", raising=False)
    monkeypatch.delenv("MODELWATCH_TRACKING_URI", raising=False)
    s = Settings(
        home=tmp_path / "home",
        specs_dir=REPO / "deployments" / "specs",
        expectations_dir=tmp_path / "expectations",
    )
    s.ensure_home()
    return s


@pytest.fixture
def spec(settings: Settings) -> MonitorSpec:
    return find_spec("credit", settings.resolved_specs_dir)


def _refused(spec: MonitorSpec, settings: Settings, why: str) -> None:
    with pytest.raises(
        DemoRefused, match=rf"(?s)refuses model 'credit'.*not created by the demo.*{why}"
    ):
        demo.check_resettable(spec, settings)
    with pytest.raises(DemoRefused, match="refuses model 'credit'"):
        demo.reset(spec, settings)  # reset checks first, then deletes


def test_the_first_demo_has_nothing_to_refuse(spec: MonitorSpec, settings: Settings) -> None:
    demo.check_resettable(spec, settings)
    demo.reset(spec, settings)


def test_a_data_folder_the_demo_did_not_write_is_refused_and_kept(
    spec: MonitorSpec, settings: Settings
) -> None:
    root = demo.data_root(spec, settings)
    root.mkdir(parents=True)
    (root / "reference.parquet").write_bytes(b"someone's data")
    _refused(spec, settings, rf"data folder {root} has no \.modelwatch-demo marker")
    assert (root / "reference.parquet").read_bytes() == b"someone's data"


def test_a_registered_model_the_demo_did_not_create_is_refused_and_kept(
    spec: MonitorSpec, settings: Settings
) -> None:
    registry = demo.open_registry(settings)
    registry.client.create_registered_model("credit")
    _refused(spec, settings, r"registered model in MLflow has no version tagged modelwatch\.demo")
    assert registry.client.get_registered_model("credit").name == "credit"

    source = settings.home_dir / "model"
    source.mkdir()
    registry.client.create_model_version("credit", source.as_uri(), tags={"owner": "risk team"})
    _refused(spec, settings, r"registered model in MLflow has no version tagged modelwatch\.demo")


def test_store_rows_of_an_unmarked_model_are_refused_and_kept(
    spec: MonitorSpec, settings: Settings
) -> None:
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    record = RunRecord(
        model="credit",
        window_start=start,
        window_end=start + timedelta(hours=1),
        status="ok",
        validation_passed=True,
        n_rows=10,
        n_labeled=8,
        bad=False,
    )
    with Store.open(settings.resolved_store_url) as store:
        store.save_run(record)
    _refused(spec, settings, r"monitoring store holds runs or decisions of it")
    with Store.open(settings.resolved_store_url) as store:
        assert len(store.runs("credit")) == 1


def test_a_demo_from_before_the_marker_tag_is_still_recognized(
    spec: MonitorSpec, settings: Settings
) -> None:
    registry = demo.open_registry(settings)
    registry.client.create_registered_model("credit")
    source = settings.home_dir / "model"
    source.mkdir()
    registry.client.create_model_version(
        "credit", source.as_uri(), tags={"modelwatch.trigger.reason": "demo bootstrap"}
    )
    # its data folder, written before the marker file existed, is vouched for by that version
    root = demo.data_root(spec, settings)
    root.mkdir(parents=True)
    (root / "predictions.parquet").write_bytes(b"old demo data")
    demo.check_resettable(spec, settings)


def test_what_the_demo_bootstraps_carries_its_marks_and_is_reset(
    spec: MonitorSpec, settings: Settings
) -> None:
    ref = demo.bootstrap(spec, settings, seed=0)
    root = demo.data_root(spec, settings)
    assert (root / demo.DEMO_MARKER).is_file()
    registry = demo.open_registry(settings)
    assert registry.version_tags("credit", ref.version)[demo.DEMO_TAG] == "true"

    demo.reset(spec, settings)

    assert not root.exists()
    assert registry.client.search_model_versions("name = 'credit'") == []


def test_the_rollout_column_tells_the_stage_and_how_it_moved() -> None:
    """modelwatch.demo.rollout_label: the stage a window was served with, the stage after its
    monitor run, and the champion then (a version that left its stage and is champion was
    promoted, else rejected)."""
    from modelwatch.demo import StageView, rollout_label
    from modelwatch.outcomes import Stage

    shadow = StageView(Stage.SHADOW, "2")
    canary = StageView(Stage.CANARY, "2", 0.2)
    assert rollout_label(None, None, "1") == "-"
    assert rollout_label(None, shadow, "1") == "-> shadow v2"
    assert rollout_label(shadow, shadow, "1") == "shadow v2"
    assert rollout_label(shadow, canary, "1") == "shadow -> canary v2 20%"
    assert rollout_label(canary, canary, "1") == "canary v2 20%"
    assert rollout_label(canary, None, "2") == "canary -> promoted v2"
    assert rollout_label(canary, None, "1") == "canary -> rejected v2"
    assert rollout_label(shadow, None, "1") == "shadow -> rejected v2"
    third = StageView(Stage.SHADOW, "3")
    assert rollout_label(canary, third, "1") == "canary -> rejected v2; -> shadow v3"
