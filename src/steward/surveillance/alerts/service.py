"""Raising alerts from monitor signals (deduplicated), acknowledging, resolving, listing.

Every state change is an ``alert_events`` row and, through the session's audit hook, an audit
event in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from steward.audit.recorder import lock_chain_head
from steward.auth.roles import Role
from steward.db.base import utcnow
from steward.registry.errors import ConflictError, ForbiddenError, NotFoundError, invalid
from steward.registry.models import Deployment, ToolVersion
from steward.surveillance.alerts.models import (
    SEVERITY_RANK,
    Alert,
    AlertEvent,
    AlertStatus,
    Severity,
)

REVIEW_ROLES = frozenset({Role.CLINICAL_SAFETY_OFFICER, Role.CLINICAL_LEAD, Role.COMMITTEE_CHAIR})
"""Who may close an alert whose response policy requires a safety review."""

GRAINS = ("day", "week", "month")


@dataclass(frozen=True)
class AlertSignal:
    """What a monitor reports for one subject in one window, in the terms alerts need."""

    deployment_id: uuid.UUID
    monitor: str
    grain: str
    window_start: datetime
    window_end: datetime
    severity: Severity
    summary: str
    subject: str = ""
    metric: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


def tool_of_deployment(session: Session, deployment_id: uuid.UUID) -> uuid.UUID:
    """The id of the tool whose version ``deployment_id`` runs."""
    tool_id = session.scalar(
        select(ToolVersion.tool_id)
        .join(Deployment, Deployment.version_id == ToolVersion.id)
        .where(Deployment.id == deployment_id)
    )
    if tool_id is None:
        raise NotFoundError(f"no deployment with id {deployment_id}")
    return tool_id


def raise_alert(session: Session, signal: AlertSignal, actor: str) -> Alert | None:
    """Open an alert for ``signal`` and return it, or None when nothing new needs a response.

    Nothing is new when this monitor, series, subject and window already alerted, or when an
    alert for the same monitor, series and subject is still unresolved: the condition persists,
    so the later window is noted on that alert (``recurred``) instead of alerting again. If the
    later finding is more severe, the unresolved alert is raised to that severity and returned,
    so the response to the higher severity is carried out.
    """
    if signal.grain not in GRAINS:
        raise invalid("grain", f"{signal.grain!r} is not one of {', '.join(GRAINS)}")
    if session.scalar(select(Alert.id).where(*_key(signal))) is not None:
        return None
    ongoing = _unresolved(session, signal)
    if ongoing is not None:
        window = f"{signal.grain} window from {signal.window_start:%Y-%m-%d}: {signal.summary}"
        if SEVERITY_RANK[signal.severity] > SEVERITY_RANK[ongoing.severity]:
            note = f"{ongoing.severity.value} -> {signal.severity.value} in the {window}"
            ongoing.severity = signal.severity
            record_event(session, ongoing, "severity_raised", actor, note)
            return ongoing
        record_event(session, ongoing, "recurred", actor, f"again in the {window}")
        return None
    alert = Alert(
        id=uuid.uuid4(),
        deployment_id=signal.deployment_id,
        tool_id=tool_of_deployment(session, signal.deployment_id),
        monitor=signal.monitor,
        metric=signal.metric,
        subject=signal.subject,
        grain=signal.grain,
        window_start=signal.window_start,
        window_end=signal.window_end,
        severity=signal.severity,
        status=AlertStatus.OPEN,
        summary=signal.summary,
        details=dict(signal.details),
    )
    try:
        # A savepoint, so a concurrent insert of the same key costs this alert only.
        with session.begin_nested():
            session.add(alert)
            session.add(_event(alert, "opened", actor, signal.summary, None, AlertStatus.OPEN))
            session.flush()
    except IntegrityError:
        return None
    return alert


def _unresolved(session: Session, signal: AlertSignal) -> Alert | None:
    return session.scalar(
        select(Alert)
        .where(
            Alert.deployment_id == signal.deployment_id,
            Alert.monitor == signal.monitor,
            Alert.metric == signal.metric,
            Alert.subject == signal.subject,
            Alert.grain == signal.grain,
            Alert.status != AlertStatus.RESOLVED,
        )
        .order_by(Alert.window_start.desc())
        .limit(1)
    )


def _key(signal: AlertSignal) -> tuple[Any, ...]:
    return (
        Alert.deployment_id == signal.deployment_id,
        Alert.monitor == signal.monitor,
        Alert.metric == signal.metric,
        Alert.subject == signal.subject,
        Alert.grain == signal.grain,
        Alert.window_start == signal.window_start,
    )


def _event(
    alert: Alert,
    action: str,
    actor: str,
    note: str,
    before: AlertStatus | None,
    after: AlertStatus | None,
) -> AlertEvent:
    return AlertEvent(
        id=uuid.uuid4(),
        alert_id=alert.id,
        action=action,
        actor=actor,
        note=note,
        from_status=before.value if before else None,
        to_status=after.value if after else None,
    )


def record_event(session: Session, alert: Alert, action: str, actor: str, note: str = "") -> None:
    """Note something done about ``alert`` that does not change its status."""
    session.add(_event(alert, action, actor, note, None, None))
    session.flush()


def get_alert(session: Session, alert_id: uuid.UUID, *, lock: bool = False) -> Alert:
    """The alert ``alert_id``; locked for update (after the audit chain head) when ``lock``."""
    if lock:
        lock_chain_head(session)
    alert = session.get(Alert, alert_id, with_for_update=lock, populate_existing=lock)
    if alert is None:
        raise NotFoundError(f"no alert with id {alert_id}")
    return alert


def acknowledge(session: Session, alert: Alert, actor: str, note: str = "") -> Alert:
    """Someone has seen an open alert and is looking into it; escalation stops."""
    if alert.status is not AlertStatus.OPEN:
        raise ConflictError(f"the alert is {alert.status.value}, not open")
    now = utcnow()
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_by, alert.acknowledged_at = actor, now
    alert.acknowledge_note = note.strip()
    session.add(_event(alert, "acknowledged", actor, note.strip(), AlertStatus.OPEN, alert.status))
    session.flush()
    return alert


def resolve(
    session: Session, alert: Alert, actor: str, reason: str, actor_roles: frozenset[Role]
) -> Alert:
    """Close an alert with the reason; one that requires review only by a reviewing role."""
    if alert.status is AlertStatus.RESOLVED:
        raise ConflictError("the alert is already resolved")
    if not reason.strip():
        raise invalid("reason", "say why the alert is resolved")
    if alert.review_required and not actor_roles & REVIEW_ROLES:
        needed = ", ".join(sorted(r.value for r in REVIEW_ROLES))
        raise ForbiddenError(f"this alert requires a safety review; resolving it needs: {needed}")
    before = alert.status
    alert.status = AlertStatus.RESOLVED
    alert.resolved_by, alert.resolved_at, alert.resolution = actor, utcnow(), reason.strip()
    session.add(_event(alert, "resolved", actor, reason.strip(), before, alert.status))
    session.flush()
    return alert


def list_alerts(
    session: Session,
    deployment_id: uuid.UUID,
    status: AlertStatus | None = None,
    *,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[Alert]]:
    """The deployment's alerts, newest window first, and how many there are in all."""
    where = [Alert.deployment_id == deployment_id]
    if status is not None:
        where.append(Alert.status == status)
    total = session.scalar(select(func.count()).select_from(Alert).where(*where)) or 0
    rows = session.scalars(
        select(Alert)
        .where(*where)
        .order_by(Alert.window_start.desc(), Alert.created_at.desc(), Alert.id)
        .limit(limit)
        .offset(offset)
    )
    return total, list(rows)


def alert_events(session: Session, alert_id: uuid.UUID) -> list[AlertEvent]:
    """What happened to the alert, oldest first."""
    return list(
        session.scalars(
            select(AlertEvent)
            .where(AlertEvent.alert_id == alert_id)
            .order_by(AlertEvent.created_at, AlertEvent.id)
        )
    )
