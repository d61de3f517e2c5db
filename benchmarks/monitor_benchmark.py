"""The fixed cost of a monitor run, and a fleet of models in one flow run (issue 11, part 3).

Against a running Prefect server (``prefect server start`` on a free port of
127.0.0.1, its own home, its database a scratch PostgreSQL database on 127.0.0.1:5432
dropped at the end — ``--prefect-database sqlite`` for its own SQLite file —, stopped by
process group at the end), with a private
``MODELWATCH_HOME`` (SQLite store, MLflow on SQLite) under a temporary folder:

* **single**: ``modelwatch monitor credit`` on one window of ``--rows`` rows
  (default 100k), ``--repeat`` times, each in a fresh process (what a cron
  worker pays). The child process records when the interpreter started
  (``/proc/self/stat``), when the imports were done, when the flow was called and
  when it returned; the parent records when the process exited. The flow's task
  runs are read back from the Prefect API and grouped into stages (GX, data,
  registry, metrics, drift, report, store); "Prefect" is the flow's wall time
  minus its task runs (orchestration, client, subflow overhead). The *fixed
  overhead* is interpreter start + imports + Prefect client/engine set-up before
  the flow starts + exit; the cold GX import / context inside the validation task
  is reported apart (``gx_import``, measured in a fresh process).
* **served**: the production path — Prefect's runner (what ``modelwatch serve`` runs,
  with only the monitor's ``manual`` deployment) polls the server; flow runs of the
  same window scheduled 15 s ahead (*scheduled*: the runner starts their process up to
  10 s early) and due now (*immediate*: the UI's Run button, an event trigger, a late
  run; the runner polls every ``--poll-seconds``, default 2), ``--repeat`` times each
  after a first one, with warm
  starts (:mod:`flows.warm`: each run a fork of a preloaded fork server) and without
  (Prefect's spawn: a new interpreter imports everything). Reported: scheduled time →
  Running (``late_s``: the runner's pick-up, process start, engine set-up), Running →
  end (``run_s``) and scheduled time → end (``end_to_end_s``), with the task breakdown.
* **fleet**: ``--fleet-models`` specs (copies of the demo's credit spec, each its
  own registered model, data folder and suite) × ``--fleet-rows`` rows through
  ``modelwatch fleet`` (one process, one ``monitor-fleet`` run, one
  ``monitor-model`` subflow per model), once one model at a time (``--concurrency 1``)
  and once ``--fleet-concurrency`` (default 2) at a time, after a first tick (recorded
  apart as ``first_tick``) that builds every model's Data Docs pages (later ticks with
  unchanged outcomes do not), against
  the naive approach, one
  ``modelwatch monitor <model>`` process per model (``--compare-models`` of them,
  default 3, extrapolated per model), in the same run.

* **threads**: :mod:`modelwatch.multivariate` (domain classifier + PCA on 6k × 5k
  rows) with ``MAX_THREADS`` = 1 (the shipped limit) and unbounded, beside a numpy
  thread of the same process, then also while other processes burn every core
  (``--thread-repeat`` runs each, median; run last, after the server is stopped).

Peak RSS of each child is read from ``wait4``'s rusage. The machine's load average
at the start is recorded: on a shared machine the absolute times say little.

Usage::

    python benchmarks/monitor_benchmark.py                      # 100k rows, 20 × 10k fleet
    python benchmarks/monitor_benchmark.py --rows 2000 --fleet-models 3 --repeat 1
    python benchmarks/monitor_benchmark.py --skip-single --skip-fleet --merge   # threads only

Writes ``benchmarks/results/monitor_benchmark.json`` (``--output`` to change).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
WINDOW_START = datetime(2026, 11, 20, 10, tzinfo=UTC)
WINDOW_END = WINDOW_START + timedelta(hours=1)

#: task name -> stage of the breakdown
STAGES = {
    "run-expectation-suite": "gx",
    "load-window": "data",
    "data-quality-stats": "data",
    "save-data-quality": "store",
    "quarantined-files": "store",
    "check-store-schema": "store",
    "save-run": "store",
    "recent-window-flags": "store",
    "unmonitored-windows": "store",
    "monitored-windows": "store",
    "load-spec": "data",
    "resolve-version": "registry",
    "load-reference": "registry",
    "load-profile": "registry",
    "load-model": "registry",
    "version-metric": "registry",
    "score-rows": "metrics",
    "realized-metrics": "metrics",
    "estimated-metrics": "metrics",
    "judge-window": "metrics",
    "decide-degradation": "metrics",
    "metric-series": "metrics",
    "window-drift": "drift",
    "multivariate-drift": "drift",
    "publish-report": "report",
    "publish-markdown": "report",
    "publish-drift-table": "report",
    "publish-link": "report",
    "publish-data-quality": "report",
    "emit-model-event": "report",
    "alert-": "report",
    # task *run* names (task_run_name) where they differ from the task's name
    "gx-": "gx",
    "resolve-": "registry",
    "load-champion-state": "registry",
    "data-quality-": "data",
    "count-window-rows": "data",
    "drift-thresholds": "registry",
    "serving-health": "metrics",
    "read-rollout-": "registry",
    # the fleet's task run per model: it holds the model's monitor-model subflow
    "fleet-": "fleet task (holds the monitor-model subflow; includes the wait for its turn)",
    # a subflow's own task run in its parent: its tasks are counted on their own
    "validate-window-": "subflow (validate-window, overlaps gx + data)",
    "monitor-model-": "subflow (monitor-model)",
}


# --------------------------------------------------------------------------- child side


def _process_start_epoch() -> float:
    """When this process started (epoch seconds), from /proc (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return time.time() - uptime + start_ticks / ticks


def child(argv: Sequence[str], out: Path) -> int:
    """Run ``modelwatch <argv>`` in this process and write its timestamps to ``out``."""
    marks = {"process_start": _process_start_epoch(), "main_start": time.time()}
    import cli.commands
    import cli.main
    import flows.fleet
    import flows.monitor  # noqa: F401

    marks["imports_done"] = time.time()
    code = cli.main.main(list(argv))
    marks["command_done"] = time.time()
    out.write_text(json.dumps({"marks": marks, "exit_code": code}))
    cli.main.exit_now(code)  # as the `modelwatch` command ends


# --------------------------------------------------------------------------- parent side


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "MLFLOW_", "MODELWATCH_"))
    }
    env.update(
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        MLFLOW_DISABLE_TELEMETRY="true",
        GX_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="true",
    )
    env.update(extra)
    return env


def stop_group(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """Stop ``process``'s group (it was started in a new session): SIGINT, SIGTERM, SIGKILL,
    ``grace_s`` seconds apart."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)


@contextlib.contextmanager
def prefect_server(root: Path, database_url: str | None = None) -> Iterator[str]:
    """``prefect server start`` on a free 127.0.0.1 port (its database: SQLite in its home,
    or ``database_url``); yields the API URL; stopped by PID."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = clean_env(PREFECT_HOME=str(root / "prefect-server-home"), PREFECT_API_URL=api)
    if database_url:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = database_url
    log = (root / "prefect-server.log").open("wb")
    process = subprocess.Popen(
        ["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"prefect server exited; see {root / 'prefect-server.log'}")
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                urllib.request.urlopen(f"{api}/health", timeout=3) as response,
            ):
                if response.status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("prefect server not healthy after 180 s")
            time.sleep(0.5)
        yield api
    finally:
        stop_group(process, grace_s=10)
        log.close()


PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def prefect_database(kind: str, url: str | None) -> Iterator[str | None]:
    """The Prefect server's database URL: ``url`` if given; for ``postgresql`` a scratch
    database on 127.0.0.1:5432 (created here, dropped at the end); ``sqlite``: None (the
    server's own SQLite file)."""
    if url or kind == "sqlite":
        yield url
        return
    import psycopg2  # the test extra (pip install -e '.[test]')

    name = f"modelwatch_bench_{os.getpid()}_{time.time_ns() % 10**6}"

    def execute(sql: str) -> None:
        conn = psycopg2.connect(PG_ADMIN_DSN, connect_timeout=10)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _api(api: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        f"{api}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _seconds(run: dict[str, Any]) -> float:
    if run.get("start_time") and run.get("end_time"):
        start = datetime.fromisoformat(run["start_time"])
        end = datetime.fromisoformat(run["end_time"])
        return (end - start).total_seconds()
    return float(run.get("total_run_time") or 0.0)


def flow_runs_after(api: str, since: datetime) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = _api(
            api,
            "/flow_runs/filter",
            {
                "flow_runs": {"start_time": {"after_": since.isoformat()}},
                "limit": 200,
                "offset": offset,
            },
        )
        runs += page
        if len(page) < 200:
            return runs
        offset += 200


def task_breakdown(api: str, flow_run_ids: Sequence[str]) -> dict[str, float]:
    """Seconds per stage, summed over the task runs of these flow runs (unknown task
    names: ``other:<name>``)."""
    stages: dict[str, float] = {}
    offset = 0
    while True:
        page = _api(
            api,
            "/task_runs/filter",
            {
                "flow_runs": {"id": {"any_": list(flow_run_ids)}},
                "limit": 200,
                "offset": offset,
            },
        )
        for run in page:
            name = str(run["name"])
            base = next((k for k in STAGES if name.startswith(k)), None)
            stage = STAGES[base] if base else f"other:{name}"
            stages[stage] = stages.get(stage, 0.0) + _seconds(run)
        if len(page) < 200:
            return {k: round(v, 3) for k, v in sorted(stages.items())}
        offset += 200


def run_child(env: dict[str, str], argv: Sequence[str], root: Path) -> dict[str, Any]:
    """Run ``modelwatch <argv>`` in a fresh instrumented process; its timings and peak RSS."""
    out = root / f"child-{time.time_ns()}.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(out), "--", *argv]
    started = time.time()
    process = subprocess.Popen(
        command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, _status, usage = os.wait4(process.pid, 0)
    ended = time.time()
    if not out.exists():
        raise RuntimeError(f"child {argv} failed:\n{output.decode(errors='replace')[-3000:]}")
    data = json.loads(out.read_text())
    marks = data["marks"]
    return {
        "argv": list(argv),
        "exit_code": data["exit_code"],
        "wall_s": round(ended - started, 3),
        "interpreter_s": round(marks["main_start"] - marks["process_start"], 3),
        "imports_s": round(marks["imports_done"] - marks["main_start"], 3),
        "command_s": round(marks["command_done"] - marks["imports_done"], 3),
        "exit_s": round(ended - marks["command_done"], 3),
        "command_started": marks["imports_done"],
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "output_tail": output.decode(errors="replace").strip().splitlines()[-3:],
    }


# --------------------------------------------------------------------------- threads


@contextlib.contextmanager
def burning_cores(n: int) -> Iterator[None]:
    """``n`` processes that each keep a core busy (stopped by PID at the end)."""
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
        for _ in range(n)
    ]
    try:
        time.sleep(0.5)
        yield
    finally:
        for burner in burners:
            with contextlib.suppress(ProcessLookupError):
                os.kill(burner.pid, signal.SIGKILL)
            burner.wait()


def thread_section(repeat: int) -> dict[str, Any]:
    """Multivariate drift (domain classifier + PCA) with and without the thread limit,
    always beside a concurrent numpy thread of the same process (as the other analysis
    tasks of a monitor run are), and again while ``os.cpu_count()`` other processes burn
    every core."""
    import threading

    import numpy as np

    from modelwatch import multivariate, simulate

    reference = simulate.generate_reference(6000, seed=0)
    current = simulate.sample("binary", 5000, drift=0.5, concept=0.0, rng=np.random.default_rng(1))
    numeric = ["age", "income", "debt_ratio", "credit_lines", "utilization", "months_employed"]
    categorical = ["region", "product", "channel"]

    def once() -> float:
        stop = threading.Event()

        def neighbour() -> None:  # another task's numpy work in the same process
            a = np.random.default_rng(0).random((400, 400))
            while not stop.is_set():
                a @ a

        thread = threading.Thread(target=neighbour)
        thread.start()
        t = time.perf_counter()
        multivariate.domain_classifier_drift(
            reference, current, numeric=numeric, categorical=categorical
        )
        multivariate.pca_reconstruction_drift(
            reference, current, numeric=numeric, categorical=categorical
        )
        elapsed = time.perf_counter() - t
        stop.set()
        thread.join()
        return elapsed

    results: dict[str, Any] = {}
    saved = multivariate.MAX_THREADS
    try:
        for load in ("beside_a_numpy_thread", "cores_burned_too"):
            for limit in (None, saved):
                multivariate.MAX_THREADS = limit
                with (
                    burning_cores(os.cpu_count() or 2)
                    if load == "cores_burned_too"
                    else (contextlib.nullcontext())
                ):
                    times = [once() for _ in range(repeat)]
                key = f"{load}_{'unbounded' if limit is None else f'limit_{limit}'}_s"
                results[key] = round(statistics.median(times), 3)
                print(f"  multivariate drift {key}: {results[key]:.2f} s", flush=True)
    finally:
        multivariate.MAX_THREADS = saved
    return results


# --------------------------------------------------------------------------- the world


def write_spec(source: Path, specs_dir: Path, name: str) -> None:
    """A copy of the demo's ``credit`` spec as model ``name`` with data under ``demo/<name>/``."""
    text = source.read_text().replace("name: credit", f"name: {name}")
    text = text.replace("demo/credit/", f"demo/{name}/")
    (specs_dir / f"{name}.yaml").write_text(text)


def build_world(root: Path, models: Sequence[str], rows: dict[str, int]) -> dict[str, float]:
    """Bootstrap each model (champion, suite) and serve its one window; seconds per step."""
    os.environ["MODELWATCH_HOME"] = str(root / "home")
    os.environ["MODELWATCH_EXPECTATIONS_DIR"] = str(root / "expectations")
    os.environ["MODELWATCH_SPECS_DIR"] = str(root / "specs")
    (root / "specs").mkdir(parents=True, exist_ok=True)
    for name in models:
        write_spec(REPO / "deployments" / "specs" / "credit.yaml", root / "specs", name)

    from modelwatch import demo as demo_lib
    from modelwatch import simulate
    from modelwatch.environment import prepare_environment
    from modelwatch.settings import get_settings
    from modelwatch.spec import find_spec

    settings = get_settings()
    prepare_environment(settings, include_prefect=False)
    settings.ensure_home()
    timings = {"bootstrap_s": 0.0, "serve_s": 0.0}
    for name in models:
        spec = find_spec(name, settings.resolved_specs_dir)
        t = time.perf_counter()
        demo_lib.bootstrap(spec, settings, seed=0)
        demo_lib.ensure_suite(spec, settings, rows_per_window=rows[name])
        timings["bootstrap_s"] += time.perf_counter() - t
        t = time.perf_counter()
        demo_lib.serve_window(
            spec,
            settings,
            index=0,
            start=WINDOW_START,
            end=WINDOW_END,
            rows=rows[name],
            seed=0,
            scenario=simulate.Scenario(drift_start=6),
        )
        timings["serve_s"] += time.perf_counter() - t
    from modelwatch.io.store import Store

    Store.open(settings.resolved_store_url).dispose()
    return {k: round(v, 1) for k, v in timings.items()}


def gx_import_seconds(env: dict[str, str]) -> float:
    code = (
        "import time; t = time.perf_counter(); "
        "from modelwatch.io.gx_runtime import import_gx; import_gx(); "
        "print(time.perf_counter() - t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True
    )
    return round(float(out.stdout.strip().splitlines()[-1]), 3)


def single_runs(api: str, env: dict[str, str], root: Path, repeat: int) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        since = datetime.now(UTC)
        result = run_child(env, ["monitor", "credit", "--window-end", WINDOW_END.isoformat()], root)
        flows = flow_runs_after(api, since - timedelta(seconds=1))
        ids = [f["id"] for f in flows]
        result["stages"] = task_breakdown(api, ids)
        monitor = [f for f in flows if str(f["name"]).startswith("monitor-credit")]
        flow_s = sum(_seconds(f) for f in monitor)
        first_start = min(
            (datetime.fromisoformat(f["start_time"]).timestamp() for f in flows if f["start_time"]),
            default=result["command_started"],
        )
        result["flow_s"] = round(flow_s, 3)
        result["before_flow_s"] = round(first_start - result["command_started"], 3)
        result["states"] = sorted({f"{f['name']}: {f['state_name']}" for f in flows})
        result["fixed_overhead_s"] = round(
            result["interpreter_s"]
            + result["imports_s"]
            + result["before_flow_s"]
            + result["exit_s"],
            3,
        )
        result["fixed_share"] = round(result["fixed_overhead_s"] / result["wall_s"], 3)
        runs.append(result)
        print(
            f"  single: {result['wall_s']:.1f} s (fixed {result['fixed_overhead_s']:.1f} s = "
            f"{result['fixed_share']:.0%}) {result['output_tail'][-1:]}",
            flush=True,
        )
    walls = [r["wall_s"] for r in runs]
    return {"runs": runs, "median_wall_s": statistics.median(walls), "min_wall_s": min(walls)}


SERVE_CODE = """
import asyncio
from prefect.runner import Runner
from flows.serve import add_served, served_pairs
from flows.warm import use_warm_starts

use_warm_starts()  # as serve_all does (MODELWATCH_WARM_STARTS decides)
runner = Runner(pause_on_shutdown=True)
for flow, deployment in served_pairs(["credit"]):
    if flow.name == "monitor-model" and deployment.name == "manual":
        add_served(runner, flow, deployment)
asyncio.run(runner.start())
"""


@contextlib.contextmanager
def serving(
    env: dict[str, str], root: Path, warm: bool, poll_seconds: int = 10
) -> Iterator[subprocess.Popen[bytes]]:
    """What ``modelwatch serve`` runs (``flows.serve.serve_all``: Prefect's runner with
    warm starts or not), with only the monitor's ``manual`` deployment: the scheduled
    deployments would start runs of their own during the measurement."""
    log = (root / f"serve-{'warm' if warm else 'cold'}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE_CODE],
        env={
            **env,
            "MODELWATCH_WARM_STARTS": "true" if warm else "false",
            "PREFECT_RUNNER_POLL_FREQUENCY": str(poll_seconds),
        },
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        stop_group(process, grace_s=15)
        log.close()


def _wait_for_deployment(api: str, process: subprocess.Popen[bytes], root: Path) -> str:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited; see {root}/serve-*.log")
        with contextlib.suppress(urllib.error.HTTPError):
            return str(_api(api, "/deployments/name/monitor-model/manual")["id"])
        time.sleep(0.5)
    raise RuntimeError("the monitor-model/manual deployment did not appear in 300 s")


def scheduled_run(api: str, deployment: str, lead_s: float) -> dict[str, Any]:
    """A run of the served monitor scheduled ``lead_s`` ahead; seconds from its scheduled
    time to Running (``late_s``), Running to end (``run_s``) and scheduled time to end."""
    scheduled = datetime.now(UTC) + timedelta(seconds=lead_s)
    run = _api(
        api,
        f"/deployments/{deployment}/create_flow_run",
        {
            "parameters": {"model_name": "credit", "window_end": WINDOW_END.isoformat()},
            "state": {
                "type": "SCHEDULED",
                "state_details": {"scheduled_time": scheduled.isoformat()},
            },
        },
    )
    deadline = time.monotonic() + lead_s + 600
    while time.monotonic() < deadline:
        run = _api(api, f"/flow_runs/{run['id']}")
        if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            break
        time.sleep(0.25)
    else:
        raise RuntimeError(f"flow run {run['id']} did not finish")
    start = datetime.fromisoformat(run["start_time"])
    end = datetime.fromisoformat(run["end_time"])
    return {
        "state": run["state_name"],
        "late_s": round((start - scheduled).total_seconds(), 3),
        "run_s": round((end - start).total_seconds(), 3),
        "end_to_end_s": round((end - scheduled).total_seconds(), 3),
        "flow_run_id": run["id"],
    }


def served_section(
    api: str, env: dict[str, str], root: Path, repeat: int, poll_seconds: int
) -> dict[str, Any]:
    """Runs of the served monitor (the production path: a long-running runner polls the
    server), warm starts on and off, on the single world: *scheduled* runs (15 s ahead, as
    a cron schedule makes them: Prefect's runner starts their process up to 10 s early)
    and *immediate* ones (due now, as the UI's Run button, an event trigger or a late run
    make them; the runner finds them at its next poll, every ``poll_seconds``). The first
    run of each server is reported apart (the warm server starts its fork server then)."""
    leads = {"scheduled": 15.0, "immediate": 0.0}
    section: dict[str, Any] = {"lead_s": leads, "poll_seconds": poll_seconds}
    for warm in (True, False):
        mode = "warm" if warm else "cold"
        with serving(env, root, warm, poll_seconds) as process:
            deployment = _wait_for_deployment(api, process, root)
            section[mode] = {}
            plan = [("first", leads["scheduled"])] + [
                (kind, lead) for kind, lead in leads.items() for _ in range(repeat)
            ]
            for kind, lead in plan:
                _forget_runs(root, ["credit"])
                run = scheduled_run(api, deployment, lead)
                run["stages"] = task_breakdown(api, [run["flow_run_id"]])
                print(
                    f"  served ({mode}, {kind}): {run['end_to_end_s']:.1f} s "
                    f"due → end (late {run['late_s']:.1f} s, run {run['run_s']:.1f} s) "
                    f"{run['state']}",
                    flush=True,
                )
                if kind == "first":
                    section[mode]["first"] = run
                else:
                    section[mode].setdefault(kind, {"runs": []})["runs"].append(run)
    return served_medians(section)


def served_medians(section: dict[str, Any]) -> dict[str, Any]:
    """Medians of each mode and kind, and the fixed share of each run: the time from the
    run being due to it Running (the runner's pick-up, process start or fork, engine
    set-up; 0 when the runner had it running before it was due) over due → end — the
    benchmark's "fixed overhead" for a served run (no interpreter start or imports when
    they happened before the run was due or in the fork server)."""
    for mode in ("warm", "cold"):
        for kind in section["lead_s"]:
            result = section[mode][kind]
            for run in result["runs"]:
                run["fixed_share"] = round(max(run["late_s"], 0.0) / run["end_to_end_s"], 3)
            for key in ("end_to_end_s", "late_s", "run_s", "fixed_share"):
                result[f"median_{key}"] = statistics.median(r[key] for r in result["runs"])
    return section


def fleet_run(
    api: str, env: dict[str, str], root: Path, n_models: int, concurrency: int
) -> dict[str, Any]:
    since = datetime.now(UTC)
    argv = ["fleet", "--window-end", WINDOW_END.isoformat(), "--concurrency", str(concurrency)]
    result = run_child(env, argv, root)
    result["concurrency"] = concurrency
    flows = flow_runs_after(api, since - timedelta(seconds=1))
    result["n_flow_runs"] = len(flows)
    result["states"] = sorted({str(f["state_name"]) for f in flows})
    monitors = [
        f
        for f in flows
        if str(f["name"]).startswith("monitor-") and not str(f["name"]).startswith("monitor-fleet")
    ]
    result["n_monitored"] = sum(1 for f in monitors if f["state_type"] == "COMPLETED")
    result["stages"] = task_breakdown(api, [f["id"] for f in flows])
    result["per_model_s"] = round(result["wall_s"] / n_models, 3)
    print(
        f"  fleet of {n_models}, concurrency {concurrency}: {result['wall_s']:.1f} s "
        f"({result['per_model_s']:.2f} s/model; "
        f"{result['n_monitored']} monitored) {result['output_tail'][-1:]}",
        flush=True,
    )
    return result


def per_process_runs(env: dict[str, str], root: Path, models: Sequence[str]) -> dict[str, Any]:
    runs = [
        run_child(env, ["monitor", m, "--window-end", WINDOW_END.isoformat()], root) for m in models
    ]
    total = sum(r["wall_s"] for r in runs)
    per_model = total / len(runs)
    print(f"  one process per model ({len(models)}): {total:.1f} s ({per_model:.2f} s/model)")
    return {
        "models": list(models),
        "total_s": round(total, 3),
        "per_model_s": round(per_model, 3),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "runs": runs,
    }


def fleet_section(api: str, env: dict[str, str], root: Path, args: argparse.Namespace) -> Any:
    """The fleet world in its own folder (specs dir = the fleet's models only)."""
    names = [f"m{i:02d}" for i in range(args.fleet_models)]
    t = time.perf_counter()
    build = build_world(root, names, dict.fromkeys(names, args.fleet_rows))
    print(f"fleet world: {build} ({time.perf_counter() - t:.0f} s)", flush=True)
    env = {**env, **_world_env(root)}
    naive = per_process_runs(env, root, names[: args.compare_models])
    # the naive runs stored their windows: a fleet run would skip them; forget them first
    _forget_runs(root, names[: args.compare_models])
    # the first tick builds every model's Data Docs pages; later ticks whose outcomes did
    # not change do not: measure ticks of that steady state
    warmup = fleet_run(api, env, root, len(names), concurrency=args.fleet_concurrency)
    _forget_runs(root, names)
    sequential = fleet_run(api, env, root, len(names), concurrency=1)
    _forget_runs(root, names)  # the same windows again, two models at a time
    fleet = fleet_run(api, env, root, len(names), concurrency=args.fleet_concurrency)
    for result in (sequential, fleet):
        result["naive_extrapolated_s"] = round(naive["per_model_s"] * len(names), 1)
        result["speedup_vs_naive"] = round(naive["per_model_s"] / result["per_model_s"], 2)
    return {
        "world": build,
        "first_tick": {k: warmup[k] for k in ("wall_s", "per_model_s", "concurrency")},
        "fleet": fleet,
        "fleet_sequential": sequential,
        "one_process_per_model": naive,
    }


def _forget_runs(root: Path, models: Sequence[str]) -> None:
    from modelwatch.io.store import Store
    from modelwatch.settings import get_settings

    os.environ["MODELWATCH_HOME"] = str(root / "home")
    with Store.open(get_settings().resolved_store_url) as store:
        for model in models:
            store.delete_runs(model) if hasattr(store, "delete_runs") else _delete(store, model)


def _delete(store: Any, model: str) -> None:
    import sqlalchemy as sa

    with store.engine.begin() as conn:
        table = sa.Table("monitor_runs", sa.MetaData(), autoload_with=conn)
        conn.execute(sa.delete(table).where(table.c.model == model))


def _world_env(root: Path) -> dict[str, str]:
    return {
        "MODELWATCH_HOME": str(root / "home"),
        "MODELWATCH_EXPECTATIONS_DIR": str(root / "expectations"),
        "MODELWATCH_SPECS_DIR": str(root / "specs"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fleet-models", type=int, default=20)
    parser.add_argument("--fleet-rows", type=int, default=10_000)
    parser.add_argument("--compare-models", type=int, default=3)
    parser.add_argument("--fleet-concurrency", type=int, default=2)
    parser.add_argument(
        "--prefect-database",
        choices=("postgresql", "sqlite"),
        default="postgresql",
        help="the Prefect server's database: a scratch PostgreSQL database on "
        "127.0.0.1:5432 (the production profile; default) or the server's own SQLite file "
        "(which answers concurrent writes with 503 + client retry: the fleet is ~2x slower)",
    )
    parser.add_argument(
        "--prefect-database-url", default=None, help="an existing database for the server"
    )
    parser.add_argument("--skip-single", action="store_true")
    parser.add_argument("--skip-served", action="store_true")
    parser.add_argument(
        "--poll-seconds",
        type=int,
        default=2,
        help="PREFECT_RUNNER_POLL_FREQUENCY of the served runner (Prefect's default: 10; an "
        "immediate run waits up to one poll before it starts)",
    )
    parser.add_argument("--skip-fleet", action="store_true")
    parser.add_argument("--skip-threads", action="store_true")
    parser.add_argument("--thread-repeat", type=int, default=1)
    parser.add_argument(
        "--merge", action="store_true", help="keep the other sections of an existing --output"
    )
    parser.add_argument("--root", type=Path, default=None, help="keep the worlds here")
    parser.add_argument("--output", type=Path, default=RESULTS / "monitor_benchmark.json")
    parser.add_argument(
        "--summarize", action="store_true", help="print the summary of --output and exit"
    )
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        return child(args.rest, args.child)
    if args.summarize:
        summarize(json.loads(args.output.read_text()))
        return 0
    # SIGTERM (e.g. `timeout`) unwinds like Ctrl-C: the burners and the server are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    root = args.root or Path(tempfile.mkdtemp(prefix="modelwatch-monitor-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "benchmark": "monitor_benchmark",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg_at_start": os.getloadavg(),
        },
        "parameters": {
            k: getattr(args, k)
            for k in (
                "rows",
                "repeat",
                "fleet_models",
                "fleet_rows",
                "fleet_concurrency",
                "compare_models",
            )
        },
        "targets": {"single_wall_s": 8.0, "single_fixed_share": 0.30, "fleet_wall_s": 60.0},
        "prefect_database": "url" if args.prefect_database_url else args.prefect_database,
    }
    servers = (
        contextlib.nullcontext("")
        if args.skip_single and args.skip_served and args.skip_fleet
        else None
    )
    try:
        with (
            (
                contextlib.nullcontext(None)
                if servers is not None
                else prefect_database(args.prefect_database, args.prefect_database_url)
            ) as database,
            servers or prefect_server(root, database) as api,
        ):
            base_env = clean_env(PREFECT_API_URL=api)
            if servers is None:
                report["gx_import_s"] = gx_import_seconds(base_env)
            if not (args.skip_single and args.skip_served):
                single_root = root / "single"
                t = time.perf_counter()
                report["single_world"] = build_world(single_root, ["credit"], {"credit": args.rows})
                print(
                    f"single world ({args.rows} rows): {report['single_world']} "
                    f"({time.perf_counter() - t:.0f} s)",
                    flush=True,
                )
                env = {**base_env, **_world_env(single_root)}
                if not args.skip_single:
                    report["single"] = single_runs(api, env, single_root, args.repeat)
                if not args.skip_served:
                    report["served"] = served_section(
                        api, env, single_root, args.repeat, args.poll_seconds
                    )
            if not args.skip_fleet:
                report["fleet"] = fleet_section(api, base_env, root / "fleet", args)
    finally:
        if args.root is None:
            shutil.rmtree(root, ignore_errors=True)
    if not args.skip_threads:
        report["threads"] = thread_section(args.thread_repeat)
    if args.merge and args.output.exists():
        old = json.loads(args.output.read_text())
        kept = {k: v for k, v in old.items() if k not in report}
        report = {
            **old,
            **report,
            "merged_sections_from": {"date": old["date"], "kept": sorted(kept)},
        }
    summarize(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {args.output}")
    return 0


def summarize(report: dict[str, Any]) -> None:
    targets = report["targets"]
    print()
    print(f"{'case':<44} {'measured':>12} {'target':>10}  met")
    for key, seconds in report.get("threads", {}).items():
        print(f"  multivariate drift (domain classifier + PCA), {key:<28} {seconds:>8.2f}")
    if "single" in report:
        single = report["single"]
        best = min(single["runs"], key=lambda r: r["wall_s"])
        median_run = sorted(single["runs"], key=lambda r: r["wall_s"])[len(single["runs"]) // 2]
        rows = [
            ("single window, median wall (s)", single["median_wall_s"], targets["single_wall_s"]),
            (
                "single window, fixed share (median run)",
                median_run["fixed_share"],
                targets["single_fixed_share"],
            ),
        ]
        for name, value, target in rows:
            print(
                f"{name:<44} {value:>12.3g} {target:>10.3g}  {'yes' if value <= target else 'NO'}"
            )
        print("breakdown of the median run (s):")
        for key in ("interpreter_s", "imports_s", "before_flow_s", "flow_s", "exit_s"):
            print(f"  {key:<20} {median_run[key]:>8.2f}")
        for stage, seconds in median_run["stages"].items():
            print(f"  task {stage:<15} {seconds:>8.2f}")
        print(
            f"  (cold GX import in a fresh process: {report['gx_import_s']:.2f} s; "
            f"best run {best['wall_s']:.2f} s)"
        )
    if "served" in report:
        served = report["served"]
        for mode in ("warm", "cold"):
            for kind in ("scheduled", "immediate"):
                result = served[mode][kind]
                value = result["median_end_to_end_s"]
                target = targets["single_wall_s"]
                print(
                    f"{f'served run, {mode} start, {kind} (s)':<44} {value:>12.3g} "
                    f"{target:>10.3g}  {'yes' if value <= target else 'NO'}"
                )
                print(
                    f"  due → Running {result['median_late_s']:.2f} s, "
                    f"Running → end {result['median_run_s']:.2f} s, "
                    f"fixed share {result['median_fixed_share']:.0%} (medians)"
                )
    if "fleet" in report:
        fleet = report["fleet"]["fleet"]
        naive = report["fleet"]["one_process_per_model"]
        value = fleet["wall_s"]
        print(
            f"{'fleet, wall (s)':<44} {value:>12.3g} {targets['fleet_wall_s']:>10.3g}  "
            f"{'yes' if value <= targets['fleet_wall_s'] else 'NO'}"
        )
        if "fleet_sequential" in report["fleet"]:
            sequential = report["fleet"]["fleet_sequential"]
            print(
                f"  one model at a time: {sequential['wall_s']:.1f} s; "
                f"{fleet['concurrency']} at a time: {fleet['wall_s']:.1f} s"
            )
        print(
            f"  per model: fleet {fleet['per_model_s']:.2f} s, one process per model "
            f"{naive['per_model_s']:.2f} s (x{fleet['speedup_vs_naive']}); "
            f"peak RSS fleet {fleet['peak_rss_mb']:.0f} MB, per process {naive['peak_rss_mb']:.0f} MB"
        )


if __name__ == "__main__":
    sys.exit(main())
