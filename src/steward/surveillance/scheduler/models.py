"""The ``monitor_runs`` table: one row per (deployment, monitor, grain, window).

Rows are the scheduler's queue. They are written with conditional SQL statements (a claim must
change exactly one row), not through the audited ORM: they are bookkeeping, whereas what a run
finds (alerts, notifications, suspensions) is audited.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from steward.db.base import Base, CreatedMixin, IdMixin, enum_type


class RunStatus(StrEnum):
    """Due until a worker claims it; running under a lease; then done or failed."""

    DUE = "due"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class MonitorRun(IdMixin, CreatedMixin, Base):
    """One monitor to run (or run) for one deployment on one closed window."""

    __tablename__ = "monitor_runs"
    __table_args__ = (
        UniqueConstraint("deployment_id", "monitor", "grain", "window_start"),
        Index("ix_monitor_runs_status_due_at", "status", "due_at"),
    )

    deployment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deployments.id", ondelete="RESTRICT"), index=True
    )
    monitor: Mapped[str] = mapped_column(String(100))
    grain: Mapped[str] = mapped_column(String(10))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    status: Mapped[RunStatus] = mapped_column(enum_type(RunStatus, "status"), default=RunStatus.DUE)
    due_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    finished_at: Mapped[datetime | None]
    findings: Mapped[int | None]
    alerts: Mapped[int | None]
    error: Mapped[str] = mapped_column(Text, default="")
