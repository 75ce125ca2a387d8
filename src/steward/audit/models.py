"""Tables of the audit trail: the append-only events and the single chain-head row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from steward.db.base import Base

GENESIS_HASH = "0" * 64
HEAD_ID = 1

SequenceNumber = BigInteger().with_variant(Integer(), "sqlite")


class AuditEvent(Base):
    """One recorded change; ``hash`` covers its content and the previous event's hash."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_entity", "entity_type", "entity_id"),)

    seq: Mapped[int] = mapped_column(SequenceNumber, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(100))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    request_id: Mapped[str] = mapped_column(String(100))
    organisation_id: Mapped[str | None] = mapped_column(String(36), index=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditChainHead(Base):
    """The last event's number and hash; writers lock this row to append one at a time."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(SequenceNumber)
    hash: Mapped[str] = mapped_column(String(64))
