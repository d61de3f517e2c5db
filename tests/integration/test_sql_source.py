"""SQL sources against the PostgreSQL on 127.0.0.1:5432: same window as files, quoted, bound.

One database per module (``mw_sqlsrc_<random>``, dropped afterwards). The same
rows are written to a hive-partitioned Parquet folder and to tables; a window
read from the tables must equal the window read from the files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from modelwatch.errors import DataError, SchemaError, SourceError, is_transient
from modelwatch.io import sources
from modelwatch.spec import MonitorSpec, parse_spec
from tests.servers import postgres_database, require_postgres
from tests.specs import spec_path

pytestmark = pytest.mark.integration

SPEC_PATH = spec_path("credit")
START = datetime(2026, 11, 23, 10, tzinfo=UTC)
END = START + timedelta(hours=1)
ENV = "MW_TEST_LOG_DB"
HOSTILE = 'pred"; drop table predictions; --'


def _log(hours: int = 3, per_hour: int = 40) -> pd.DataFrame:
    """``hours`` hours of a credit-like log starting an hour before START (some values missing)."""
    rng = np.random.default_rng(7)
    n = hours * per_hour
    when = (
        pd.Timestamp(START)
        - pd.Timedelta(hours=1)
        + pd.to_timedelta(np.sort(rng.uniform(0, hours * 3600, n)).round(3), unit="s")
    )
    income = rng.normal(50_000, 9_000, n)
    income[::17] = np.nan
    return pd.DataFrame(
        {
            "prediction_id": [f"id-{i:05d}" for i in range(n)],
            "timestamp": when.astype("datetime64[us, UTC]"),
            "age": rng.integers(18, 90, n),
            "income": income,
            "region": rng.choice(["north", "south", "Île-de-France"], n),
            "prediction": rng.integers(0, 2, n),
            "score": rng.uniform(0, 1, n),
            "email": [f"u{i}@example.org" for i in range(n)],
        }
    )


def _labels(log: pd.DataFrame) -> pd.DataFrame:
    rows = log.iloc[::2]
    return pd.DataFrame(
        {
            "prediction_id": rows["prediction_id"].to_numpy(),
            "defaulted": np.arange(len(rows)) % 2,
            "label_timestamp": (rows["timestamp"] + pd.Timedelta(hours=2)).to_numpy(),
        }
    )


def _spec(
    predictions: dict[str, Any], labels: dict[str, Any] | None, **columns: Any
) -> MonitorSpec:
    data = yaml.safe_load(SPEC_PATH.read_text())
    data["sources"]["predictions"] = predictions
    data["sources"]["labels"] = labels
    data["columns"].update(numeric=["age", "income"], categorical=["region"], segments=[])
    data["columns"].update(latency_ms=None, **columns)
    return parse_spec(data, source="test")


def _sql(table: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "sql", "url_env": ENV, "table": table, **extra}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_postgres()
    root = tmp_path_factory.mktemp("sqlsrc")
    log = _log()
    labels = _labels(log)
    for hour, rows in log.groupby(log["timestamp"].dt.floor("h")):
        folder = root / "predictions" / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
        folder.mkdir(parents=True)
        rows.to_parquet(folder / "part-0.parquet", index=False)
    (root / "labels").mkdir()
    labels.to_parquet(root / "labels" / "labels.parquet", index=False)
    with postgres_database("mw_sqlsrc") as name:
        url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE SCHEMA monitoring"))
        log.to_sql("predictions", engine, schema="monitoring", index=False)
        labels.to_sql("labels", engine, schema="monitoring", index=False)
        log.to_sql(HOSTILE, engine, index=False)
        quoted = log.rename(columns={"timestamp": "at'time"})
        quoted.to_sql("quoted", engine, index=False)
        log.drop(columns=["timestamp"]).to_sql("no_time", engine, index=False)
        log.assign(timestamp=log["timestamp"].astype(str)).to_sql("text_time", engine, index=False)
        with engine.begin() as conn:
            conn.execute(sa.text('CREATE INDEX ON monitoring.predictions ("timestamp")'))
        engine.dispose()
        old = os.environ.get(ENV)
        os.environ[ENV] = url
        try:
            yield {"root": root, "url": url, "log": log, "labels": labels}
        finally:
            if old is None:
                os.environ.pop(ENV, None)
            else:
                os.environ[ENV] = old


def _in_window(database: dict[str, Any]) -> pd.DataFrame:
    log = database["log"]
    return log[(log["timestamp"] >= START) & (log["timestamp"] < END)]


def _files_spec(root: Path) -> MonitorSpec:
    return _spec({"path": str(root / "predictions")}, {"path": str(root / "labels")})


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("prediction_id", ignore_index=True)


def test_a_window_read_from_a_table_equals_the_window_read_from_files(
    database: dict[str, Any],
) -> None:
    root = database["root"]
    from_files = sources.load_window(_files_spec(root), START, END, root)
    spec = _spec(_sql("predictions", schema="monitoring"), _sql("labels", schema="monitoring"))
    from_sql = sources.load_window(spec, START, END, root)
    expected = _in_window(database)
    labeled = expected["prediction_id"].isin(database["labels"]["prediction_id"])
    assert from_files.n_rows == len(expected) > 0 and from_files.n_labeled == labeled.sum() > 0
    pd.testing.assert_frame_equal(_sorted(from_sql.predictions), _sorted(from_files.predictions))
    pd.testing.assert_frame_equal(_sorted(from_sql.labeled), _sorted(from_files.labeled))
    assert from_sql.files == ("sql:monitoring.predictions",)
    assert sources.is_table_entry(from_sql.files[0])
    assert from_sql.unmatched_labels is None  # a table holds every window's labels


def test_labels_come_in_chunks_of_ids_and_within_the_declared_delay(
    database: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources._sql, "ID_CHUNK", 7)  # ~40 ids: 6 IN lists
    labels = _sql("labels", schema="monitoring")
    spec = _spec(_sql("predictions", schema="monitoring"), labels)
    ids = _in_window(database)["prediction_id"]
    n_labeled = int(ids.isin(database["labels"]["prediction_id"]).sum())
    assert sources.load_window(spec, START, END, database["root"]).n_labeled == n_labeled
    # labels came 2 h after their prediction: a 1.5 h delay keeps those of the first half hour
    early = _spec(_sql("predictions", schema="monitoring"), {**labels, "max_delay_hours": 1.5})
    window = sources.load_window(early, START, END, database["root"])
    log = window.predictions.set_index("prediction_id")["timestamp"]
    expected = {i for i in window.labeled["prediction_id"]}
    assert expected and all(
        log[i] < pd.Timestamp(START) + pd.Timedelta(minutes=30) for i in expected
    )
    assert 0 < window.n_labeled < n_labeled


def test_batches_and_counts_of_a_table_window(database: dict[str, Any]) -> None:
    spec = _spec(_sql("predictions", schema="monitoring", chunk_rows=1_000), None)
    batches = list(sources.iter_window_batches(spec, START, END, database["root"], batch_rows=9))
    n = len(_in_window(database))
    assert [len(b) for b in batches] == [9] * (n // 9) + ([n % 9] if n % 9 else [])
    whole = sources.load_window(spec, START, END, database["root"]).predictions
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), whole)
    assert sources.count_window_rows(spec, START, END, database["root"]) == n


def test_a_hostile_table_name_is_quoted_not_executed(database: dict[str, Any]) -> None:
    window = sources.load_window(_spec(_sql(HOSTILE), None), START, END, database["root"])
    assert window.n_rows == len(_in_window(database))
    engine = sa.create_engine(database["url"])
    try:
        assert sa.inspect(engine).has_table("predictions", schema="monitoring")
    finally:
        engine.dispose()


def test_window_bounds_are_bound_parameters_never_sql_text(database: dict[str, Any]) -> None:
    """A timestamp column named ``at'time``: string formatting would break on the quote."""
    statements: list[tuple[str, Any]] = []

    def spy(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        statements.append((statement, parameters))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", spy)
    try:
        spec = _spec(_sql("quoted"), None, timestamp="at'time")
        window = sources.load_window(spec, START, END, database["root"])
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", spy)
    assert window.n_rows == len(_in_window(database))
    [(statement, parameters)] = [s for s in statements if "at'time" in s[0]]
    assert '"at\'time" >= %(window_start)s' in statement and "2026" not in statement
    assert parameters["window_start"] == START and parameters["window_end"] == END


def test_a_missing_env_var_names_source_and_variable(
    database: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV)
    with pytest.raises(SourceError) as err:
        sources.load_window(_spec(_sql("predictions"), None), START, END, database["root"])
    assert str(err.value) == (
        f"model 'credit': predictions source sql table 'predictions' (URL from ${ENV}): "
        f"environment variable {ENV} is not set (it must hold the SQLAlchemy URL of the database)"
    )


@pytest.mark.parametrize(
    ("url", "expected", "transient"),
    [
        (
            "not a url with s3cr3t",
            r"the value of MW_TEST_LOG_DB is not a usable SQLAlchemy URL",
            False,
        ),
        (
            "nosuchdialect://u:s3cr3t@h/db",
            r"not a usable SQLAlchemy URL \(NoSuchModuleError",
            False,
        ),
        (
            "postgresql+psycopg2://postgres:s3cr3t@127.0.0.1:1/x",
            r"OperationalError: connection to server at \"127\.0\.0\.1\", port 1 failed",
            True,
        ),
    ],
    ids=["garbage", "unknown-dialect", "connection-refused"],
)
def test_a_bad_url_or_a_refused_connection_names_the_source_never_the_password(
    database: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    expected: str,
    transient: bool,
) -> None:
    monkeypatch.setenv(ENV, url)
    with pytest.raises(SourceError, match=expected) as err:
        sources.load_window(_spec(_sql("predictions"), None), START, END, database["root"])
    assert "model 'credit': predictions source sql table 'predictions'" in str(err.value)
    assert "s3cr3t" not in str(err.value) and err.value.__cause__ is None
    assert is_transient(err.value) is transient


@pytest.mark.parametrize(
    ("table", "error", "expected"),
    [
        ("no_time", SchemaError, "column 'timestamp' is missing from the table"),
        ("no_such_table", SourceError, "the table does not exist"),
        ("text_time", SchemaError, "column 'timestamp' holds TEXT; use a TIMESTAMP column"),
    ],
)
def test_a_table_without_a_usable_timestamp_is_a_clear_error(
    database: dict[str, Any], table: str, error: type[DataError], expected: str
) -> None:
    with pytest.raises(error, match=expected) as err:
        sources.load_window(_spec(_sql(table), None), START, END, database["root"])
    assert f"sql table '{table}'" in str(err.value)
