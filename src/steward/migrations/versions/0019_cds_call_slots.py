"""CDS Hooks gateway: a row per hook call in flight, so suspensions wait across processes

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-22 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import steward.db.base

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cds_call_slots",
        sa.Column("slot_id", sa.Uuid(), nullable=False),
        sa.Column("tool_id", sa.Uuid(), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", steward.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("slot_id", "tool_id", name=op.f("pk_cds_call_slots")),
    )
    with op.batch_alter_table("cds_call_slots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cds_call_slots_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cds_call_slots_tool_id"), ["tool_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cds_call_slots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cds_call_slots_tool_id"))
        batch_op.drop_index(batch_op.f("ix_cds_call_slots_expires_at"))
    op.drop_table("cds_call_slots")
