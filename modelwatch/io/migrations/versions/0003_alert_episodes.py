"""Alert episodes: one message when a model degrades, reminders, one when it recovers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

A new table ``alert_episodes`` (see :mod:`modelwatch.io.alert_episodes`); no
existing row changes. ``open_key`` holds the model while an episode is open and
NULL afterwards: its unique constraint lets one episode per model be open.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_schema = sa.table(
    "modelwatch_schema",
    sa.column("version", sa.Integer),
    sa.column("applied_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    op.create_table(
        "alert_episodes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("open_key", sa.String(200), unique=True),
        sa.Column("champion_version", sa.String(64)),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True)),
        sa.Column("last_sent_window", sa.DateTime(timezone=True)),
        sa.Column("messages", sa.Integer, nullable=False),
        sa.Column("suppressed", sa.Integer, nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("resolution", sa.Text),
    )
    op.create_index("ix_alert_episodes_model", "alert_episodes", ["model"])
    op.execute(_schema.insert().values(version=3, applied_at=sa.func.current_timestamp()))


def downgrade() -> None:
    op.execute(_schema.delete().where(_schema.c.version >= 3))
    op.drop_index("ix_alert_episodes_model", table_name="alert_episodes")
    op.drop_table("alert_episodes")
