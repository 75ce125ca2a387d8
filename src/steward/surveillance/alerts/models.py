"""Tables of alerts and of their state changes (one ``alert_events`` row per change)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from steward.db.base import Base, CreatedMixin, IdMixin, enum_type, utcnow


class Severity(StrEnum):
    """How serious a finding is; the response policy maps each severity to actions."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertStatus(StrEnum):
    """Open until someone acknowledges it, resolved when someone closes it with a reason."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class Alert(IdMixin, CreatedMixin, Base):
    """One alarm of one monitor (and one of its series, ``metric``), for one subject (overall or
    a subgroup), in one window.

    The unique key is what deduplication rests on: a monitor that fires again for the same
    series, subject and window updates nothing and notifies nobody twice.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint(
            "deployment_id",
            "monitor",
            "metric",
            "subject",
            "grain",
            "window_start",
            name="uq_alerts_dedup",
        ),
        Index("ix_alerts_deployment_status", "deployment_id", "status"),
    )

    deployment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deployments.id", ondelete="RESTRICT")
    )
    tool_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tools.id", ondelete="RESTRICT"), index=True
    )
    monitor: Mapped[str] = mapped_column(String(100))
    metric: Mapped[str] = mapped_column(String(100), default="", server_default="")
    subject: Mapped[str] = mapped_column(String(200), default="")
    grain: Mapped[str] = mapped_column(String(10))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    severity: Mapped[Severity] = mapped_column(enum_type(Severity, "severity"))
    status: Mapped[AlertStatus] = mapped_column(
        enum_type(AlertStatus, "status"), default=AlertStatus.OPEN
    )
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    review_required: Mapped[bool] = mapped_column(default=False)
    escalation_level: Mapped[int] = mapped_column(default=0)
    notified_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(320))
    acknowledged_at: Mapped[datetime | None]
    acknowledge_note: Mapped[str] = mapped_column(Text, default="")
    resolved_by: Mapped[str | None] = mapped_column(String(320))
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AlertEvent(IdMixin, CreatedMixin, Base):
    """One thing that happened to an alert: opened, notified, escalated, acknowledged, resolved,
    review required, tool suspended (or suspension refused)."""

    __tablename__ = "alert_events"

    alert_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alerts.id", ondelete="RESTRICT"), index=True
    )
    action: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(320))
    note: Mapped[str] = mapped_column(Text, default="")
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
