"""``/api/v1/tools/{id}/incidents`` and ``/api/v1/incidents/{id}``: AI safety incidents and their
MHRA Yellow Card / FDA MedWatch 3500A exports (JSON, or a printable HTML page)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from steward.api.deps import CreateIncidents, ExportIncidents, ReadIncidents, SessionDep
from steward.api.schemas import UtcTime
from steward.registry.tools import tool_in_scope
from steward.surveillance.incidents.export import export_html, export_incident
from steward.surveillance.incidents.models import Incident, IncidentOutcome, IncidentStatus
from steward.surveillance.incidents.service import (
    IncidentEntry,
    get_incident,
    linked_alerts,
    linked_hazards,
    record_incident,
)

router = APIRouter(tags=["incidents"])


class IncidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    description: str = Field(min_length=1, max_length=20_000)
    occurred_at: UtcTime
    outcome: IncidentOutcome
    patients_affected: int = Field(default=0, ge=0, le=10_000_000)
    deployment_id: uuid.UUID | None = None
    detected_at: UtcTime | None = None
    patient_age: int | None = Field(default=None, ge=0, le=130)
    patient_sex: Literal["female", "male", "other", "unknown"] | None = None
    device_contributed: bool = True
    serious: bool = False
    actions_taken: str = Field(default="", max_length=20_000)
    device_identifier: str = Field(default="", max_length=200)
    regulatory_status: str = Field(default="", max_length=200)
    reporter_name: str = Field(default="", max_length=200)
    reporter_email: str = Field(default="", max_length=320)
    reporter_role: str = Field(default="", max_length=200)
    alert_ids: list[uuid.UUID] = Field(default_factory=list, max_length=500)
    hazard_references: list[str] = Field(default_factory=list, max_length=200)


class IncidentOut(BaseModel):
    id: uuid.UUID
    tool_id: uuid.UUID
    deployment_id: uuid.UUID | None
    title: str
    description: str
    occurred_at: datetime
    detected_at: datetime | None
    outcome: IncidentOutcome
    patients_affected: int
    patient_age: int | None
    patient_sex: str | None
    device_contributed: bool
    serious: bool
    actions_taken: str
    status: IncidentStatus
    recorded_by: str
    created_at: datetime
    alert_ids: list[uuid.UUID]
    hazard_references: list[str]


def _out(session: SessionDep, incident: Incident) -> IncidentOut:
    return IncidentOut.model_validate(
        {
            **{c.key: getattr(incident, c.key) for c in Incident.__table__.columns},
            "alert_ids": [a.id for a in linked_alerts(session, incident)],
            "hazard_references": [h.reference for h in linked_hazards(session, incident)],
        }
    )


@router.post(
    "/tools/{tool_id}/incidents", status_code=status.HTTP_201_CREATED, response_model=IncidentOut
)
def create_incident(
    tool_id: uuid.UUID, body: IncidentIn, session: SessionDep, principal: CreateIncidents
) -> IncidentOut:
    """Record an AI safety incident, linked to the tool's alerts and hazards."""
    tool = tool_in_scope(session, tool_id, principal.organisation_id, write=True)
    incident = record_incident(session, tool, IncidentEntry(**body.model_dump()), principal.actor)
    return _out(session, incident)


@router.get("/incidents/{incident_id}", response_model=IncidentOut)
def read_incident(
    incident_id: uuid.UUID, session: SessionDep, principal: ReadIncidents
) -> IncidentOut:
    """One incident with its linked alerts and hazards."""
    incident = get_incident(session, incident_id)
    tool_in_scope(session, incident.tool_id, principal.organisation_id, write=False)
    return _out(session, incident)


@router.get(
    "/incidents/{incident_id}/export/{form}",
    responses={200: {"content": {"application/json": {}, "text/html": {}}}},
    response_model=None,
)
def export_incident_form(
    incident_id: uuid.UUID,
    form: Literal["yellow-card", "medwatch"],
    session: SessionDep,
    principal: ExportIncidents,
    output: Annotated[Literal["json", "html"], Query(alias="format")] = "json",
) -> Any:
    """The incident as the MHRA Yellow Card or FDA MedWatch 3500A field set; ``format=html``
    gives a printable page."""
    incident = get_incident(session, incident_id)
    tool_in_scope(session, incident.tool_id, principal.organisation_id, write=False)
    document = export_incident(session, incident, form)
    if output == "html":
        return HTMLResponse(export_html(document))
    return JSONResponse(document)
