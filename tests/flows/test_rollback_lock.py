"""An emergency rollback is not blocked by a promoter that was killed holding the lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from flows.rollback import rollback_model
from modelwatch import demo as demo_lib
from modelwatch.spec import find_spec
from tasks.registry import promotion_lock_name
from tests.flows.conftest import World
from tests.integration.test_locks import HOLDER


def _two_versions(world: World) -> None:
    spec = find_spec("credit", world.settings.resolved_specs_dir)
    demo_lib.bootstrap(spec, world.settings, seed=1)  # v2
    registry = world.registry()
    registry.set_alias("credit", "champion", "1")
    registry.promote("credit", "2", reason="test setup: v2 champion, v1 previous")
    assert registry.aliases("credit") == {"champion": "2", "previous": "1"}
    world.store().dispose()  # the store exists before the holder takes its lock


def _hold_promotion_lock(world: World) -> subprocess.Popen[str]:
    """Another process that holds the model's promotion lock (until it is killed)."""
    url = world.settings.resolved_store_url
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, promotion_lock_name("credit"), "30"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


@pytest.mark.serial  # asserts a wall-clock bound: not beside another test
def test_rollback_after_the_lock_holder_was_killed_takes_seconds(fresh_world: World) -> None:
    world = fresh_world
    _two_versions(world)
    holder = _hold_promotion_lock(world)
    os.kill(holder.pid, signal.SIGKILL)  # a promoter dies mid-promotion
    holder.wait(10)

    started = time.monotonic()
    state = rollback_model(
        model_name="credit", reason="emergency", requested_by="pytest", return_state=True
    )
    elapsed = time.monotonic() - started
    print(f"rollback took {elapsed:.1f} s after the lock holder was killed")
    assert state.name == "RolledBack", state.message
    assert elapsed < 10.0
    assert world.registry().aliases("credit") == {"champion": "1"}


def test_rollback_force_takes_the_lock_from_a_stuck_holder(fresh_world: World) -> None:
    world = fresh_world
    _two_versions(world)
    holder = _hold_promotion_lock(world)
    try:
        state = rollback_model(
            model_name="credit", reason="stuck", requested_by="pytest", force=True,
            return_state=True,
        )  # fmt: skip
        assert state.name == "RolledBack", state.message
        decision = world.store().decisions("credit", kind="rollback")[-1]
        assert decision["details"]["force"] is True
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
