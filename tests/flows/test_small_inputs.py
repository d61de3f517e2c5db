"""Small and ambiguous input through the real ``monitor-model`` flow: never a silent outcome.

* epoch-integer timestamps are read with ``columns.timestamp_unit``; without it the run
  fails naming the column and the file (it used to end ``NoData``: every row in 1970);
* conflicting labels for one id are resolved (latest wins) and counted in the store's
  data-quality rows;
* a one-row window completes; the optional analyses it is too small for are skipped with
  a note (it used to crash in the domain classifier).

Raw files are byte-identical afterwards in every case.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from flows.monitor import monitor_model
from tests.flows.conftest import REPO, World

Frame = pd.DataFrame


@pytest.fixture(scope="module")
def base(world: World) -> dict[str, Frame]:
    """Window 0 as the demo serves it (a template: other windows are shifted copies)."""
    world.serve(0)
    return {
        "log": pd.read_parquet(world.log_file(0)),
        "labels": pd.read_parquet(world.label_file(0)),
    }


def _run(world: World, index: int) -> Any:
    return monitor_model(
        model_name="credit", window_end=world.window(index)[1], window_hours=1.0, return_state=True
    )


def _shifted(world: World, base: dict[str, Frame], index: int) -> tuple[Frame, Frame]:
    """Window 0's log and labels moved to window ``index`` with ids of their own."""
    shift = world.window(index)[0] - world.window(0)[0]
    log, labels = base["log"].copy(), base["labels"].copy()
    new_ids = {old: f"s{index:03d}-{i:06d}" for i, old in enumerate(log["prediction_id"])}
    log["prediction_id"] = log["prediction_id"].map(new_ids)
    log["timestamp"] = log["timestamp"] + shift
    labels["prediction_id"] = labels["prediction_id"].map(new_ids)
    labels["label_timestamp"] = labels["label_timestamp"] + shift
    return log, labels


def _write(frame: Frame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def _use_spec(monkeypatch: pytest.MonkeyPatch, tmp: Path, folder: str, **columns: Any) -> None:
    """The credit spec reading ``demo/credit/<folder>{predictions,labels}``, columns amended."""
    spec = yaml.safe_load((REPO / "deployments" / "specs" / "credit.yaml").read_text())
    spec["sources"]["predictions"] = {"path": f"demo/credit/{folder}predictions"}
    spec["sources"]["labels"] = {"path": f"demo/credit/{folder}labels"}
    spec["columns"].update(columns)
    specs = tmp / "specs"
    specs.mkdir()
    (specs / "credit.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("MODELWATCH_SPECS_DIR", str(specs))


def _files(world: World) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((world.home / "demo").rglob("*"))
        if p.is_file()
    }


def _run_row(world: World, start: datetime) -> dict[str, Any] | None:
    store = world.store()
    try:
        return next((r for r in store.runs("credit") if r["window_start"] == start), None)
    finally:
        store.dispose()


def _epoch(log: Frame) -> Frame:
    seconds = (log["timestamp"] - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta("1s")
    return log.assign(timestamp=seconds.astype("int64"))


# --------------------------------------------------------------------------- epoch timestamps


def test_epoch_seconds_with_a_declared_unit_are_monitored(
    world: World, base: dict[str, Frame], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use_spec(monkeypatch, tmp_path, "epoch-", timestamp_unit="s")
    log, labels = _shifted(world, base, 60)
    start, _ = world.window(60)
    root = world.home / "demo" / "credit"
    _write(_epoch(log), root / "epoch-predictions" / f"{start:%Y-%m-%dT%H%M}.parquet")
    _write(labels, root / "epoch-labels" / f"{start:%Y-%m-%dT%H%M}.parquet")
    before = _files(world)
    state = _run(world, 60)
    assert state.is_completed() and state.name != "NoData", (state.name, state.message)
    run = _run_row(world, start)
    assert run is not None
    assert (run["n_rows"], run["n_labeled"]) == (len(log), len(labels))
    assert _files(world) == before


def test_epoch_integers_without_a_unit_fail_naming_column_and_file(
    world: World, base: dict[str, Frame], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use_spec(monkeypatch, tmp_path, "epoch-nounit-")
    log, labels = _shifted(world, base, 61)
    start, _ = world.window(61)
    root = world.home / "demo" / "credit"
    path = _write(_epoch(log), root / "epoch-nounit-predictions" / f"{start:%Y-%m-%dT%H%M}.parquet")
    _write(labels, root / "epoch-nounit-labels" / f"{start:%Y-%m-%dT%H%M}.parquet")
    before = _files(world)
    state = _run(world, 61)
    assert state.is_failed(), (state.name, state.message)  # was: Completed('NoData')
    assert f"column 'timestamp' in {path} holds integers" in state.message
    assert "declare columns.timestamp_unit (s, ms, us or ns)" in state.message
    assert _run_row(world, start) is None
    assert _files(world) == before


# --------------------------------------------------------------------------- labels


def test_conflicting_labels_are_counted_in_the_data_quality_rows(
    world: World, base: dict[str, Frame]
) -> None:
    log, labels = _shifted(world, base, 62)
    start, _ = world.window(62)
    root = world.home / "demo" / "credit"
    name = f"{start:%Y-%m-%dT%H%M}.parquet"
    # a correction feed, read after the first (sorted by path): 7 labels flipped, 3 repeated
    flipped = labels.iloc[:7].assign(defaulted=1 - labels["defaulted"].iloc[:7])
    repeated = labels.iloc[7:10]
    later = pd.concat([flipped, repeated], ignore_index=True)
    later["label_timestamp"] = later["label_timestamp"] + pd.Timedelta(hours=1)
    _write(log, root / "predictions" / name)
    _write(labels, root / "labels" / name)
    _write(later, root / "labels" / f"{start:%Y-%m-%dT%H%M}-corrections.parquet")
    before = _files(world)
    state = _run(world, 62)
    assert state.is_completed(), state.message
    assert _files(world) == before
    store = world.store()
    try:
        rows = store.data_quality("credit", window_start=start, stat="conflicting_labels")
    finally:
        store.dispose()
    (row,) = rows
    assert row["value"] == 7
    examples = row["detail"].split(",")
    assert 1 <= len(examples) <= 5 and set(examples) <= set(flipped["prediction_id"])
    run = _run_row(world, start)
    assert run is not None and run["n_labeled"] == len(labels)  # one label per id


# --------------------------------------------------------------------------- tiny windows


def test_a_one_row_window_completes_and_notes_what_it_skipped(
    world: World, base: dict[str, Frame]
) -> None:
    log, labels = _shifted(world, base, 63)
    start, _ = world.window(63)
    root = world.home / "demo" / "credit"
    name = f"{start:%Y-%m-%dT%H%M}.parquet"
    one = log[log["prediction_id"].isin(labels["prediction_id"])].iloc[:1]  # a labeled row
    _write(one, root / "predictions" / name)
    _write(labels[labels["prediction_id"].isin(one["prediction_id"])], root / "labels" / name)
    before = _files(world)
    state = _run(world, 63)  # was: Failed (domain_classifier_drift needs at least 10 rows)
    assert state.is_completed() and state.name != "NoData", (state.name, state.message)
    message = state.message or ""
    assert "multivariate drift skipped (1 rows < 10)" in message
    assert "CBPE estimation skipped (1 rows < 30)" in message
    assert "bootstrap CIs of realized metrics skipped (1 labeled rows < 10)" in message
    assert "segment metrics skipped (1 labeled rows < 30 per segment value)" in message
    run = _run_row(world, start)
    assert run is not None and run["n_rows"] == 1
    summary = state.result()
    assert summary.n_rows == 1 and summary.multivariate == {} and summary.estimated == {}
    assert _files(world) == before
