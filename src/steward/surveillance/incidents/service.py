"""Recording AI safety incidents, linking them to alerts and hazards, and reading them back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from steward.db.base import utcnow
from steward.registry.errors import FieldProblem, InvalidInputError, NotFoundError
from steward.registry.models import Deployment, Tool, ToolVersion
from steward.registry.records import Hazard
from steward.surveillance.alerts.models import Alert
from steward.surveillance.incidents.models import (
    Incident,
    IncidentAlert,
    IncidentHazard,
    IncidentOutcome,
)


@dataclass(frozen=True)
class IncidentEntry:
    """What a person reports about an incident; links name alerts by id, hazards by reference."""

    title: str
    description: str
    occurred_at: datetime
    outcome: IncidentOutcome
    patients_affected: int = 0
    deployment_id: uuid.UUID | None = None
    detected_at: datetime | None = None
    patient_age: int | None = None
    patient_sex: str | None = None
    device_contributed: bool = True
    serious: bool = False
    actions_taken: str = ""
    device_identifier: str = ""
    regulatory_status: str = ""
    reporter_name: str = ""
    reporter_email: str = ""
    reporter_role: str = ""
    alert_ids: list[uuid.UUID] = field(default_factory=list)
    hazard_references: list[str] = field(default_factory=list)


SERIOUS_OUTCOMES = frozenset(
    {
        IncidentOutcome.DEATH,
        IncidentOutcome.LIFE_THREATENING,
        IncidentOutcome.HOSPITALISATION,
        IncidentOutcome.DISABILITY,
        IncidentOutcome.REQUIRED_INTERVENTION,
        IncidentOutcome.OTHER_SERIOUS,
    }
)


def record_incident(session: Session, tool: Tool, entry: IncidentEntry, actor: str) -> Incident:
    """Record the incident with its links; every problem with the entry is reported at once."""
    problems = _check(session, tool, entry)
    alerts = _alerts(session, tool, entry.alert_ids, problems)
    hazards = _hazards(session, tool, entry.hazard_references, problems)
    if problems:
        raise InvalidInputError(problems)
    incident = Incident(
        id=uuid.uuid4(),
        tool_id=tool.id,
        deployment_id=entry.deployment_id,
        title=entry.title.strip(),
        description=entry.description.strip(),
        occurred_at=entry.occurred_at,
        detected_at=entry.detected_at,
        outcome=entry.outcome,
        patients_affected=entry.patients_affected,
        patient_age=entry.patient_age,
        patient_sex=entry.patient_sex,
        device_contributed=entry.device_contributed,
        serious=entry.serious or entry.outcome in SERIOUS_OUTCOMES,
        actions_taken=entry.actions_taken.strip(),
        device_identifier=entry.device_identifier.strip(),
        regulatory_status=entry.regulatory_status.strip(),
        reporter_name=entry.reporter_name.strip(),
        reporter_email=entry.reporter_email.strip(),
        reporter_role=entry.reporter_role.strip(),
        recorded_by=actor,
    )
    session.add(incident)
    session.flush()
    for alert in alerts:
        session.add(IncidentAlert(id=uuid.uuid4(), incident_id=incident.id, alert_id=alert.id))
    for hazard in hazards:
        session.add(IncidentHazard(id=uuid.uuid4(), incident_id=incident.id, hazard_id=hazard.id))
    session.flush()
    return incident


def _check(session: Session, tool: Tool, entry: IncidentEntry) -> list[FieldProblem]:
    problems = []
    if not entry.title.strip():
        problems.append(FieldProblem("title", "give the incident a title"))
    if not entry.description.strip():
        problems.append(FieldProblem("description", "describe what happened"))
    if entry.occurred_at > utcnow() + timedelta(minutes=5):
        problems.append(FieldProblem("occurred_at", "the incident cannot lie in the future"))
    if entry.detected_at is not None and entry.detected_at < entry.occurred_at:
        problems.append(FieldProblem("detected_at", "detected before it occurred"))
    if entry.deployment_id is not None:
        version = session.scalar(
            select(ToolVersion.tool_id)
            .join(Deployment, Deployment.version_id == ToolVersion.id)
            .where(Deployment.id == entry.deployment_id)
        )
        if version != tool.id:
            problems.append(FieldProblem("deployment_id", "not a deployment of this tool"))
    return problems


def _alerts(
    session: Session, tool: Tool, ids: list[uuid.UUID], problems: list[FieldProblem]
) -> list[Alert]:
    found = []
    for index, alert_id in enumerate(dict.fromkeys(ids)):
        alert = session.get(Alert, alert_id)
        if alert is None or alert.tool_id != tool.id:
            problems.append(FieldProblem(f"alert_ids.{index}", f"no alert {alert_id} of this tool"))
        else:
            found.append(alert)
    return found


def _hazards(
    session: Session, tool: Tool, references: list[str], problems: list[FieldProblem]
) -> list[Hazard]:
    found = []
    for index, reference in enumerate(dict.fromkeys(references)):
        hazard = session.scalar(
            select(Hazard).where(Hazard.tool_id == tool.id, Hazard.reference == reference)
        )
        if hazard is None:
            problems.append(
                FieldProblem(f"hazard_references.{index}", f"no hazard {reference} in the log")
            )
        else:
            found.append(hazard)
    return found


def get_incident(session: Session, incident_id: uuid.UUID) -> Incident:
    """The incident ``incident_id``."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFoundError(f"no incident with id {incident_id}")
    return incident


def linked_alerts(session: Session, incident: Incident) -> list[Alert]:
    """The incident's alerts, oldest window first."""
    return list(
        session.scalars(
            select(Alert)
            .join(IncidentAlert, IncidentAlert.alert_id == Alert.id)
            .where(IncidentAlert.incident_id == incident.id)
            .order_by(Alert.window_start, Alert.id)
        )
    )


def linked_hazards(session: Session, incident: Incident) -> list[Hazard]:
    """The hazards the incident realised, by reference."""
    return list(
        session.scalars(
            select(Hazard)
            .join(IncidentHazard, IncidentHazard.hazard_id == Hazard.id)
            .where(IncidentHazard.incident_id == incident.id)
            .order_by(Hazard.reference)
        )
    )
