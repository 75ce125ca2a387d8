"""The ``response_policies`` table: each tool's own response policy document."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from steward.db.base import Base, CreatedMixin, IdMixin, utcnow


class ResponsePolicyRecord(IdMixin, CreatedMixin, Base):
    """A tool's response policy document (see ``response.policy.ResponsePolicy``)."""

    __tablename__ = "response_policies"

    tool_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tools.id", ondelete="RESTRICT"), unique=True
    )
    document: Mapped[dict[str, Any]]
    policy_version: Mapped[str] = mapped_column(String(40))
    updated_by: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
