"""Clean up after a ``modelwatch`` command that was killed (SIGKILL, OOM killer, lost terminal).

A killed command cannot clean up itself: Prefect's temporary server (a uvicorn
child process) is orphaned and keeps running, and the flow runs it was executing
stay ``RUNNING`` forever. The command therefore starts this watchdog first, in a
session of its own, with the command's pid and a run tag. The watchdog

1. polls every ``poll_s`` whether the command is alive, remembering its child
   processes (pid + start time, so a recycled pid is never signalled);
2. when the command is gone, marks every flow run carrying the tag (the command's
   top-level run, tagged when it starts running) and every subflow run below it that
   is not yet final as ``Crashed`` (through Prefect's REST API: the temporary server if it
   is still up, else ``PREFECT_API_URL``), then stops the remembered children that
   are still running (SIGTERM, then SIGKILL after 5 s).

A command that ends normally leaves nothing behind, so the watchdog finds no
child and no unfinished run and exits. Linux only (``/proc``); elsewhere it is
not started. No Prefect import: plain HTTP.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

FINAL_STATES = ["COMPLETED", "FAILED", "CANCELLED", "CRASHED"]
_SERVER_APP = "prefect.server.api.server:create_app"


@dataclass(frozen=True)
class Child:
    pid: int
    start_time: str  # field 22 of /proc/<pid>/stat: identifies the process, not just the pid
    cmdline: tuple[str, ...]

    @property
    def prefect_api_url(self) -> str | None:
        """The API URL when this child is Prefect's temporary server."""
        if _SERVER_APP not in self.cmdline or "--port" not in self.cmdline:
            return None
        port = self.cmdline[self.cmdline.index("--port") + 1]
        return f"http://127.0.0.1:{port}/api"


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    return [str(pid), "comm", *text.rsplit(")", 1)[1].split()]


def is_alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[2] != "Z"


def children(pid: int) -> list[Child]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is None or stat[3] != str(pid):
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        cmdline = tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)
        out.append(Child(int(entry.name), stat[21], cmdline))
    return out


def crash_tagged_runs(api_url: str, tag: str, *, reason: str, timeout_s: float = 10.0) -> int:
    """Set every non-final flow run tagged ``tag``, and every non-final subflow run below
    one, to Crashed; returns how many.

    Only the command's top-level flow run carries the tag (its subflows and task runs do
    not: a tag on a task run costs a concurrency-slot request per task), so the
    subflows are found by their parent, level by level.
    """
    crashed = 0
    not_final = {"type": {"not_any_": FINAL_STATES}}
    with httpx.Client(base_url=api_url.rstrip("/"), timeout=timeout_s) as client:

        def unfinished(selector: dict[str, Any]) -> list[dict[str, Any]]:
            body = {"flow_runs": {**selector, "state": not_final}, "limit": 200}
            response = client.post("/flow_runs/filter", json=body)
            response.raise_for_status()
            return list(response.json())

        seen: set[str] = set()
        level = unfinished({"tags": {"all_": [tag]}})
        parents = [run["id"] for run in level]
        while parents:  # a subflow may be unfinished below a parent that is still running
            children = unfinished({"parent_flow_run_id": {"any_": parents}})
            level += children
            parents = [run["id"] for run in children if run["id"] not in parents]
        for run in level:
            if run["id"] in seen:
                continue
            seen.add(run["id"])
            client.post(
                f"/flow_runs/{run['id']}/set_state",
                json={
                    "state": {"type": "CRASHED", "name": "Crashed", "message": reason},
                    "force": True,
                },
            ).raise_for_status()
            crashed += 1
    return crashed


def _stop(child: Child) -> None:
    stat = _stat(child.pid)
    if stat is None or stat[21] != child.start_time:
        return  # gone, or the pid now belongs to another process
    os.kill(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and is_alive(child.pid):
        time.sleep(0.1)
    stat = _stat(child.pid)
    if stat is not None and stat[21] == child.start_time and stat[2] != "Z":
        os.kill(child.pid, signal.SIGKILL)


def watch(parent: int, tag: str, *, poll_s: float = 0.5) -> int:
    """Wait for ``parent`` to end, then crash its unfinished runs and stop its children."""
    known: dict[int, Child] = {}
    while is_alive(parent):
        for child in children(parent):
            if child.pid != os.getpid():  # the watchdog is a child of the command too
                known.setdefault(child.pid, child)
        time.sleep(poll_s)
    alive = [c for c in known.values() if (s := _stat(c.pid)) and s[21] == c.start_time]
    urls = [url for c in alive if (url := c.prefect_api_url)]
    if os.environ.get("PREFECT_API_URL"):
        urls.append(os.environ["PREFECT_API_URL"])
    crashed = 0
    for url in urls:
        try:
            crashed = crash_tagged_runs(
                url, tag, reason=f"the modelwatch command (pid {parent}) was killed"
            )
            break
        except httpx.HTTPError:
            continue
    for child in alive:
        _stop(child)
    if crashed or alive:
        print(
            f"modelwatch watchdog: pid {parent} ended; {crashed} run(s) marked Crashed, "
            f"{len(alive)} child process(es) stopped",
            file=sys.stderr,
        )
    return 0


def start(tag: str) -> subprocess.Popen[bytes] | None:
    """Start the watchdog of this process (Linux); None where /proc is missing."""
    if not Path("/proc/self/stat").exists():
        return None
    return subprocess.Popen(
        [sys.executable, "-m", "modelwatch.watchdog", str(os.getpid()), tag],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C to the command's process group does not reach it
    )


def run_tag() -> str:
    """The tag this process puts on its flow runs (host and pid, Prefect tag-safe)."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", os.uname().nodename)[:40]
    return f"modelwatch-cli:{host}:{os.getpid()}"


if __name__ == "__main__":  # pragma: no cover - run by start()
    sys.exit(watch(int(sys.argv[1]), sys.argv[2]))
