"""Utilities shared by the registry tests: the test actor, an API client with token minting."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from steward.audit.context import AuditContext
from steward.auth.roles import Role
from steward.auth.tokens import create_token
from steward.db.base import utcnow
from steward.db.session import StewardSession, unit_of_work
from steward.registry.evidence import file_evidence
from steward.registry.models import Organisation, Tool
from steward.registry.organisations import user_by_email

ACTOR = AuditContext(actor="test:pytest", request_id="test-request")


CHAIR = Role.COMMITTEE_CHAIR


class Api:
    """A test client plus a way to mint tokens for any role in any organisation."""

    def __init__(self, client: TestClient, sessions: sessionmaker[StewardSession]) -> None:
        self.client = client
        self.sessions = sessions

    def token(self, role: Role, org: str = "rxa", days: int = 1, user: str | None = None) -> str:
        with unit_of_work(self.sessions, ACTOR) as session:
            organisation = session.scalars(
                select(Organisation).where(Organisation.slug == org)
            ).one()
            owner = user_by_email(session, user) if user else None
            plaintext, _ = create_token(session, organisation, role, utcnow(), days, owner)
        return plaintext

    def call(self, method: str, path: str, role: Role | None, org: str = "rxa", **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token(role, org)}"} if role else {}
        return self.client.request(method, f"/api/v1{path}", headers=headers, **kw)


def new_tool(api: Api, name: str = "Sepsis Alert") -> str:
    response = api.call("POST", "/tools", CHAIR, json={"name": name, "version": "1.0"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def file_kinds(session: StewardSession, tool: Tool, *kinds: str) -> None:
    """File a small PDF of each evidence type in ``kinds`` for the whole tool (every version)."""
    for kind in kinds:
        file_evidence(
            session,
            tool,
            evidence_type=kind,
            title=kind,
            filename=f"{kind}.pdf",
            media_type="application/pdf",
            content=b"%PDF-1.7\n%%EOF\n" + kind.encode(),
            max_bytes=10_000,
        )
