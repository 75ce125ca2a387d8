"""Tables of the workbench: uploaded data sets and evaluation runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from steward.db.base import Base, CreatedMixin, IdMixin, enum_type


class RunStatus(StrEnum):
    """Where an evaluation run is."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def _fk(target: str, *, nullable: bool = False) -> Any:
    return mapped_column(ForeignKey(target, ondelete="RESTRICT"), index=True, nullable=nullable)


class DataUpload(IdMixin, CreatedMixin, Base):
    """A CSV or Parquet file uploaded for evaluation, stored under ``STEWARD_HOME/uploads``."""

    __tablename__ = "data_uploads"

    organisation_id: Mapped[uuid.UUID] = _fk("organisations.id")
    uploaded_by_id: Mapped[uuid.UUID | None] = _fk("users.id", nullable=True)
    filename: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    columns: Mapped[dict[str, Any]]


class EvaluationRun(IdMixin, CreatedMixin, Base):
    """One local validation of an uploaded data set, from request to result."""

    __tablename__ = "evaluation_runs"

    upload_id: Mapped[uuid.UUID] = _fk("data_uploads.id")
    organisation_id: Mapped[uuid.UUID] = _fk("organisations.id")
    version_id: Mapped[uuid.UUID | None] = _fk("tool_versions.id", nullable=True)
    requested_by_id: Mapped[uuid.UUID | None] = _fk("users.id", nullable=True)
    title: Mapped[str] = mapped_column(String(300))
    spec: Mapped[dict[str, Any]]
    status: Mapped[RunStatus] = mapped_column(enum_type(RunStatus, "status"))
    error: Mapped[str] = mapped_column(Text, default="")
    verdict: Mapped[str | None] = mapped_column(String(20))
    result: Mapped[dict[str, Any] | None] = mapped_column(info={"audit": "omit"})
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    evaluation_id: Mapped[uuid.UUID | None] = _fk("evaluation_results.id", nullable=True)
