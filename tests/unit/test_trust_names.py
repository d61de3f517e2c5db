"""A model name from the command line (or a flow parameter) never reaches outside the specs folder.

``modelwatch monitor ../../<dir>/secret`` used to open ``<dir>/secret.yaml`` (two levels
above the specs folder) and print its content in the validation error. The name is now
checked against :data:`modelwatch.spec.MODEL_NAME_RULE` before any file is opened.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modelwatch.spec import MODEL_NAME_RULE

SECRET = "hunter2-TOPSECRET"


def _leaks(text: str) -> list[str]:
    """Pieces of the secret found in ``text``: any 7-character slice of it (so the whole too)."""
    pieces = {SECRET[i : i + 7] for i in range(len(SECRET) - 6)}
    return sorted(p for p in pieces if p in text)


@pytest.mark.slow  # the CLI starts a temporary Prefect server (15-60 s)
def test_monitor_refuses_a_traversing_model_name_without_echoing_the_target(
    tmp_path: Path,
) -> None:
    specs = tmp_path / "config" / "specs"
    specs.mkdir(parents=True)
    loot = tmp_path / "loot"
    loot.mkdir()
    # reachable as <specs>/../../loot/secret.yaml; a mapping with an unknown key, which the
    # old validation error echoed with its value
    secret = loot / "secret.yaml"
    secret.write_text(f"api_token: {SECRET}\nnote: {SECRET}\n", encoding="utf-8")
    assert (specs / "../../loot/secret.yaml").resolve() == secret.resolve()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MODELWATCH_", "PREFECT_API", "MLFLOW_TRACKING"))
    }
    env.update(
        MODELWATCH_HOME=str(tmp_path / "home"),
        MODELWATCH_SPECS_DIR=str(specs),
        MODELWATCH_EXPECTATIONS_DIR=str(tmp_path / "expectations"),
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_RESULTS_LOCAL_STORAGE_PATH=str(tmp_path / "prefect" / "results"),
        PREFECT_LOGGING_LEVEL="INFO",
    )
    script = shutil.which("modelwatch", path=f"{Path(sys.executable).parent}{os.pathsep}")
    command = [script] if script else [sys.executable, "-m", "cli"]
    done = subprocess.run(
        [*command, "monitor", "../../loot/secret"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-3000:]  # cannot start: exit 2
    # refused by the command's pre-flight, before Prefect starts, on stderr
    assert "invalid model name '../../loot/secret'" in done.stderr, output[-3000:]
    assert MODEL_NAME_RULE in done.stderr
    assert _leaks(output) == [], output[-3000:]
    assert secret.read_text(encoding="utf-8").count(SECRET) == 2  # untouched
