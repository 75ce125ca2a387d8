"""The suspension test: a tool is suspended through the API while hook calls are flowing; no call
reaches the supplier after the suspension commits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from steward.api.app import create_app
from steward.auth.roles import Role
from steward.db.session import StewardSession

from ._support import (
    Supplier,
    api_token,
    bearer,
    ehr_token,
    free_port,
    live_tool,
    register_supplier_over_http,
    service_url,
    spec,
)
from .conftest import CommitClock, gateway_settings

CALLERS = 8


@pytest.fixture
def server(
    db_url: str, engine: Engine, sessions: sessionmaker[StewardSession], supplier: Supplier
) -> Iterator[str]:
    # Each call pauses between reading the tool's state and calling the supplier, as a busy
    # server might: without the gate, calls checked before the commit would arrive after it.
    # The tests count the calls that reach the supplier, and a call's budget runs from its
    # admission: 10 s, so that a test machine busy with the rest of the suite never spends it
    # before the call is sent.
    settings = gateway_settings(
        db_url, supplier, cds_pause_before_supplier_seconds=0.05, cds_timeout_seconds=10.0
    )
    app = create_app(settings, engine)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline, "the API server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)


def test_no_call_reaches_the_supplier_after_the_suspension_commits(
    server: str,
    sessions: sessionmaker[StewardSession],
    supplier: Supplier,
    commit_clock: CommitClock,
) -> None:
    tool = live_tool(sessions)
    register_supplier_over_http(server, sessions, tool, supplier)
    supplier.delay = 0.02  # calls are in flight at the supplier when the suspension arrives
    stop = threading.Event()
    answers: list[tuple[float, float, int]] = []
    failures: list[str] = []

    def caller() -> None:
        with httpx.Client(base_url=server, timeout=30) as client:
            while not stop.is_set():
                started = time.monotonic()
                response = client.post(
                    "/cds/rxa-main/cds-services/sepsis-risk",
                    json=spec("request-patient-view.json"),
                    headers=bearer(ehr_token(service_url())),
                )
                if response.status_code != 200:
                    failures.append(response.text)
                    return
                answers.append((started, time.monotonic(), len(response.json()["cards"])))

    threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.6)
        safety_officer = bearer(api_token(sessions, Role.CLINICAL_SAFETY_OFFICER))
        with httpx.Client(base_url=server, timeout=60) as client:
            suspended = client.post(
                f"/api/v1/tools/{tool.tool_id}/transitions",
                json={"to": "suspended", "reason": "suspected calibration drift"},
                headers=safety_officer,
            )
        assert suspended.status_code == 200, suspended.text
        time.sleep(0.6)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not failures, failures[:1]
    committed_at = commit_clock.committed_at
    assert committed_at is not None
    before = [r for r in supplier.received if r.at < committed_at]
    after = [r for r in supplier.received if r.at >= committed_at]
    assert before  # calls were flowing up to the suspension
    assert after == []
    started_after = [a for a in answers if a[0] > committed_at]
    assert started_after  # and kept flowing after it, answered with no card
    assert all(cards == 0 for _, _, cards in started_after)


def test_a_token_sent_many_times_at_once_is_accepted_once(
    server: str, sessions: sessionmaker[StewardSession], supplier: Supplier
) -> None:
    """Calls arriving together share one admission transaction: the replay check must still
    accept one use of a token, whether the copies land in the same batch or in several."""
    tool = live_tool(sessions)
    register_supplier_over_http(server, sessions, tool, supplier)
    token = ehr_token(service_url())
    fresh = [ehr_token(service_url()) for _ in range(CALLERS)]
    start = threading.Barrier(2 * CALLERS)
    statuses: list[int] = []

    def caller(used: str) -> None:
        with httpx.Client(base_url=server, timeout=30) as client:
            start.wait()
            response = client.post(
                "/cds/rxa-main/cds-services/sepsis-risk",
                json=spec("request-patient-view.json"),
                headers=bearer(used),
            )
            statuses.append(response.status_code if used == token else -response.status_code)

    threads = [threading.Thread(target=caller, args=(t,)) for t in [token] * CALLERS + fresh]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == [-200] * CALLERS + [200] + [401] * (CALLERS - 1)
    assert len(supplier.received) == CALLERS + 1
