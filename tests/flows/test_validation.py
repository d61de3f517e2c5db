"""``validate-window``: data-quality stats and artifacts, and the quarantine life cycle."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from cli.main import main
from flows.monitor import monitor_model
from flows.validate import ValidatedWindow, validate_window
from modelwatch.stats.data_quality import DataQualityStats
from tests.flows.conftest import World


def _run(world: World, index: int):  # type: ignore[no-untyped-def]
    _, end = world.window(index)
    return monitor_model(model_name="credit", window_end=end, window_hours=1.0, return_state=True)


def _log_file(world: World, index: int) -> Path:
    return world.log_file(index)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _artifacts(flow_run_id: Any) -> dict[str, Any]:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key: a for a in found}


def test_validate_window_returns_stores_and_publishes_data_quality(world: World) -> None:
    world.serve(10)
    log = _log_file(world, 10)
    frame = pd.read_parquet(log)
    frame.loc[frame.index % 20 == 0, "region"] = "atlantis"  # 5 %: a warning, not critical
    frame.to_parquet(log, index=False)
    _, end = world.window(10)

    state = validate_window(
        model_name="credit", window_end=end, window_hours=1.0, return_state=True
    )

    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, ValidatedWindow) and isinstance(result.quality, DataQualityStats)
    assert result.quality.n_rows == len(frame)
    assert result.quality.column("region").new_categories == ("atlantis",)
    assert result.report is not None and [w.column for w in result.report.warnings] == ["region"]

    store = world.store()
    rows = store.data_quality("credit", window_start=world.window(10)[0])
    assert {(r["column_name"], r["stat"]) for r in rows} >= {
        (None, "n_rows"),
        (None, "duplicate_ids"),
        (None, "unmatched_labels"),
        ("region", "new_category_share"),
        ("income", "missing_share"),
    }
    assert {r["flow_run_id"] for r in rows} == {str(state.state_details.flow_run_id)}

    artifacts = _artifacts(state.state_details.flow_run_id)
    assert {"credit-data-quality", "credit-data-docs", "credit-validation"} <= set(artifacts)
    table = artifacts["credit-data-quality"]
    assert table.type == "table" and "atlantis" in str(table.data)
    assert "new categories (atlantis)" in (table.description or "")
    link = str(artifacts["credit-data-docs"].data)
    page = Path(link.split("](")[-1].rstrip(")").removeprefix("file://"))
    assert page.is_file() and "validations" in page.parts  # the page of this validation
    markdown = str(artifacts["credit-validation"].data)
    assert "1 warning(s)" in markdown and "column 'region'" in markdown


def test_a_quarantined_window_is_held_until_released_then_revalidated(world: World) -> None:
    world.serve(11)
    log = _log_file(world, 11)
    start, _ = world.window(11)
    good = log.read_bytes()
    frame = pd.read_parquet(log)
    frame.loc[:10, "score"] = 1.7
    frame.to_parquet(log, index=False)
    bad_sha = _sha(log)
    store = world.store()

    first = _run(world, 11)
    assert first.is_failed() and "'score'" in (first.message or "")
    assert [q["sha256"] for q in store.quarantined("credit", window_start=start)] == [bad_sha]

    held = _run(world, 11)  # not released: held, not re-validated, nothing recorded twice
    assert held.is_failed()
    assert "is quarantined" in (held.message or "")
    assert "modelwatch quarantine release credit --window-start" in (held.message or "")
    assert len(store.quarantined("credit", window_start=start)) == 1

    assert main(["quarantine", "release", "credit", "--window-start", start.isoformat()]) == 0
    again = _run(world, 11)  # released but not fixed: quarantined a second time, no crash
    assert again.is_failed() and "failed validation" in (again.message or "")
    history = store.quarantined("credit", include_released=True, window_start=start)
    assert [(q["released"], q["sha256"]) for q in history] == [(True, bad_sha), (False, bad_sha)]
    assert _sha(log) == bad_sha  # never modified

    log.write_bytes(good)  # the data team fixes the file
    assert main(["quarantine", "release", "credit", "--window-start", start.isoformat()]) == 0
    fixed = _run(world, 11)
    assert fixed.is_completed() and fixed.name == "Completed", fixed.message
    runs = [r for r in store.runs("credit") if r["window_start"] == start]
    assert len(runs) == 1 and runs[0]["validation_passed"]
    history = store.quarantined("credit", include_released=True, window_start=start)
    assert [q["released"] for q in history] == [True, True]  # released rows kept as history
    assert store.quarantined("credit") == []
