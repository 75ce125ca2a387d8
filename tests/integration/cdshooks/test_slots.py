"""Slot rows of hook calls in flight: a suspension waits for another process's row until it is
deleted (PostgreSQL) or expires (SQLite, whose one write lock the suspension holds), never past
its expiry, and not at all for expired rows or rows of its own process."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.orm import sessionmaker

from steward.auth.roles import Role
from steward.db.base import utcnow
from steward.db.session import StewardSession, unit_of_work
from steward.integration.cdshooks import slots
from steward.integration.cdshooks.models import CdsCall, CdsCallSlot
from steward.registry.models import LifecycleState, Tool
from steward.registry.transitions import transition

from ._support import ACTOR, bearer, ehr_token, live_tool, service_url, spec
from .conftest import Gateway


def _slot(engine: Engine, tool_id: uuid.UUID, holder: str, seconds: float) -> uuid.UUID:
    slot_id = uuid.uuid4()
    expires_at = utcnow() + timedelta(seconds=seconds)
    with engine.begin() as connection:
        row = {"slot_id": slot_id, "tool_id": tool_id, "holder": holder, "expires_at": expires_at}
        connection.execute(insert(CdsCallSlot), row)
    return slot_id


def _suspend(sessions: sessionmaker[StewardSession], tool_id: uuid.UUID) -> float:
    """Suspend the tool; seconds the transaction took."""
    started = time.monotonic()
    with unit_of_work(sessions, ACTOR) as session:
        transition(
            session,
            tool_id,
            LifecycleState.SUSPENDED,
            actor="user:cso",
            actor_roles=frozenset({Role.CLINICAL_SAFETY_OFFICER}),
            reason="suspected calibration drift",
        )
    return time.monotonic() - started


def _state(sessions: sessionmaker[StewardSession], tool_id: uuid.UUID) -> LifecycleState:
    with sessions() as session:
        state = session.scalar(select(Tool.state).where(Tool.id == tool_id))
    assert state is not None
    return state


def test_a_suspension_waits_for_another_process_slot(
    engine: Engine, sessions: sessionmaker[StewardSession]
) -> None:
    tool = live_tool(sessions)
    slot_id = _slot(engine, tool.tool_id, "elsewhere:1:abc", seconds=1.5)

    def finish_the_call() -> None:
        time.sleep(0.3)
        with engine.begin() as connection:
            connection.execute(delete(CdsCallSlot).where(CdsCallSlot.slot_id == slot_id))

    releaser = threading.Thread(target=finish_the_call)
    releaser.start()
    took = _suspend(sessions, tool.tool_id)
    releaser.join(timeout=30)
    assert _state(sessions, tool.tool_id) is LifecycleState.SUSPENDED
    if engine.dialect.name == "postgresql":
        assert 0.25 <= took < 1.2  # until the call finished
    else:
        assert 1.3 <= took < 3.0  # the call cannot write its release: until the row expires


def test_a_row_left_by_a_stopped_process_holds_a_suspension_back_until_it_expires(
    engine: Engine, sessions: sessionmaker[StewardSession]
) -> None:
    tool = live_tool(sessions)
    _slot(engine, tool.tool_id, "stopped:1:abc", seconds=0.8)
    took = _suspend(sessions, tool.tool_id)
    assert 0.6 <= took < 2.5
    assert _state(sessions, tool.tool_id) is LifecycleState.SUSPENDED


def test_expired_rows_own_rows_and_other_tools_rows_do_not_hold_a_suspension_back(
    engine: Engine, sessions: sessionmaker[StewardSession]
) -> None:
    tool = live_tool(sessions)
    other = live_tool(sessions, "Other Tool")
    _slot(engine, tool.tool_id, "stopped:1:abc", seconds=-1)
    _slot(engine, tool.tool_id, slots.holder(), seconds=30)  # counted by the in-process gate
    _slot(engine, other.tool_id, "elsewhere:1:abc", seconds=30)
    took = _suspend(sessions, tool.tool_id)
    assert took < 1.0
    assert _state(sessions, tool.tool_id) is LifecycleState.SUSPENDED


def test_expired_rows_are_pruned(engine: Engine, sessions: sessionmaker[StewardSession]) -> None:
    tool = live_tool(sessions)
    _slot(engine, tool.tool_id, "stopped:1:abc", seconds=-1)
    kept = _slot(engine, tool.tool_id, "elsewhere:1:abc", seconds=30)
    with engine.begin() as connection:
        slots.prune(connection)
        left = connection.scalars(select(CdsCallSlot.slot_id)).all()
    assert left == [kept]


def test_lock_keys_are_sorted_and_fit_postgres_integers() -> None:
    tools = [uuid.uuid4() for _ in range(50)]
    keys = slots.lock_keys(tools + tools)
    assert keys == sorted(set(keys))
    assert len(keys) <= 50
    assert all(-(2**31) <= k < 2**31 for k in keys)


def test_a_proxied_call_takes_a_slot_row_and_its_log_deletes_it(gateway: Gateway) -> None:
    taken: list[CdsCallSlot] = []

    def supplier_sees_the_row() -> None:
        with gateway.sessions() as session:
            taken.extend(session.scalars(select(CdsCallSlot)))

    gateway.supplier.on_request = supplier_sees_the_row
    response = gateway.client.post(
        "/cds/rxa-main/cds-services/sepsis-risk",
        json=spec("request-patient-view.json"),
        headers=bearer(ehr_token(service_url())),
    )
    assert response.status_code == 200
    assert len(response.json()["cards"]) == 3
    (row,) = taken  # while the supplier was working on the call
    assert row.tool_id == gateway.tool.tool_id
    assert row.holder == slots.holder()
    assert utcnow() < row.expires_at <= utcnow() + timedelta(seconds=2.0)  # 2 budgets of 1 s
    with gateway.sessions() as session:  # the log, written after the response, deleted it
        assert session.scalars(select(CdsCallSlot)).all() == []
        assert session.scalar(select(func.count()).select_from(CdsCall)) == 1
