"""monitoring configurations carry overrides of the monitors' defaults

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-22 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("monitoring_configs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "monitor_overrides",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                server_default="{}",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("monitoring_configs", schema=None) as batch_op:
        batch_op.drop_column("monitor_overrides")
