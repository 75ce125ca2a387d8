"""CDS Hooks gateway: supplier services per tool version, JWT ids, calls, cards, feedback

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22 16:26:24.612867
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import steward.db.base

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cds_jwt_ids",
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("jti", sa.String(length=500), nullable=False),
        sa.Column("expires_at", steward.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("issuer", "jti", name=op.f("pk_cds_jwt_ids")),
    )
    with op.batch_alter_table("cds_jwt_ids", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cds_jwt_ids_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "cds_services",
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.String(length=200), nullable=False),
        sa.Column("hook", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "prefetch",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("supplier_url", sa.String(length=2000), nullable=False),
        sa.Column("tenant", sa.String(length=200), nullable=True),
        sa.Column(
            "score_source",
            sa.Enum(
                "none",
                "risk_assessment",
                "summary_regex",
                name="score_source",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("score_pattern", sa.String(length=500), nullable=True),
        sa.Column("score_scale", sa.Float(), nullable=False),
        sa.Column("fallback_card", sa.Boolean(), nullable=False),
        sa.Column("updated_at", steward.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", steward.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["tool_versions.id"],
            name=op.f("fk_cds_services_version_id_tool_versions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cds_services")),
        sa.UniqueConstraint(
            "version_id",
            "service_id",
            "hook",
            name=op.f("uq_cds_services_version_id_service_id_hook"),
        ),
    )
    with op.batch_alter_table("cds_services", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cds_services_service_id"), ["service_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cds_services_version_id"), ["version_id"], unique=False
        )

    op.create_table(
        "cds_calls",
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("hook_instance", sa.String(length=200), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "proxied",
                "blocked",
                "supplier_timeout",
                "supplier_error",
                name="outcome",
                native_enum=False,
                create_constraint=True,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("cards_returned", sa.Integer(), nullable=False),
        sa.Column("cards_dropped", sa.Integer(), nullable=False),
        sa.Column("prefetch_dropped", sa.Integer(), nullable=False),
        sa.Column("elapsed_ms", sa.Float(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", steward.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["cds_services.id"],
            name=op.f("fk_cds_calls_service_id_cds_services"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["organisations.id"],
            name=op.f("fk_cds_calls_site_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cds_calls")),
    )
    with op.batch_alter_table("cds_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cds_calls_outcome"), ["outcome"], unique=False)
        batch_op.create_index(batch_op.f("ix_cds_calls_service_id"), ["service_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cds_calls_site_id"), ["site_id"], unique=False)

    op.create_table(
        "cds_feedback",
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("card_uuid", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column(
            "accepted_suggestions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("override_code", sa.String(length=200), nullable=True),
        sa.Column("override_system", sa.String(length=500), nullable=True),
        sa.Column("override_display", sa.String(length=500), nullable=True),
        sa.Column("user_comment", sa.Text(), nullable=True),
        sa.Column("outcome_at", steward.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("known_card", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", steward.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["cds_services.id"],
            name=op.f("fk_cds_feedback_service_id_cds_services"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["organisations.id"],
            name=op.f("fk_cds_feedback_site_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cds_feedback")),
    )
    with op.batch_alter_table("cds_feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cds_feedback_card_uuid"), ["card_uuid"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_cds_feedback_service_id"), ["service_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cds_feedback_site_id"), ["site_id"], unique=False)

    op.create_table(
        "cds_cards",
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("card_uuid", sa.String(length=200), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.String(length=200), nullable=True),
        sa.Column("encounter_id", sa.String(length=200), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("indicator", sa.String(length=20), nullable=False),
        sa.Column(
            "card",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", steward.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["cds_calls.id"],
            name=op.f("fk_cds_cards_call_id_cds_calls"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["cds_services.id"],
            name=op.f("fk_cds_cards_service_id_cds_services"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["organisations.id"],
            name=op.f("fk_cds_cards_site_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["tool_versions.id"],
            name=op.f("fk_cds_cards_version_id_tool_versions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cds_cards")),
    )
    with op.batch_alter_table("cds_cards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cds_cards_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cds_cards_card_uuid"), ["card_uuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_cds_cards_service_id"), ["service_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cds_cards_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cds_cards_version_id"), ["version_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cds_cards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cds_cards_version_id"))
        batch_op.drop_index(batch_op.f("ix_cds_cards_site_id"))
        batch_op.drop_index(batch_op.f("ix_cds_cards_service_id"))
        batch_op.drop_index(batch_op.f("ix_cds_cards_card_uuid"))
        batch_op.drop_index(batch_op.f("ix_cds_cards_call_id"))

    op.drop_table("cds_cards")
    with op.batch_alter_table("cds_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cds_feedback_site_id"))
        batch_op.drop_index(batch_op.f("ix_cds_feedback_service_id"))
        batch_op.drop_index(batch_op.f("ix_cds_feedback_card_uuid"))

    op.drop_table("cds_feedback")
    with op.batch_alter_table("cds_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cds_calls_site_id"))
        batch_op.drop_index(batch_op.f("ix_cds_calls_service_id"))
        batch_op.drop_index(batch_op.f("ix_cds_calls_outcome"))

    op.drop_table("cds_calls")
    with op.batch_alter_table("cds_services", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cds_services_version_id"))
        batch_op.drop_index(batch_op.f("ix_cds_services_service_id"))

    op.drop_table("cds_services")
    with op.batch_alter_table("cds_jwt_ids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cds_jwt_ids_expires_at"))

    op.drop_table("cds_jwt_ids")
