"""The demo end to end: its table shows the staged rollout shadow -> canary -> promoted.

The demo's credit spec has ``ab.staged_rollout: true`` (pinned here, :data:`ROLLOUT`):
after the drift (window 6) the
retrained challenger wins offline and enters the shadow stage, is scored in shadow for
``ab.shadow_hours`` of windows, serves ``ab.canary_share`` of the requests as canary, and
the sequential test promotes it. The canary windows' logs have the ``variant`` column
written by :func:`modelwatch.serving.score_with_stages` (the spec declares no
``columns.variant``: a window served by the champion alone has none).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from flows.demo import demo
from modelwatch import demo as demo_lib
from modelwatch.settings import get_settings
from modelwatch.spec import find_spec
from tests.flows.conftest import REPO

#: the demo spec's staged rollout (deployments/specs/credit.yaml), pinned here so that this
#: test shows the rollout even if the repo's spec turns it off
ROLLOUT = {"staged_rollout": True, "shadow_hours": 2, "canary_share": 0.2, "max_canary_hours": 6}


@pytest.fixture
def demo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = yaml.safe_load((REPO / "deployments" / "specs" / "credit.yaml").read_text())
    data["ab"].update(ROLLOUT)
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "credit.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("MODELWATCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MODELWATCH_EXPECTATIONS_DIR", str(tmp_path / "expectations"))
    monkeypatch.setenv("MODELWATCH_SPECS_DIR", str(specs))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MODELWATCH_STORE_URL", raising=False)
    get_settings().ensure_home()
    return tmp_path / "home"


def _rollout_cells(out: str) -> list[str]:
    """The ``rollout`` column of the demo's table (after the champion column)."""
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("window (UTC)"))
    start = lines[head].index("rollout")
    end = lines[head].index("decision")
    return [line[start:end].strip() for line in lines[head + 1 :] if line[:4].isdigit()]


@pytest.mark.slow
def test_the_demo_shows_shadow_then_canary_then_promoted(
    demo_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state: Any = demo("credit", return_state=True)
    out = capsys.readouterr().out
    assert state.is_completed(), out
    cells = _rollout_cells(out)
    assert len(cells) == 14, out
    moves = [c for c in cells if "->" in c]
    assert moves == ["-> shadow v2", "shadow -> canary v2 20%", "canary -> promoted v2"], out
    entered, canary, promoted = (cells.index(m) for m in moves)
    assert canary - entered == 2  # ab.shadow_hours: 2 hourly windows in shadow
    assert 1 <= promoted - canary <= 6  # decided within ab.max_canary_hours
    assert cells[entered + 1] == "shadow v2"
    assert all(cell == "canary v2 20%" for cell in cells[canary + 1 : promoted])
    assert "1 promotion(s) (1 after a staged rollout)" in state.message

    # the log: the shadow windows logged the shadow's answers; the canary windows served
    # ~20 % of the requests from the canary and say so in the variant column
    spec = find_spec("credit", get_settings().resolved_specs_dir)
    settings = get_settings()
    logs = [
        pd.read_parquet(
            demo_lib.window_file(spec.sources.predictions, settings.home_dir, summary.window_start)  # type: ignore[arg-type]
        )
        for summary in state.result()
    ]
    shadow_windows = [i for i, log in enumerate(logs) if "shadow_prediction" in log.columns]
    assert shadow_windows == [entered + 1, entered + 2]
    canary_windows = [i for i, log in enumerate(logs) if "variant" in log.columns]
    assert canary_windows == list(range(canary + 1, promoted + 1))
    for index in canary_windows:
        share = (logs[index]["variant"] == "canary").mean()
        assert 0.17 < share < 0.23, (index, share)
    # the rollout's own columns are expected extras: no column-set warning for them (it
    # said "passed, 1 warning(s)" on each of these windows before)
    summaries = state.result()
    assert [summaries[i].validation for i in (*shadow_windows, *canary_windows)] == ["passed"] * (
        len(shadow_windows) + len(canary_windows)
    )
