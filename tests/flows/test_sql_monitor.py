"""The monitor flow on a prediction log and label feed in PostgreSQL tables.

The demo serves windows into the tables (``demo.write_window_files`` with SQL
sources); a window is then monitored from them like from files. A source that
cannot be read (a missing table, an unset URL variable) fails the run with a
message naming the source, and the window is not marked as monitored (no run
row; nothing quarantined: the next run tries again).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from flows.monitor import monitor_model
from modelwatch import demo as demo_lib
from modelwatch import simulate
from modelwatch.spec import load_spec
from tests.flows.conftest import World, make_world
from tests.servers import postgres_database, require_postgres
from tests.specs import spec_path

ENV = "MW_FLOW_LOG_DB"


def _write_spec(folder: Path, predictions_table: str) -> None:
    spec = yaml.safe_load(spec_path("credit").read_text())
    sql = {"kind": "sql", "url_env": ENV, "schema": "public"}
    spec["sources"]["predictions"] = {**sql, "table": predictions_table}
    spec["sources"]["labels"] = {**sql, "table": "labels", "max_delay_hours": 24}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "credit.yaml").write_text(yaml.safe_dump(spec))


@pytest.fixture(scope="module")
def sql_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, str, Path]]:
    require_postgres()
    tmp = tmp_path_factory.mktemp("sqlworld")
    mp = pytest.MonkeyPatch()
    with postgres_database("mw_sqlflow") as name:
        url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
        try:
            world = make_world(tmp, mp)
            mp.setenv(ENV, url)
            _write_spec(tmp / "specs", "predictions")
            mp.setenv("MODELWATCH_SPECS_DIR", str(tmp / "specs"))
            spec = load_spec(tmp / "specs" / "credit.yaml")
            for index in (0, 1):
                start, end = world.window(index)
                demo_lib.serve_window(
                    spec,
                    world.settings,
                    index=index,
                    start=start,
                    end=end,
                    rows=world.rows,
                    seed=0,
                    scenario=simulate.Scenario(),
                )
            yield world, url, tmp
        finally:
            mp.undo()


def _run(world: World, index: int) -> Any:
    _, end = world.window(index)
    return monitor_model(model_name="credit", window_end=end, window_hours=1.0, return_state=True)


def _run_rows(world: World) -> dict[Any, dict[str, Any]]:
    store = world.store()  # type: ignore[no-untyped-call]
    try:
        return {r["window_start"]: r for r in store.runs("credit")}
    finally:
        store.dispose()


def test_a_window_served_into_tables_is_monitored_from_them(
    sql_world: tuple[World, str, Path],
) -> None:
    world, url, _ = sql_world
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            n_log = conn.execute(sa.text("SELECT count(*) FROM public.predictions")).scalar_one()
        assert n_log == 2 * world.rows
        assert sa.inspect(engine).get_indexes("predictions")  # the demo indexes its table
    finally:
        engine.dispose()
    state = _run(world, 0)
    assert state.is_completed() and state.name != "NoData", (state.name, state.message)
    start, _ = world.window(0)
    run = _run_rows(world)[start]
    assert run["n_rows"] == world.rows and 0 < run["n_labeled"] < world.rows


@pytest.mark.parametrize(
    ("table", "unset", "needle"),
    [
        (
            "no_such_table",
            False,
            "sql table 'public.no_such_table' (URL from $MW_FLOW_LOG_DB): the table does not exist",
        ),
        ("predictions", True, f"environment variable {ENV} is not set"),
    ],
    ids=["missing-table", "unset-url-variable"],
)
def test_an_unreadable_sql_source_fails_naming_it_and_the_window_stays_unmonitored(
    sql_world: tuple[World, str, Path],
    monkeypatch: pytest.MonkeyPatch,
    table: str,
    unset: bool,
    needle: str,
) -> None:
    world, _, tmp = sql_world
    _write_spec(tmp / f"specs-{table}-{unset}", table)
    monkeypatch.setenv("MODELWATCH_SPECS_DIR", str(tmp / f"specs-{table}-{unset}"))
    if unset:
        monkeypatch.delenv(ENV)
    start, _ = world.window(1)
    state = _run(world, 1)
    assert state.is_failed(), (state.name, state.message)
    assert needle in (state.message or "")
    assert start not in _run_rows(world)  # not marked as monitored
    store = world.store()  # type: ignore[no-untyped-call]
    try:
        assert store.quarantined("credit", window_start=start) == []  # retried next time
    finally:
        store.dispose()
