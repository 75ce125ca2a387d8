"""Test utilities of the CDS Hooks gateway: the specification's example EHR key, a real supplier
service on loopback, and a registry with one tool live at one site."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from steward.audit.context import AuditContext
from steward.auth.roles import Role
from steward.auth.tokens import create_token
from steward.db.base import utcnow
from steward.db.session import StewardSession, unit_of_work
from steward.registry.kinds import OrganisationKind
from steward.registry.models import DeploymentStatus, LifecycleState, Organisation
from steward.registry.organisations import create_organisation
from steward.registry.tools import add_version, deploy, register_tool
from steward.surveillance.deployments import MonitoringSettings, create_deployment
from steward.surveillance.linkage import OutcomeDefinition

SPEC = Path(__file__).parent / "data" / "spec"
ACTOR = AuditContext(actor="test:pytest", request_id="test-request")
EHR_ISSUER = "https://fhir-ehr.example.com/"
STEWARD_BASE = "https://steward.example.org"


def spec(name: str) -> Any:
    """One of the specification's examples (see data/spec/SOURCE.md)."""
    return json.loads((SPEC / name).read_text(encoding="utf-8"))


def ehr_token(
    audience: str,
    *,
    algorithm: str = "ES384",
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A token signed with the specification's example private key (kid ``example-kid``)."""
    now = int(time.time())
    body = {
        "iss": EHR_ISSUER,
        "aud": audience,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "tenant": "2ddd6c3a-8e9a-44c6-a305-52111ad302a2",
    } | claims
    body = {k: v for k, v in body.items() if v is not None}
    key = jwt.PyJWK(spec("jwk-private.json")).key
    header = {"kid": "example-kid", "typ": "JWT"} | (headers or {})
    return jwt.encode(body, key, algorithm=algorithm, headers=header)


def service_url(site: str = "rxa-main", service: str = "sepsis-risk") -> str:
    return f"{STEWARD_BASE}/cds/{site}/cds-services/{service}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Received:
    """A request the supplier received: when (monotonic clock), path, headers and body."""

    at: float
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Supplier:
    """A real HTTP CDS service on loopback; ``mode`` selects how it answers."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    mode: str = "cards"
    delay: float = 0.0
    jwks: dict[str, Any] = field(default_factory=dict)
    on_request: Callable[[], None] | None = None  # run on each call, before answering

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def supplier_cards() -> dict[str, Any]:
    """The specification's example response, plus a card carrying a RiskAssessment."""
    response: dict[str, Any] = spec("response-example.json")
    response["cards"].append(
        {
            "summary": "Sepsis risk 23% in the next 12 hours",
            "indicator": "warning",
            "source": {"label": "Sepsis Risk Model"},
            "selectionBehavior": "at-most-one",
            "suggestions": [
                {
                    "label": "Record the risk assessment",
                    "uuid": "e56e1945-20b3-4393-8503-a1a20fd73152",
                    "actions": [
                        {
                            "type": "create",
                            "description": "Record the sepsis risk",
                            "resource": {
                                "resourceType": "RiskAssessment",
                                "status": "final",
                                "subject": {"reference": "Patient/1288992"},
                                "prediction": [{"probabilityDecimal": 0.23}],
                            },
                        }
                    ],
                }
            ],
        }
    )
    return response


def start_supplier() -> Supplier:
    """Start the supplier; it also serves the EHR's JWK Set at ``/jwk_uri`` for ``jku`` tests."""
    holder: dict[str, Supplier] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *_args: Any) -> None:
            return

        def _send(self, status: int, payload: Any) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send(200, holder["s"].jwks)

        def do_POST(self) -> None:
            arrived = time.monotonic()
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"null")
            supplier = holder["s"]
            supplier.received.append(Received(arrived, self.path, dict(self.headers), body))
            if supplier.on_request is not None:
                supplier.on_request()
            if supplier.delay:
                time.sleep(supplier.delay)
            if supplier.mode == "error":
                self._send(500, {"resourceType": "OperationOutcome"})
            elif supplier.mode == "garbage":
                self._send(200, b"<html>not json</html>")
            elif supplier.mode == "malformed":
                cards = supplier_cards()["cards"]
                cards[1].pop("indicator")
                cards.append({"summary": "x" * 200, "indicator": "info", "source": {"label": "S"}})
                self._send(200, {"cards": cards})
            else:
                self._send(200, supplier_cards())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    supplier = Supplier(server, jwks=spec("jwks.json"))
    holder["s"] = supplier
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return supplier


@dataclass(frozen=True)
class LiveTool:
    tool_id: uuid.UUID
    version_id: uuid.UUID
    site_id: uuid.UUID
    deployment_id: uuid.UUID


def live_tool(
    sessions: sessionmaker[StewardSession], name: str = "Sepsis Risk", *, monitored: bool = True
) -> LiveTool:
    """Trust ``rxa`` with site ``rxa-main``; a tool deployed and live there (version 1.0),
    with a monitoring configuration (outcome: sepsis within 12 hours) when ``monitored``."""
    with unit_of_work(sessions, ACTOR) as session:
        trust = session.scalar(select(Organisation).where(Organisation.slug == "rxa"))
        if trust is None:
            trust = create_organisation(session, "rxa", "Riverside", OrganisationKind.TRUST)
            create_organisation(session, "rxa-main", "Riverside Main", OrganisationKind.SITE, "rxa")
            create_organisation(session, "rxa-east", "Riverside East", OrganisationKind.SITE, "rxa")
        site = session.scalars(select(Organisation).where(Organisation.slug == "rxa-main")).one()
        tool = register_tool(session, trust, name)
        version = add_version(session, tool, "1.0")
        if monitored:
            outcome = OutcomeDefinition("sepsis", window_hours=12)
            settings = MonitoringSettings(thresholds=(0.2,), outcome=outcome)
            deployment, _ = create_deployment(
                session, version, site, "emergency department", settings
            )
        else:
            deployment = deploy(session, version, site, "emergency department")
        deployment.status = DeploymentStatus.LIVE
        tool.state = LifecycleState.DEPLOYED
        session.flush()
        return LiveTool(tool.id, version.id, site.id, deployment.id)


def api_token(sessions: sessionmaker[StewardSession], role: Role, org: str = "rxa") -> str:
    with unit_of_work(sessions, ACTOR) as session:
        organisation = session.scalars(select(Organisation).where(Organisation.slug == org)).one()
        plaintext, _ = create_token(session, organisation, role, utcnow(), 1)
    return plaintext


def register_supplier_over_http(
    base_url: str, sessions: sessionmaker[StewardSession], tool: LiveTool, supplier: Supplier
) -> None:
    """Register the supplier's sepsis service for version 1.0 of ``tool`` through the API of the
    server at ``base_url``, as IT security."""
    admin = bearer(api_token(sessions, Role.IT_SECURITY))
    with httpx.Client(base_url=base_url, timeout=30) as client:
        registered = client.put(
            f"/api/v1/tools/{tool.tool_id}/versions/1.0/cds-services/sepsis-risk",
            json={
                "hook": "patient-view",
                "description": "Sepsis risk",
                "supplier_url": f"{supplier.base}/cds-services/sepsis",
            },
            headers=admin,
        )
    assert registered.status_code == 200, registered.text
