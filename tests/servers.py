"""Real servers for integration and e2e tests: PostgreSQL databases and a Prefect server.

Every server binds to 127.0.0.1 on a free port, runs in its own process group
(``start_new_session=True``) and is stopped by that group: SIGTERM, then SIGKILL.
Start-up is health-polled while checking that the process is still alive, so a
server that dies at import fails fast with its log tail.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.mlflow_server import MlflowServer, free_port

PG_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_available() -> bool:
    try:
        import psycopg2

        psycopg2.connect(PG_DSN, connect_timeout=3).close()
        return True
    except Exception:
        return False


def require_postgres() -> None:
    """Skip on a developer machine without PostgreSQL; fail in CI (it must be there)."""
    if postgres_available():
        return
    message = "PostgreSQL is not reachable on 127.0.0.1:5432 (user postgres)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A fresh database ``<prefix>_<random>``; yields its name, drops it afterwards."""
    import psycopg2

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"

    def admin() -> Any:
        conn = psycopg2.connect(PG_DSN, connect_timeout=10)
        conn.autocommit = True
        return conn

    conn = admin()
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        yield name
    finally:
        conn = admin()  # a fresh connection: a test may have restarted the server
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@dataclass
class Process:
    """A child process group with a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "<no log>"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is not None:
            return
        pgid = self.process.pid
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
            try:
                self.process.wait(timeout=timeout / 2)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def start_process(
    name: str, command: Sequence[str], *, env: Mapping[str, str], log: Path, cwd: Path | None = None
) -> Process:
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = log.open("wb")
    process = subprocess.Popen(
        list(command),
        env=dict(env),
        cwd=cwd,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Process(name, process, log)


def wait_healthy(proc: Process, url: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive:
            raise RuntimeError(f"{proc.name} exited with {proc.process.returncode}:\n{proc.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    proc.stop()
    raise RuntimeError(f"{proc.name} not healthy at {url} after {timeout:.0f} s:\n{proc.tail()}")


def clean_env(**extra: str) -> dict[str, str]:
    """This process' environment without Prefect/MLflow/modelwatch settings, plus ``extra``."""
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


@dataclass
class PrefectServer:
    url: str  # the API URL, .../api
    ui: str
    process: Process


@contextlib.contextmanager
def prefect_server(root: Path, database_url: str | None = None) -> Iterator[PrefectServer]:
    """``prefect server start`` on a free port (SQLite under ``root`` unless ``database_url``)."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = clean_env(
        PREFECT_HOME=str(root / "prefect-home"),
        PREFECT_UI_API_URL=api,
        PREFECT_UI_STATIC_DIRECTORY=str(root / "ui_static"),
        PREFECT_API_URL=api,
    )
    if database_url:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = database_url
    proc = start_process(
        "prefect server",
        ["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        log=root / "prefect-server.log",
    )
    try:
        wait_healthy(proc, f"{api}/health", timeout=120)
        yield PrefectServer(api, f"http://127.0.0.1:{port}", proc)
    finally:
        proc.stop()


class PostgresMlflowServer(MlflowServer):
    """``mlflow server`` with a PostgreSQL backend store."""

    database: str = ""

    @property
    def backend_uri(self) -> str:
        return f"postgresql://postgres@127.0.0.1:5432/{self.database}"


__all__ = [
    "PostgresMlflowServer",
    "PrefectServer",
    "Process",
    "Receivers",
    "alert_receivers",
    "clean_env",
    "free_port",
    "postgres_database",
    "prefect_server",
    "require_postgres",
    "start_process",
    "wait_healthy",
]


@dataclass
class Receivers:
    webhook_url: str
    smtp_port: int
    out: Path

    def webhooks(self) -> list[dict[str, Any]]:
        import json

        return [json.loads(p.read_text()) for p in sorted(self.out.glob("webhook-*.json"))]

    def mails(self) -> list[Any]:
        from email import message_from_bytes, policy

        return [
            message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(self.out.glob("mail-*.eml"))
        ]


@contextlib.contextmanager
def alert_receivers(root: Path) -> Iterator[Receivers]:
    """A webhook receiver and an SMTP receiver in one child process."""
    import sys

    http_port, smtp_port = free_port(), free_port()
    out = root / "received"
    proc = start_process(
        "alert receivers",
        [
            sys.executable,
            "-m",
            "tests.receivers",
            "--http-port",
            str(http_port),
            "--smtp-port",
            str(smtp_port),
            "--out",
            str(out),
        ],
        env=clean_env(),
        log=root / "receivers.log",
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        wait_healthy(proc, f"http://127.0.0.1:{http_port}/health", timeout=30)
        yield Receivers(f"http://127.0.0.1:{http_port}/hook", smtp_port, out)
    finally:
        proc.stop()
