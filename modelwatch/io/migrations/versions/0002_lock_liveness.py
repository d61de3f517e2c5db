"""Locks that die with their holder: pid, host and heartbeat of the holder.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

A lock row now says which process holds it (``host``, ``pid``) and when that
process last proved it was alive (``heartbeat_at``, epoch seconds). Rows written
before this revision have NULLs there and keep expiring by ``expires_at``.

The legacy ``modelwatch_schema`` table gets version 2, so a modelwatch 0.1
(which predates migrations and checks only that table) refuses this store
instead of writing into a schema it does not know.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_schema = sa.table(
    "modelwatch_schema",
    sa.column("version", sa.Integer),
    sa.column("applied_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("locks") as batch:
        batch.add_column(sa.Column("host", sa.String(255)))
        batch.add_column(sa.Column("pid", sa.Integer))
        batch.add_column(sa.Column("heartbeat_at", sa.Float))
    op.execute(_schema.insert().values(version=2, applied_at=sa.func.current_timestamp()))


def downgrade() -> None:
    op.execute(_schema.delete().where(_schema.c.version >= 2))
    with op.batch_alter_table("locks") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("pid")
        batch.drop_column("host")
