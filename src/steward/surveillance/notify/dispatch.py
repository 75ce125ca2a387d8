"""Recording and delivering notifications: the row is committed before anything is sent.

A delivery is claimed (pending -> sending) in its own transaction, sent outside any transaction,
then marked sent or failed; a process that dies in between leaves a row that
:func:`deliver_pending` picks up again, so nothing is lost and nothing is silently dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from steward.audit.context import AuditContext
from steward.audit.recorder import lock_chain_head
from steward.db.base import utcnow
from steward.db.session import StewardSession, unit_of_work
from steward.registry.models import Deployment, Organisation, Tool
from steward.surveillance.alerts.models import Alert
from steward.surveillance.notify.models import DeliveryStatus, Notification
from steward.surveillance.notify.transport import Message, Transport, TransportError

STALE_AFTER = timedelta(minutes=5)
"""A claimed notification not finished within this time is taken to be abandoned."""


def record_notification(
    session: Session, alert: Alert, channel: str, target: str, level: int
) -> Notification:
    """Write the pending notification row (sent after the transaction commits)."""
    row = Notification(
        id=uuid.uuid4(),
        alert_id=alert.id,
        channel=channel,
        target=target,
        level=level,
        status=DeliveryStatus.PENDING,
    )
    session.add(row)
    session.flush()
    return row


def alert_message(session: Session, alert: Alert, level: int) -> Message:
    """What people and systems are told about ``alert``."""
    tool = session.get_one(Tool, alert.tool_id)
    deployment = session.get_one(Deployment, alert.deployment_id)
    site = session.get_one(Organisation, deployment.site_id)
    who = f" ({alert.subject})" if alert.subject else ""
    window = f"{alert.window_start:%Y-%m-%d} to {alert.window_end:%Y-%m-%d}"
    subject = (
        f"[Steward] {alert.severity.value.upper()}: {alert.monitor}{who} - {tool.name} at "
        f"{site.slug}"
    )
    escalated = f"\nEscalated (level {level}): not acknowledged in time.\n" if level else ""
    text = (
        f"{alert.summary}\n\nTool: {tool.name} (state {tool.state.value})\n"
        f"Deployment: {site.slug}, {deployment.care_setting}\nMonitor: {alert.monitor}{who}\n"
        f"Window ({alert.grain}): {window}\nSeverity: {alert.severity.value}\n"
        f"Alert: {alert.id}\n{escalated}\n"
        "Acknowledge it in Steward (POST /api/v1/alerts/{id}/acknowledge) to stop escalation.\n"
    )
    payload: dict[str, Any] = {
        "event": "alert",
        "alert_id": str(alert.id),
        "tool": {"id": str(tool.id), "name": tool.name, "state": tool.state.value},
        "deployment": {"id": str(deployment.id), "site": site.slug},
        "monitor": alert.monitor,
        "subject": alert.subject,
        "grain": alert.grain,
        "window_start": alert.window_start.isoformat(),
        "window_end": alert.window_end.isoformat(),
        "severity": alert.severity.value,
        "status": alert.status.value,
        "summary": alert.summary,
        "escalation_level": level,
        "details": alert.details,
    }
    return Message(subject=subject, text=text, payload=payload)


def deliver(
    sessions: sessionmaker[StewardSession],
    context: AuditContext,
    notification_id: uuid.UUID,
    transports: Mapping[str, Transport],
) -> DeliveryStatus | None:
    """Claim, send and mark one notification; None when another process has it already."""
    with unit_of_work(sessions, context) as session:
        lock_chain_head(session)
        row = session.get(Notification, notification_id, with_for_update=True)
        if row is None or not _claimable(row, utcnow()):
            return None
        row.status = DeliveryStatus.SENDING
        row.attempts += 1
        alert = session.get_one(Alert, row.alert_id)
        message = alert_message(session, alert, row.level)
        channel, target = row.channel, row.target
    transport = transports.get(channel)
    try:
        if transport is None:
            raise TransportError(f"no {channel} channel is configured", permanent=True)
        attempts, error = transport.send(target, message), ""
    except TransportError as failure:
        attempts, error = failure.attempts, failure.message
    with unit_of_work(sessions, context) as session:
        lock_chain_head(session)
        row = session.get_one(Notification, notification_id, with_for_update=True)
        row.attempts += attempts - 1
        row.error = error[:2000]
        row.status = DeliveryStatus.FAILED if error else DeliveryStatus.SENT
        row.sent_at = None if error else utcnow()
        return row.status


def _claimable(row: Notification, now: datetime) -> bool:
    if row.status is DeliveryStatus.PENDING:
        return True
    return row.status is DeliveryStatus.SENDING and now - row.updated_at > STALE_AFTER


def deliver_all(
    sessions: sessionmaker[StewardSession],
    context: AuditContext,
    notification_ids: Iterable[uuid.UUID],
    transports: Mapping[str, Transport],
) -> dict[uuid.UUID, DeliveryStatus | None]:
    """Deliver each notification in turn; one failing does not stop the others."""
    return {i: deliver(sessions, context, i, transports) for i in notification_ids}


def deliver_pending(
    sessions: sessionmaker[StewardSession],
    context: AuditContext,
    transports: Mapping[str, Transport],
    now: datetime | None = None,
) -> dict[uuid.UUID, DeliveryStatus | None]:
    """Deliver notifications left pending (or abandoned while sending) by a process that died."""
    now = now or utcnow()
    with sessions() as session:
        ids = list(
            session.scalars(
                select(Notification.id)
                .where(
                    or_(
                        Notification.status == DeliveryStatus.PENDING,
                        (Notification.status == DeliveryStatus.SENDING)
                        & (Notification.updated_at < now - STALE_AFTER),
                    )
                )
                .order_by(Notification.created_at)
                .limit(100)
            )
        )
    return deliver_all(sessions, context, ids, transports)
