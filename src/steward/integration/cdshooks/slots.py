"""Slots of hook calls in flight, kept in the database so that a tool's suspension, committed by
any process, waits for the calls that every server process has admitted to that tool.

Admission (one group-commit transaction per batch of calls) takes a shared lock on each tool,
reads the tools' committed state and inserts a row per call and tool. A transaction taking a tool
out of live use takes the tool's lock exclusively just before it commits, so no admission of the
tool commits between then and its own commit, and waits until no unexpired row of another
process is left (the process's own calls are counted by :mod:`.gate`, without the database).

- PostgreSQL: the lock is a transaction-level advisory lock per tool (shared for admission,
  exclusive for the suspension); rows are deleted as calls finish, each poll of the suspension
  (READ COMMITTED) sees the deletions.
- SQLite: every writer already holds the database's one write lock from its first statement,
  so the suspension excludes admission from its start. Other processes cannot delete their rows
  while it holds that lock, so it waits until those rows expire.

A row expires two time budgets after its call's admission: the gateway gives up on the supplier
by then whatever happens, so a row left by a process killed mid-call holds a suspension back
no longer than that.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, text

from steward.db.base import utcnow
from steward.integration.cdshooks.models import CdsCallSlot

LOCK_CLASS = 0x5354  # first key of the gateway's advisory locks; the second is the tool's
POLL_SECONDS = 0.01

_KEYS = "FROM unnest(CAST(:keys AS integer[])) AS key"
_SHARE = text(f"SELECT pg_advisory_xact_lock_shared(CAST(:lock_class AS integer), key) {_KEYS}")
_EXCLUDE = text(f"SELECT pg_advisory_xact_lock(CAST(:lock_class AS integer), key) {_KEYS}")
_OTHERS_LATEST = select(func.max(CdsCallSlot.expires_at)).where(
    CdsCallSlot.tool_id.in_(bindparam("tool_ids", expanding=True)),
    CdsCallSlot.expires_at > bindparam("now"),
    CdsCallSlot.holder != bindparam("holder"),
)
_RELEASE = delete(CdsCallSlot).where(CdsCallSlot.slot_id.in_(bindparam("slot_ids", expanding=True)))

_holder: tuple[int, str] | None = None


def holder() -> str:
    """This server process, as named in its slot rows (new after a fork)."""
    global _holder
    pid = os.getpid()
    if _holder is None or _holder[0] != pid:
        _holder = (pid, f"{socket.gethostname()[:120]}:{pid}:{uuid.uuid4().hex[:12]}")
    return _holder[1]


def lock_keys(tool_ids: Iterable[uuid.UUID]) -> list[int]:
    """Each tool's advisory lock key, sorted so that every transaction locks in one order."""
    return sorted({int.from_bytes(t.bytes[:4], "big", signed=True) for t in tool_ids})


def share(connection: Connection, tool_ids: Iterable[uuid.UUID]) -> None:
    """Admission's lock on the tools (PostgreSQL; SQLite's write lock already serves)."""
    keys = lock_keys(tool_ids)
    if keys and connection.dialect.name == "postgresql":
        connection.execute(_SHARE, {"lock_class": LOCK_CLASS, "keys": keys})


def exclude(connection: Connection, tool_ids: Iterable[uuid.UUID]) -> None:
    """A suspension's lock on the tools: waits for admissions under way, holds off new ones."""
    keys = lock_keys(tool_ids)
    if keys and connection.dialect.name == "postgresql":
        connection.execute(_EXCLUDE, {"lock_class": LOCK_CLASS, "keys": keys})


def take(
    connection: Connection, calls: Sequence[tuple[uuid.UUID, set[uuid.UUID]]], expires_at: datetime
) -> None:
    """Insert a row for each (call's slot id, tool) of ``calls``."""
    me = holder()
    rows = [
        {"slot_id": slot_id, "tool_id": tool_id, "holder": me, "expires_at": expires_at}
        for slot_id, tool_ids in calls
        for tool_id in tool_ids
    ]
    if rows:
        connection.execute(insert(CdsCallSlot), rows)


def release(connection: Connection, slot_ids: Sequence[uuid.UUID]) -> None:
    """Delete the rows of calls that have finished with their supplier."""
    if slot_ids:
        connection.execute(_RELEASE, {"slot_ids": list(slot_ids)})


def prune(connection: Connection) -> None:
    """Delete rows past their budget (left by calls whose process stopped before releasing)."""
    connection.execute(delete(CdsCallSlot).where(CdsCallSlot.expires_at < utcnow()))


def wait_for_others(
    connection: Connection, tool_ids: set[uuid.UUID], limit_seconds: float
) -> datetime | None:
    """Wait until no other process holds an unexpired slot for ``tool_ids``; within the limit,
    None, else the latest expiry still pending (the caller logs it)."""
    give_up = time.monotonic() + limit_seconds
    params: dict[str, Any] = {"tool_ids": list(tool_ids), "holder": holder()}
    while True:
        latest = connection.scalar(_OTHERS_LATEST, params | {"now": utcnow()})
        if latest is None:
            return None
        left = give_up - time.monotonic()
        if left <= 0:
            return latest
        if connection.dialect.name == "sqlite":
            # No other writer can delete its rows while this transaction holds the lock.
            time.sleep(min(left, max((latest - utcnow()).total_seconds(), 0.0) + 0.001))
        else:
            time.sleep(min(left, POLL_SECONDS))
