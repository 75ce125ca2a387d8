"""Sign-offs and lifecycle transitions of a tool, applied under the gates of the policy."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from steward.audit.recorder import lock_chain_head
from steward.auth.roles import Role
from steward.registry.assessments import dtac_complete
from steward.registry.errors import ConflictError, ForbiddenError, invalid
from steward.registry.lifecycle import (
    GateFacts,
    TransitionRequest,
    Unmet,
    lifecycle_policy,
    unmet_requirements,
)
from steward.registry.models import LifecycleState, Tool, ToolVersion, User
from steward.registry.organisations import roles_of
from steward.registry.records import (
    EvaluationRecord,
    EvidenceDocument,
    FallbackPlan,
    Hazard,
    HazardStatus,
    SignOff,
    StateTransition,
)
from steward.registry.tools import latest_version


class TransitionRefusedError(ConflictError):
    """A transition whose gate is not met; carries every unmet requirement."""

    def __init__(self, target: LifecycleState, unmet: list[Unmet]) -> None:
        self.unmet = unmet
        super().__init__(f"cannot move to {target.value}: {len(unmet)} requirement(s) unmet")


def sign_off(
    session: Session, tool: Tool, gate: LifecycleState, role: Role, user: User, note: str = ""
) -> SignOff:
    """Record ``user`` signing the tool's current version off for ``gate`` in ``role``."""
    if role not in roles_of(session, user.id, tool.organisation_id):
        raise ForbiddenError(f"{user.email} does not hold the role {role.value} for this tool")
    version = latest_version(session, tool)
    existing = session.scalar(
        select(SignOff).where(
            SignOff.tool_id == tool.id,
            SignOff.version_id == (version.id if version else None),
            SignOff.gate == gate.value,
            SignOff.role == role,
            SignOff.user_id == user.id,
        )
    )
    if existing is not None:
        return existing
    row = SignOff(
        id=uuid.uuid4(),
        tool_id=tool.id,
        version_id=version.id if version else None,
        gate=gate.value,
        role=role,
        user_id=user.id,
        note=note,
    )
    session.add(row)
    session.flush()
    return row


def gate_facts(session: Session, tool: Tool, target: LifecycleState) -> GateFacts:
    """Everything the gates look at, read from the registry for the tool's current version."""
    version = latest_version(session, tool)
    version_id = version.id if version else None
    in_scope = or_(EvidenceDocument.version_id.is_(None), EvidenceDocument.version_id == version_id)
    evidence = session.scalars(
        select(EvidenceDocument.evidence_type).where(EvidenceDocument.tool_id == tool.id, in_scope)
    )
    signoffs = session.scalars(
        select(SignOff.role).where(
            SignOff.tool_id == tool.id,
            SignOff.gate == target.value,
            SignOff.version_id.is_(None)
            if version_id is None
            else SignOff.version_id == version_id,
        )
    )
    hazards = session.scalars(
        select(Hazard).where(Hazard.tool_id == tool.id, Hazard.status == HazardStatus.OPEN)
    )
    return GateFacts(
        has_version=version is not None,
        evidence_types=frozenset(evidence),
        signoff_roles=frozenset(signoffs),
        latest_verdict=_latest_verdict(session, version),
        open_hazards=tuple(sorted((h.reference, h.current_risk) for h in hazards)),
        assessment_complete=dtac_complete(session, tool),
        has_fallback_plan=session.scalar(
            select(FallbackPlan.id).where(FallbackPlan.tool_id == tool.id)
        )
        is not None,
    )


def _latest_verdict(session: Session, version: ToolVersion | None) -> str | None:
    if version is None:
        return None
    verdict = session.scalar(
        select(EvaluationRecord.verdict)
        .where(EvaluationRecord.version_id == version.id)
        .order_by(EvaluationRecord.created_at.desc())
        .limit(1)
    )
    return verdict.value if verdict is not None else None


def transition(
    session: Session,
    tool_id: uuid.UUID,
    target: LifecycleState,
    *,
    actor: str,
    actor_roles: frozenset[Role],
    reason: str = "",
    withdrawal: Mapping[str, str] | None = None,
) -> StateTransition:
    """Move the tool to ``target`` if its gate is met; otherwise raise with every unmet item.

    The tool row is locked so two requests cannot both move it from the same state; the audit
    chain head is locked before it, the order every writer follows.
    """
    lock_chain_head(session)
    tool = session.get(Tool, tool_id, with_for_update=True, populate_existing=True)
    if tool is None:
        raise invalid("tool_id", f"no tool with id {tool_id}")
    policy = lifecycle_policy()
    gate = policy.gate(tool.state, target)
    if gate is None:
        allowed = ", ".join(s.value for s in policy.targets(tool.state)) or "none"
        missing = Unmet(
            "transition",
            f"{tool.state.value}->{target.value}",
            f"no transition from {tool.state.value} to {target.value} (allowed: {allowed})",
        )
        raise TransitionRefusedError(target, [missing])
    if not actor_roles & gate.by:
        needed = ", ".join(sorted(r.value for r in gate.by))
        raise ForbiddenError(f"moving a tool to {target.value} needs one of the roles: {needed}")
    request = TransitionRequest(target=target, reason=reason, withdrawal=withdrawal or {})
    unmet = unmet_requirements(gate, request, gate_facts(session, tool, target))
    if unmet:
        raise TransitionRefusedError(target, unmet)
    version = latest_version(session, tool)
    record = StateTransition(
        id=uuid.uuid4(),
        tool_id=tool.id,
        version_id=version.id if version else None,
        from_state=tool.state.value,
        to_state=target.value,
        reason=reason.strip(),
        actor=actor,
        policy_version=policy.version,
        details={"withdrawal": dict(withdrawal or {})} if gate.withdrawal_steps else {},
    )
    tool.state = target
    session.add(record)
    session.flush()
    return record
