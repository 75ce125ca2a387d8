"""``/api/v1/deployments/{id}/alerts`` and ``/api/v1/alerts/{id}``: alerts raised by monitors,
acknowledged and resolved by people; ``/api/v1/tools/{id}/response-policy``: what happens when
a tool's monitors alarm."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from steward.api.deps import (
    AcknowledgeAlerts,
    EditResponsePolicy,
    ReadAlerts,
    ResolveAlerts,
    SessionDep,
)
from steward.auth.tokens import Principal
from steward.registry.models import Tool
from steward.registry.tools import tool_in_scope
from steward.surveillance.alerts.models import Alert, AlertStatus, Severity
from steward.surveillance.alerts.service import (
    acknowledge,
    alert_events,
    get_alert,
    list_alerts,
    resolve,
    tool_of_deployment,
)
from steward.surveillance.notify.models import Notification
from steward.surveillance.response.apply import policy_document, set_policy

router = APIRouter(tags=["alerts"])


class AlertOut(BaseModel):
    id: uuid.UUID
    deployment_id: uuid.UUID
    tool_id: uuid.UUID
    monitor: str
    metric: str
    subject: str
    grain: str
    window_start: datetime
    window_end: datetime
    severity: Severity
    status: AlertStatus
    summary: str
    details: dict[str, Any]
    review_required: bool
    escalation_level: int
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution: str
    created_at: datetime


class AlertPage(BaseModel):
    items: list[AlertOut]
    total: int
    limit: int
    offset: int


class AlertEventOut(BaseModel):
    action: str
    actor: str
    note: str
    from_status: str | None
    to_status: str | None
    created_at: datetime


class NotificationOut(BaseModel):
    id: uuid.UUID
    channel: str
    target: str
    level: int
    status: str
    attempts: int
    error: str
    sent_at: datetime | None
    created_at: datetime


class AlertDetail(AlertOut):
    events: list[AlertEventOut]
    notifications: list[NotificationOut]


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=5_000)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=5_000)


def _alert_in_scope(
    session: Session, alert_id: uuid.UUID, principal: Principal, *, write: bool
) -> Alert:
    alert = get_alert(session, alert_id, lock=write)
    tool_in_scope(session, alert.tool_id, principal.organisation_id, write=write)
    return alert


def _out(alert: Alert) -> AlertOut:
    return AlertOut.model_validate(alert, from_attributes=True)


@router.get("/deployments/{deployment_id}/alerts", response_model=AlertPage)
def list_deployment_alerts(
    deployment_id: uuid.UUID,
    session: SessionDep,
    principal: ReadAlerts,
    status: AlertStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AlertPage:
    """The deployment's alerts, newest window first, optionally only those in ``status``."""
    tool_in_scope(
        session, tool_of_deployment(session, deployment_id), principal.organisation_id, write=False
    )
    total, alerts = list_alerts(session, deployment_id, status, limit=limit, offset=offset)
    return AlertPage(items=[_out(a) for a in alerts], total=total, limit=limit, offset=offset)


@router.get("/alerts/{alert_id}", response_model=AlertDetail)
def read_alert(alert_id: uuid.UUID, session: SessionDep, principal: ReadAlerts) -> AlertDetail:
    """One alert with everything that happened to it and every notification sent about it."""
    alert = _alert_in_scope(session, alert_id, principal, write=False)
    notifications = session.scalars(
        select(Notification)
        .where(Notification.alert_id == alert.id)
        .order_by(Notification.created_at, Notification.id)
    )
    return AlertDetail(
        **_out(alert).model_dump(),
        events=[
            AlertEventOut.model_validate(e, from_attributes=True)
            for e in alert_events(session, alert.id)
        ],
        notifications=[
            NotificationOut.model_validate(n, from_attributes=True) for n in notifications
        ],
    )


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge_alert(
    alert_id: uuid.UUID, body: AcknowledgeIn, session: SessionDep, principal: AcknowledgeAlerts
) -> AlertOut:
    """Take an open alert on (stops escalation); 409 when it is not open."""
    alert = _alert_in_scope(session, alert_id, principal, write=True)
    return _out(acknowledge(session, alert, principal.actor, body.note))


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut)
def resolve_alert(
    alert_id: uuid.UUID, body: ResolveIn, session: SessionDep, principal: ResolveAlerts
) -> AlertOut:
    """Close an alert with the reason; one that requires review needs a safety role."""
    alert = _alert_in_scope(session, alert_id, principal, write=True)
    return _out(resolve(session, alert, principal.actor, body.reason, principal.roles))


@router.get("/tools/{tool_id}/response-policy")
def read_response_policy(
    tool_id: uuid.UUID, session: SessionDep, principal: ReadAlerts
) -> dict[str, Any]:
    """The tool's response policy (the default one until the tool has its own)."""
    tool = tool_in_scope(session, tool_id, principal.organisation_id, write=False)
    return dict(policy_document(session, tool.id))


@router.put("/tools/{tool_id}/response-policy")
def write_response_policy(
    tool_id: uuid.UUID,
    document: Annotated[dict[str, Any], Body()],
    session: SessionDep,
    principal: EditResponsePolicy,
) -> dict[str, Any]:
    """Replace the tool's response policy: contacts in escalation order, the escalation timeout
    in minutes, and the actions per severity (notify, require_review, suspend)."""
    tool: Tool = tool_in_scope(session, tool_id, principal.organisation_id, write=True)
    return set_policy(session, tool, document, principal.actor).model_dump(mode="json")
