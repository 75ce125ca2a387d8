"""Applying a tool's response policy to a new alert, and escalating unacknowledged ones.

Automatic suspension goes through the registry's lifecycle transition as ``system:surveillance``,
so it is gated, recorded as a state transition, audited, and seen by every component at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from steward.audit.context import AuditContext
from steward.audit.recorder import lock_chain_head
from steward.auth.roles import Role
from steward.db.base import utcnow
from steward.db.session import StewardSession, unit_of_work
from steward.registry.errors import ConflictError, ForbiddenError
from steward.registry.models import LifecycleState, Tool
from steward.registry.transitions import TransitionRefusedError, transition
from steward.surveillance.alerts.models import Alert, AlertStatus
from steward.surveillance.alerts.service import record_event
from steward.surveillance.notify.dispatch import record_notification
from steward.surveillance.response.models import ResponsePolicyRecord
from steward.surveillance.response.policy import (
    Action,
    ResponsePolicy,
    default_policy,
    default_policy_version,
    parse_policy,
)

SYSTEM_ACTOR = "system:surveillance"
SUSPENDING_ROLE = Role.CLINICAL_SAFETY_OFFICER
"""The role automatic suspension acts in: the policy that asks for it is set by safety roles."""


def policy_for_tool(session: Session, tool_id: uuid.UUID) -> ResponsePolicy:
    """The tool's own response policy, or the default one."""
    record = session.scalar(
        select(ResponsePolicyRecord).where(ResponsePolicyRecord.tool_id == tool_id)
    )
    return parse_policy(record.document) if record else default_policy()


def set_policy(session: Session, tool: Tool, document: Any, actor: str) -> ResponsePolicy:
    """Validate and store (replace) the tool's response policy."""
    policy = parse_policy(document)
    record = session.scalar(
        select(ResponsePolicyRecord).where(ResponsePolicyRecord.tool_id == tool.id)
    )
    if record is None:
        record = ResponsePolicyRecord(id=uuid.uuid4(), tool_id=tool.id)
        session.add(record)
    record.document = policy.model_dump(mode="json")
    record.policy_version = default_policy_version()
    record.updated_by = actor
    session.flush()
    return policy


def respond(session: Session, alert: Alert, actor: str = SYSTEM_ACTOR) -> list[uuid.UUID]:
    """Carry out the policy's actions for a new alert; returns the notifications to deliver.

    Call inside the transaction that opened the alert, after the audit chain head is locked.
    """
    policy = policy_for_tool(session, alert.tool_id)
    notifications: list[uuid.UUID] = []
    for action in policy.actions_for(alert.severity):
        if action is Action.REQUIRE_REVIEW:
            alert.review_required = True
            record_event(session, alert, "review_required", actor, "the response policy")
        elif action is Action.SUSPEND:
            _suspend(session, alert, actor)
        elif action is Action.NOTIFY:
            notifications += _notify(session, alert, policy, 0, actor)
    return notifications


def _notify(
    session: Session, alert: Alert, policy: ResponsePolicy, level: int, actor: str
) -> list[uuid.UUID]:
    contact = policy.contact(level)
    alert.escalation_level = level
    alert.notified_at = utcnow()
    if contact is None:
        record_event(session, alert, "not_notified", actor, "the response policy lists no contact")
        return []
    row = record_notification(session, alert, contact.channel, contact.target, level)
    action = "escalated" if level else "notified"
    record_event(session, alert, action, actor, f"{contact.channel} {contact.target}")
    return [row.id]


def _suspend(session: Session, alert: Alert, actor: str) -> None:
    reason = (
        f"automatic suspension on a critical alarm: {alert.monitor}"
        f"{' (' + alert.subject + ')' if alert.subject else ''}, {alert.grain} window from "
        f"{alert.window_start:%Y-%m-%d}: {alert.summary}"
    )
    try:
        with session.begin_nested():
            record = transition(
                session,
                alert.tool_id,
                LifecycleState.SUSPENDED,
                actor=actor,
                actor_roles=frozenset({SUSPENDING_ROLE}),
                reason=reason[:2000],
            )
    except TransitionRefusedError as refused:
        details = "; ".join(u.detail for u in refused.unmet)
        record_event(session, alert, "suspension_refused", actor, f"{refused}: {details}")
        return
    except (ConflictError, ForbiddenError) as refused:
        record_event(session, alert, "suspension_refused", actor, str(refused))
        return
    record_event(session, alert, "suspended", actor, f"state transition {record.id}")


def escalate_due(
    sessions: sessionmaker[StewardSession],
    context: AuditContext,
    now: datetime | None = None,
) -> list[uuid.UUID]:
    """Move every alert left open past its tool's timeout on to the next contact.

    Each alert is re-read under lock, so two workers never escalate the same alert twice.
    """
    now = now or utcnow()
    with sessions() as session:
        candidates = [
            (row.id, row.tool_id)
            for row in session.execute(
                select(Alert.id, Alert.tool_id).where(
                    Alert.status == AlertStatus.OPEN, Alert.notified_at.is_not(None)
                )
            )
        ]
    policies: dict[uuid.UUID, ResponsePolicy] = {}
    notifications: list[uuid.UUID] = []
    for alert_id, tool_id in candidates:
        with unit_of_work(sessions, context) as session:
            if tool_id not in policies:
                policies[tool_id] = policy_for_tool(session, tool_id)
            policy = policies[tool_id]
            lock_chain_head(session)
            alert = session.get_one(Alert, alert_id, with_for_update=True, populate_existing=True)
            if alert.status is not AlertStatus.OPEN or alert.notified_at is None:
                continue
            if not policy.escalation_due(alert.notified_at, alert.escalation_level, now):
                continue
            notifications += _notify(
                session, alert, policy, alert.escalation_level + 1, context.actor
            )
    return notifications


def policy_document(session: Session, tool_id: uuid.UUID) -> Mapping[str, Any]:
    """The tool's response policy as stored (or the default), for reading back."""
    return policy_for_tool(session, tool_id).model_dump(mode="json")
