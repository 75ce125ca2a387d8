"""The approvals inbox: for each tool of the viewer's organisation, the gates ahead (and the next
gate a later version must pass again) that ask for a sign-off by the viewer's role not yet given
for the current version, with what else is unmet.

A refusal is recorded as a :class:`~steward.registry.records.Decision` with outcome *rejected*
and the subject :func:`refusal_subject` (so it shows among the tool's decisions and in the audit
trail); the gate stays in the inbox, marked refused, until someone with the role signs it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from steward.auth.roles import Role
from steward.registry.evidence import evidence_types
from steward.registry.lifecycle import Unmet, lifecycle_policy
from steward.registry.models import LifecycleState, Tool
from steward.registry.records import Decision, DecisionOutcome
from steward.web.templating import role_label, state_label
from steward.web.views.gates import GateStatus, gate_status, next_clearance, snapshots

CLOSED = (LifecycleState.RETIRED, LifecycleState.REJECTED)


def refusal_subject(gate: str, role: Role) -> str:
    """The subject of the decision recording a refused sign-off (one wording, to find it again)."""
    return f"Sign-off refused for the move to {state_label(gate)} by the {role_label(role.value)}"


@dataclass(frozen=True)
class Waiting:
    """One gate of one tool waiting for the viewer's sign-off."""

    tool: Tool
    version: str | None
    status: GateStatus
    others_unmet: tuple[Unmet, ...]
    refusal: Decision | None
    re_entry: bool = False

    @property
    def key(self) -> str:
        return f"{self.tool.id}-{self.status.gate.target.value}"


def waiting_for(session: Session, organisation_id: uuid.UUID, role: Role) -> list[Waiting]:
    """The gates of the organisation's open tools awaiting a sign-off by ``role``, by tool name."""
    tools = list(
        session.scalars(
            select(Tool)
            .where(Tool.organisation_id == organisation_id, Tool.state.not_in(CLOSED))
            .order_by(Tool.name)
        )
    )
    board = snapshots(session, tools)
    labels = evidence_types()
    policy = lifecycle_policy()
    refusals = _refusals(session, [t.id for t in tools])
    waiting = []
    for tool in tools:
        snapshot = board[tool.id]
        version_id = snapshot.version.id if snapshot.version else None
        ahead = (policy.gate(tool.state, target) for target in policy.targets(tool.state))
        statuses = [gate_status(g, snapshot, labels) for g in ahead if g is not None]
        clearance = next_clearance(snapshot, labels)
        for status in statuses + ([clearance] if clearance else []):
            if not status.awaits(role):
                continue
            target = status.gate.target.value
            mine = ("signoff", role.value)
            waiting.append(
                Waiting(
                    tool=tool,
                    version=snapshot.version.version if snapshot.version else None,
                    status=status,
                    others_unmet=tuple(u for u in status.unmet if (u.requirement, u.item) != mine),
                    refusal=refusals.get((tool.id, version_id, refusal_subject(target, role))),
                    re_entry=status is clearance,
                )
            )
    return waiting


def _refusals(
    session: Session, tool_ids: list[uuid.UUID]
) -> dict[tuple[uuid.UUID, uuid.UUID | None, str], Decision]:
    if not tool_ids:
        return {}
    rows = session.scalars(
        select(Decision)
        .where(Decision.tool_id.in_(tool_ids), Decision.outcome == DecisionOutcome.REJECTED)
        .order_by(Decision.created_at)
    )
    return {(d.tool_id, d.version_id, d.subject): d for d in rows}
