"""Decisions about a tool (who decided what, and why) and its liability and indemnity record."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from steward.db.base import Base, CreatedMixin, IdMixin, utcnow
from steward.registry.errors import invalid
from steward.registry.models import Tool, ToolVersion, User
from steward.registry.organisations import require_text
from steward.registry.records import Decision, DecisionOutcome


class LiabilityRecord(IdMixin, CreatedMixin, Base):
    """Contract, liability allocation and indemnity cover of a tool (one per tool)."""

    __tablename__ = "liability_records"

    tool_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tools.id", ondelete="RESTRICT"), unique=True
    )
    contract_reference: Mapped[str] = mapped_column(String(200))
    liability_allocation: Mapped[str] = mapped_column(Text)
    indemnity_provider: Mapped[str] = mapped_column(String(200))
    indemnity_cover: Mapped[str] = mapped_column(Text)
    cover_expires_at: Mapped[datetime | None]
    notes: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def record_decision(
    session: Session,
    tool: Tool,
    *,
    subject: str,
    outcome: DecisionOutcome,
    rationale: str,
    decided_by: User | None = None,
    version: ToolVersion | None = None,
) -> Decision:
    """Record a decision with its rationale; a decision without a rationale is refused."""
    if version is not None and version.tool_id != tool.id:
        raise invalid("version_id", "the version belongs to another tool")
    decision = Decision(
        id=uuid.uuid4(),
        tool_id=tool.id,
        version_id=version.id if version else None,
        subject=require_text("subject", subject, 300),
        outcome=outcome,
        rationale=require_text("rationale", rationale, 20_000),
        decided_by_id=decided_by.id if decided_by else None,
    )
    session.add(decision)
    session.flush()
    return decision


def set_liability_record(
    session: Session,
    tool: Tool,
    *,
    contract_reference: str,
    liability_allocation: str,
    indemnity_provider: str,
    indemnity_cover: str,
    cover_expires_at: datetime | None = None,
    notes: str = "",
) -> LiabilityRecord:
    """Write (or rewrite) the tool's liability and indemnity record."""
    record = session.scalar(select(LiabilityRecord).where(LiabilityRecord.tool_id == tool.id))
    if record is None:
        record = LiabilityRecord(id=uuid.uuid4(), tool_id=tool.id)
        session.add(record)
    record.contract_reference = require_text("contract_reference", contract_reference)
    record.liability_allocation = require_text("liability_allocation", liability_allocation, 20_000)
    record.indemnity_provider = require_text("indemnity_provider", indemnity_provider)
    record.indemnity_cover = require_text("indemnity_cover", indemnity_cover, 20_000)
    record.cover_expires_at = cover_expires_at
    record.notes = notes
    session.flush()
    return record
