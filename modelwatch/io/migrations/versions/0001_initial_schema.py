"""Initial schema: the store as modelwatch 0.1 created it with ``create_all``.

Revision ID: 0001
Revises:
Create Date: 2026-11-30

A store created before migrations existed holds exactly these tables plus a
``modelwatch_schema`` row with version 1; ``modelwatch store upgrade`` stamps
such a store at this revision (nothing to create) before upgrading it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "modelwatch_schema",
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("applied_at", _TZ, nullable=False),
    )
    op.create_table(
        "monitor_runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("window_start", _TZ, nullable=False),
        sa.Column("window_end", _TZ, nullable=False),
        sa.Column("flow_run_id", sa.String(64)),
        sa.Column("champion_version", sa.String(32)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("validation_passed", sa.Boolean, nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("n_labeled", sa.Integer, nullable=False),
        sa.Column("bad", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("share_drifted", sa.Float),
        sa.Column("created_at", _TZ, nullable=False),
        sa.UniqueConstraint("model", "window_start", name="uq_monitor_runs_model_window"),
    )
    for name, columns in (
        (
            "metric_values",
            [
                sa.Column("name", sa.String(64), nullable=False),
                sa.Column("kind", sa.String(16), nullable=False),
                sa.Column("segment", sa.String(200)),
                sa.Column("value", sa.Float),
                sa.Column("ci_low", sa.Float),
                sa.Column("ci_high", sa.Float),
                sa.Column("n", sa.Integer),
            ],
        ),
        (
            "drift_results",
            [
                sa.Column("column_name", sa.String(200), nullable=False),
                sa.Column("method", sa.String(32), nullable=False),
                sa.Column("statistic", sa.Float),
                sa.Column("p_value", sa.Float),
                sa.Column("threshold", sa.Float),
                sa.Column("drifted", sa.Boolean, nullable=False),
                sa.Column("missing_share_current", sa.Float),
                sa.Column("unseen_categories", sa.Text),
            ],
        ),
        (
            "validation_results",
            [
                sa.Column("expectation", sa.String(200), nullable=False),
                sa.Column("column_name", sa.String(200)),
                sa.Column("severity", sa.String(16), nullable=False),
                sa.Column("success", sa.Boolean, nullable=False),
                sa.Column("observed", sa.Text),
            ],
        ),
    ):
        op.create_table(
            name,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column(
                "run_id", sa.String(36), sa.ForeignKey("monitor_runs.id", ondelete="CASCADE")
            ),
            *columns,
        )
        op.create_index(f"ix_{name}_run_id", name, ["run_id"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("flow_run_id", sa.String(64)),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
    )
    op.create_index("ix_decisions_model", "decisions", ["model"])
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("window_start", _TZ, nullable=False),
        sa.Column("window_end", _TZ, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("flow_run_id", sa.String(64)),
        sa.Column("released", sa.Boolean, nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
    )
    op.create_index("ix_quarantine_model", "quarantine", ["model"])
    op.create_table(
        "data_quality",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("window_start", _TZ, nullable=False),
        sa.Column("window_end", _TZ, nullable=False),
        sa.Column("flow_run_id", sa.String(64)),
        sa.Column("column_name", sa.String(200)),
        sa.Column("stat", sa.String(64), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("detail", sa.Text),
        sa.Column("created_at", _TZ, nullable=False),
    )
    op.create_index("ix_data_quality_model_window", "data_quality", ["model", "window_start"])
    op.create_table(
        "locks",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("acquired_at", _TZ, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.execute(
        sa.table(
            "modelwatch_schema",
            sa.column("version", sa.Integer),
            sa.column("applied_at", _TZ),
        )
        .insert()
        .values(version=1, applied_at=sa.func.current_timestamp())
    )


def downgrade() -> None:
    for name in (
        "locks",
        "data_quality",
        "quarantine",
        "decisions",
        "validation_results",
        "drift_results",
        "metric_values",
        "monitor_runs",
        "modelwatch_schema",
    ):
        op.drop_table(name)
