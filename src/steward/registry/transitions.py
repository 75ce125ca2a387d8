"""Sign-offs and lifecycle transitions of a tool, applied under the gates of the policy."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from steward.audit.recorder import lock_chain_head
from steward.auth.roles import Role
from steward.registry.assessments import dtac_complete
from steward.registry.clearances import cleared_states, record_clearance
from steward.registry.errors import ConflictError, ForbiddenError, NotFoundError, invalid
from steward.registry.lifecycle import (
    GateFacts,
    TransitionRequest,
    Unmet,
    clearance_unmet,
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
    VersionClearance,
)
from steward.registry.tools import latest_version


class TransitionRefusedError(ConflictError):
    """A transition whose gate is not met; carries every unmet requirement."""

    def __init__(self, target: LifecycleState, unmet: list[Unmet], subject: str = "") -> None:
        self.unmet = unmet
        what = f"clear {subject} for" if subject else "move to"
        super().__init__(f"cannot {what} {target.value}: {len(unmet)} requirement(s) unmet")


def sign_off(
    session: Session,
    tool: Tool,
    gate: LifecycleState,
    role: Role,
    user: User,
    note: str = "",
    version: ToolVersion | None = None,
) -> SignOff:
    """Record ``user`` signing ``version`` (default: the tool's current one) off for ``gate``."""
    if role not in roles_of(session, user.id, tool.organisation_id):
        raise ForbiddenError(f"{user.email} does not hold the role {role.value} for this tool")
    if version is None:
        version = latest_version(session, tool)
    elif version.tool_id != tool.id:
        raise invalid("version", f"version {version.version} is not a version of {tool.name}")
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


def gate_facts(
    session: Session, tool: Tool, target: LifecycleState, version: ToolVersion | None = None
) -> GateFacts:
    """Everything the gates look at, for ``version`` (default: the tool's current version)."""
    if version is None:
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
        version_label=version.version if version else "",
        version_clearances=cleared_states(session, version.id) if version else frozenset(),
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
    if version is not None and target in policy.pathway:
        record_clearance(
            session,
            version,
            target,
            actor=actor,
            reason=reason,
            policy_version=policy.version,
            transition_id=record.id,
        )
    return record


def clear_version(
    session: Session,
    version_id: uuid.UUID,
    target: LifecycleState,
    *,
    actor: str,
    actor_roles: frozenset[Role],
    reason: str = "",
) -> VersionClearance:
    """Pass one version through the gate into ``target`` while the tool stays where it is.

    This is how a new version of a tool already in a pilot or deployment re-enters the gates:
    silent_pilot, then live_pilot, then deployed, never beyond where the tool itself stands. The
    gate is the policy's own, checked against this version's evidence, sign-offs and evaluation.
    """
    lock_chain_head(session)
    version = session.get(ToolVersion, version_id)
    if version is None:
        raise NotFoundError(f"no version with id {version_id}")
    tool = session.get_one(Tool, version.tool_id, with_for_update=True, populate_existing=True)
    policy = lifecycle_policy()
    gate = policy.clearance_gate(target)
    if gate is None:
        pathway = ", ".join(s.value for s in policy.pathway)
        raise invalid("to", f"a version is cleared for one of {pathway}, not {target.value}")
    if not actor_roles & gate.by:
        needed = ", ".join(sorted(r.value for r in gate.by))
        raise ForbiddenError(f"clearing a version for {target.value} needs one of: {needed}")
    if target in cleared_states(session, version.id):
        raise ConflictError(f"version {version.version} is already cleared for {target.value}")
    request = TransitionRequest(target=target, reason=reason)
    unmet = clearance_unmet(policy, tool.state, target)
    unmet += unmet_requirements(gate, request, gate_facts(session, tool, target, version))
    if unmet:
        raise TransitionRefusedError(target, unmet, subject=f"version {version.version}")
    return record_clearance(
        session, version, target, actor=actor, reason=reason, policy_version=policy.version
    )
