"""The suspension test across processes: ``steward serve --workers 2`` admits hook calls in two
worker processes while a third process (this test) suspends the tool; no call reaches the
supplier after the suspension commits, so the guarantee rests on the slots in the database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from steward.auth.roles import Role
from steward.db.engine import READ_ONLY
from steward.db.session import StewardSession, unit_of_work
from steward.integration.cdshooks.models import CdsCallSlot
from steward.registry.models import LifecycleState
from steward.registry.transitions import transition

from ._support import (
    ACTOR,
    EHR_ISSUER,
    STEWARD_BASE,
    Supplier,
    bearer,
    ehr_token,
    free_port,
    live_tool,
    register_supplier_over_http,
    service_url,
    spec,
)
from .conftest import CommitClock

CALLERS = 8
WORKERS = 2


def _started(log: IO[bytes]) -> int:
    """How many worker processes have said they are ready to serve."""
    log.seek(0)
    return log.read().count(b"Application startup complete")


@pytest.fixture
def served(db_url: str, supplier: Supplier) -> Iterator[str]:
    """``steward serve --workers 2`` on the test database, each call pausing 300 ms between its
    state check and its supplier call (as a busy server might): longer than the suspending
    transaction takes, so calls it does not wait for would reach the supplier after it."""
    issuers = {EHR_ISSUER: {"jwks": spec("jwks.json"), "jku": [f"{supplier.base}/jwk_uri"]}}
    env = os.environ | {
        "STEWARD_DATABASE_URL": db_url,
        "STEWARD_DEV": "1",
        "STEWARD_SECRET_KEY": "a-long-random-test-secret-0123456789",
        "STEWARD_SCHEDULER_EMBEDDED": "0",
        "STEWARD_CDS_BASE_URL": STEWARD_BASE,
        "STEWARD_CDS_ISSUERS": json.dumps(issuers),
        "STEWARD_CDS_TIMEOUT_SECONDS": "1",
        "STEWARD_CDS_PAUSE_BEFORE_SUPPLIER_SECONDS": "0.3",
    }
    port = free_port()
    command = [sys.executable, "-m", "steward", "serve", "--port", str(port)]
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            [*command, "--workers", str(WORKERS)], env=env, stdout=log, stderr=log
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180  # two workers importing Steward on a busy machine
            while _started(log) < WORKERS or not _answers(base):
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"steward serve did not start: {log.read().decode()[-2000:]}")
                time.sleep(0.2)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_no_call_reaches_the_supplier_after_a_suspension_by_another_process(
    served: str,
    engine: Engine,
    sessions: sessionmaker[StewardSession],
    supplier: Supplier,
    commit_clock: CommitClock,
) -> None:
    tool = live_tool(sessions)
    register_supplier_over_http(served, sessions, tool, supplier)
    supplier.delay = 0.02  # calls are in flight at the supplier when the suspension arrives
    stop = threading.Event()
    answers: list[tuple[float, int]] = []
    failures: list[str] = []
    holders: set[str] = set()

    def caller() -> None:
        with httpx.Client(base_url=served, timeout=30) as client:
            while not stop.is_set():
                started = time.monotonic()
                response = client.post(
                    "/cds/rxa-main/cds-services/sepsis-risk",
                    json=spec("request-patient-view.json"),
                    # a connection per call, so that both workers accept calls
                    headers=bearer(ehr_token(service_url())) | {"Connection": "close"},
                )
                if response.status_code != 200:
                    failures.append(response.text)
                    return
                answers.append((started, len(response.json()["cards"])))

    def watch_slots() -> None:
        """Which processes hold slot rows while the calls flow."""
        # read-only: on SQLite a deferred BEGIN, which does not take the write lock
        with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
            while not stop.is_set():
                holders.update(connection.scalars(select(CdsCallSlot.holder).distinct()))
                connection.rollback()
                time.sleep(0.01)

    threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
    threads.append(threading.Thread(target=watch_slots))
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        with unit_of_work(sessions, ACTOR) as session:
            transition(
                session,
                tool.tool_id,
                LifecycleState.SUSPENDED,
                actor="user:cso",
                actor_roles=frozenset({Role.CLINICAL_SAFETY_OFFICER}),
                reason="suspected calibration drift",
            )
        time.sleep(0.6)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not failures, failures[:1]
    assert len(holders) == WORKERS  # both workers were admitting calls
    committed_at = commit_clock.committed_at
    assert committed_at is not None
    before = [r for r in supplier.received if r.at < committed_at]
    after = [r for r in supplier.received if r.at >= committed_at]
    assert before  # calls were flowing up to the suspension
    assert after == []
    started_after = [cards for started, cards in answers if started > committed_at]
    assert started_after  # and kept flowing after it, answered with no card
    assert all(cards == 0 for cards in started_after)


def test_serve_refuses_a_worker_count_below_one(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from steward.cli.main import app

    url = f"sqlite:///{tmp_path / 'steward.db'}"
    refused = CliRunner().invoke(
        app, ["serve", "--workers", "0"], env={"STEWARD_DATABASE_URL": url, "STEWARD_DEV": "1"}
    )
    assert refused.exit_code == 2
    assert "--workers" in refused.output
