"""Warm starts (flows.warm): served flow runs fork from a preloaded fork server.

Each case runs in its own interpreter (the fork server is a process-wide setting of
``multiprocessing``, and the child must unpickle the flow from an importable module).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.servers import clean_env

REPO = Path(__file__).resolve().parents[2]

PROBE = '''
import json, os, sys
from prefect import flow

@flow(name="warm-probe")
def probe(out: str) -> None:
    """Tells the parent whether the libraries were already imported when the run began."""
    Path = __import__("pathlib").Path
    Path(out).write_text(json.dumps({
        "great_expectations": "great_expectations" in sys.modules,
        "mlflow": "mlflow" in sys.modules,
        "monitor": "flows.monitor" in sys.modules,
        "ppid": os.getppid(),
        "pid": os.getpid(),
    }))
'''

DRIVER = """
import json, os, sys
from flows.warm import use_warm_starts, warm_starts_active
from prefect.flow_engine import run_flow_in_subprocess

if __name__ == "__main__":
    enabled = use_warm_starts()
    from probe import probe

    runs = []
    for i in range(2):
        out = os.path.join(sys.argv[1], f"run{i}.json")
        process = run_flow_in_subprocess(probe, parameters={"out": out})
        process.join(300)
        with open(out) as f:
            seen = json.load(f)
        runs.append({"kind": type(process).__name__, "exitcode": process.exitcode, **seen})
    print("RESULT " + json.dumps({"enabled": enabled, "active": warm_starts_active(),
                                  "parent": os.getpid(), "runs": runs}))
"""


def _drive(tmp_path: Path, **env: str) -> dict:
    (tmp_path / "probe.py").write_text(textwrap.dedent(PROBE))
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(DRIVER))
    environment = clean_env(
        PYTHONPATH=f"{tmp_path}:{REPO}",
        MODELWATCH_HOME=str(tmp_path / "home"),
        **env,
    )
    done = subprocess.run(
        [sys.executable, str(driver), str(tmp_path)],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


@pytest.mark.slow
def test_served_runs_fork_from_a_preloaded_server(tmp_path: Path) -> None:
    result = _drive(tmp_path)
    assert result["enabled"] and result["active"]
    first, second = result["runs"]
    for run in (first, second):
        assert run["kind"] == "WarmProcess"
        assert run["exitcode"] == 0
        # imported before the run began: by the fork server, not by the run
        assert run["great_expectations"] and run["mlflow"] and run["monitor"]
        assert run["ppid"] != result["parent"]  # a child of the fork server
    assert first["ppid"] == second["ppid"]  # one fork server for every run
    assert first["pid"] != second["pid"]  # each run is its own process


@pytest.mark.slow
def test_warm_starts_off_spawns_as_prefect_does(tmp_path: Path) -> None:
    result = _drive(tmp_path, MODELWATCH_WARM_STARTS="false")
    assert not result["enabled"] and not result["active"]
    for run in result["runs"]:
        assert run["kind"] == "SpawnProcess"
        assert run["exitcode"] == 0
        assert not run["great_expectations"] and not run["monitor"]


def test_the_preload_only_imports(tmp_path: Path) -> None:
    """The fork server's import opens nothing a forked run would inherit: no thread, no
    file written, no library left out."""
    code = textwrap.dedent(
        """
        import json, sys, threading
        import flows._preload as preload
        from flows.warm import WARM_IMPORTS
        print("RESULT " + json.dumps({
            "missing": preload.MISSING,
            "not_loaded": [m for m in WARM_IMPORTS if m not in sys.modules],
            "threads": [t.name for t in threading.enumerate()],
        }))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=clean_env(PYTHONPATH=str(REPO), MODELWATCH_HOME=str(tmp_path / "home")),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result == {
        "missing": [],
        "not_loaded": [],
        "threads": ["MainThread"],
    }
    assert not (tmp_path / "home").exists()  # nothing written either


def test_the_patch_point_is_where_warm_starts_expect_it() -> None:
    """A Prefect upgrade that moves the start method out of run_flow_in_subprocess makes
    this fail (warm starts would silently go cold)."""
    import inspect

    from prefect import flow_engine
    from prefect.runner import _starter_direct

    source = inspect.getsource(flow_engine.run_flow_in_subprocess)
    assert 'multiprocessing.get_context("spawn")' in source
    assert _starter_direct.run_flow_in_subprocess is flow_engine.run_flow_in_subprocess


def test_served_flows_are_pickled_by_reference() -> None:
    """The runner cloudpickles a served flow for its run's process: its function must travel
    as a reference to its module (by value it loses the globals only its annotations name,
    and Prefect's parameter validation fails in the run)."""
    import pickle

    import cloudpickle
    from prefect.exceptions import ParameterTypeError

    from flows.serve import pickle_by_reference, served_pairs

    pairs = served_pairs()
    assert {flow.name for flow, _ in pairs} >= {"monitor-model", "retrain-model", "monitor-fleet"}
    for flow, deployment in pairs:
        pickle_by_reference(flow)
        copy = pickle.loads(cloudpickle.dumps(flow))
        assert copy.fn is flow.fn, flow.name  # by value would be a new function
        try:  # what the run's process does first
            copy.validate_parameters(dict(deployment.parameters))
        except ParameterTypeError as error:  # a manual run form's required field is fine
            assert "Field required" in str(error) and "not fully defined" not in str(error)
