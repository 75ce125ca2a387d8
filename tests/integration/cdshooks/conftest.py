"""Fixtures of the gateway tests: a supplier on loopback and Steward's API on each database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from steward.api.app import create_app
from steward.auth.roles import Role
from steward.config import CdsIssuer, Settings
from steward.db.session import StewardSession
from steward.registry.records import StateTransition

from ._support import (
    EHR_ISSUER,
    STEWARD_BASE,
    LiveTool,
    Supplier,
    api_token,
    live_tool,
    spec,
    start_supplier,
)


@pytest.fixture
def supplier() -> Iterator[Supplier]:
    server = start_supplier()
    yield server
    server.close()


def gateway_settings(db_url: str, supplier: Supplier, **overrides: object) -> Settings:
    issuer = CdsIssuer(jwks=spec("jwks.json"), jku=[f"{supplier.base}/jwk_uri"])
    values: dict[str, object] = {
        "dev": True,
        "database_url": db_url,
        "cds_base_url": STEWARD_BASE,
        "cds_issuers": {EHR_ISSUER: issuer},
        "cds_timeout_seconds": 1.0,
    }
    return Settings.model_validate(values | overrides)


@dataclass
class Gateway:
    client: TestClient
    sessions: sessionmaker[StewardSession]
    tool: LiveTool
    supplier: Supplier

    def token(self, role: Role) -> str:
        return api_token(self.sessions, role)

    def register(self, service_id: str = "sepsis-risk", **body: object) -> dict[str, object]:
        payload: dict[str, object] = {
            "hook": "patient-view",
            "title": "Sepsis risk",
            "description": "Risk of sepsis in the next 12 hours",
            "supplier_url": f"{self.supplier.base}/cds-services/sepsis",
            "prefetch": {"patientToGreet": "Patient/{{context.patientId}}"},
            "score_source": "risk_assessment",
        } | body
        response = self.client.put(
            f"/api/v1/tools/{self.tool.tool_id}/versions/1.0/cds-services/{service_id}",
            json=payload,
            headers={"Authorization": f"Bearer {self.token(Role.IT_SECURITY)}"},
        )
        assert response.status_code == 200, response.text
        result: dict[str, object] = response.json()
        return result


@pytest.fixture
def gateway(
    db_url: str, engine: Engine, sessions: sessionmaker[StewardSession], supplier: Supplier
) -> Iterator[Gateway]:
    tool = live_tool(sessions)
    app = create_app(gateway_settings(db_url, supplier), engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        gateway = Gateway(client, sessions, tool, supplier)
        gateway.register()
        yield gateway


class CommitClock:
    """Records the moment the transaction that suspends a tool commits."""

    def __init__(self) -> None:
        self.committed_at: float | None = None

    def after_flush(self, session: Session, _context: Any) -> None:
        if any(isinstance(o, StateTransition) and o.to_state == "suspended" for o in session.new):
            session.info["suspends"] = True

    def after_commit(self, session: Session) -> None:
        if session.info.pop("suspends", False):
            self.committed_at = time.monotonic()


@pytest.fixture
def commit_clock() -> Iterator[CommitClock]:
    clock = CommitClock()
    event.listen(StewardSession, "after_flush", clock.after_flush)
    event.listen(StewardSession, "after_commit", clock.after_commit)
    yield clock
    event.remove(StewardSession, "after_flush", clock.after_flush)
    event.remove(StewardSession, "after_commit", clock.after_commit)
