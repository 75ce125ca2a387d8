"""Schemathesis against ``/openapi.json``: no request the schema describes makes the API answer 5xx.

Every operation is exercised on SQLite and on PostgreSQL, with bearer tokens of named users in
several roles (so authenticated routes run past the role check) and, for most examples, the id of
a seeded tool, hazard and proposal (so the requests reach the services, not only the 404 path).
Responses with a documented status code must also match their documented schema.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis import Case, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from steward.api.app import create_app
from steward.api.permissions import PERMISSIONS, declared_permission, endpoints
from steward.api.problems import PROBLEM
from steward.auth.roles import Role
from steward.auth.tokens import create_token
from steward.config import Settings
from steward.db.base import utcnow
from steward.db.session import StewardSession, unit_of_work
from steward.registry.hazards import Likelihood, Severity
from steward.registry.intake import ProposalInput, propose
from steward.registry.kinds import OrganisationKind
from steward.registry.organisations import create_organisation, create_user, grant_role
from steward.registry.safety import HazardEntry, log_hazard
from steward.registry.tools import add_version, register_tool

from ._support import ACTOR

# The schema does not depend on the database: load it once from an app on an in-memory SQLite.
SCHEMA_APP = create_app(Settings(dev=True, database_url="sqlite://"))
schema = schemathesis.openapi.from_asgi("/openapi.json", SCHEMA_APP)

# Together these roles hold every permission in steward.api.permissions.
ROLES = [
    Role.COMMITTEE_CHAIR,
    Role.CLINICAL_SAFETY_OFFICER,
    Role.DATA_SCIENTIST,
    Role.FINANCE,
    Role.ADMIN,
    Role.SUPPLIER,
]


def _roles_by_operation() -> dict[tuple[str, str], list[Role]]:
    """The roles of :data:`ROLES` each operation admits (all of them on public operations)."""
    table = {}
    for path, route in endpoints(SCHEMA_APP.routes):
        permission = declared_permission(route)
        roles = [r for r in ROLES if permission is None or r in PERMISSIONS[permission]]
        for method in route.methods:
            table[(method, path)] = roles
    return table


ADMITTED = _roles_by_operation()


@dataclass
class Seeded:
    """The application on a seeded database, tokens per role and the ids worth aiming at."""

    app: FastAPI
    tokens: dict[Role, str]
    ids: dict[str, str]


def _seed(sessions: sessionmaker[StewardSession]) -> tuple[dict[Role, str], dict[str, str]]:
    with unit_of_work(sessions, ACTOR) as session:
        create_organisation(session, "north", "North", OrganisationKind.REGION)
        org = create_organisation(session, "rxa", "Riverside", parent_slug="north")
        create_organisation(session, "rxb", "Brookside", parent_slug="north")
        tool = register_tool(session, org, "Sepsis Alert", "Early warning of sepsis", None)
        add_version(session, tool, "1.0")
        log_hazard(session, tool, HazardEntry("Missed sepsis", Severity.MAJOR, Likelihood.HIGH))
        proposal = propose(
            session,
            org,
            ProposalInput(
                title="Sepsis alerting",
                problem="Sepsis is recognised late on the wards",
                product_name="Sepsis Alert",
                version="1.0",
                no_priority_reason="raised by the critical care outreach team",
            ),
        )
        tokens = {}
        for role in ROLES:
            person = create_user(session, f"{role.value}@example.org")
            grant_role(session, person, org, role)
            tokens[role], _ = create_token(session, org, role, utcnow(), 1, person)
        ids = {
            "tool_id": str(tool.id),
            "reference": "H-001",
            "proposal_id": str(proposal.id),
        }
    return tokens, ids


@pytest.fixture
def seeded(db_url: str, engine: Engine, sessions: sessionmaker[StewardSession]) -> Iterator[Seeded]:
    tokens, ids = _seed(sessions)
    app = create_app(Settings(dev=True, database_url=db_url), engine)
    with TestClient(app):  # runs the lifespan, as a server would
        yield Seeded(app, tokens, ids)


def _check(case: Case, seeded: Seeded, pick: int, aim: bool) -> None:
    # Aimed examples use a role the operation admits and the seeded ids; the others any role.
    admitted = ADMITTED[(case.method.upper(), case.path)] if aim else ROLES
    role = admitted[pick % len(admitted)]
    if aim:
        for name, value in seeded.ids.items():
            if name in (case.path_parameters or {}):
                case.path_parameters[name] = value
    headers = {"Authorization": f"Bearer {seeded.tokens[role]}"}
    response = case.call(app=seeded.app, headers=headers)
    case.validate_response(response, checks=CHECKS, headers=headers)


CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
PICK = st.integers(0, len(ROLES) - 1)
# Generated examples only: the schema's own examples cannot supply the extra given() arguments.
GENERATED = [Phase.reuse, Phase.generate, Phase.target, Phase.shrink]
BOUNDED = {"deadline": None, "suppress_health_check": list(HealthCheck), "phases": GENERATED}
LOGIN = "/api/v1/auth/login"  # hashes a password per request: fewer examples


@schema.exclude(path=LOGIN).parametrize()
@schema.given(pick=PICK, aim=st.booleans())
@settings(max_examples=40, **BOUNDED)
def test_no_server_error_and_documented_responses(
    case: Case, seeded: Seeded, pick: int, aim: bool
) -> None:
    _check(case, seeded, pick, aim)


@schema.include(path=LOGIN).parametrize()
@schema.given(pick=PICK, aim=st.booleans())
@settings(max_examples=10, **BOUNDED)
def test_login_answers_without_server_error(
    case: Case, seeded: Seeded, pick: int, aim: bool
) -> None:
    _check(case, seeded, pick, aim)


def test_the_roles_between_them_hold_every_permission() -> None:
    assert {p for p, roles in PERMISSIONS.items() if roles & set(ROLES)} == set(PERMISSIONS)
    assert all(ADMITTED.values())


def test_the_seeded_ids_reach_the_services(seeded: Seeded) -> None:
    """Guards the aim of the fuzzing: the seeded tool and proposal are readable with the tokens."""
    with TestClient(seeded.app) as client:
        headers = {"Authorization": f"Bearer {seeded.tokens[Role.COMMITTEE_CHAIR]}"}
        tool = client.get(f"/api/v1/tools/{seeded.ids['tool_id']}", headers=headers)
        proposal = client.get(f"/api/v1/proposals/{seeded.ids['proposal_id']}", headers=headers)
    assert (tool.status_code, proposal.status_code) == (200, 200)
    assert uuid.UUID(tool.json()["id"]) == uuid.UUID(seeded.ids["tool_id"])


def test_error_responses_are_checked_against_the_documented_problem_schema(seeded: Seeded) -> None:
    """Regression: 422 was documented as FastAPI's JSON ``HTTPValidationError``, so the
    problem+json bodies the API sends were never checked against any schema."""
    headers = {"Authorization": f"Bearer {seeded.tokens[Role.COMMITTEE_CHAIR]}"}
    listing = schema["/api/v1/tools"]["GET"].Case(query={"limit": "many"})
    invalid = listing.call(app=seeded.app, headers=headers)
    assert invalid.status_code == 422
    listing.validate_response(invalid, checks=CHECKS, headers=headers)

    move = schema["/api/v1/tools/{tool_id}/transitions"]["POST"].Case(
        path_parameters={"tool_id": seeded.ids["tool_id"]}, body={"to": "deployed"}
    )
    refused = move.call(app=seeded.app, headers=headers)
    assert refused.status_code == 409
    assert refused.json()["unmet"]
    move.validate_response(refused, checks=CHECKS, headers=headers)

    # The check bites: a problem document without its status does not conform.
    broken = invalid.json()
    del broken["status"]
    body = json.dumps(broken).encode()
    forged = Response(422, {"content-type": [PROBLEM]}, body, invalid.request, 0.0, True)
    with pytest.raises(BaseExceptionGroup, match="Response violates schema"):
        listing.validate_response(forged, checks=[response_schema_conformance])


LIABILITY = {
    "contract_reference": "C-1",
    "liability_allocation": "supplier",
    "indemnity_provider": "NHS Resolution",
    "indemnity_cover": "CNST",
}
INCIDENT = {"title": "Missed alert", "description": "No alert fired", "outcome": "no_harm"}


@pytest.mark.parametrize(
    ("role", "path", "body", "field"),
    [
        (Role.COMMITTEE_CHAIR, "liability", LIABILITY, "cover_expires_at"),
        (Role.CLINICAL_SAFETY_OFFICER, "incidents", INCIDENT, "occurred_at"),
    ],
)
@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "2027-01-01T00:00:00"]
)
def test_times_without_a_utc_equivalent_are_refused_with_the_field(
    seeded: Seeded, role: Role, path: str, body: dict[str, str], field: str, moment: str
) -> None:
    """Regression: an offset pushing a time past year 1 or 9999 overflowed the audit chain, and a
    time without offset reached the database as a naive timestamp: 500 both."""
    headers = {"Authorization": f"Bearer {seeded.tokens[role]}"}
    url = f"/api/v1/tools/{seeded.ids['tool_id']}/{path}"
    method = "PUT" if path == "liability" else "POST"
    with TestClient(seeded.app) as client:
        response = client.request(method, url, headers=headers, json=body | {field: moment})
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [f"body.{field}"]
