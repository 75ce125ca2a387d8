"""Which gates each version of a tool has passed, and whether a version may run live.

A tool's lifecycle state says where the tool stands; a version's clearances say which of the
gates into silent pilot, live pilot and deployment that version itself has passed.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from steward.registry.errors import invalid
from steward.registry.models import LifecycleState, Tool, ToolVersion
from steward.registry.records import VersionClearance

LIVE_USE = frozenset({LifecycleState.LIVE_PILOT, LifecycleState.DEPLOYED})


def cleared_states(session: Session, version_id: uuid.UUID) -> frozenset[LifecycleState]:
    """Every state ``version_id`` has been cleared for."""
    states = session.scalars(
        select(VersionClearance.state).where(VersionClearance.version_id == version_id)
    )
    return frozenset(LifecycleState(s) for s in states)


def record_clearance(
    session: Session,
    version: ToolVersion,
    state: LifecycleState,
    *,
    actor: str,
    reason: str,
    policy_version: str,
    transition_id: uuid.UUID | None = None,
) -> VersionClearance:
    """Record that ``version`` passed the gate into ``state`` (once; a repeat returns the first)."""
    existing = session.scalar(
        select(VersionClearance).where(
            VersionClearance.version_id == version.id, VersionClearance.state == state.value
        )
    )
    if existing is not None:
        return existing
    row = VersionClearance(
        id=uuid.uuid4(),
        tool_id=version.tool_id,
        version_id=version.id,
        state=state.value,
        transition_id=transition_id,
        reason=reason.strip(),
        actor=actor,
        policy_version=policy_version,
    )
    session.add(row)
    session.flush()
    return row


def require_cleared_for_live_use(session: Session, tool: Tool, version: ToolVersion) -> None:
    """Refuse unless the tool is in a live state and ``version`` has passed a gate into one."""
    if tool.state not in LIVE_USE:
        raise invalid(
            "status",
            f"a deployment goes live only in live_pilot or deployed, not {tool.state.value}",
        )
    if not cleared_states(session, version.id) & LIVE_USE:
        raise invalid(
            "status",
            f"version {version.version} has not passed the gate into live_pilot or deployed; "
            "clear it through the gates first",
        )
