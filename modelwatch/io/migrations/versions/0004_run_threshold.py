"""Each monitored window keeps the threshold it was judged against.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

``monitor_runs.threshold`` (nullable): the watched metric's threshold of the
window's judgement. History charts (reports, dashboard) draw each champion's
own threshold; rows written before this revision have NULL there.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_schema = sa.table(
    "modelwatch_schema",
    sa.column("version", sa.Integer),
    sa.column("applied_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("monitor_runs", recreate="never") as batch:
        batch.add_column(sa.Column("threshold", sa.Float))
    op.execute(_schema.insert().values(version=4, applied_at=sa.func.current_timestamp()))


def downgrade() -> None:
    op.execute(_schema.delete().where(_schema.c.version >= 4))
    # never a batch "recreate" on SQLite: dropping and re-creating monitor_runs would
    # delete its metric, drift and validation rows through ON DELETE CASCADE; SQLite
    # >= 3.35 drops a column in place
    with op.batch_alter_table("monitor_runs", recreate="never") as batch:
        batch.drop_column("threshold")
