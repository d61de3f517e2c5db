"""Bad input through the real ``monitor-model`` flow: a clear outcome, nothing lost.

Every case writes its own window (a distinct index) next to a healthy window 0
monitored first, then asserts: the final state (``Failed`` with a message that
names the file or column, or ``Completed`` with the warning stored in
``validation_results``), that every raw file under the data folder is
byte-identical afterwards, and that the results of the other windows in the
store are untouched. Cases that need CSV or a folder of their own point
``MODELWATCH_SPECS_DIR`` at a variant of the credit spec.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from flows.monitor import monitor_model
from modelwatch.io import suites as quality
from tests.flows.conftest import World
from tests.specs import spec_path

Frame = pd.DataFrame


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def base(world: World) -> dict[str, Frame]:
    """Window 0 served and monitored (the earlier results every case must leave alone)."""
    world.serve(0)
    state = _run(world, 0)
    assert state.name == "Completed", state.message
    return {
        "log": pd.read_parquet(world.log_file(0)),
        "labels": pd.read_parquet(world.label_file(0)),
    }


def _run(world: World, index: int, *, window_end: datetime | None = None, hours: float = 1.0):  # type: ignore[no-untyped-def]
    end = window_end or world.window(index)[1]
    return monitor_model(model_name="credit", window_end=end, window_hours=hours, return_state=True)


def _shifted(world: World, base: dict[str, Frame], index: int) -> tuple[Frame, Frame]:
    """Window 0's log and labels moved to window ``index`` (new ids, same rows otherwise)."""
    shift = world.window(index)[0] - world.window(0)[0]
    log = base["log"].copy()
    labels = base["labels"].copy()
    new_ids = {old: f"w{index:03d}-{i:06d}" for i, old in enumerate(log["prediction_id"])}
    log["prediction_id"] = log["prediction_id"].map(new_ids)
    log["timestamp"] = log["timestamp"] + shift
    labels["prediction_id"] = labels["prediction_id"].map(new_ids)
    return log, labels


def _write(frame: Frame, path: Path, fmt: str = "parquet", encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, encoding=encoding)
    return path


def _plant(
    world: World,
    base: dict[str, Frame],
    index: int,
    mutate: Callable[[Frame], Frame] = lambda f: f,
    *,
    labels: Callable[[Frame], Frame] = lambda f: f,
    folder: str = "",
    fmt: str = "parquet",
) -> Path:
    """Write window ``index`` (mutated) as the serving system would; returns the log file."""
    log, lab = _shifted(world, base, index)
    start, _ = world.window(index)
    root = world.home / "demo" / "credit"
    name = f"{start:%Y-%m-%dT%H%M}.{fmt}"
    _write(labels(lab), root / f"{folder}labels" / name, fmt)
    return _write(mutate(log), root / f"{folder}predictions" / name, fmt)


def _use_spec(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp: Path, folder: str, fmt: str
) -> None:
    """Point the credit spec at ``demo/credit/<folder>{predictions,labels}`` in format ``fmt``."""
    spec = yaml.safe_load(spec_path("credit").read_text())
    spec["sources"]["predictions"] = {"path": f"demo/credit/{folder}predictions", "format": fmt}
    spec["sources"]["labels"] = {"path": f"demo/credit/{folder}labels", "format": fmt}
    specs = tmp / "specs"
    specs.mkdir()
    (specs / "credit.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("MODELWATCH_SPECS_DIR", str(specs))


def _files(world: World) -> dict[str, str]:
    root = world.home / "demo"
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _results(world: World) -> dict[datetime, Any]:
    """Per window: its run row with its validation rows, and its latest data-quality rows."""
    store = world.store()
    runs = {r["window_start"]: (r, store.validation(r["id"])) for r in store.runs("credit")}
    dq = store.data_quality("credit")
    store.dispose()
    windows = set(runs) | {r["window_start"] for r in dq}
    return {k: (runs.get(k), [r for r in dq if r["window_start"] == k]) for k in windows}


Guard = Callable[[], Callable[[datetime], None]]


@pytest.fixture
def guard(world: World, base: dict[str, Frame]) -> Guard:
    """``check = guard()`` snapshots files and store; ``check(start)`` asserts that every file
    is byte-identical and that no window's results but ``start``'s changed."""

    def snapshot() -> Callable[[datetime], None]:
        files, results = _files(world), _results(world)

        def check(start: datetime) -> None:
            assert _files(world) == files  # raw files byte-identical, none added or removed
            after = _results(world)
            assert {k: v for k, v in after.items() if k != start} == {
                k: v for k, v in results.items() if k != start
            }

        return check

    return snapshot


def _window_results(world: World, index: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    store = world.store()
    start, _ = world.window(index)
    runs = [r for r in store.runs("credit") if r["window_start"] == start]
    validation = store.validation(runs[0]["id"]) if runs else []
    store.dispose()
    return runs, validation


def _dq(world: World, start: datetime) -> dict[tuple[str | None, str], Any]:
    store = world.store()
    rows = store.data_quality("credit", window_start=start)
    store.dispose()
    return {(r["column_name"], r["stat"]): r for r in rows}


def _quarantined(world: World, start: datetime) -> list[dict[str, Any]]:
    store = world.store()
    rows = store.quarantined("credit", window_start=start)
    store.dispose()
    return rows


def _assert_failed(state: Any, *needles: str) -> None:
    assert state.is_failed(), (state.name, state.message)
    message = state.message or ""
    for needle in needles:
        assert needle in message, (needle, message)


def _assert_warning(validation: list[dict[str, Any]], expectation: str, column: str | None) -> None:
    failed = [
        (v["expectation"], v["column_name"], v["severity"]) for v in validation if not v["success"]
    ]
    assert (expectation, column, "warning") in failed, failed
    assert all(severity != "critical" for *_, severity in failed), failed


# --------------------------------------------------------------------------- failures


def test_an_empty_window_ends_nodata(world: World, base: dict[str, Frame], guard: Guard) -> None:
    _plant(world, base, 30, lambda f: f.iloc[0:0])
    start, _ = world.window(30)
    check = guard()
    state = _run(world, 30)
    assert state.is_completed() and state.name == "NoData", state.message
    check(start)
    assert _window_results(world, 30)[0] == [] and _quarantined(world, start) == []


def test_a_truncated_parquet_file_fails_naming_the_file_and_is_quarantined(
    world: World,
    base: dict[str, Frame],
    guard: Guard,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _use_spec(world, monkeypatch, tmp_path, "truncated-", "parquet")
    path = _plant(world, base, 31, folder="truncated-")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    start, _ = world.window(31)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    check = guard()
    state = _run(world, 31)
    _assert_failed(state, str(path), "cannot read as parquet", "quarantined, none modified")
    check(start)
    (held,) = _quarantined(world, start)
    assert (held["path"], held["sha256"]) == (str(path), before)


@pytest.mark.parametrize(
    ("index", "mutate", "needles"),
    [
        (32, lambda f: f.drop(columns=["income"]), ["'income'", "expect_column_to_exist"]),
        (
            33,
            lambda f: f.assign(income=f["income"].astype(str)),
            ["'income'", "expect_column_values_to_be_in_type_list"],
        ),
        (
            34,
            lambda f: f.assign(income=np.nan),
            [
                "'income'",
                "expect_column_values_to_not_be_null mostly 1e-06 — 1500 unexpected (100%)",
            ],
        ),
        (
            35,
            lambda f: f.assign(
                income=np.where(np.arange(len(f)) % 100 == 0, np.inf, f["income"])
            ).assign(age=np.where(np.arange(len(f)) == 3, -np.inf, f["age"])),
            ["'income'", "'age'", "inf"],
        ),
        (36, lambda f: f.assign(score=f["score"].where(f.index >= 10, 1.5)), ["'score'", "1.5"]),
        (
            37,
            lambda f: f.assign(prediction_id=f["prediction_id"].where(f.index >= 5, "dup")),
            ["'prediction_id'", "expect_column_values_to_be_unique"],
        ),
    ],
    ids=[
        "missing-required-column",
        "numeric-column-as-strings",
        "all-nan-column",
        "plus-minus-inf",
        "probability-outside-0-1",
        "duplicate-ids",
    ],
)
def test_a_critical_problem_fails_the_run_names_the_column_and_quarantines(
    world: World,
    base: dict[str, Frame],
    guard: Guard,
    index: int,
    mutate: Callable[[Frame], Frame],
    needles: list[str],
) -> None:
    path = _plant(world, base, index, mutate)
    start, _ = world.window(index)
    check = guard()
    state = _run(world, index)
    _assert_failed(state, "failed validation", *needles)
    check(start)
    assert _window_results(world, index)[0] == []  # no monitor run stored for the window
    assert [q["path"] for q in _quarantined(world, start)] == [str(path)]
    assert _dq(world, start)[(None, "n_rows")]["value"] == len(base["log"])


def test_timestamps_in_the_future_fail(world: World, base: dict[str, Frame], guard: Guard) -> None:
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=2)
    log, _ = _shifted(world, base, 0)
    offsets = pd.to_timedelta(np.linspace(0, 7000, len(log)), unit="s")
    log["timestamp"] = pd.Timestamp(start) + offsets  # the second hour lies after now
    _write(log, world.home / "demo" / "credit" / "predictions" / f"{start:%Y-%m-%dT%H%M}.parquet")
    check = guard()
    state = _run(world, 0, window_end=end, hours=2.0)
    _assert_failed(state, "failed validation", "'timestamp'", "expect_column_values_to_be_between")
    check(start)
    assert len(_quarantined(world, start)) == 1


def test_a_non_utf8_csv_fails_naming_the_file(
    world: World,
    base: dict[str, Frame],
    guard: Guard,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _use_spec(world, monkeypatch, tmp_path, "latin1-", "csv")
    log, labels = _shifted(world, base, 38)
    log["region"] = log["region"].where(log.index >= 3, "Île-de-France")
    start, _ = world.window(38)
    root = world.home / "demo" / "credit"
    _write(labels, root / "latin1-labels" / f"{start:%Y-%m-%dT%H%M}.csv", "csv")
    path = _write(log, root / "latin1-predictions" / f"{start:%Y-%m-%dT%H%M}.csv", "csv", "latin-1")
    check = guard()
    state = _run(world, 38)
    _assert_failed(state, str(path), "not UTF-8")
    check(start)
    assert [q["path"] for q in _quarantined(world, start)] == [str(path)]


# --------------------------------------------------------------------------- warnings


@pytest.mark.parametrize(
    ("index", "mutate", "expectation", "column"),
    [
        (40, lambda f: f.assign(debug_flag=1), "expect_table_columns_to_match_set", None),
        (
            41,
            lambda f: f.assign(region=f["region"].where(f.index % 20 != 0, "atlantis")),
            "expect_column_values_to_be_in_set",
            "region",
        ),
    ],
    ids=["extra-column", "unseen-category"],
)
def test_a_suspicious_window_completes_with_a_stored_warning(
    world: World,
    base: dict[str, Frame],
    guard: Guard,
    index: int,
    mutate: Callable[[Frame], Frame],
    expectation: str,
    column: str | None,
) -> None:
    _plant(world, base, index, mutate)
    start, _ = world.window(index)
    check = guard()
    state = _run(world, index)
    assert state.is_completed(), state.message
    check(start)
    runs, validation = _window_results(world, index)
    assert len(runs) == 1 and runs[0]["n_rows"] == len(base["log"])
    _assert_warning(validation, expectation, column)
    dq = _dq(world, start)
    if column is None:
        assert dq[(None, "unexpected_columns")]["detail"] == "debug_flag"
    else:
        assert dq[(column, "new_category_share")]["detail"] == "atlantis"
        assert dq[(column, "new_category_share")]["value"] == pytest.approx(0.05, abs=0.002)


def test_labels_matching_no_prediction_are_counted(
    world: World, base: dict[str, Frame], guard: Guard
) -> None:
    ghosts = pd.DataFrame(
        {
            "prediction_id": [f"ghost-{i}" for i in range(25)],
            "defaulted": 0,
            "label_timestamp": base["labels"]["label_timestamp"].iloc[0],
        }
    )
    _plant(world, base, 42, labels=lambda f: pd.concat([f, ghosts], ignore_index=True))
    start, _ = world.window(42)
    check = guard()
    state = _run(world, 42)
    assert state.is_completed(), state.message
    check(start)
    runs, _ = _window_results(world, 42)
    assert runs[0]["n_labeled"] == len(base["labels"])
    assert _dq(world, start)[(None, "unmatched_labels")]["value"] == 25


def test_rows_outside_the_window_are_ignored(
    world: World, base: dict[str, Frame], guard: Guard
) -> None:
    far = timedelta(days=30)
    outside = lambda f: f.assign(  # noqa: E731
        timestamp=f["timestamp"]
        .where(f.index % 10 != 0, f["timestamp"] + far)
        .where(f.index % 10 != 1, f["timestamp"] - far)
    )
    _plant(world, base, 43, outside)
    start, _ = world.window(43)
    check = guard()
    state = _run(world, 43)
    assert state.is_completed(), state.message
    check(start)
    runs, validation = _window_results(world, 43)
    n = len(base["log"])
    assert runs[0]["n_rows"] == n - len(range(0, n, 10)) - len(range(1, n, 10))
    window_check = [
        v for v in validation if v["column_name"] == "timestamp" and "between" in v["expectation"]
    ]
    assert len(window_check) == 2 and all(v["success"] for v in window_check)


def test_mixed_time_zones_are_read_as_instants(
    world: World,
    base: dict[str, Frame],
    guard: Guard,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _use_spec(world, monkeypatch, tmp_path, "mixed-tz-", "csv")
    log, labels = _shifted(world, base, 44)
    start, _ = world.window(44)
    ts = log["timestamp"]
    text = ts.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    paris = ts.dt.tz_convert("Europe/Paris").dt.strftime("%Y-%m-%dT%H:%M:%S.%f%z")
    naive = ts.dt.strftime("%Y-%m-%d %H:%M:%S.%f")  # naive: UTC by contract
    log["timestamp"] = text.where(log.index % 3 == 0, paris.where(log.index % 3 == 1, naive))
    # local wall time inside the window, but the instant (UTC) lies an hour before it
    log.loc[0, "timestamp"] = (pd.Timestamp(start) + timedelta(minutes=30)).strftime(
        "%Y-%m-%dT%H:%M:%S+01:00"
    )
    root = world.home / "demo" / "credit"
    _write(labels, root / "mixed-tz-labels" / f"{start:%Y-%m-%dT%H%M}.csv", "csv")
    _write(log, root / "mixed-tz-predictions" / f"{start:%Y-%m-%dT%H%M}.csv", "csv")
    check = guard()
    state = _run(world, 44)
    assert state.is_completed(), state.message
    check(start)
    runs, validation = _window_results(world, 44)
    assert runs[0]["n_rows"] == len(log) - 1
    assert not [v for v in validation if not v["success"] and v["severity"] == "critical"]


def test_a_window_100x_larger_than_usual_warns(
    world: World,
    base: dict[str, Frame],
    guard: Guard,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The suite says a normal window has 15 rows; this one has 100 times as many."""
    typical = len(base["log"]) // 100
    reference = pd.read_parquet(world.home / "demo" / "credit" / "reference.parquet")
    from modelwatch.spec import find_spec

    spec = find_spec("credit", world.settings.resolved_specs_dir)
    quality.write_suite(
        quality.build_suite(reference, spec, typical_rows=typical), tmp_path / "credit.json"
    )
    monkeypatch.setenv("MODELWATCH_EXPECTATIONS_DIR", str(tmp_path))
    _plant(world, base, 45)
    start, _ = world.window(45)
    check = guard()
    state = _run(world, 45)
    assert state.is_completed(), state.message
    check(start)
    _, validation = _window_results(world, 45)
    _assert_warning(validation, "expect_table_row_count_to_be_between", None)
    row_count = [
        v for v in validation if v["expectation"] == "expect_table_row_count_to_be_between"
    ]
    assert [v["observed"] for v in row_count if not v["success"]] == [f"{len(base['log'])} rows"]


def test_a_third_class_in_a_binary_target_fails_naming_the_column_and_values(
    world: World, base: dict[str, Frame], guard: Guard
) -> None:
    """Labels with a class the reference never had (2 in a 0/1 target) fail validation."""
    third = lambda f: f.assign(  # noqa: E731
        defaulted=f["defaulted"].where(f.index % 100 != 7, 2)
    )
    log = _plant(world, base, 61, labels=third)
    start, _ = world.window(61)
    label_file = world.home / "demo" / "credit" / "labels" / f"{start:%Y-%m-%dT%H%M}.parquet"
    before = hashlib.sha256(label_file.read_bytes()).hexdigest()
    check = guard()
    state = _run(world, 61)
    _assert_failed(
        state,
        "failed validation",
        "column 'defaulted' in labels: expect_column_values_to_be_in_set",
        "values [2] outside the binary classes [0, 1] of the reference",
    )
    assert "statistic" not in (state.message or "").lower()
    check(start)  # every raw file byte-identical, other windows' results untouched
    assert hashlib.sha256(label_file.read_bytes()).hexdigest() == before
    assert _window_results(world, 61)[0] == []  # no monitor run stored for the window
    assert str(log) in [q["path"] for q in _quarantined(world, start)]
