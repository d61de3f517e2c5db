"""SQL sources: a window of a table (or view) read with SQLAlchemy, in chunks.

* The URL is a secret: it comes from the environment variable the spec names
  (``url_env``), never from the spec; no message ever contains it (errors name
  the model, the source, the table and the variable, and driver messages are
  shown with the URL's password masked).
* Identifiers (schema, table, columns) reach SQL only through SQLAlchemy's
  ``table`` / ``column`` constructs, which quote them; the table's columns are
  read from the catalog first (one ``inspect().get_columns`` query, itself
  parameterized), so a name that does not exist is an error, never an injection.
* One pooled engine per process and URL (``pool_pre_ping``): a process that
  monitors many windows connects once.
* Window bounds and ids are bound parameters; rows come through a server-side
  cursor (``stream_results``) ``chunk_rows`` at a time.
* The timestamp column must be a timestamp (with or without time zone: naive
  values are UTC) or epoch numbers with ``columns.timestamp_unit``; a text
  timestamp column cannot be compared in the database and is refused.

Provenance: a SQL window's ``WindowData.files`` is ``("sql:<schema.table>",)``
(see :data:`SQL_PREFIX`): there is no file to checksum, the rows stay in the table.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pandas as pd

from modelwatch.errors import SchemaError, SourceError
from modelwatch.io.sources._common import LABEL_TIMESTAMP, NS_PER_UNIT, to_utc
from modelwatch.spec import SqlSource

if TYPE_CHECKING:
    import sqlalchemy as sa

Bounds = tuple[pd.Timestamp, pd.Timestamp]

#: provenance entries of SQL windows start with this (``sql:public.predictions``)
SQL_PREFIX = "sql:"
#: ids per ``IN (...)`` list of the labels query
ID_CHUNK = 5_000


def describe(source: SqlSource, model: str, role: str) -> str:
    """How messages name a SQL source (never its URL)."""
    return f"model {model!r}: {role} source sql table {source.qualified_name!r} (URL from ${source.url_env})"


def _masked(text: str, url: Any) -> str:
    password = getattr(url, "password", None)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first.replace(str(password), "***") if password else first


#: engines by (process, URL): a process that monitors many windows (catch-up, a fleet tick)
#: reuses one pooled connection per database instead of connecting per window
_ENGINES: dict[tuple[int, str], sa.Engine] = {}


def engine_for(source: SqlSource, model: str, role: str) -> sa.Engine:
    """An engine for the URL in ``source.url_env``; a missing variable or bad URL is a SourceError."""
    import sqlalchemy as sa

    name = describe(source, model, role)
    url_text = os.environ.get(source.url_env)
    if not url_text:
        raise SourceError(
            f"{name}: environment variable {source.url_env} is not set (it must hold the "
            "SQLAlchemy URL of the database)"
        )
    key = (os.getpid(), url_text)
    engine = _ENGINES.get(key)
    if engine is not None:
        return engine
    try:
        url = sa.engine.make_url(url_text)
        engine = sa.create_engine(url, pool_pre_ping=True, pool_size=1, max_overflow=2)
    except Exception as exc:  # ArgumentError, NoSuchModuleError, ImportError of the driver
        # not chained and not quoted: the parser's message repeats the URL with its password
        raise SourceError(
            f"{name}: the value of {source.url_env} is not a usable SQLAlchemy URL "
            f"({type(exc).__name__}; expected e.g. postgresql+psycopg2://user@host:5432/db)"
        ) from None
    _ENGINES[key] = engine
    return engine


def _database_error(name: str, exc: BaseException, url: Any) -> SourceError:
    """A SourceError for a driver failure, transient when the database could not be reached."""
    import sqlalchemy as sa

    orig = getattr(exc, "orig", None) or exc
    error = SourceError(f"{name}: {type(orig).__name__}: {_masked(str(orig), url)}")
    if isinstance(exc, sa.exc.OperationalError | sa.exc.DisconnectionError | sa.exc.TimeoutError):
        error.transient = True  # connection refused / lost, timeouts: a retry may pass
    return error


def reflect(engine: sa.Engine, source: SqlSource, name: str, required: list[str]) -> Any:
    """The table's columns as the database describes them (one catalog query), as a quoted
    ``sa.table`` construct; a missing table or ``required`` column is an error."""
    import sqlalchemy as sa

    try:
        described = sa.inspect(engine).get_columns(source.table, schema=source.db_schema)
    except sa.exc.NoSuchTableError:
        raise SourceError(f"{name}: the table does not exist (or is not visible)") from None
    except sa.exc.SQLAlchemyError as exc:
        raise _database_error(name, exc, engine.url) from None
    if not described:  # some dialects answer an unknown table with no columns
        raise SourceError(f"{name}: the table does not exist (or is not visible)")
    table = sa.table(
        source.table,
        *(sa.column(c["name"], c["type"]) for c in described),
        schema=source.db_schema,
    )
    for column in required:
        if column not in table.c:
            raise SchemaError(f"{name}: column {column!r} is missing from the table")
    return table


def _selected(table: Any, names: list[str]) -> list[Any]:
    import sqlalchemy as sa

    out: list[Any] = []
    for column_name in names:
        column = table.c[column_name]
        if isinstance(column.type, sa.Numeric) and not isinstance(column.type, sa.Float):
            out.append(sa.cast(column, sa.Float).label(column_name))  # DECIMAL -> float64
        else:
            out.append(column)
    return out


def time_condition(table: Any, column: str, bounds: Bounds, unit: str | None, name: str) -> Any:
    """``lo <= column < hi`` with both bounds as bound parameters, in the column's type."""
    import sqlalchemy as sa

    col = table.c[column]
    lo, hi = bounds
    if isinstance(col.type, sa.DateTime):
        if getattr(col.type, "timezone", False):
            values: tuple[Any, Any] = (lo.to_pydatetime(), hi.to_pydatetime())
        else:  # naive: UTC by contract
            values = (lo.tz_convert(None).to_pydatetime(), hi.tz_convert(None).to_pydatetime())
    elif unit is not None and isinstance(col.type, sa.Integer):
        per = NS_PER_UNIT[unit]
        values = (-(-lo.value // per), -(-hi.value // per))  # integers >= lo, < hi
    elif unit is not None and isinstance(col.type, sa.Numeric):
        values = (lo.value / NS_PER_UNIT[unit], hi.value / NS_PER_UNIT[unit])
    else:
        what = "numbers" if isinstance(col.type, sa.Numeric) else str(col.type)
        hint = (
            "declare columns.timestamp_unit (s, ms, us or ns)"
            if isinstance(col.type, sa.Numeric)
            else "use a TIMESTAMP column (or epoch numbers with columns.timestamp_unit)"
        )
        raise SchemaError(f"{name}: column {column!r} holds {what}; {hint}")
    return sa.and_(
        col >= sa.bindparam("window_start", values[0], type_=col.type),
        col < sa.bindparam("window_end", values[1], type_=col.type),
    )


def _frames(
    engine: sa.Engine, query: Any, name: str, chunk_rows: int, params: dict[str, Any] | None = None
) -> Iterator[pd.DataFrame]:
    import sqlalchemy as sa

    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(
                query, params or {}
            )
            keys = list(result.keys())
            for rows in result.partitions():
                # plain tuples: pandas probing Row objects attribute by attribute is 10x slower
                yield pd.DataFrame.from_records([tuple(r) for r in rows], columns=keys)
    except sa.exc.SQLAlchemyError as exc:
        raise _database_error(name, exc, engine.url) from None


def iter_prediction_frames(
    source: SqlSource,
    *,
    model: str,
    wanted: list[str] | None,
    column: str,
    bounds: Bounds,
    unit: str | None,
    batch_rows: int | None = None,
) -> Iterator[pd.DataFrame]:
    """The window's rows of the table, ordered by timestamp, timestamp in UTC, in chunks."""
    import sqlalchemy as sa

    name = describe(source, model, "predictions")
    engine = engine_for(source, model, "predictions")
    table = reflect(engine, source, name, [column])
    names = [c.name for c in table.columns if wanted is None or c.name in wanted]
    query = (
        sa.select(*_selected(table, names))
        .where(time_condition(table, column, bounds, unit, name))
        .order_by(table.c[column])
    )
    chunk = min(source.chunk_rows, batch_rows) if batch_rows else source.chunk_rows
    for frame in _frames(engine, query, name, chunk):
        frame[column] = to_utc(frame, column, name, unit)
        yield frame


def count_rows(
    source: SqlSource, *, model: str, column: str, bounds: Bounds, unit: str | None
) -> int:
    """``COUNT(*)`` of the window (an index on the timestamp makes it cheap)."""
    import sqlalchemy as sa

    name = describe(source, model, "predictions")
    engine = engine_for(source, model, "predictions")
    table = reflect(engine, source, name, [column])
    query = (
        sa.select(sa.func.count())
        .select_from(table)
        .where(time_condition(table, column, bounds, unit, name))
    )
    frames = list(_frames(engine, query, name, 1_000))
    return int(frames[0].iloc[0, 0])


def read_labels(
    source: SqlSource,
    *,
    model: str,
    id_column: str,
    target: str,
    ids: pd.Series,
    unit: str | None,
    within: Bounds | None,
    order: str,
) -> pd.DataFrame:
    """Label rows whose id is among ``ids`` (chunked ``IN`` lists of bound parameters).

    ``within``: only rows whose ``label_timestamp`` is in ``[lo, hi)`` or missing.
    Rows come ordered by ``label_timestamp`` (missing first) when the table has it.
    """
    import sqlalchemy as sa

    name = describe(source, model, "labels")
    engine = engine_for(source, model, "labels")
    table = reflect(engine, source, name, [id_column, target])
    has_time = LABEL_TIMESTAMP in table.c
    names = [id_column, target] + ([LABEL_TIMESTAMP] if has_time else [])
    id_col = table.c[id_column]
    values = [str(v) for v in pd.unique(ids.astype(str))]
    if isinstance(id_col.type, sa.Integer):
        values_any: list[Any] = [int(v) for v in values if v.lstrip("-").isdigit()]
        key: Any = id_col
    elif isinstance(id_col.type, sa.String):
        values_any, key = list(values), id_col
    else:
        values_any, key = list(values), sa.cast(id_col, sa.String)
    base = sa.select(*_selected(table, names))
    if within is not None and has_time:
        time = time_condition(table, LABEL_TIMESTAMP, within, unit, name)
        base = base.where(sa.or_(table.c[LABEL_TIMESTAMP].is_(None), time))
    frames = []
    for i in range(0, len(values_any), ID_CHUNK):
        query = base.where(key.in_(sa.bindparam("ids", expanding=True)))
        frames += list(
            _frames(engine, query, name, source.chunk_rows, {"ids": values_any[i : i + ID_CHUNK]})
        )
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=[id_column, target])
    labels = pd.concat(frames, ignore_index=True)
    if has_time:
        labels[order] = to_utc(labels, LABEL_TIMESTAMP, name, unit)
        labels = labels.drop(columns=LABEL_TIMESTAMP)
        labels = labels.sort_values(order, kind="stable", na_position="first")
    return labels.reset_index(drop=True)


def is_table_entry(entry: str) -> bool:
    """Whether a provenance entry names a SQL table rather than a file."""
    return entry.startswith(SQL_PREFIX)


__all__ = [
    "ID_CHUNK",
    "SQL_PREFIX",
    "count_rows",
    "describe",
    "engine_for",
    "is_table_entry",
    "iter_prediction_frames",
    "read_labels",
]
