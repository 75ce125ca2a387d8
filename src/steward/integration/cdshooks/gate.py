"""The gate that makes a suspension final for the gateway the moment it commits.

A hook call takes a slot for its tool *before* it reads the tool's committed state and keeps it
until the supplier has answered. A transaction that takes a tool out of live use (tool state or
deployment status), in any process, closes the tool's gate just before it commits and waits for
the calls holding slots to finish; calls arriving meanwhile are refused. After the commit every
new call reads the new state. So no call reaches the supplier after the change commits.

The slots of this process's calls are counted here, in memory; those of other server processes
are rows in the database, which the closing transaction also waits for (see :mod:`.slots`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from steward.integration.cdshooks import slots
from steward.registry.models import Deployment, DeploymentStatus, LifecycleState, Tool, ToolVersion

LOG = logging.getLogger("steward.cdshooks")
LIVE_STATES = frozenset({LifecycleState.LIVE_PILOT, LifecycleState.DEPLOYED})
CLOSING_KEY = "steward.cdshooks.closing"


class ToolGate:
    """Slots of in-flight hook calls per tool, and the tools being taken out of live use."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._in_flight: Counter[uuid.UUID] = Counter()
        self._closing: Counter[uuid.UUID] = Counter()
        self.wait_seconds = 30.0

    def enter(self, tool_ids: set[uuid.UUID]) -> bool:
        """Take a slot for each tool, or return False when one is being taken out of live use.

        A caller that got True must call :meth:`leave` once the supplier has answered.
        """
        with self._lock:
            if any(self._closing[t] for t in tool_ids):
                return False
            self._in_flight.update(tool_ids)
            return True

    def leave(self, tool_ids: set[uuid.UUID]) -> None:
        """Give back the slots taken by :meth:`enter`."""
        with self._lock:
            self._in_flight.subtract(tool_ids)
            for tool_id in tool_ids:
                if self._in_flight[tool_id] <= 0:
                    del self._in_flight[tool_id]
            self._lock.notify_all()

    @contextmanager
    def slot(self, tool_ids: set[uuid.UUID]) -> Iterator[bool]:
        """:meth:`enter` and :meth:`leave` as a context manager."""
        admitted = self.enter(tool_ids)
        try:
            yield admitted
        finally:
            if admitted:
                self.leave(tool_ids)

    def close(self, tool_ids: set[uuid.UUID]) -> None:
        """Refuse new calls to ``tool_ids`` and wait until the calls under way have finished."""
        with self._lock:
            for tool_id in tool_ids:
                self._closing[tool_id] += 1
            drained = self._lock.wait_for(
                lambda: not any(self._in_flight[t] for t in tool_ids), timeout=self.wait_seconds
            )
        if not drained:
            LOG.error("hook calls to %s still running after %ss", tool_ids, self.wait_seconds)

    def reopen(self, tool_ids: set[uuid.UUID]) -> None:
        """Undo :meth:`close` once the change has committed (or rolled back)."""
        with self._lock:
            for tool_id in tool_ids:
                self._closing[tool_id] -= 1
                if self._closing[tool_id] <= 0:
                    del self._closing[tool_id]


GATE = ToolGate()


def install(session_class: type[Session]) -> None:
    """Close the gate of every tool a session of ``session_class`` takes out of live use."""
    if not event.contains(session_class, "after_flush", _after_flush):
        event.listen(session_class, "after_flush", _after_flush)
        event.listen(session_class, "before_commit", _before_commit)
        event.listen(session_class, "after_commit", _after_end)
        event.listen(session_class, "after_rollback", _after_end)


def _after_flush(session: Session, _context: Any) -> None:
    leaving: set[uuid.UUID] = set()
    for obj in session.dirty:
        if isinstance(obj, Tool) and _left(obj, "state", LIVE_STATES):
            leaving.add(obj.id)
        elif isinstance(obj, Deployment) and _left(obj, "status", {DeploymentStatus.LIVE}):
            tool_id = session.scalar(
                select(ToolVersion.tool_id).where(ToolVersion.id == obj.version_id)
            )
            if tool_id is not None:
                leaving.add(tool_id)
    if leaving:
        session.info.setdefault(CLOSING_KEY, set()).update(leaving)


def _left(obj: Any, attribute: str, live: Any) -> bool:
    history = inspect(obj).attrs[attribute].history
    before = history.deleted[0] if history.deleted else None
    return before in live and getattr(obj, attribute) not in live


def _before_commit(session: Session) -> None:
    if session.new or session.dirty or session.deleted:
        session.flush()  # commit's own flush comes after this event; the change must be seen
    tools = session.info.get(CLOSING_KEY)
    if tools:
        session.info[CLOSING_KEY] = set()
        session.info[CLOSING_KEY + ".closed"] = set(tools)
        connection = session.connection()
        slots.exclude(connection, tools)
        GATE.close(set(tools))
        pending = slots.wait_for_others(connection, set(tools), GATE.wait_seconds)
        if pending is not None:
            LOG.error("hook calls to %s in other processes hold slots until %s", tools, pending)


def _after_end(session: Session) -> None:
    closed = session.info.pop(CLOSING_KEY + ".closed", None)
    session.info.pop(CLOSING_KEY, None)
    if closed:
        GATE.reopen(closed)
