"""Shared pieces of the surveillance tests: a monitored deployment, a monitor suite of known
behaviour, and loopback SMTP and HTTP servers that record what they receive."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from registry._support import ACTOR
from steward.db.session import StewardSession, unit_of_work
from steward.registry.kinds import OrganisationKind
from steward.registry.models import LifecycleState, Tool
from steward.registry.organisations import create_organisation, organisation_by_slug
from steward.registry.tools import add_version, deploy, register_tool
from steward.surveillance.alerts.models import Severity
from steward.surveillance.alerts.service import AlertSignal
from steward.surveillance.scheduler.suite import RunJob, RunResult

NOW = datetime(2026, 3, 18, 9, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Deployed:
    tool_id: uuid.UUID
    deployment_id: uuid.UUID


def organisations(sessions: sessionmaker[StewardSession]) -> None:
    """North (region) > Riverside (trust, rxa) > Riverside General (site); Brookside (rxb)."""
    with unit_of_work(sessions, ACTOR) as session:
        create_organisation(session, "north", "North", OrganisationKind.REGION)
        create_organisation(session, "rxa", "Riverside", parent_slug="north")
        create_organisation(session, "rxb", "Brookside", parent_slug="north")
        create_organisation(
            session, "rxa-gen", "Riverside General", OrganisationKind.HOSPITAL, "rxa"
        )
        create_organisation(session, "rxa-ed", "Riverside ED", OrganisationKind.SITE, "rxa-gen")


def deployed_tool(
    sessions: sessionmaker[StewardSession],
    name: str = "Sepsis Alert",
    state: LifecycleState = LifecycleState.DEPLOYED,
    created_at: datetime | None = None,
) -> Deployed:
    """A tool of rxa in ``state`` (set directly: the gates are tested elsewhere), deployed at
    the Riverside ED site."""
    with unit_of_work(sessions, ACTOR) as session:
        tool = register_tool(session, organisation_by_slug(session, "rxa"), name, "Sepsis risk")
        version = add_version(session, tool, "2.1")
        deployment = deploy(session, version, organisation_by_slug(session, "rxa-ed"), "ED")
        tool.state = state
        if created_at is not None:
            deployment.created_at = created_at
        return Deployed(tool.id, deployment.id)


def tool_state(sessions: sessionmaker[StewardSession], tool_id: uuid.UUID) -> LifecycleState:
    with sessions() as session:
        return session.get_one(Tool, tool_id).state


def signal(
    deployment_id: uuid.UUID,
    severity: Severity = Severity.WARNING,
    monitor: str = "calibration_cusum",
    subject: str = "",
    start: datetime = datetime(2026, 3, 16, tzinfo=UTC),
    metric: str = "upper",
) -> AlertSignal:
    return AlertSignal(
        deployment_id=deployment_id,
        monitor=monitor,
        grain="week",
        window_start=start,
        window_end=start + timedelta(days=7),
        severity=severity,
        summary=f"{monitor} crossed its limit",
        subject=subject,
        metric=metric,
        details={"statistic": 5.2, "limit": 4.0},
    )


@dataclass
class ScriptedSuite:
    """Monitors whose results the test decides: each (monitor, grain) alarms with ``severity``
    when set, and every run is counted, so double runs are visible."""

    monitors: Sequence[tuple[str, str]] = (("score_psi", "day"),)
    severity: Severity | None = Severity.WARNING
    fail_with: str | None = None
    calls: list[RunJob] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def prepare(self, session: Session, deployment_id: uuid.UUID, now: datetime) -> None:
        return None

    def earliest_data(self, session: Session, deployment_id: uuid.UUID) -> datetime | None:
        return None

    def schedule(self, session: Session, deployment_id: uuid.UUID) -> Sequence[tuple[str, str]]:
        return self.monitors

    def run(self, session: Session, job: RunJob) -> RunResult:
        with self.lock:
            self.calls.append(job)
        if self.fail_with:
            raise RuntimeError(self.fail_with)
        if self.severity is None:
            return RunResult(findings=1)
        found = AlertSignal(
            deployment_id=job.deployment_id,
            monitor=job.monitor,
            grain=job.grain,
            window_start=job.window_start,
            window_end=job.window_end,
            severity=self.severity,
            summary=f"{job.monitor} above its limit",
            subject="ethnicity=Asian",
        )
        return RunResult(findings=2, signals=[found], notes=[f"{job.monitor}: 1 alarm"])


class HookServer:
    """A real HTTP server on 127.0.0.1 recording POSTed JSON; answers with scripted statuses."""

    def __init__(self, statuses: Sequence[int] = (200,)) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses = list(statuses)
        self.on_request: Any = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.received.append(json.loads(body))
                if outer.on_request is not None:
                    outer.on_request()
                status = outer.statuses.pop(0) if len(outer.statuses) > 1 else outer.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> HookServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
