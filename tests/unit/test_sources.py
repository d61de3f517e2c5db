"""modelwatch.io.sources: windows of Parquet/CSV files, read-only, errors that name the file."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from modelwatch.errors import DataError, SchemaError, SourceError
from modelwatch.io.sources import file_checksum, load_window
from modelwatch.spec import MonitorSpec, parse_spec

SPEC_PATH = Path(__file__).resolve().parents[2] / "deployments" / "specs" / "credit.yaml"
START = datetime(2026, 11, 23, 10, tzinfo=UTC)
END = START + timedelta(hours=1)


def _spec(root: Path, fmt: str = "parquet") -> MonitorSpec:
    data = yaml.safe_load(SPEC_PATH.read_text())
    data["sources"]["predictions"] = {"path": str(root / "predictions"), "format": fmt}
    data["sources"]["labels"] = {"path": str(root / "labels"), "format": fmt}
    return parse_spec(data, source="test")


def _log(n: int = 6, start: datetime = START) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prediction_id": [f"p{i}" for i in range(n)],
            "timestamp": pd.Timestamp(start) + pd.to_timedelta(range(0, 600 * n, 600), unit="s"),
            "income": [float(i) for i in range(n)],
            "region": ["north"] * n,
        }
    )


def _labels(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"prediction_id": ids, "defaulted": [i % 2 for i in range(len(ids))]})


def _write(frame: pd.DataFrame, path: Path, fmt: str = "parquet", **kwargs: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, **kwargs)
    return path


def _digests(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*.*")}


def test_a_window_holds_only_its_rows_and_remembers_its_files(tmp_path: Path) -> None:
    log = pd.concat([_log(6), _log(3, START + timedelta(hours=1)).assign(prediction_id="late")])
    path = _write(log, tmp_path / "predictions" / "a.parquet")
    _write(_labels(["p0", "p1", "late"]), tmp_path / "labels" / "a.parquet")
    before = _digests(tmp_path)
    window = load_window(_spec(tmp_path), START, END, tmp_path)
    assert window.n_rows == 6 and window.files == (str(path),)
    assert sorted(window.labeled["prediction_id"]) == ["p0", "p1"]
    assert window.unmatched_labels == 1  # "late" labels no prediction of this window
    assert str(window.predictions["timestamp"].dtype) == "datetime64[us, UTC]"
    assert _digests(tmp_path) == before
    assert file_checksum(str(path)) == before[str(path)]


def test_a_window_without_files_is_empty(tmp_path: Path) -> None:
    window = load_window(_spec(tmp_path), START, END, tmp_path)
    assert (window.n_rows, window.n_labeled, window.files) == (0, 0, ())


def test_a_truncated_parquet_file_raises_a_source_error_naming_it(tmp_path: Path) -> None:
    path = _write(_log(), tmp_path / "predictions" / "a.parquet")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(SourceError, match=rf"{path}: cannot read as parquet .*truncated") as err:
        load_window(_spec(tmp_path), START, END, tmp_path)
    assert err.value.path == str(path)


def test_a_non_utf8_csv_raises_a_source_error_naming_it(tmp_path: Path) -> None:
    log = _log().assign(region="Île-de-France")
    path = _write(log, tmp_path / "predictions" / "a.csv", "csv", encoding="latin-1")
    with pytest.raises(SourceError, match=rf"{path}: not UTF-8 encoded CSV .* at byte \d+"):
        load_window(_spec(tmp_path, "csv"), START, END, tmp_path)


def test_a_missing_timestamp_column_names_file_and_column(tmp_path: Path) -> None:
    path = _write(_log().drop(columns=["timestamp"]), tmp_path / "predictions" / "a.parquet")
    with pytest.raises(SchemaError, match=rf"{path}: timestamp column 'timestamp' is missing"):
        load_window(_spec(tmp_path), START, END, tmp_path)


def test_unparseable_timestamps_name_file_and_column(tmp_path: Path) -> None:
    log = _log().astype({"timestamp": str})
    log.loc[2, "timestamp"] = "yesterday-ish"
    path = _write(log, tmp_path / "predictions" / "a.csv", "csv")
    with pytest.raises(DataError, match=rf"{path}: column 'timestamp' cannot be parsed"):
        load_window(_spec(tmp_path, "csv"), START, END, tmp_path)


def test_mixed_offsets_and_naive_text_timestamps_are_read_as_utc_instants(tmp_path: Path) -> None:
    log = _log(4)
    log["timestamp"] = [
        "2026-11-23T10:05:00+00:00",
        "2026-11-23T11:15:00+01:00",  # 10:15 UTC: inside
        "2026-11-23 10:25:00",  # naive: UTC by contract
        "2026-11-23T10:35:00+01:00",  # 09:35 UTC: outside, though its wall time is inside
    ]
    _write(log, tmp_path / "predictions" / "a.csv", "csv")
    window = load_window(_spec(tmp_path, "csv"), START, END, tmp_path)
    assert list(window.predictions["prediction_id"]) == ["p0", "p1", "p2"]
    assert list(window.predictions["timestamp"].dt.minute) == [5, 15, 25]


def test_files_in_different_time_zones_are_combined_in_utc(tmp_path: Path) -> None:
    paris = _log(3).assign(timestamp=lambda f: f["timestamp"].dt.tz_convert("Europe/Paris"))
    _write(paris, tmp_path / "predictions" / "a.parquet")
    _write(_log(2).assign(prediction_id=["q0", "q1"]), tmp_path / "predictions" / "b.parquet")
    window = load_window(_spec(tmp_path), START, END, tmp_path)
    assert window.n_rows == 5 and len(window.files) == 2
    assert str(window.predictions["timestamp"].dt.tz) == "UTC"


# --------------------------------------------------------------------------- epoch timestamps


def _epoch_log(unit: str, start: datetime = START) -> pd.DataFrame:
    """Six rows of the window plus two an hour later, timestamps as epoch integers in ``unit``."""
    log = pd.concat(
        [_log(6, start), _log(2, start + timedelta(hours=1)).assign(prediction_id=["l0", "l1"])],
        ignore_index=True,
    )
    per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    seconds = (log["timestamp"] - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta("1s")
    return log.assign(timestamp=(seconds * per_second).astype("int64"))


def _with_unit(spec: MonitorSpec, unit: str | None) -> MonitorSpec:
    data = spec.model_dump(mode="json")
    data["columns"]["timestamp_unit"] = unit
    return parse_spec(data, source="test")


@pytest.mark.parametrize(("unit", "fmt"), [("s", "parquet"), ("ms", "csv"), ("ns", "parquet")])
def test_epoch_integer_timestamps_are_read_with_the_declared_unit(
    tmp_path: Path, unit: str, fmt: str
) -> None:
    _write(_epoch_log(unit), tmp_path / "predictions" / f"a.{fmt}", fmt)
    _write(_labels(["p0", "p5", "l0"]), tmp_path / "labels" / f"a.{fmt}", fmt)
    before = _digests(tmp_path)
    window = load_window(_with_unit(_spec(tmp_path, fmt), unit), START, END, tmp_path)
    assert list(window.predictions["prediction_id"]) == [f"p{i}" for i in range(6)]
    assert window.predictions["timestamp"].iloc[0] == pd.Timestamp(START)
    assert str(window.predictions["timestamp"].dt.tz) == "UTC"
    assert sorted(window.labeled["prediction_id"]) == ["p0", "p5"]
    assert _digests(tmp_path) == before  # raw files byte-identical


@pytest.mark.parametrize(
    ("values", "kind"), [("int64", "integers"), ("float64", "numbers")], ids=["int", "float"]
)
def test_epoch_timestamps_without_a_unit_are_refused_naming_column_and_file(
    tmp_path: Path, values: str, kind: str
) -> None:
    path = _write(
        _epoch_log("s").astype({"timestamp": values}), tmp_path / "predictions" / "a.csv", "csv"
    )
    before = _digests(tmp_path)
    with pytest.raises(SchemaError) as err:
        load_window(_spec(tmp_path, "csv"), START, END, tmp_path)  # was: 0 rows, no error
    assert str(err.value) == (
        f"column 'timestamp' in {path} holds {kind}; declare columns.timestamp_unit "
        "(s, ms, us or ns) in the monitor spec"
    )
    assert err.value.path == str(path)
    assert _digests(tmp_path) == before


def test_epoch_timestamps_out_of_range_for_the_unit_name_the_unit(tmp_path: Path) -> None:
    path = _write(_epoch_log("ns"), tmp_path / "predictions" / "a.parquet")
    with pytest.raises(
        SchemaError,
        match=rf"{path}: column 'timestamp' cannot be parsed as timestamps with "
        r"columns.timestamp_unit 's'",
    ):
        load_window(_with_unit(_spec(tmp_path), "s"), START, END, tmp_path)


# --------------------------------------------------------------------------- conflicting labels


def test_conflicting_labels_are_counted_and_the_last_file_wins(tmp_path: Path) -> None:
    _write(_log(6), tmp_path / "predictions" / "a.parquet")
    first = pd.DataFrame({"prediction_id": ["p0", "p1", "p2", "p3"], "defaulted": [0, 0, 1, 1]})
    later = pd.DataFrame({"prediction_id": ["p0", "p1", "p3"], "defaulted": [1, 0, 0]})
    _write(first, tmp_path / "labels" / "2026-11-23T10.parquet")
    _write(later, tmp_path / "labels" / "2026-11-23T11.parquet")
    window = load_window(_spec(tmp_path), START, END, tmp_path)
    labels = dict(zip(window.labeled["prediction_id"], window.labeled["defaulted"], strict=True))
    assert labels == {"p0": 1, "p1": 0, "p2": 1, "p3": 0}  # the later file's label
    assert window.conflicting_labels == 2  # p1 repeats the same value: no conflict
    assert window.conflicting_label_ids == ("p0", "p3")


def test_a_label_timestamp_decides_which_conflicting_label_is_latest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write(_log(3), tmp_path / "predictions" / "a.parquet")
    t = pd.Timestamp(START)
    # the file read last holds the older label for p0 and the newer one for p1
    a = pd.DataFrame(
        {
            "prediction_id": ["p0", "p1", "p2"],
            "defaulted": [1, 1, 1],
            "label_timestamp": [t + timedelta(days=2), t + timedelta(days=1), pd.NaT],
        }
    )
    b = pd.DataFrame(
        {
            "prediction_id": ["p0", "p1", "p2"],
            "defaulted": [0, 0, 0],
            "label_timestamp": [t + timedelta(days=1), t + timedelta(days=2), t],
        }
    )
    _write(a, tmp_path / "labels" / "a.parquet")
    _write(b, tmp_path / "labels" / "b.parquet")
    with caplog.at_level("WARNING", logger="modelwatch.io.sources"):
        window = load_window(_spec(tmp_path), START, END, tmp_path)
    labels = dict(zip(window.labeled["prediction_id"], window.labeled["defaulted"], strict=True))
    # p0: a's label is newer; p1: b's; p2: a label without a time ranks first, so b's wins
    assert labels == {"p0": 1, "p1": 0, "p2": 0}
    assert window.conflicting_labels == 3
    assert "3 prediction id(s) have conflicting labels" in caplog.text
    assert "label_timestamp" not in set(window.labeled.columns) - set(window.predictions.columns)


def test_conflicting_labels_reach_the_data_quality_rows(tmp_path: Path) -> None:
    from dataclasses import replace

    from modelwatch.stats.data_quality import data_quality_stats

    _write(_log(6), tmp_path / "predictions" / "a.parquet")
    _write(_labels(["p0", "p1"]), tmp_path / "labels" / "a.parquet")
    _write(_labels(["p1", "p0"]), tmp_path / "labels" / "b.parquet")
    spec = _spec(tmp_path)
    window = load_window(spec, START, END, tmp_path)
    stats = replace(
        data_quality_stats(window.predictions, spec),
        conflicting_labels=window.conflicting_labels,
        conflicting_label_ids=window.conflicting_label_ids,
    )
    rows = {(r["column_name"], r["stat"]): r for r in stats.to_rows()}
    assert rows[(None, "conflicting_labels")]["value"] == 2.0
    assert rows[(None, "conflicting_labels")]["detail"] == "p0,p1"
    assert "2 id(s) with conflicting labels (latest used)" in stats.problems()


# --------------------------------------------------------------------------- pruning


def _hive(root: Path, frame: pd.DataFrame, start: datetime, name: str = "part-0") -> Path:
    """``frame`` written as one hourly hive partition ``date=YYYY-MM-DD/hour=HH``."""
    folder = root / f"date={start:%Y-%m-%d}" / f"hour={start:%H}"
    return _write(frame, folder / f"{name}.parquet")


def _corrupt(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PAR1 not a parquet file")
    return path


def test_hive_partitions_outside_the_window_are_never_opened(tmp_path: Path) -> None:
    preds = tmp_path / "predictions"
    inside = _hive(preds, _log(6), START)
    # rows filed under the wrong hour: pruning picks files, the exact filter still decides rows
    _hive(preds, _log(3, START - timedelta(hours=1)).assign(prediction_id="x"), START, "part-1")
    bad = _corrupt(preds / f"date={START:%Y-%m-%d}" / "hour=11" / "part-0.parquet")
    _corrupt(preds / "date=2026-11-24" / "hour=10" / "part-0.parquet")
    window = load_window(_spec(tmp_path), START, END, tmp_path)  # the corrupt hours: not read
    assert window.n_rows == 6 and window.files == (str(inside),)
    with pytest.raises(SourceError, match=rf"{bad}: cannot read as parquet"):
        load_window(_spec(tmp_path), START, END + timedelta(hours=1), tmp_path)


def test_year_month_day_partitions_and_flat_files_beside_them_are_read(tmp_path: Path) -> None:
    preds = tmp_path / "predictions"
    nested = _write(_log(2), preds / "year=2026" / "month=11" / "day=23" / "a.parquet")
    _corrupt(preds / "year=2026" / "month=10" / "day=23" / "a.parquet")
    flat = _write(_log(3).assign(prediction_id=["f0", "f1", "f2"]), preds / "flat.parquet")
    window = load_window(_spec(tmp_path), START, END, tmp_path)
    assert window.files == (str(flat), str(nested))
    assert sorted(window.predictions["prediction_id"]) == ["f0", "f1", "f2", "p0", "p1"]


def test_batches_read_only_the_specs_columns_and_windows_keep_undeclared_ones(
    tmp_path: Path,
) -> None:
    from modelwatch.io.sources import iter_window_batches

    _hive(tmp_path / "predictions", _log(4).assign(debug_blob="x" * 100), START)
    [batch] = list(iter_window_batches(_spec(tmp_path), START, END, tmp_path))
    assert "debug_blob" not in batch.columns
    assert {"prediction_id", "timestamp", "income", "region"} <= set(batch.columns)
    window = load_window(_spec(tmp_path), START, END, tmp_path)
    assert "debug_blob" in window.predictions.columns  # the suites warn about undeclared ones


def test_row_groups_outside_the_window_are_skipped_using_statistics(tmp_path: Path) -> None:
    """A file of 4 hours in 4 row groups: reading one hour decodes one group (pyarrow stats)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from modelwatch.io.sources import files

    log = pd.concat([_log(6, START + timedelta(hours=h)) for h in range(-1, 3)], ignore_index=True)
    log["prediction_id"] = [f"r{i}" for i in range(len(log))]
    path = tmp_path / "predictions" / "all.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(log, preserve_index=False), path, row_group_size=6)
    spec = _spec(tmp_path)
    listing = files.list_files(spec.sources.predictions, tmp_path)  # type: ignore[arg-type]
    scan = files._prediction_scan(
        listing,
        0,
        wanted=["timestamp"],
        column="timestamp",
        bounds=(pd.Timestamp(START), pd.Timestamp(END)),
        unit=None,
    )
    kept = list(scan.fragment.split_by_row_group(scan.expression))
    assert len(kept) == 2  # the window's group and the next one, starting exactly at END
    window = load_window(spec, START, END, tmp_path)
    assert list(window.predictions["prediction_id"]) == [f"r{i}" for i in range(6, 12)]


def test_a_fsspec_url_with_hive_partitions_is_read(tmp_path: Path) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    root = f"/mw-{tmp_path.name}"
    for hours, name in ((0, "in"), (2, "out")):
        start = START + timedelta(hours=hours)
        with fs.open(
            f"{root}/predictions/date={start:%Y-%m-%d}/hour={start:%H}/p.parquet", "wb"
        ) as fh:
            _log(3, start).assign(prediction_id=[f"{name}{i}" for i in range(3)]).to_parquet(
                fh, index=False
            )
    data = yaml.safe_load(SPEC_PATH.read_text())
    data["sources"]["predictions"] = {"path": f"memory://{root}/predictions"}
    data["sources"].pop("labels")
    window = load_window(parse_spec(data, source="test"), START, END, tmp_path)
    assert list(window.predictions["prediction_id"]) == ["in0", "in1", "in2"]
    assert window.files == (f"memory://{root}/predictions/date=2026-11-23/hour=10/p.parquet",)


# --------------------------------------------------------------------------- batches


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_batches_hold_the_windows_rows_in_order_and_at_most_batch_rows(
    tmp_path: Path, fmt: str
) -> None:
    from modelwatch.io.sources import count_window_rows, iter_window_batches

    log = pd.concat([_log(30, START - timedelta(minutes=30)), _log(30, START + timedelta(hours=1))])
    log["prediction_id"] = [f"b{i}" for i in range(len(log))]
    _write(log, tmp_path / "predictions" / f"a.{fmt}", fmt)
    spec = _spec(tmp_path, fmt)
    batches = list(iter_window_batches(spec, START, END, tmp_path, batch_rows=7))
    whole = load_window(spec, START, END, tmp_path).predictions
    assert all(0 < len(b) <= 7 for b in batches)
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), whole)
    assert count_window_rows(spec, START, END, tmp_path) == len(whole) > 0
    only = next(iter(iter_window_batches(spec, START, END, tmp_path, columns=["income"])))
    assert list(only.columns) == ["prediction_id", "timestamp", "income"]


def test_count_window_rows_uses_exact_bounds_on_epoch_columns(tmp_path: Path) -> None:
    from modelwatch.io.sources import count_window_rows

    _write(_epoch_log("ms"), tmp_path / "predictions" / "a.parquet")
    spec = _with_unit(_spec(tmp_path), "ms")
    assert count_window_rows(spec, START, END, tmp_path) == 6
    assert count_window_rows(spec, START, END + timedelta(hours=1), tmp_path) == 8


# --------------------------------------------------------------------------- labels


def _delayed(spec: MonitorSpec, hours: float) -> MonitorSpec:
    data = spec.model_dump(mode="json")
    data["sources"]["labels"]["max_delay_hours"] = hours
    return parse_spec(data, source="test")


def test_labels_are_read_only_within_the_declared_delay(tmp_path: Path) -> None:
    _write(_log(4), tmp_path / "predictions" / "a.parquet")
    t = pd.Timestamp(START)
    labels = pd.DataFrame(
        {
            "prediction_id": ["p0", "p1", "p2", "p3", "zz"],
            "defaulted": [1, 0, 1, 0, 1],
            "label_timestamp": [t, t + timedelta(hours=5), t + timedelta(hours=30), pd.NaT, t],
        }
    )
    _write(labels, tmp_path / "labels" / "a.parquet")
    window = load_window(_delayed(_spec(tmp_path), 24), START, END, tmp_path)
    # p2 came 29 h after the window's end: out of scope; a label without a time is kept
    assert sorted(window.labeled["prediction_id"]) == ["p0", "p1", "p3"]
    assert window.unmatched_labels == 1  # "zz", in scope, labels nothing of this window
    everything = load_window(_spec(tmp_path), START, END, tmp_path)
    assert sorted(everything.labeled["prediction_id"]) == ["p0", "p1", "p2", "p3"]


def test_label_partitions_outside_the_delay_are_never_opened(tmp_path: Path) -> None:
    _write(_log(4), tmp_path / "predictions" / "a.parquet")
    _hive(tmp_path / "labels", _labels(["p0", "p1"]), START + timedelta(hours=3))
    _corrupt(tmp_path / "labels" / "date=2026-11-25" / "hour=10" / "late.parquet")
    window = load_window(_delayed(_spec(tmp_path), 6), START, END, tmp_path)
    assert sorted(window.labeled["prediction_id"]) == ["p0", "p1"]
    with pytest.raises(SourceError, match=r"late\.parquet: cannot read"):
        load_window(_spec(tmp_path), START, END, tmp_path)  # no declared delay: every file


def test_integer_label_ids_are_matched_as_text(tmp_path: Path) -> None:
    _write(_log(3).assign(prediction_id=[10, 11, 12]), tmp_path / "predictions" / "a.parquet")
    _write(
        pd.DataFrame({"prediction_id": [11, 12, 99], "defaulted": [1, 0, 1]}),
        tmp_path / "labels" / "a.parquet",
    )
    window = load_window(_spec(tmp_path), START, END, tmp_path)
    assert sorted(window.labeled["prediction_id"]) == [11, 12]
    assert window.unmatched_labels == 1


# --------------------------------------------------------------------------- the demo's writer


def test_the_demos_hive_files_are_one_hour_each_and_read_back_exactly(tmp_path: Path) -> None:
    from modelwatch.demo import window_file, write_window_files

    spec = _delayed(_spec(tmp_path), 2)
    log = pd.concat([_log(6), _log(6, END)], ignore_index=True)  # a two-hour window
    log["prediction_id"] = [f"d{i}" for i in range(12)]
    labels = _labels(["d1", "d7", "d11"]).assign(
        label_timestamp=pd.Timestamp(END) + pd.Timedelta(minutes=90)
    )
    written = write_window_files(
        spec,
        tmp_path,
        start=START,
        end=END + timedelta(hours=1),
        log=log,
        labels=labels,
        layout="hive",
    )
    first = window_file(spec.sources.predictions, tmp_path, START, layout="hive")  # type: ignore[arg-type]
    assert str(first).endswith("predictions/date=2026-11-23/hour=10/part-2026-11-23T1000.parquet")
    assert len(written) == 4 and str(first) in written  # 2 log hours, labels of 2 hours
    assert not list(tmp_path.rglob(".*partial"))
    second = load_window(spec, END, END + timedelta(hours=1), tmp_path)
    assert list(second.predictions["prediction_id"]) == [f"d{i}" for i in range(6, 12)]
    assert len(second.files) == 1 and "hour=11" in second.files[0]
    assert sorted(second.labeled["prediction_id"]) == ["d11", "d7"]
    rewritten = write_window_files(
        spec,
        tmp_path,
        start=START,
        end=END + timedelta(hours=1),
        log=log,
        labels=labels,
        layout="hive",
    )
    assert rewritten == written  # re-serving replaces the window's own files
    assert load_window(spec, START, END, tmp_path).n_rows == 6


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"date": "2026-11-29", "hour": "10"}, ("2026-11-29T10:00", "2026-11-29T11:00")),
        ({"dt": "20261129"}, ("2026-11-29T00:00", "2026-11-30T00:00")),
        ({"year": "2026", "month": "12"}, ("2026-12-01T00:00", "2027-01-01T00:00")),
        (
            {"year": "2026", "month": "2", "day": "28", "hour": "23"},
            ("2026-02-28T23:00", "2026-03-01T00:00"),
        ),
        ({"year": "2026"}, ("2026-01-01T00:00", "2027-01-01T00:00")),
        ({"region": "eu"}, None),
        ({"date": "yesterday"}, None),
        ({"date": "2026-11-29", "hour": "24"}, None),
    ],
)
def test_partition_folders_map_to_utc_time_ranges(
    keys: dict[str, str], expected: tuple[str, str] | None
) -> None:
    from modelwatch.io.sources.files import partition_range

    span = partition_range(keys)
    if expected is None:
        assert span is None
    else:
        assert span == (pd.Timestamp(expected[0], tz="UTC"), pd.Timestamp(expected[1], tz="UTC"))


def test_a_missing_log_folder_counts_zero_rows(tmp_path: Path) -> None:
    from modelwatch.io.sources import count_window_rows, iter_window_batches

    assert count_window_rows(_spec(tmp_path), START, END, tmp_path) == 0
    assert list(iter_window_batches(_spec(tmp_path), START, END, tmp_path)) == []
