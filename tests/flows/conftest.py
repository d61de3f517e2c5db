"""Flow tests: one Prefect test harness per session, one bootstrapped demo world per module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelwatch import demo as demo_lib
from modelwatch import simulate
from modelwatch.settings import Settings, get_settings
from modelwatch.spec import find_spec
from tests.specs import TEST_SPECS_DIR

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@dataclass
class World:
    """A bootstrapped model with a home of its own; windows are served on demand."""

    home: Path
    settings: Settings
    first: datetime
    rows: int = 1500
    model: str = "credit"
    """The demo model (its spec's task picks the generated world)."""

    def window(self, index: int) -> tuple[datetime, datetime]:
        start = self.first + timedelta(hours=index)
        return start, start + timedelta(hours=1)

    def serve(self, index: int, *, drift_start: int = 6) -> demo_lib.ServedWindow:
        spec = find_spec(self.model, self.settings.resolved_specs_dir)
        start, end = self.window(index)
        return demo_lib.serve_window(
            spec,
            self.settings,
            index=index,
            start=start,
            end=end,
            rows=self.rows,
            seed=0,
            scenario=simulate.Scenario(drift_start=drift_start),
        )

    def log_file(self, index: int) -> Path:
        """The file the demo wrote window ``index``'s log to (one file per one-hour window)."""
        spec = find_spec(self.model, self.settings.resolved_specs_dir)
        return demo_lib.window_file(spec.sources.predictions, self.home, self.window(index)[0])  # type: ignore[arg-type]

    def label_file(self, index: int) -> Path:
        """The file the demo wrote window ``index``'s labels to."""
        spec = find_spec(self.model, self.settings.resolved_specs_dir)
        assert spec.sources.labels is not None
        return demo_lib.window_file(spec.sources.labels, self.home, self.window(index)[0])  # type: ignore[arg-type]

    def store(self):  # type: ignore[no-untyped-def]
        from modelwatch.io.store import Store

        store = Store(self.settings.resolved_store_url)
        store.upgrade_schema()
        return store

    def registry(self):  # type: ignore[no-untyped-def]
        return demo_lib.open_registry(self.settings)


def make_world(tmp: Path, monkeypatch: pytest.MonkeyPatch, model: str = "credit") -> World:
    monkeypatch.setenv("MODELWATCH_HOME", str(tmp / "home"))
    monkeypatch.setenv("MODELWATCH_EXPECTATIONS_DIR", str(tmp / "expectations"))
    monkeypatch.setenv("MODELWATCH_SPECS_DIR", str(TEST_SPECS_DIR))  # staged rollout off
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MODELWATCH_STORE_URL", raising=False)
    settings = get_settings()
    settings.ensure_home()
    spec = find_spec(model, settings.resolved_specs_dir)
    demo_lib.bootstrap(spec, settings, seed=0)
    demo_lib.ensure_suite(spec, settings, rows_per_window=1500)
    first = datetime(2026, 11, 20, 0, tzinfo=UTC)
    return World(home=tmp / "home", settings=settings, first=first, model=model)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A module-wide world (bootstrapping costs a few seconds)."""
    mp = pytest.MonkeyPatch()
    try:
        yield make_world(tmp_path_factory.mktemp("world"), mp)
    finally:
        mp.undo()


@pytest.fixture
def fresh_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    """A world of this test alone (for tests that move aliases)."""
    return make_world(tmp_path, monkeypatch)


__all__ = ["World", "os"]
