"""Alembic environment of the monitoring store.

Run through :mod:`modelwatch.io.migrate` (``modelwatch store upgrade``), which
passes an open connection in ``config.attributes["connection"]``; the URL in
``sqlalchemy.url`` is used otherwise. SQLite gets batch mode (it cannot ALTER
most things in place); PostgreSQL runs every migration of one upgrade inside a
single transaction (transactional DDL), so a failed upgrade changes nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from modelwatch.io.store import metadata

config = context.config


def _include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    # tables of other tools sharing the database are not ours to diff
    return not (type_ == "table" and reflected and compare_to is None)


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=_include_object,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = sa.create_engine(
        config.get_main_option("sqlalchemy.url") or "", poolclass=sa.pool.NullPool
    )
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():  # pragma: no cover - SQL scripts are not offered
    raise RuntimeError("modelwatch store migrations run online only (modelwatch store upgrade)")
run_migrations_online()
