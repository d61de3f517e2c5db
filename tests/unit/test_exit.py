"""``cli.main.exit_now``: the quick exit of the ``modelwatch`` command loses nothing the
interpreter's own exit would have done (threads joined, atexit run, output flushed)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_exit_now_joins_threads_runs_atexit_flushes_and_keeps_the_code() -> None:
    code = textwrap.dedent(
        """
        import atexit, sys, threading, time
        from cli.main import exit_now

        def late():
            time.sleep(0.3)
            print("thread done")  # buffered: only a flush at exit writes it

        threading.Thread(target=late).start()
        atexit.register(lambda: print("atexit ran"))
        sys.stderr.write("to stderr")
        print("out")
        exit_now(3)
        print("never")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3
    assert done.stdout.splitlines() == ["out", "thread done", "atexit ran"]
    assert done.stderr == "to stderr"


def test_the_command_exits_with_its_code() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli", "monitor", "no-such-model"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "no-such-model" in done.stderr
