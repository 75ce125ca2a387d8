"""Notifications and response policies on both databases, against real loopback servers: e-mail
through aiosmtpd, webhooks through an HTTP server; rows recorded before sending; retries;
escalation of unacknowledged alerts; review; automatic suspension through the lifecycle."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from registry._support import Api
from steward.audit.context import AuditContext
from steward.audit.models import AuditEvent
from steward.auth.roles import Role
from steward.db.base import utcnow
from steward.db.session import StewardSession, unit_of_work
from steward.registry.errors import InvalidInputError
from steward.registry.models import LifecycleState, Tool
from steward.registry.records import StateTransition
from steward.surveillance.alerts.models import Alert, AlertEvent, Severity
from steward.surveillance.alerts.service import acknowledge, get_alert, raise_alert
from steward.surveillance.notify.dispatch import deliver_all, deliver_pending
from steward.surveillance.notify.models import DeliveryStatus, Notification
from steward.surveillance.notify.smtp import EmailTransport
from steward.surveillance.notify.transport import Message, Transport, TransportError
from steward.surveillance.notify.webhook import WebhookTransport
from steward.surveillance.response.apply import escalate_due, respond, set_policy
from steward.surveillance.response.policy import parse_policy

from ._support import HookServer, deployed_tool, signal, tool_state
from .conftest import Inbox

SYSTEM = AuditContext(actor="system:surveillance")


def _policy(sessions: sessionmaker[StewardSession], tool_id: uuid.UUID, **document: Any) -> None:
    with unit_of_work(sessions, AuditContext(actor="user:cso")) as session:
        set_policy(session, session.get_one(Tool, tool_id), document, "user:cso")


def _alarm(
    sessions: sessionmaker[StewardSession], deployment_id: uuid.UUID, severity: Severity
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    with unit_of_work(sessions, SYSTEM) as session:
        alert = raise_alert(session, signal(deployment_id, severity), SYSTEM.actor)
        assert alert is not None
        return alert.id, respond(session, alert)


def _transports(port: int, attempts: int = 3) -> dict[str, Transport]:
    return {
        "webhook": WebhookTransport(timeout=5, attempts=attempts, backoff=0.01),
        "email": EmailTransport("127.0.0.1", port, "steward@rxa.nhs.uk", timeout=5),
    }


def test_email_over_smtp_and_webhook_each_recorded_before_sending(
    orgs: sessionmaker[StewardSession], smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    deployed = deployed_tool(orgs)
    with HookServer() as hook:
        seen_before_send: list[str] = []

        def check_row() -> None:
            with orgs() as session:
                row = session.scalars(
                    select(Notification).where(Notification.channel == "webhook")
                ).one()
                seen_before_send.append(row.status.value)

        hook.on_request = check_row
        contacts = [
            {"channel": "email", "target": "cso@rxa.nhs.uk", "name": "Safety officer"},
            {"channel": "webhook", "target": hook.url},
        ]
        _policy(orgs, deployed.tool_id, contacts=contacts, actions={"warning": ["notify"]})
        alert_id, pending = _alarm(orgs, deployed.deployment_id, Severity.WARNING)
        with orgs() as session:
            (row,) = session.scalars(select(Notification)).all()
            assert (row.status, row.target, row.level) == (
                DeliveryStatus.PENDING,
                "cso@rxa.nhs.uk",
                0,
            )
        statuses = deliver_all(orgs, SYSTEM, pending, _transports(port))
        assert list(statuses.values()) == [DeliveryStatus.SENT]
        ((recipients, message),) = inbox.messages
        assert recipients == ["cso@rxa.nhs.uk"]
        assert message["Subject"].startswith("[Steward] WARNING: calibration_cusum")
        assert "Sepsis Alert" in message["Subject"]
        assert str(alert_id) in message.get_payload()
        # Nobody acknowledged: after the timeout the webhook (second contact) is told.
        later = utcnow() + timedelta(minutes=61)
        escalated = escalate_due(orgs, SYSTEM, later)
        assert escalate_due(orgs, SYSTEM, later) == []
        assert deliver_all(orgs, SYSTEM, escalated, _transports(port)) == {
            escalated[0]: DeliveryStatus.SENT
        }
        (payload,) = hook.received
        assert seen_before_send == ["sending"]
    assert payload["alert_id"] == str(alert_id)
    assert payload["severity"] == "warning"
    assert payload["escalation_level"] == 1
    assert payload["tool"]["name"] == "Sepsis Alert"
    with orgs() as session:
        alert = session.get_one(Alert, alert_id)
        assert alert.escalation_level == 1
        actions = [
            e.action
            for e in session.scalars(
                select(AlertEvent)
                .where(AlertEvent.alert_id == alert_id)
                .order_by(AlertEvent.created_at)
            )
        ]
        assert actions == ["opened", "notified", "escalated"]
        rows = session.scalars(select(Notification).order_by(Notification.level)).all()
        assert [(r.status, r.attempts) for r in rows] == [(DeliveryStatus.SENT, 1)] * 2
        assert all(r.sent_at is not None for r in rows)
        audited = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_type == "notifications")
        ).all()
        assert "notifications.created" in audited


def test_acknowledged_alerts_do_not_escalate_and_the_last_contact_is_the_last(
    orgs: sessionmaker[StewardSession],
) -> None:
    deployed = deployed_tool(orgs)
    contacts = [
        {"channel": "email", "target": "a@rxa.nhs.uk"},
        {"channel": "email", "target": "b@rxa.nhs.uk"},
    ]
    _policy(
        orgs,
        deployed.tool_id,
        contacts=contacts,
        escalate_after_minutes=30,
        actions={"warning": ["notify"]},
    )
    first, _ = _alarm(orgs, deployed.deployment_id, Severity.WARNING)
    with unit_of_work(orgs, SYSTEM) as session:
        second = raise_alert(
            session, signal(deployed.deployment_id, Severity.WARNING, monitor="psi"), "x"
        )
        assert second is not None
        respond(session, second)
        second_id = second.id
    with unit_of_work(orgs, AuditContext(actor="user:lead")) as session:
        acknowledge(session, get_alert(session, first, lock=True), "user:lead")
    now = utcnow()
    assert escalate_due(orgs, SYSTEM, now + timedelta(minutes=29)) == []
    assert len(escalate_due(orgs, SYSTEM, now + timedelta(minutes=31))) == 1
    assert escalate_due(orgs, SYSTEM, now + timedelta(minutes=500)) == []
    with orgs() as session:
        levels = {a.id: a.escalation_level for a in session.scalars(select(Alert))}
    assert levels == {first: 0, second_id: 1}


def test_webhook_retries_are_recorded_and_a_404_is_permanent(
    orgs: sessionmaker[StewardSession],
) -> None:
    deployed = deployed_tool(orgs)
    with HookServer(statuses=[503, 502, 200]) as flaky:
        _policy(
            orgs,
            deployed.tool_id,
            contacts=[{"channel": "webhook", "target": flaky.url}],
            actions={"warning": ["notify"]},
        )
        _, pending = _alarm(orgs, deployed.deployment_id, Severity.WARNING)
        assert deliver_all(orgs, SYSTEM, pending, _transports(1)) == {
            pending[0]: DeliveryStatus.SENT
        }
        assert len(flaky.received) == 3
    with HookServer(statuses=[404]) as gone:
        hook = WebhookTransport(timeout=5, attempts=3, backoff=0.01)
        with pytest.raises(TransportError) as failure:
            hook.send(gone.url, Message("s", "t", {"x": 1}))
        assert (failure.value.permanent, failure.value.attempts) == (True, 1)
        assert len(gone.received) == 1
    with orgs() as session:
        row = session.get_one(Notification, pending[0])
        assert (row.status, row.attempts, row.error) == (DeliveryStatus.SENT, 3, "")


def test_unreachable_channels_fail_with_the_reason_and_nothing_is_lost(
    orgs: sessionmaker[StewardSession], smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    deployed = deployed_tool(orgs)
    _policy(
        orgs,
        deployed.tool_id,
        contacts=[{"channel": "email", "target": "cso@rxa.nhs.uk"}],
        actions={"warning": ["notify"]},
    )
    _, pending = _alarm(orgs, deployed.deployment_id, Severity.WARNING)
    dead = {"email": EmailTransport("127.0.0.1", 1, timeout=2)}
    assert deliver_all(orgs, SYSTEM, pending, dead) == {pending[0]: DeliveryStatus.FAILED}
    with orgs() as session:
        row = session.get_one(Notification, pending[0])
        assert row.status is DeliveryStatus.FAILED
        assert "Connection" in row.error or "refused" in row.error.lower()
    # A notification a dead process left pending is sent by the next pass.
    with unit_of_work(orgs, SYSTEM) as session:
        alert = raise_alert(session, signal(deployed.deployment_id, monitor="ewma"), "x")
        assert alert is not None
        more = respond(session, alert)
    assert deliver_pending(orgs, SYSTEM, _transports(port)) == {more[0]: DeliveryStatus.SENT}
    assert len(inbox.messages) == 1
    assert deliver_pending(orgs, SYSTEM, _transports(port)) == {}


def test_critical_alarm_suspends_the_tool_through_the_lifecycle(
    orgs: sessionmaker[StewardSession],
) -> None:
    deployed = deployed_tool(orgs)
    _policy(orgs, deployed.tool_id, actions={"critical": ["notify", "require_review", "suspend"]})
    alert_id, pending = _alarm(orgs, deployed.deployment_id, Severity.CRITICAL)
    assert pending == []
    assert tool_state(orgs, deployed.tool_id) is LifecycleState.SUSPENDED
    with orgs() as session:
        record = session.scalars(select(StateTransition)).one()
        assert (record.from_state, record.to_state) == ("deployed", "suspended")
        assert record.actor == "system:surveillance"
        assert "critical alarm" in record.reason
        audit = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "tools.updated", AuditEvent.actor == "system:surveillance"
            )
        ).one()
        assert audit.before is not None
        assert audit.before["state"] == "deployed"
        assert audit.after is not None
        assert audit.after["state"] == "suspended"
        alert = session.get_one(Alert, alert_id)
        assert alert.review_required
        actions = [
            e.action
            for e in session.scalars(
                select(AlertEvent)
                .where(AlertEvent.alert_id == alert_id)
                .order_by(AlertEvent.created_at)
            )
        ]
        assert actions == ["opened", "suspended", "review_required", "not_notified"]
    # A second critical alarm finds the tool suspended already: refused, recorded, no error.
    with unit_of_work(orgs, SYSTEM) as session:
        again = raise_alert(
            session, signal(deployed.deployment_id, Severity.CRITICAL, monitor="auroc"), "x"
        )
        assert again is not None
        respond(session, again)
        again_id = again.id
    with orgs() as session:
        refused = session.scalars(
            select(AlertEvent).where(
                AlertEvent.alert_id == again_id, AlertEvent.action == "suspension_refused"
            )
        ).one()
        assert "no transition from suspended to suspended" in refused.note


def test_warnings_never_suspend_and_policies_are_validated(
    orgs: sessionmaker[StewardSession],
) -> None:
    deployed = deployed_tool(orgs)
    _alarm(orgs, deployed.deployment_id, Severity.CRITICAL)  # the default policy: no suspension
    assert tool_state(orgs, deployed.tool_id) is LifecycleState.DEPLOYED
    with pytest.raises(InvalidInputError) as problems:
        parse_policy(
            {
                "contacts": [{"channel": "webhook", "target": "ftp://x"}, {"channel": "sms"}],
                "actions": {"warning": ["suspend"]},
                "escalate_after_minutes": 0,
            }
        )
    fields = {p.field for p in problems.value.problems}
    assert {"contacts.0", "contacts.1.channel", "escalate_after_minutes", "actions"} <= fields


def test_response_policy_api(api: Api) -> None:
    deployed = deployed_tool(api.sessions)
    path = f"/tools/{deployed.tool_id}/response-policy"
    default = api.call("GET", path, Role.VIEWER).json()
    assert default["actions"]["critical"] == ["notify", "require_review"]
    body = {
        "contacts": [{"channel": "email", "target": "cso@rxa.nhs.uk"}],
        "escalate_after_minutes": 15,
        "actions": {"critical": ["notify", "suspend"]},
    }
    written = api.call("PUT", path, Role.CLINICAL_SAFETY_OFFICER, json=body)
    assert written.status_code == 200, written.text
    assert api.call("GET", path, Role.VIEWER).json()["escalate_after_minutes"] == 15
    bad = api.call(
        "PUT",
        path,
        Role.CLINICAL_SAFETY_OFFICER,
        json={"contacts": [{"channel": "email", "target": "not an address"}]},
    )
    assert bad.status_code == 422
    assert "contacts.0" in bad.text
