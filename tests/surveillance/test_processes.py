"""The scheduler in real processes, on both databases: embedded in ``steward serve`` (and off
when STEWARD_SCHEDULER_EMBEDDED=0), and two ``steward worker`` processes delivering the same
pending notifications, each exactly once, to a webhook on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from steward.audit.context import AuditContext
from steward.db.session import StewardSession, unit_of_work
from steward.registry.models import Tool
from steward.surveillance.alerts.models import Severity
from steward.surveillance.alerts.service import raise_alert
from steward.surveillance.notify.models import DeliveryStatus, Notification
from steward.surveillance.response.apply import respond, set_policy

from ._support import HookServer, deployed_tool, signal

pytestmark = pytest.mark.slow  # starts real server and worker processes

SYSTEM = AuditContext(actor="system:surveillance")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pending(sessions: sessionmaker[StewardSession], hook_url: str, count: int) -> list[uuid.UUID]:
    """``count`` alerts whose notifications are recorded but not sent (as after a crash)."""
    deployed = deployed_tool(sessions)
    with unit_of_work(sessions, AuditContext(actor="user:cso")) as session:
        tool = session.get_one(Tool, deployed.tool_id)
        document = {
            "contacts": [{"channel": "webhook", "target": hook_url}],
            "actions": {"warning": ["notify"]},
        }
        set_policy(session, tool, document, "user:cso")
    ids: list[uuid.UUID] = []
    with unit_of_work(sessions, SYSTEM) as session:
        for i in range(count):
            alert = raise_alert(
                session, signal(deployed.deployment_id, Severity.WARNING, monitor=f"m{i}"), "x"
            )
            assert alert is not None
            ids += respond(session, alert)
    return ids


def _env(db_url: str, **settings: str) -> dict[str, str]:
    return os.environ | {
        "STEWARD_DATABASE_URL": db_url,
        "STEWARD_SECRET_KEY": "a-long-random-test-secret-0123456789",
        "STEWARD_DEV": "0",
        "STEWARD_SCHEDULER_INTERVAL_SECONDS": "0.3",
        **settings,
    }


@contextmanager
def _running(*commands: list[str], env: dict[str, str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "steward", *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for command in commands
    ]
    try:
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def _statuses(sessions: sessionmaker[StewardSession]) -> list[DeliveryStatus]:
    with sessions() as session:
        return list(session.scalars(select(Notification.status)))


def _wait_until(condition: object, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def _serve_until_healthy(port: int) -> None:
    def healthy() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).is_success
        except httpx.TransportError:
            return False

    _wait_until(healthy)


def test_serve_embeds_the_scheduler_unless_told_not_to(
    db_url: str, orgs: sessionmaker[StewardSession]
) -> None:
    with HookServer() as hook:
        _pending(orgs, hook.url, 1)
        port = _free_port()
        serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]
        with _running(serve, env=_env(db_url, STEWARD_SCHEDULER_EMBEDDED="0")):
            _serve_until_healthy(port)
            time.sleep(2)  # several scheduler intervals
            assert hook.received == []
            assert _statuses(orgs) == [DeliveryStatus.PENDING]
        with _running(serve, env=_env(db_url)):
            _serve_until_healthy(port)
            _wait_until(lambda: _statuses(orgs) == [DeliveryStatus.SENT])
        assert len(hook.received) == 1


def test_two_worker_processes_deliver_each_notification_once(
    db_url: str, orgs: sessionmaker[StewardSession]
) -> None:
    with HookServer() as hook:
        ids = _pending(orgs, hook.url, 12)
        with _running(["worker"], ["worker"], env=_env(db_url)) as workers:
            _wait_until(lambda: set(_statuses(orgs)) == {DeliveryStatus.SENT})
            assert all(w.poll() is None for w in workers)
        received = [payload["alert_id"] for payload in hook.received]
    assert len(received) == len(set(received)) == len(ids)
    with orgs() as session:
        rows = session.scalars(select(Notification)).all()
        assert {r.attempts for r in rows} == {1}
