"""Tables of AI safety incidents and their links to alerts and to hazards of the tool's log."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from steward.db.base import Base, CreatedMixin, IdMixin, enum_type, utcnow


class IncidentOutcome(StrEnum):
    """The worst outcome for a patient, in the terms both the MHRA and the FDA forms use."""

    DEATH = "death"
    LIFE_THREATENING = "life_threatening"
    HOSPITALISATION = "hospitalisation"
    DISABILITY = "disability"
    REQUIRED_INTERVENTION = "required_intervention"
    OTHER_SERIOUS = "other_serious"
    NO_HARM = "no_harm"
    NEAR_MISS = "near_miss"


class IncidentStatus(StrEnum):
    """Open while investigated, reported once sent to a regulator, closed when done."""

    OPEN = "open"
    REPORTED = "reported"
    CLOSED = "closed"


class Incident(IdMixin, CreatedMixin, Base):
    """An event in which an AI tool harmed, or could have harmed, patients."""

    __tablename__ = "incidents"

    tool_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tools.id", ondelete="RESTRICT"), index=True
    )
    deployment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime]
    detected_at: Mapped[datetime | None]
    outcome: Mapped[IncidentOutcome] = mapped_column(enum_type(IncidentOutcome, "outcome"))
    patients_affected: Mapped[int] = mapped_column(default=0)
    patient_age: Mapped[int | None]
    patient_sex: Mapped[str | None] = mapped_column(String(20))
    device_contributed: Mapped[bool] = mapped_column(default=True)
    serious: Mapped[bool] = mapped_column(default=False)
    actions_taken: Mapped[str] = mapped_column(Text, default="")
    device_identifier: Mapped[str] = mapped_column(String(200), default="")
    regulatory_status: Mapped[str] = mapped_column(String(200), default="")
    reporter_name: Mapped[str] = mapped_column(String(200), default="")
    reporter_email: Mapped[str] = mapped_column(String(320), default="")
    reporter_role: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[IncidentStatus] = mapped_column(
        enum_type(IncidentStatus, "status"), default=IncidentStatus.OPEN
    )
    recorded_by: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class IncidentAlert(IdMixin, CreatedMixin, Base):
    """An alert that belongs to an incident."""

    __tablename__ = "incident_alerts"
    __table_args__ = (UniqueConstraint("incident_id", "alert_id"),)

    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="RESTRICT"), index=True
    )
    alert_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alerts.id", ondelete="RESTRICT"), index=True
    )


class IncidentHazard(IdMixin, CreatedMixin, Base):
    """A hazard of the tool's log that the incident realised."""

    __tablename__ = "incident_hazards"
    __table_args__ = (UniqueConstraint("incident_id", "hazard_id"),)

    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="RESTRICT"), index=True
    )
    hazard_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("hazards.id", ondelete="RESTRICT"), index=True
    )
