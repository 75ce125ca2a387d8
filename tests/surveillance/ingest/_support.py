"""Utilities of the surveillance tests: a monitored deployment and row builders."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from steward.audit.context import AuditContext
from steward.auth.roles import Role
from steward.auth.tokens import create_token
from steward.db.base import utcnow
from steward.db.session import StewardSession, unit_of_work
from steward.registry.kinds import OrganisationKind
from steward.registry.models import Organisation
from steward.registry.organisations import create_organisation, organisation_by_slug
from steward.registry.tools import add_version, register_tool
from steward.surveillance.deployments import MonitoringSettings, create_deployment
from steward.surveillance.linkage import OutcomeDefinition

ACTOR = AuditContext(actor="test:pytest", request_id="test-request")
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def make_deployment(
    sessions: sessionmaker[StewardSession],
    *,
    thresholds: tuple[float, ...] = (0.2,),
    window_hours: float = 48.0,
    per: str = "encounter",
    lag_hours: float = 0.0,
    subgroups: tuple[str, ...] = ("sex",),
    feature_reference_size: int = 1000,
    feature_cuts: dict[str, list[float]] | None = None,
) -> uuid.UUID:
    """A planned deployment of a new (proposed) tool at a site of trust ``rxa``, monitored."""
    with unit_of_work(sessions, ACTOR) as session:
        if not session.scalar(select(Organisation.id).where(Organisation.slug == "north")):
            create_organisation(session, "north", "North", OrganisationKind.REGION)
            create_organisation(session, "rxa", "Riverside", parent_slug="north")
            create_organisation(session, "rxa-ward", "Ward 1", OrganisationKind.SITE, "rxa")
            create_organisation(session, "rxb", "Brookside", parent_slug="north")
        trust = organisation_by_slug(session, "rxa")
        tool = register_tool(session, trust, f"Deterioration {uuid.uuid4().hex[:6]}")
        version = add_version(session, tool, "1.0")
        deployment, _ = create_deployment(
            session,
            version,
            organisation_by_slug(session, "rxa-ward"),
            "adult inpatient",
            MonitoringSettings(
                thresholds=thresholds,
                outcome=OutcomeDefinition("deterioration", window_hours, per, lag_hours),  # type: ignore[arg-type]
                subgroups=subgroups,
                feature_cuts=feature_cuts,
                feature_reference_size=feature_reference_size,
            ),
        )
        return deployment.id


class Api:
    """A test client plus tokens for any role in any organisation."""

    def __init__(self, client: TestClient, sessions: sessionmaker[StewardSession]) -> None:
        self.client = client
        self.sessions = sessions
        self._tokens: dict[tuple[Role, str], str] = {}

    def token(self, role: Role, org: str = "rxa") -> str:
        if (role, org) not in self._tokens:
            with unit_of_work(self.sessions, ACTOR) as session:
                organisation = session.scalars(
                    select(Organisation).where(Organisation.slug == org)
                ).one()
                self._tokens[role, org], _ = create_token(session, organisation, role, utcnow(), 1)
        return self._tokens[role, org]

    def call(self, method: str, path: str, role: Role | None, org: str = "rxa", **kw: Any) -> Any:
        headers = dict(kw.pop("headers", {}))
        if role is not None:
            headers["Authorization"] = f"Bearer {self.token(role, org)}"
        return self.client.request(method, f"/api/v1{path}", headers=headers, **kw)
