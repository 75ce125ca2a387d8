"""version clearances: each version of a tool passes the gates into pilots and deployment

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-22 19:30:00

Existing transitions into silent_pilot, live_pilot and deployed already name the version the
gate looked at; each becomes that version's clearance, so no version loses what it passed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import steward.db.base

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLEARED_STATES = ("silent_pilot", "live_pilot", "deployed")


def upgrade() -> None:
    op.create_table(
        "version_clearances",
        sa.Column("tool_id", sa.Uuid(), nullable=False),
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=40), nullable=False),
        sa.Column("transition_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("policy_version", sa.String(length=40), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", steward.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tool_id"],
            ["tools.id"],
            name=op.f("fk_version_clearances_tool_id_tools"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["transition_id"],
            ["state_transitions.id"],
            name=op.f("fk_version_clearances_transition_id_state_transitions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["tool_versions.id"],
            name=op.f("fk_version_clearances_version_id_tool_versions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_version_clearances")),
        sa.UniqueConstraint(
            "version_id", "state", name=op.f("uq_version_clearances_version_id_state")
        ),
    )
    with op.batch_alter_table("version_clearances", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_version_clearances_tool_id"), ["tool_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_version_clearances_transition_id"), ["transition_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_version_clearances_version_id"), ["version_id"], unique=False
        )
    _clear_from_past_transitions()


def _clear_from_past_transitions() -> None:
    transitions = sa.table(
        "state_transitions",
        sa.column("id", sa.Uuid()),
        sa.column("tool_id", sa.Uuid()),
        sa.column("version_id", sa.Uuid()),
        sa.column("to_state", sa.String()),
        sa.column("reason", sa.Text()),
        sa.column("actor", sa.String()),
        sa.column("policy_version", sa.String()),
        sa.column("created_at", steward.db.base.UTCDateTime(timezone=True)),
    )
    clearances = sa.table(
        "version_clearances",
        *(sa.column(name) for name in ("id", "tool_id", "version_id", "state", "transition_id")),
        *(sa.column(name) for name in ("reason", "actor", "policy_version", "created_at")),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(transitions)
        .where(transitions.c.version_id.is_not(None), transitions.c.to_state.in_(CLEARED_STATES))
        .order_by(transitions.c.created_at)
    ).all()
    seen: set[tuple[uuid.UUID, str]] = set()
    for row in rows:
        if (row.version_id, row.to_state) in seen:
            continue
        seen.add((row.version_id, row.to_state))
        connection.execute(
            sa.insert(clearances).values(
                id=uuid.uuid4(),
                tool_id=row.tool_id,
                version_id=row.version_id,
                state=row.to_state,
                transition_id=row.id,
                reason=row.reason,
                actor=row.actor,
                policy_version=row.policy_version,
                created_at=row.created_at,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("version_clearances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_version_clearances_version_id"))
        batch_op.drop_index(batch_op.f("ix_version_clearances_transition_id"))
        batch_op.drop_index(batch_op.f("ix_version_clearances_tool_id"))
    op.drop_table("version_clearances")
