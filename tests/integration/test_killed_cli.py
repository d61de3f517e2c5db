"""A ``modelwatch monitor`` killed with SIGKILL leaves no server behind and no run RUNNING."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelwatch import demo as demo_lib
from modelwatch import simulate, watchdog
from modelwatch.settings import get_settings
from modelwatch.spec import find_spec
from tests.servers import clean_env
from tests.specs import TEST_SPECS_DIR

pytestmark = [pytest.mark.integration, pytest.mark.serial]

REPO = Path(__file__).resolve().parents[2]


def _flow_runs(db: Path) -> list[tuple[str, str, list[str]]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute("SELECT name, state_type, tags FROM flow_run").fetchall()
    except sqlite3.Error:
        return []
    return [(name, state, json.loads(tags or "[]")) for name, state, tags in rows]


def _tagged(tags: list[str]) -> bool:
    return any(t.startswith("modelwatch-cli:") for t in tags)


def test_a_killed_monitor_crashes_its_runs_and_stops_its_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "MODELWATCH_HOME": str(tmp_path / "home"),
        "MODELWATCH_EXPECTATIONS_DIR": str(tmp_path / "expectations"),
        "MODELWATCH_SPECS_DIR": str(TEST_SPECS_DIR),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MODELWATCH_STORE_URL", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = get_settings()
    settings.ensure_home()
    spec = find_spec("credit", settings.resolved_specs_dir)
    demo_lib.bootstrap(spec, settings, seed=0)
    demo_lib.ensure_suite(spec, settings, rows_per_window=1500)
    start = datetime(2026, 11, 20, 0, tzinfo=UTC)
    end = start + timedelta(hours=1)
    demo_lib.serve_window(
        spec, settings, index=0, start=start, end=end, rows=1500, seed=0,
        scenario=simulate.Scenario(drift_start=6),
    )  # fmt: skip

    cli = subprocess.Popen(
        [sys.executable, "-m", "cli", "monitor", "credit", "--window-end",
         end.isoformat()],
        env=clean_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "cli.err").open("w"),  # a pipe would stay open in orphans
        text=True,
    )  # fmt: skip
    db = tmp_path / "home" / "prefect" / "prefect.db"
    deadline = time.monotonic() + 120
    kids: list[watchdog.Child] = []
    while time.monotonic() < deadline:
        kids = kids or [c for c in watchdog.children(cli.pid) if c.prefect_api_url]
        # the command's run is tagged by its on_running hook, a few ms after RUNNING
        if kids and any(state == "RUNNING" and _tagged(tags) for _, state, tags in _flow_runs(db)):
            break
        assert cli.poll() is None, (tmp_path / "cli.err").read_text()
        time.sleep(0.2)
    else:
        cli.kill()
        pytest.fail("the monitor run never reached RUNNING")
    server = kids[0]
    assert watchdog.is_alive(server.pid)

    os.kill(cli.pid, signal.SIGKILL)
    cli.wait(10)
    killed_at = time.monotonic()
    while time.monotonic() - killed_at < 20:
        runs = _flow_runs(db)
        if not watchdog.is_alive(server.pid) and all(s != "RUNNING" for _, s, _ in runs):
            break
        time.sleep(0.2)
    elapsed = time.monotonic() - killed_at
    runs = _flow_runs(db)
    print(f"cleaned up {elapsed:.1f} s after SIGKILL: {runs}")
    assert not watchdog.is_alive(server.pid), "the temporary Prefect server was orphaned"
    monitor_runs = [r for r in runs if r[0].startswith("monitor-credit-")]
    assert monitor_runs and all(state == "CRASHED" for _, state, _ in monitor_runs)
    # only the top-level run carries the tag; the watchdog found any subflow by its parent
    assert [r for r in runs if _tagged(r[2])] == [r for r in runs if r[0] == monitor_runs[0][0]]
    assert elapsed < 15
    # the watchdog reports after it stopped the server: give its line a moment to land
    said = "1 run(s) marked Crashed, 1 child process(es) stopped"
    deadline = time.monotonic() + 10
    while said not in (tmp_path / "cli.err").read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert said in (tmp_path / "cli.err").read_text()
