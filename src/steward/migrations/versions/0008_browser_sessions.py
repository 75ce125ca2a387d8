"""browser sessions (sign-in, organisation switching, CSRF) and the tool a proposal registered

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 16:19:46.504186
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import steward.db.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "browser_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "admin",
                "committee_chair",
                "committee_member",
                "clinical_lead",
                "clinical_safety_officer",
                "ig_dpo",
                "it_security",
                "finance",
                "patient_representative",
                "data_scientist",
                "clinician",
                "supplier",
                "viewer",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("expires_at", steward.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", steward.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", steward.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_browser_sessions_organisation_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_browser_sessions_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_browser_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_browser_sessions_token_hash")),
    )
    with op.batch_alter_table("browser_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_browser_sessions_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_browser_sessions_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tool_id", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_proposals_tool_id"), ["tool_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_proposals_tool_id_tools"),
            "tools",
            ["tool_id"],
            ["id"],
            ondelete="RESTRICT",
        )


def downgrade() -> None:
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_proposals_tool_id_tools"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_proposals_tool_id"))
        batch_op.drop_column("tool_id")
    with op.batch_alter_table("browser_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_browser_sessions_user_id"))
        batch_op.drop_index(batch_op.f("ix_browser_sessions_organisation_id"))

    op.drop_table("browser_sessions")
