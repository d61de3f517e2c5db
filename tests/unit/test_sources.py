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
