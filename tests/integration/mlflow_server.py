"""A real ``mlflow server`` on 127.0.0.1 for integration tests.

SQLite backend and artifact folder in a temp dir, a free port, ``--workers 1``,
``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false`` (otherwise start-up takes ~60 s and
SIGTERM leaves orphaned ``huey_consumer`` processes) and telemetry off. The
server runs in its own session / process group (``start_new_session=True``) and
is stopped by that group id: SIGTERM, then SIGKILL for whatever is left. It can
be stopped and restarted on the same port and backend, to test what happens
when MLflow goes down in the middle of a flow.

Use the ``mlflow_server`` fixture (module scope)::

    from tests.integration.mlflow_server import mlflow_server  # noqa: F401
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["MlflowServer", "free_port", "mlflow_server"]

STARTUP_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MlflowServer:
    """One ``mlflow server`` process group; ``url`` is the tracking URI."""

    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def backend_uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            self.backend_uri,
            "--artifacts-destination",
            str(self.artifacts_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"
        return env

    def _log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "<no server log>"
        return "\n".join(lines[-n:])

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def start(self, *, timeout: float = STARTUP_TIMEOUT_S) -> MlflowServer:
        """Start the server and wait until ``/health`` answers (the process must stay alive)."""
        if self.alive:
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n--- start #{self.starts} on port {self.port}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self._command(),
                cwd=self.root,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                code = self.process.returncode
                self.process = None
                raise RuntimeError(
                    f"mlflow server on port {self.port} exited with code {code} during "
                    f"start-up; log tail:\n{self._log_tail()}"
                )
            if self._healthy():
                return self
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(
            f"mlflow server on port {self.port} not healthy after {timeout:.0f} s; "
            f"log tail:\n{self._log_tail()}"
        )

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it if anything is left after a grace period."""
        process, self.process = self.process, None
        if process is None:
            return
        pgid = process.pid  # session leader: its pid is the group id
        _signal_group(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_S)
        deadline = time.monotonic() + 5.0
        while _group_exists(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _group_exists(pgid):
            _signal_group(pgid, signal.SIGKILL)
        if process.poll() is None:
            process.wait(timeout=STOP_TIMEOUT_S)

    def restart(self) -> MlflowServer:
        """Stop (if running) and start again on the same port and backend."""
        self.stop()
        return self.start()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a foreign process reused the id
        return False
    return True


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A running MLflow server (module scope), stopped by process group at the end."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    try:
        yield server.start()
    finally:
        server.stop()
