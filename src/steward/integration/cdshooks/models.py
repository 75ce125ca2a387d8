"""Tables of the gateway: supplier services per tool version, and the gateway's own log.

Registrations are governance records and are audited like every registry change. The log tables
(JWT ids, calls, cards, feedback) are high-volume operational data written with Core inserts, so
each hook call does not append to the audit chain; they are themselves the record of what ran.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from steward.db.base import Base, CreatedMixin, IdMixin, enum_type, utcnow


class ScoreSource(StrEnum):
    """Where the risk score is in a supplier's card."""

    NONE = "none"
    RISK_ASSESSMENT = "risk_assessment"
    SUMMARY_REGEX = "summary_regex"


class CallOutcome(StrEnum):
    """What became of one hook call at the gateway."""

    PROXIED = "proxied"
    BLOCKED = "blocked"
    SUPPLIER_TIMEOUT = "supplier_timeout"
    SUPPLIER_ERROR = "supplier_error"


class CdsService(IdMixin, CreatedMixin, Base):
    """A supplier's CDS service for one tool version, and how to read the score in its cards."""

    __tablename__ = "cds_services"
    __table_args__ = (UniqueConstraint("version_id", "service_id", "hook"),)

    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tool_versions.id", ondelete="RESTRICT"), index=True
    )
    service_id: Mapped[str] = mapped_column(String(200), index=True)
    hook: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text)
    prefetch: Mapped[dict[str, Any]]
    supplier_url: Mapped[str] = mapped_column(String(2000))
    tenant: Mapped[str | None] = mapped_column(String(200))
    score_source: Mapped[ScoreSource] = mapped_column(
        enum_type(ScoreSource, "score_source"), default=ScoreSource.NONE
    )
    score_pattern: Mapped[str | None] = mapped_column(String(500))
    score_scale: Mapped[float] = mapped_column(Float, default=1.0)
    fallback_card: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CdsJwtId(Base):
    """A ``jti`` already presented by an issuer; a second use is a replay."""

    __tablename__ = "cds_jwt_ids"

    issuer: Mapped[str] = mapped_column(String(500), primary_key=True)
    jti: Mapped[str] = mapped_column(String(500), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class CdsCallSlot(Base):
    """A hook call admitted to a tool and not yet finished with its supplier (see
    :mod:`~steward.integration.cdshooks.slots`); a suspension of the tool waits for these rows.

    ``holder`` names the server process; ``expires_at`` is when the call gives up on its
    supplier at the latest, after which the row no longer counts (a process killed mid-call
    leaves it behind).
    """

    __tablename__ = "cds_call_slots"

    slot_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tool_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, index=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(index=True)


class CdsCall(IdMixin, CreatedMixin, Base):
    """One hook call through the gateway: outcome, cards passed and dropped, time taken."""

    __tablename__ = "cds_calls"

    service_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cds_services.id", ondelete="RESTRICT"), index=True
    )
    site_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    hook_instance: Mapped[str] = mapped_column(String(200))
    issuer: Mapped[str] = mapped_column(String(500))
    outcome: Mapped[CallOutcome] = mapped_column(enum_type(CallOutcome, "outcome"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    cards_returned: Mapped[int] = mapped_column(Integer, default=0)
    cards_dropped: Mapped[int] = mapped_column(Integer, default=0)
    prefetch_dropped: Mapped[int] = mapped_column(Integer, default=0)
    elapsed_ms: Mapped[float] = mapped_column(Float, default=0.0)


class CdsCard(IdMixin, CreatedMixin, Base):
    """A card returned to the EHR, logged as a prediction of the tool version at the site."""

    __tablename__ = "cds_cards"

    call_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cds_calls.id", ondelete="RESTRICT"), index=True
    )
    card_uuid: Mapped[str] = mapped_column(String(200), index=True)
    service_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cds_services.id", ondelete="RESTRICT"), index=True
    )
    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tool_versions.id", ondelete="RESTRICT"), index=True
    )
    site_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    patient_id: Mapped[str | None] = mapped_column(String(200))
    encounter_id: Mapped[str | None] = mapped_column(String(200))
    score: Mapped[float | None] = mapped_column(Float)
    indicator: Mapped[str] = mapped_column(String(20))
    card: Mapped[dict[str, Any]]


class CdsFeedback(IdMixin, CreatedMixin, Base):
    """A clinician's response to a card: accepted (which suggestions) or overridden (why)."""

    __tablename__ = "cds_feedback"

    service_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cds_services.id", ondelete="RESTRICT"), index=True
    )
    site_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    card_uuid: Mapped[str] = mapped_column(String(200), index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    accepted_suggestions: Mapped[dict[str, Any]]
    override_code: Mapped[str | None] = mapped_column(String(200))
    override_system: Mapped[str | None] = mapped_column(String(500))
    override_display: Mapped[str | None] = mapped_column(String(500))
    user_comment: Mapped[str | None] = mapped_column(Text)
    outcome_at: Mapped[datetime]
    known_card: Mapped[bool] = mapped_column(default=False)
