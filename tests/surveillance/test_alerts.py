"""Alerts on both databases: deduplication, acknowledgement and resolution, their event rows and
audit events, the API with pagination, status filter, scope and the role matrix."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from registry._support import Api
from steward.api.permissions import PERMISSIONS
from steward.audit.context import AuditContext
from steward.audit.models import AuditEvent
from steward.audit.verify import verify_database
from steward.auth.roles import Role
from steward.db.session import StewardSession, unit_of_work
from steward.registry.errors import ConflictError, ForbiddenError, InvalidInputError
from steward.surveillance.alerts.models import Alert, AlertEvent, AlertStatus, Severity
from steward.surveillance.alerts.service import acknowledge, get_alert, raise_alert, resolve

from ._support import deployed_tool, signal

SYSTEM = AuditContext(actor="system:surveillance")


def _raise(sessions: sessionmaker[StewardSession], *signals: object) -> list[Alert | None]:
    with unit_of_work(sessions, SYSTEM) as session:
        return [raise_alert(session, s, SYSTEM.actor) for s in signals]  # type: ignore[arg-type]


def test_same_monitor_subject_and_window_alerts_once(orgs: sessionmaker[StewardSession]) -> None:
    deployed = deployed_tool(orgs)
    first, again, subgroup, other_series = _raise(
        orgs,
        signal(deployed.deployment_id),
        signal(deployed.deployment_id, Severity.CRITICAL),
        signal(deployed.deployment_id, subject="sex=female"),
        signal(deployed.deployment_id, metric="lower"),
    )
    assert first is not None
    assert subgroup is not None
    assert other_series is not None
    assert again is None
    with orgs() as session:
        assert len(session.scalars(select(Alert)).all()) == 3
        opened = session.scalars(select(AlertEvent).where(AlertEvent.action == "opened")).all()
        assert len(opened) == 3
        audited = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "alerts.created")
        ).all()
        assert {e.actor for e in audited} == {"system:surveillance"}
        assert len(audited) == 3


def test_a_persisting_condition_is_noted_on_its_unresolved_alert(
    orgs: sessionmaker[StewardSession],
) -> None:
    deployed = deployed_tool(orgs)
    (first,) = _raise(orgs, signal(deployed.deployment_id))
    assert first is not None
    week = timedelta(days=7)
    (recurred,) = _raise(orgs, signal(deployed.deployment_id, start=first.window_start + week))
    assert recurred is None
    (raised,) = _raise(
        orgs, signal(deployed.deployment_id, Severity.CRITICAL, start=first.window_start + 2 * week)
    )
    assert raised is not None
    assert (raised.id, raised.severity) == (first.id, Severity.CRITICAL)
    with unit_of_work(orgs, SYSTEM) as session:
        resolve(session, get_alert(session, first.id), "user:cso", "fixed", frozenset(Role))
    (after,) = _raise(orgs, signal(deployed.deployment_id, start=first.window_start + 3 * week))
    assert after is not None
    assert after.id != first.id
    with orgs() as session:
        actions = session.scalars(
            select(AlertEvent.action)
            .where(AlertEvent.alert_id == first.id)
            .order_by(AlertEvent.created_at)
        ).all()
        assert actions == ["opened", "recurred", "severity_raised", "resolved"]


def test_unknown_grain_is_refused(orgs: sessionmaker[StewardSession]) -> None:
    deployed = deployed_tool(orgs)
    bad = signal(deployed.deployment_id)
    object.__setattr__(bad, "grain", "hour")
    with pytest.raises(InvalidInputError, match="grain"), unit_of_work(orgs, SYSTEM) as session:
        raise_alert(session, bad, SYSTEM.actor)


def test_acknowledge_then_resolve_with_who_when_why(orgs: sessionmaker[StewardSession]) -> None:
    deployed = deployed_tool(orgs)
    (alert,) = _raise(orgs, signal(deployed.deployment_id))
    assert alert is not None
    person = AuditContext(actor="user:cso@rxa.nhs.uk")
    with unit_of_work(orgs, person) as session:
        row = acknowledge(session, get_alert(session, alert.id, lock=True), person.actor, "on it")
        assert row.status is AlertStatus.ACKNOWLEDGED
    with pytest.raises(ConflictError), unit_of_work(orgs, person) as session:
        acknowledge(session, get_alert(session, alert.id, lock=True), person.actor)
    with pytest.raises(InvalidInputError), unit_of_work(orgs, person) as session:
        resolve(
            session, get_alert(session, alert.id), person.actor, "  ", frozenset({Role.CLINICIAN})
        )
    with unit_of_work(orgs, person) as session:
        resolve(
            session,
            get_alert(session, alert.id, lock=True),
            person.actor,
            "threshold recalibrated; see change record CR-12",
            frozenset({Role.CLINICAL_SAFETY_OFFICER}),
        )
    with pytest.raises(ConflictError), unit_of_work(orgs, person) as session:
        resolve(session, get_alert(session, alert.id), person.actor, "again", frozenset(Role))
    with orgs() as session:
        row = session.get_one(Alert, alert.id)
        assert (row.acknowledged_by, row.acknowledge_note) == (person.actor, "on it")
        assert row.resolved_by == person.actor
        assert row.resolved_at is not None
        assert row.resolution.startswith("threshold recalibrated")
        events = session.scalars(
            select(AlertEvent)
            .where(AlertEvent.alert_id == alert.id)
            .order_by(AlertEvent.created_at)
        ).all()
        assert [(e.action, e.from_status, e.to_status) for e in events] == [
            ("opened", None, "open"),
            ("acknowledged", "open", "acknowledged"),
            ("resolved", "acknowledged", "resolved"),
        ]
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_id == str(alert.id))
        ).all()
        assert actions.count("alerts.updated") == 2


def test_review_required_alert_is_resolved_only_by_a_safety_role(
    orgs: sessionmaker[StewardSession],
) -> None:
    deployed = deployed_tool(orgs)
    (alert,) = _raise(orgs, signal(deployed.deployment_id, Severity.CRITICAL))
    assert alert is not None
    with unit_of_work(orgs, SYSTEM) as session:
        get_alert(session, alert.id).review_required = True
    with pytest.raises(ForbiddenError), unit_of_work(orgs, SYSTEM) as session:
        resolve(
            session,
            get_alert(session, alert.id),
            "user:ds",
            "fine",
            frozenset({Role.DATA_SCIENTIST}),
        )
    with unit_of_work(orgs, SYSTEM) as session:
        resolve(
            session,
            get_alert(session, alert.id),
            "user:lead",
            "reviewed",
            frozenset({Role.CLINICAL_LEAD}),
        )


def _alerts(api: Api, n: int) -> tuple[str, list[Alert]]:
    deployed = deployed_tool(api.sessions)
    start = signal(deployed.deployment_id).window_start
    raised = _raise(
        api.sessions,
        *[
            signal(deployed.deployment_id, monitor=f"m{i}", start=start - timedelta(days=7 * i))
            for i in range(n)
        ],
    )
    return str(deployed.deployment_id), [a for a in raised if a is not None]


def test_alerts_api_lists_pages_filters_acknowledges_and_resolves(api: Api) -> None:
    deployment, alerts = _alerts(api, 5)
    path = f"/deployments/{deployment}/alerts"
    page = api.call("GET", f"{path}?limit=2&offset=1", Role.VIEWER).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (5, 2, 1, 2)
    starts = [a["window_start"] for a in api.call("GET", path, Role.CLINICIAN).json()["items"]]
    assert starts == sorted(starts, reverse=True)
    target = str(alerts[0].id)
    ack = api.call("POST", f"/alerts/{target}/acknowledge", Role.CLINICIAN, json={"note": "seen"})
    assert ack.status_code == 200, ack.text
    assert ack.json()["status"] == "acknowledged"
    again = api.call("POST", f"/alerts/{target}/acknowledge", Role.CLINICIAN, json={})
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    done = api.call(
        "POST", f"/alerts/{alerts[1].id}/resolve", Role.CLINICAL_LEAD, json={"reason": "noise"}
    )
    assert done.status_code == 200, done.text
    counts = {
        status: api.call("GET", f"{path}?status={status}", Role.VIEWER).json()["total"]
        for status in ("open", "acknowledged", "resolved")
    }
    assert counts == {"open": 3, "acknowledged": 1, "resolved": 1}
    detail = api.call("GET", f"/alerts/{target}", Role.VIEWER).json()
    assert [e["action"] for e in detail["events"]] == ["opened", "acknowledged"]
    assert detail["events"][1]["actor"].startswith("token:")
    bad = api.call("GET", f"{path}?status=closed", Role.VIEWER)
    assert bad.status_code == 422
    empty_reason = api.call("POST", f"/alerts/{target}/resolve", Role.CLINICAL_LEAD, json={})
    assert empty_reason.status_code == 422
    assert "reason" in empty_reason.text
    assert verify_database(api.client.app.state.engine).intact  # type: ignore[attr-defined]


def test_alerts_are_invisible_to_other_organisations(api: Api) -> None:
    deployment, alerts = _alerts(api, 1)
    assert (
        api.call("GET", f"/deployments/{deployment}/alerts", Role.VIEWER, org="rxb").status_code
        == 404
    )
    assert api.call("GET", f"/alerts/{alerts[0].id}", Role.VIEWER, org="rxb").status_code == 404
    region = api.call("GET", f"/deployments/{deployment}/alerts", Role.VIEWER, org="north")
    assert region.status_code == 200
    ack = api.call(
        "POST", f"/alerts/{alerts[0].id}/acknowledge", Role.CLINICIAN, org="north", json={}
    )
    assert ack.status_code == 404
    unknown = api.call("GET", f"/deployments/{uuid.uuid4()}/alerts", Role.VIEWER)
    assert unknown.status_code == 404


def test_surveillance_role_by_endpoint_matrix(api: Api) -> None:
    deployment, alerts = _alerts(api, 1)
    tool = str(alerts[0].tool_id)
    alert = str(alerts[0].id)
    endpoints = {
        ("GET", f"/deployments/{deployment}/alerts"): "alerts:read",
        ("GET", f"/alerts/{alert}"): "alerts:read",
        ("POST", f"/alerts/{alert}/acknowledge"): "alerts:acknowledge",
        ("POST", f"/alerts/{alert}/resolve"): "alerts:resolve",
        ("GET", f"/tools/{tool}/response-policy"): "alerts:read",
        ("PUT", f"/tools/{tool}/response-policy"): "tools:response-policy",
        ("POST", f"/tools/{tool}/incidents"): "incidents:create",
        ("GET", f"/incidents/{uuid.uuid4()}"): "incidents:read",
        ("GET", f"/incidents/{uuid.uuid4()}/export/medwatch"): "incidents:export",
    }
    for (method, path), permission in endpoints.items():
        for role in Role:
            # Bodies are invalid on purpose: allowed roles get 4xx for the body, never 403.
            kwargs = {"json": {"unexpected": 1}} if method in {"POST", "PUT"} else {}
            response = api.call(method, path, role, **kwargs)
            denied = response.status_code == 403 and permission in response.json()["detail"]
            assert denied == (role not in PERMISSIONS[permission]), (method, path, role)
            assert response.status_code < 500, (method, path, role, response.text)
    with api.sessions() as session:
        denials = session.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied"))
        assert len(list(denials)) == sum(
            len(set(Role) - PERMISSIONS[p]) for p in endpoints.values()
        )
