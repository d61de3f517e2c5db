"""Schema revisions of the monitoring store (Alembic, shipped in ``modelwatch/io/migrations``).

* :func:`upgrade` — bring a store to a revision (``head`` by default). A store
  created before migrations existed (tables + ``modelwatch_schema`` version 1,
  no ``alembic_version``) is stamped at ``0001`` first: it has exactly that
  schema. An empty database is created at head.
* :func:`check` — refuse a store that is behind or ahead of this code, with the
  command to run; a brand-new (empty) store is created at head, since there is
  nothing in it to migrate. A store found at head is remembered for the rest of the
  process (per URL; for a SQLite file, per file: a new file at the same path is
  checked again), so opening the store again costs no query; :func:`upgrade` and
  :func:`downgrade` forget it, ``recheck=True`` reads the revision again.
* :func:`drift` — differences between the code's tables and the database
  (Alembic's ``check``): a migration is missing when this is not empty.

On PostgreSQL an upgrade runs in one transaction (transactional DDL): a failure
changes nothing. On SQLite, Alembic's batch mode rebuilds tables it cannot
ALTER in place.
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from modelwatch.errors import StoreError, StoreSchemaError, StoreUnavailable

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
UPGRADE_COMMAND = "modelwatch store upgrade"


@dataclass(frozen=True)
class SchemaStatus:
    """Where a store stands: its revision (None: not under migrations) and this code's head."""

    url: str
    current: str | None
    head: str
    legacy: bool  # tables created before migrations existed (modelwatch_schema, no alembic)
    empty: bool  # no modelwatch table at all

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def _config(connection: sa.Connection | None = None, url: str | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def head_revision() -> str:
    """The newest revision shipped with this code."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(_config()).get_heads()
    if len(heads) != 1:  # pragma: no cover - a packaging mistake
        raise StoreError(f"the shipped store migrations have {len(heads)} heads: {heads}")
    return str(heads[0])


@functools.cache
def _known_revisions() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    return frozenset(s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions())


def status(engine: sa.Engine) -> SchemaStatus:
    """Read the store's revision (one small query; no migration is run)."""
    url = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            current = None
            if "alembic_version" in tables:
                current = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.SQLAlchemyError as exc:
        from modelwatch.io.store import is_transient_db_error

        text = f"cannot read the schema revision of the store at {url}: {exc}"
        raise (StoreUnavailable(text) if is_transient_db_error(exc) else StoreError(text)) from exc
    ours = tables - {"alembic_version"}
    return SchemaStatus(
        url=url,
        current=current,
        head=head_revision(),
        legacy=current is None and "monitor_runs" in ours,
        empty=current is None and "monitor_runs" not in ours,
    )


#: stores found at this code's head in this process: memo key -> their status
_AT_HEAD: dict[tuple[str, int | None], SchemaStatus] = {}
_AT_HEAD_LOCK = threading.Lock()


def _memo_key(engine: sa.Engine) -> tuple[str, int | None] | None:
    """The URL (and, for a SQLite file, its inode); None: not worth remembering."""
    url = engine.url
    rendered = url.render_as_string(hide_password=False)
    if url.get_backend_name() != "sqlite":
        return rendered, None
    if not url.database or url.database == ":memory:":
        return None
    try:
        return rendered, os.stat(url.database).st_ino
    except OSError:
        return None


def forget(engine: sa.Engine) -> None:
    """Forget that this store was found at head (its revision is about to change)."""
    rendered = engine.url.render_as_string(hide_password=False)
    with _AT_HEAD_LOCK:
        for key in [k for k in _AT_HEAD if k[0] == rendered]:
            del _AT_HEAD[key]


def check(engine: sa.Engine, *, recheck: bool = False) -> SchemaStatus:
    """Refuse a store whose revision is not this code's head; create an empty store at head.

    Once a store is found at head, later calls in this process answer from memory
    (no query) unless ``recheck``.
    """
    key = _memo_key(engine)
    if key is not None and not recheck:
        with _AT_HEAD_LOCK:
            known = _AT_HEAD.get(key)
        if known is not None:
            return known
    with _MIGRATION_LOCK:  # once per store and process: not while another thread creates it
        st = status(engine)
        if st.empty:
            st = _create(engine)
            key = _memo_key(engine)  # the file exists now
    if st.up_to_date:
        if key is not None:
            with _AT_HEAD_LOCK:
                _AT_HEAD[key] = st
        return st
    if st.legacy:
        raise StoreSchemaError(
            f"the monitoring store at {st.url} predates schema migrations (revision 0001 "
            f"without a version stamp); this modelwatch needs revision {st.head}: run "
            f"`{UPGRADE_COMMAND}` (no row is lost)"
        )
    if st.current in _known_revisions():
        raise StoreSchemaError(
            f"the monitoring store at {st.url} is at schema revision {st.current}, behind "
            f"this modelwatch ({st.head}): run `{UPGRADE_COMMAND}` (no row is lost)"
        )
    raise StoreSchemaError(
        f"the monitoring store at {st.url} is at schema revision {st.current}, which this "
        f"modelwatch (head {st.head}) does not know: it was upgraded by a newer modelwatch; "
        f"upgrade modelwatch on this machine"
    )


#: Alembic's ``context`` and ``op`` are module-level proxies: one migration at a time per
#: process (two threads of a fleet run opening a new store at once raced on them)
_MIGRATION_LOCK = threading.RLock()
#: PostgreSQL advisory lock key held by a migration's transaction (any 64-bit constant)
_PG_LOCK_KEY = 0x6D6F64656C77  # "modelw"


def _create(engine: sa.Engine) -> SchemaStatus:
    """Create an empty store at head, once: another thread or process may be doing it too.

    Under the process's migration lock the store is looked at again; a creation that
    fails because another process created the tables meanwhile (SQLite: the same file
    opened by two workers) is fine when the store is at head afterwards.
    """
    with _MIGRATION_LOCK:
        st = status(engine)
        if not st.empty:
            return st
        try:
            return upgrade(engine)
        except StoreError:
            after = status(engine)
            if after.up_to_date:
                return after
            raise


def upgrade(engine: sa.Engine, revision: str = "head") -> SchemaStatus:
    """Upgrade (or create) the store to ``revision``; a pre-migration store is stamped first.

    One migration at a time: per process (a lock), and per PostgreSQL database (a
    transaction-level advisory lock, so two workers upgrading at once run one after the
    other and the second finds nothing to do).
    """
    with _MIGRATION_LOCK:
        return _upgrade(engine, revision)


def _upgrade(engine: sa.Engine, revision: str) -> SchemaStatus:
    from alembic import command

    forget(engine)
    before = status(engine)
    if before.current is not None and before.current not in _known_revisions():
        raise StoreSchemaError(
            f"the monitoring store at {before.url} is at schema revision {before.current}, "
            f"which this modelwatch (head {before.head}) does not know; upgrade modelwatch"
        )
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            cfg = _config(conn)
            if before.legacy:
                command.stamp(cfg, "0001")
            command.upgrade(cfg, revision)
    except StoreSchemaError:
        raise
    except Exception as exc:
        after = (
            "the upgrade ran in one transaction: nothing changed"
            if engine.dialect.name == "postgresql"
            else "see `modelwatch store current` for the revision reached"
        )
        raise StoreError(
            f"cannot upgrade the store at {before.url} to {revision} ({after}): {exc}"
        ) from exc
    return status(engine)


def downgrade(engine: sa.Engine, revision: str) -> SchemaStatus:
    """Downgrade the store to ``revision`` (data in dropped columns is lost: say so first)."""
    from alembic import command

    forget(engine)
    try:
        with _MIGRATION_LOCK, engine.begin() as conn:
            command.downgrade(_config(conn), revision)
    except Exception as exc:
        url = engine.url.render_as_string(hide_password=True)
        raise StoreError(f"cannot downgrade the store at {url} to {revision}: {exc}") from exc
    return status(engine)


def drift(engine: sa.Engine) -> list[str]:
    """Differences between the code's tables and the store (empty: no migration missing)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from modelwatch.io.store import metadata

    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_object": lambda obj, name, type_, reflected, compare_to: (
                    not (type_ == "table" and reflected and compare_to is None)
                ),
            },
        )
        return [repr(diff) for diff in compare_metadata(ctx, metadata)]


def history() -> list[tuple[str, str]]:
    """``(revision, first docstring line)`` of every shipped migration, oldest first."""
    from alembic.script import ScriptDirectory

    scripts = list(ScriptDirectory.from_config(_config()).walk_revisions())
    return [(s.revision, (s.doc or "").strip().splitlines()[0]) for s in reversed(scripts)]
