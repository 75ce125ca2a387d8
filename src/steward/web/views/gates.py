"""The gates ahead of many tools at once: what each gate asks for, which of it is met, who signed.

:func:`snapshots` reads everything :func:`steward.registry.transitions.gate_facts` reads, for a
set of tools in a fixed number of queries; :func:`gate_status` then judges one gate with the
lifecycle policy's own :func:`~steward.registry.lifecycle.unmet_requirements`, so a page and the
transition it leads to can never disagree.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from steward.auth.roles import Role
from steward.registry.assessments import DTAC, Assessment, unanswered
from steward.registry.lifecycle import (
    Gate,
    GateFacts,
    TransitionRequest,
    Unmet,
    clearance_unmet,
    lifecycle_policy,
    unmet_requirements,
)
from steward.registry.models import LifecycleState, Tool, ToolVersion
from steward.registry.records import (
    EvaluationRecord,
    EvidenceDocument,
    FallbackPlan,
    Hazard,
    HazardStatus,
    SignOff,
    VersionClearance,
)
from steward.web.templating import role_label, state_label

Row = TypeVar("Row", EvidenceDocument, SignOff, Hazard)


@dataclass(frozen=True)
class Snapshot:
    """A tool's current version and what the gates look at, before sign-offs per gate."""

    tool: Tool
    version: ToolVersion | None
    base: GateFacts
    signoffs: tuple[SignOff, ...]
    evidence: tuple[EvidenceDocument, ...]

    def facts(self, gate: str) -> GateFacts:
        """The gate facts for moving to ``gate``: the base plus that gate's sign-off roles."""
        roles = frozenset(s.role for s in self.signoffs if s.gate == gate)
        return replace(self.base, signoff_roles=roles)

    def signed(self, gate: str) -> tuple[SignOff, ...]:
        return tuple(s for s in self.signoffs if s.gate == gate)


def latest_versions(
    session: Session, tool_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, ToolVersion]:
    """Each tool's most recently recorded version (the rule of ``latest_version``), in one query."""
    rows = session.scalars(
        select(ToolVersion)
        .where(ToolVersion.tool_id.in_(list(tool_ids)))
        .order_by(ToolVersion.created_at.desc(), ToolVersion.id)
    )
    latest: dict[uuid.UUID, ToolVersion] = {}
    for row in rows:
        latest.setdefault(row.tool_id, row)
    return latest


def snapshots(session: Session, tools: Iterable[Tool]) -> dict[uuid.UUID, Snapshot]:
    """The gate snapshot of every tool in ``tools``, in eight queries whatever their number."""
    by_id = {t.id: t for t in tools}
    ids = list(by_id)
    if not ids:
        return {}
    versions = latest_versions(session, ids)
    current = {tid: (v.id if v else None) for tid, v in ((t, versions.get(t)) for t in ids)}
    evidence = _by_tool(
        session.scalars(
            select(EvidenceDocument)
            .where(EvidenceDocument.tool_id.in_(ids))
            .order_by(EvidenceDocument.created_at)
        )
    )
    signoffs = _by_tool(
        session.scalars(
            select(SignOff).where(SignOff.tool_id.in_(ids)).order_by(SignOff.created_at)
        )
    )
    hazards = _by_tool(
        session.scalars(
            select(Hazard).where(Hazard.tool_id.in_(ids), Hazard.status == HazardStatus.OPEN)
        )
    )
    current_ids = [v for v in current.values() if v is not None]
    verdicts = _latest_verdicts(session, current_ids)
    clearances = _clearances(session, current_ids)
    dtac = {
        a.tool_id: not unanswered(a.answers)
        for a in session.scalars(
            select(Assessment).where(Assessment.tool_id.in_(ids), Assessment.framework == DTAC)
        )
    }
    fallback = set(
        session.scalars(select(FallbackPlan.tool_id).where(FallbackPlan.tool_id.in_(ids)))
    )
    result: dict[uuid.UUID, Snapshot] = {}
    for tool_id, tool in by_id.items():
        version_id = current[tool_id]
        in_scope = tuple(d for d in evidence.get(tool_id, []) if d.version_id in (None, version_id))
        base = GateFacts(
            has_version=version_id is not None,
            version_label=versions[tool_id].version if version_id else "",
            version_clearances=clearances.get(version_id, frozenset())
            if version_id
            else frozenset(),
            evidence_types=frozenset(d.evidence_type for d in in_scope),
            latest_verdict=verdicts.get(version_id) if version_id else None,
            open_hazards=tuple(
                sorted((h.reference, h.current_risk) for h in hazards.get(tool_id, []))
            ),
            assessment_complete=dtac.get(tool_id, False),
            has_fallback_plan=tool_id in fallback,
        )
        result[tool_id] = Snapshot(
            tool=tool,
            version=versions.get(tool_id),
            base=base,
            signoffs=tuple(s for s in signoffs.get(tool_id, []) if s.version_id == version_id),
            evidence=in_scope,
        )
    return result


def _by_tool(rows: Iterable[Row]) -> dict[uuid.UUID, list[Row]]:
    grouped: dict[uuid.UUID, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row.tool_id, []).append(row)
    return grouped


def _clearances(
    session: Session, version_ids: list[uuid.UUID]
) -> dict[uuid.UUID, frozenset[LifecycleState]]:
    cleared: dict[uuid.UUID, set[LifecycleState]] = {}
    if version_ids:
        rows = session.execute(
            select(VersionClearance.version_id, VersionClearance.state).where(
                VersionClearance.version_id.in_(version_ids)
            )
        )
        for version_id, state in rows:
            cleared.setdefault(version_id, set()).add(LifecycleState(state))
    return {version_id: frozenset(states) for version_id, states in cleared.items()}


def _latest_verdicts(session: Session, version_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not version_ids:
        return {}
    rows = session.execute(
        select(EvaluationRecord.version_id, EvaluationRecord.verdict)
        .where(EvaluationRecord.version_id.in_(version_ids))
        .order_by(EvaluationRecord.created_at.desc())
    )
    latest: dict[uuid.UUID, str] = {}
    for version_id, verdict in rows:
        latest.setdefault(version_id, verdict.value)
    return latest


@dataclass(frozen=True)
class Requirement:
    """One condition of a gate, whether it holds now, and what it concerns."""

    kind: str
    item: str
    label: str
    met: bool
    detail: str = ""


@dataclass(frozen=True)
class GateStatus:
    """A gate ahead of a tool: its conditions with their status and the sign-offs given."""

    gate: Gate
    requirements: tuple[Requirement, ...]
    unmet: tuple[Unmet, ...]
    signoffs: tuple[SignOff, ...]
    evidence: tuple[EvidenceDocument, ...]

    @property
    def ready(self) -> bool:
        return not self.unmet

    def awaits(self, role: Role) -> bool:
        """Whether this gate asks for a sign-off by ``role`` that has not been given."""
        return role in self.gate.signoffs and all(s.role != role for s in self.signoffs)


def gate_status(gate: Gate, snapshot: Snapshot, evidence_labels: dict[str, str]) -> GateStatus:
    """Judge ``gate`` for the tool of ``snapshot``; reason and withdrawal steps are asked for when
    the move is requested, so they are not counted as unmet here."""
    request = TransitionRequest(
        target=gate.target, reason="given", withdrawal=dict.fromkeys(gate.withdrawal_steps, "given")
    )
    unmet = tuple(unmet_requirements(gate, request, snapshot.facts(gate.target.value)))
    return GateStatus(
        gate=gate,
        requirements=tuple(_requirements(gate, unmet, evidence_labels)),
        unmet=unmet,
        signoffs=snapshot.signed(gate.target.value),
        evidence=tuple(d for d in snapshot.evidence if d.evidence_type in gate.evidence),
    )


def _requirements(
    gate: Gate, unmet: tuple[Unmet, ...], evidence_labels: dict[str, str]
) -> list[Requirement]:
    missing = {(u.requirement, u.item): u.detail for u in unmet}
    kinds = {u.requirement: u.detail for u in unmet}

    def item(kind: str, key: str, label: str) -> Requirement:
        detail = missing.get((kind, key), "")
        return Requirement(kind, key, label, (kind, key) not in missing, detail)

    def whole(kind: str, key: str, label: str) -> Requirement:
        return Requirement(kind, key, label, kind not in kinds, kinds.get(kind, ""))

    found = [item("evidence", k, evidence_labels.get(k, k) + " filed") for k in gate.evidence]
    found += [item("signoff", r.value, f"Sign-off by the {_role(r)}") for r in gate.signoffs]
    if gate.version_cleared_for is not None:
        step = state_label(gate.version_cleared_for.value)
        label = f"The current version has passed the gate into {step}"
        found.append(item("version_clearance", gate.version_cleared_for.value, label))
    if gate.evaluation_verdict is not None:
        label = f"Latest local evaluation of the current version: {gate.evaluation_verdict}"
        found.append(whole("evaluation", "verdict", label))
    if gate.max_open_hazard_risk is not None:
        label = f"No open hazard above risk level {gate.max_open_hazard_risk}"
        found.append(whole("hazard", "open", label))
    if gate.assessment_complete:
        found.append(item("assessment", "dtac", "DTAC assessment complete"))
    if gate.fallback_plan:
        found.append(item("fallback_plan", "fallback_plan", "Fallback plan recorded"))
    return found


def _role(role: Role) -> str:
    return role_label(role.value)


def next_clearance(snapshot: Snapshot, labels: dict[str, str]) -> GateStatus | None:
    """The gate the current version must pass next to catch up with its tool, if any."""
    policy = lifecycle_policy()
    if snapshot.version is None:
        return None
    behind = [
        step
        for step in policy.pathway
        if step not in snapshot.base.version_clearances
        and not clearance_unmet(policy, snapshot.tool.state, step)
    ]
    gate = policy.clearance_gate(behind[0]) if behind else None
    return gate_status(gate, snapshot, labels) if gate is not None else None
