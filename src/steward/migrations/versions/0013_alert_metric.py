"""alerts carry the monitor's series (metric) in their deduplication key

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22 16:58:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KEY = "uq_alerts_deployment_id_monitor_subject_grain_window_start"


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("metric", sa.String(length=100), server_default="", nullable=False)
        )
        batch_op.drop_constraint(OLD_KEY, type_="unique")
        batch_op.create_unique_constraint(
            "uq_alerts_dedup",
            ["deployment_id", "monitor", "metric", "subject", "grain", "window_start"],
        )


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_alerts_dedup", type_="unique")
        batch_op.create_unique_constraint(
            OLD_KEY, ["deployment_id", "monitor", "subject", "grain", "window_start"]
        )
        batch_op.drop_column("metric")
