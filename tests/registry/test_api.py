"""The REST API on both databases: health, tools, transitions, audit, errors and default-deny."""

from __future__ import annotations

import gc
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from steward.api.app import create_app
from steward.api.permissions import PERMISSIONS, PUBLIC, declared_permission, endpoints
from steward.audit.models import AuditEvent
from steward.audit.verify import verify_database
from steward.auth.roles import Role
from steward.auth.tokens import create_token, revoke_token
from steward.config import Settings
from steward.db.base import utcnow
from steward.db.engine import make_engine
from steward.db.session import unit_of_work
from steward.registry.models import (
    Organisation,
    Tool,
)
from steward.registry.organisations import (
    create_user,
    grant_role,
)
from steward.registry.transitions import sign_off

from ._support import ACTOR, CHAIR, Api
from ._support import new_tool as _new_tool


def test_health_reports_the_database(api: Api) -> None:
    response = api.client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["database"]["revision"] is not None


def test_the_collector_is_tuned_while_serving_and_restored_after(engine: Engine) -> None:
    before = gc.get_threshold()
    with TestClient(create_app(Settings(dev=True), engine)):
        assert gc.get_freeze_count() > 10_000  # start-up's objects are out of the scans
        assert gc.get_threshold() == (7000, *before[1:])
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_health_is_503_when_the_database_is_down() -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    app = create_app(Settings(dev=True), engine)
    with TestClient(app) as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json()["database"]["status"] == "unavailable"


def test_create_and_read_a_tool(api: Api) -> None:
    response = api.call(
        "POST", "/tools", Role.CLINICIAN, json={"name": "Sepsis Alert", "supplier": "Acme"}
    )
    assert response.status_code == 201, response.text
    created = response.json()
    read = api.call("GET", f"/tools/{created['id']}", Role.VIEWER).json()
    assert read["state"] == "proposed"
    assert read["supplier"] == "Acme"
    assert read["organisation"] == "rxa"
    assert read["allowed_transitions"] == ["in_assessment", "rejected"]
    listed = api.call("GET", "/tools?limit=1", Role.VIEWER).json()
    assert (listed["total"], listed["items"][0]["id"]) == (1, created["id"])
    duplicate = api.call("POST", "/tools", CHAIR, json={"name": "Sepsis Alert"})
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "colour": "red"}, "body.colour"),
        ({"name": ""}, "body.name"),
        ({"name": ["X"]}, "body.name"),
        ({}, "body.name"),
    ],
)
def test_bad_bodies_are_422_problems_with_field_paths(
    api: Api, body: dict[str, Any], field: str
) -> None:
    response = api.call("POST", "/tools", CHAIR, json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422
    assert field in [e["field"] for e in problem["errors"]]


def test_malformed_requests_never_cause_a_500(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.token(CHAIR)}", "Content-Type": "application/json"}
    assert api.client.post("/api/v1/tools", content=b"{nope", headers=headers).status_code == 422
    assert api.call("GET", "/tools/not-a-uuid", CHAIR).status_code == 422
    assert api.call("GET", f"/tools/{uuid.uuid4()}", CHAIR).status_code == 404
    assert api.call("GET", "/tools?limit=0", CHAIR).status_code == 422
    assert api.call("DELETE", "/tools", CHAIR).status_code == 405
    assert api.call("GET", f"/audit?after={2**70}", Role.ADMIN).status_code == 422
    nul = api.call("POST", "/tools", CHAIR, json={"name": "A\u0000B"})
    assert (nul.status_code, nul.json()["errors"][0]["field"]) == (422, "name")
    nul_description = api.call("POST", "/tools", CHAIR, json={"name": "N", "description": "\u0000"})
    assert nul_description.status_code == 422
    tool = _new_tool(api)
    moved = api.call("POST", f"/tools/{tool}/transitions", CHAIR, json={"to": "flying"})
    assert moved.status_code == 422
    assert moved.json()["errors"][0]["field"] == "body.to"


def test_missing_bad_expired_and_revoked_tokens_are_401(api: Api) -> None:
    assert api.call("GET", "/tools", None).status_code == 401
    response = api.client.get("/api/v1/tools", headers={"Authorization": "Bearer stw_nope"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    with unit_of_work(api.sessions, ACTOR) as session:
        org = session.scalars(select(Organisation).where(Organisation.slug == "rxa")).one()
        expired, _ = create_token(session, org, CHAIR, utcnow() - timedelta(days=2), 1)
        revoked, row = create_token(session, org, CHAIR, utcnow(), 1)
        revoke_token(session, row.id, utcnow())
    for token in (expired, revoked):
        headers = {"Authorization": f"Bearer {token}"}
        assert api.client.get("/api/v1/tools", headers=headers).status_code == 401


def test_organisations_only_reach_their_own_tools(api: Api) -> None:
    tool = _new_tool(api)
    assert api.call("GET", f"/tools/{tool}", Role.VIEWER, org="rxb").status_code == 404
    assert api.call("GET", "/tools", Role.VIEWER, org="rxb").json()["total"] == 0
    assert api.call("GET", f"/tools/{tool}", Role.VIEWER, org="north").status_code == 200
    move = {"to": "in_assessment"}
    region = api.call("POST", f"/tools/{tool}/transitions", CHAIR, org="north", json=move)
    assert region.status_code == 404


def test_refused_transition_is_409_with_every_unmet_item_and_audited(api: Api) -> None:
    tool = _new_tool(api)
    response = api.call("POST", f"/tools/{tool}/transitions", CHAIR, json={"to": "in_assessment"})
    assert response.status_code == 409
    assert response.json()["unmet"] == [
        {
            "requirement": "signoff",
            "item": "committee_chair",
            "detail": "no sign-off by the committee_chair for in_assessment",
        }
    ]
    nowhere = api.call("POST", f"/tools/{tool}/transitions", CHAIR, json={"to": "deployed"})
    assert nowhere.status_code == 409
    assert nowhere.json()["unmet"][0]["requirement"] == "transition"
    with api.sessions() as session:
        refusals = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "tools.transition_refused")
        ).all()
        assert [e.entity_id for e in refusals] == [tool, tool]
        assert refusals[0].after is not None
        assert refusals[0].after["unmet"][0]["item"] == "committee_chair"
        assert session.get_one(Tool, uuid.UUID(tool)).state.value == "proposed"


def test_lifecycle_walk_through_the_api(api: Api) -> None:
    tool_id = _new_tool(api)
    with unit_of_work(api.sessions, ACTOR) as session:
        org = session.scalars(select(Organisation).where(Organisation.slug == "rxa")).one()
        chair = create_user(session, "chair@example.org")
        grant_role(session, chair, org, CHAIR)
        tool = session.get_one(Tool, uuid.UUID(tool_id))
        sign_off(session, tool, tool.state.__class__("in_assessment"), CHAIR, chair)

    def move(to: str, role: Role = CHAIR, **extra: Any) -> Any:
        body = {"to": to, **extra}
        return api.call("POST", f"/tools/{tool_id}/transitions", role, json=body)

    assert move("in_assessment").json()["state"] == "in_assessment"
    refused = move("silent_pilot")
    assert refused.status_code == 409
    assert [u["item"] for u in refused.json()["unmet"]] == [
        "dpia",
        "clinical_safety_case",
        "security_review",
        "clinical_safety_officer",
        "ig_dpo",
        "it_security",
        "dtac",
    ]
    # The rest of the walk (evidence, sign-offs, evaluation) is covered in test_transitions;
    # here the tool is suspended and retired through the API once rejected is ruled out.
    assert move("suspended", Role.CLINICAL_SAFETY_OFFICER, reason="x").status_code == 409
    rejected = move("rejected", reason="")
    assert rejected.status_code == 409
    assert rejected.json()["unmet"][0]["requirement"] == "reason"
    assert move("rejected", reason="Duplicate of an assessed tool").json()["state"] == "rejected"
    assert api.call("GET", f"/tools/{tool_id}", CHAIR).json()["allowed_transitions"] == []


def test_audit_is_paginated_and_carries_the_chain_head(api: Api, engine: Engine) -> None:
    _new_tool(api, "One")
    _new_tool(api, "Two")
    first = api.call("GET", "/audit?limit=2", Role.ADMIN, org="north").json()
    assert len(first["items"]) == 2
    assert first["next_after"] == first["items"][-1]["seq"]
    rest = api.call("GET", f"/audit?after={first['next_after']}&limit=500", Role.ADMIN, org="north")
    seqs = [e["seq"] for e in first["items"] + rest.json()["items"]]
    assert seqs == sorted(seqs)
    assert rest.json()["head"]["seq"] == verify_database(engine).head_seq
    own = api.call("GET", "/audit?entity_type=tools", Role.ADMIN, org="rxa").json()
    assert len(own["items"]) == 2
    assert api.call("GET", "/audit?entity_type=tools", Role.ADMIN, org="rxb").json()["items"] == []
    assert verify_database(engine).intact


def test_every_route_is_public_or_declares_a_permission(api: Api) -> None:
    app = api.client.app
    routes = [(p, r) for p, r in endpoints(app.routes) if r.include_in_schema]  # type: ignore[attr-defined]
    documented = {
        (path, method.upper())
        for path, operations in app.openapi()["paths"].items()  # type: ignore[attr-defined]
        for method in operations
    }
    assert {(path, m) for path, r in routes for m in r.methods} == documented
    for path, route in routes:
        permission = declared_permission(route)
        assert (path in PUBLIC) != (permission is not None), path
        assert permission is None or permission in PERMISSIONS


RECORD_LISTS = ("evidence", "evaluations", "hazards", "signoffs", "decisions", "transitions")


def test_role_by_endpoint_matrix(api: Api) -> None:
    tool = _new_tool(api)
    endpoints = {
        ("POST", "/tools"): ("tools:create", {"json": {"name": f"T {uuid.uuid4().hex}"}}),
        ("GET", "/tools"): ("tools:read", {}),
        ("GET", f"/tools/{tool}"): ("tools:read", {}),
        **{("GET", f"/tools/{tool}/{kind}"): ("tools:read", {}) for kind in RECORD_LISTS},
        ("POST", f"/tools/{tool}/transitions"): ("tools:transition", {"json": {"to": "rejected"}}),
        ("POST", f"/tools/{tool}/versions/1.0/clearances"): (
            "tools:transition",
            {"json": {"to": "silent_pilot"}},
        ),
        ("GET", "/audit"): ("audit:read", {}),
        ("POST", f"/tools/{tool}/versions"): ("tools:version", {"json": {}}),
        ("POST", f"/tools/{tool}/signoffs"): ("tools:signoff", {"json": {}}),
        ("POST", f"/tools/{tool}/evidence"): ("tools:evidence", {}),
        ("POST", f"/tools/{tool}/evaluations"): ("tools:evaluation", {"json": {}}),
        ("POST", f"/tools/{tool}/hazards"): ("tools:hazards", {"json": {}}),
        ("PUT", f"/tools/{tool}/hazards/H-001/residual-risk"): ("tools:hazards", {"json": {}}),
        ("PUT", f"/tools/{tool}/assessments/dtac"): ("tools:assessment", {"json": {}}),
        ("PUT", f"/tools/{tool}/fallback-plan"): ("tools:fallback", {"json": {}}),
        ("POST", f"/tools/{tool}/decisions"): ("tools:decision", {"json": {}}),
        ("PUT", f"/tools/{tool}/liability"): ("tools:liability", {"json": {}}),
        ("POST", "/priorities"): ("priorities:create", {"json": {}}),
        ("POST", "/proposals"): ("proposals:create", {"json": {}}),
        ("GET", f"/proposals/{uuid.uuid4()}"): ("proposals:read", {}),
        ("POST", "/opt-outs"): ("optouts:register", {"json": {}}),
        ("GET", "/opt-outs"): ("optouts:read", {}),
        ("POST", f"/tools/{tool}/deployments"): ("deployments:create", {"json": {}}),
        ("GET", f"/deployments/{uuid.uuid4()}"): ("deployments:read", {}),
        ("PUT", f"/deployments/{uuid.uuid4()}/monitors"): ("deployments:configure", {"json": {}}),
        ("POST", f"/deployments/{uuid.uuid4()}/predictions"): ("deployments:ingest", {}),
        ("POST", f"/deployments/{uuid.uuid4()}/outcomes"): ("deployments:ingest", {}),
        ("POST", f"/deployments/{uuid.uuid4()}/feedback"): ("deployments:feedback", {}),
        ("PUT", f"/tools/{tool}/versions/1.0/cds-services/s"): ("cds:register", {"json": {}}),
        ("GET", f"/tools/{tool}/cds-services"): ("cds:read", {}),
    }
    for (method, path), (permission, kwargs) in endpoints.items():
        for role in Role:
            response = api.call(method, path, role, **kwargs)
            denied = response.status_code == 403 and permission in response.json()["detail"]
            assert denied == (role not in PERMISSIONS[permission]), (method, path, role)
            assert response.status_code < 500
    with api.sessions() as session:
        denials = session.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied"))
        endpoint_denials = [e for e in denials if e.after and " may not " in e.after["detail"]]
        assert len(endpoint_denials) == sum(
            len(set(Role) - PERMISSIONS[p]) for p, _ in endpoints.values()
        )
