"""The lifecycle state machine and its gates, read from the versioned policy. Pure Python.

:func:`unmet_requirements` lists every requirement a requested transition does not meet, so a
refusal can tell the committee all that is missing at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from steward.auth.roles import Role
from steward.registry.models import LifecycleState
from steward.registry.policies import load_policy


@dataclass(frozen=True)
class Gate:
    """What a transition from one of ``sources`` to ``target`` requires."""

    sources: frozenset[LifecycleState]
    target: LifecycleState
    by: frozenset[Role]
    evidence: tuple[str, ...] = ()
    signoffs: tuple[Role, ...] = ()
    evaluation_verdict: str | None = None
    version_cleared_for: LifecycleState | None = None
    max_open_hazard_risk: int | None = None
    assessment_complete: bool = False
    fallback_plan: bool = False
    reason: bool = False
    withdrawal_steps: tuple[str, ...] = ()
    immediate: bool = False


@dataclass(frozen=True)
class LifecyclePolicy:
    """The gates of one version of the lifecycle policy."""

    version: str
    gates: tuple[Gate, ...]
    pathway_entry: LifecycleState = LifecycleState.IN_ASSESSMENT
    pathway: tuple[LifecycleState, ...] = ()

    def gate(self, source: LifecycleState, target: LifecycleState) -> Gate | None:
        """The gate from ``source`` to ``target``, or None when no such transition exists."""
        return next((g for g in self.gates if source in g.sources and g.target == target), None)

    def targets(self, source: LifecycleState) -> list[LifecycleState]:
        """The states reachable from ``source`` in one transition."""
        return [g.target for g in self.gates if source in g.sources]

    def step_before(self, state: LifecycleState) -> LifecycleState:
        """The state a version passes before ``state`` on the version pathway."""
        index = self.pathway.index(state)
        return self.pathway[index - 1] if index else self.pathway_entry

    def clearance_gate(self, state: LifecycleState) -> Gate | None:
        """The gate a version passes to be cleared for ``state``; None off the pathway."""
        if state not in self.pathway:
            return None
        return self.gate(self.step_before(state), state)

    def highest(self, states: frozenset[LifecycleState]) -> LifecycleState | None:
        """The furthest of ``states`` along the version pathway (None when none is on it)."""
        on_path = [s for s in self.pathway if s in states]
        return on_path[-1] if on_path else None


@dataclass(frozen=True)
class GateFacts:
    """What the registry knows about a tool when a transition is asked for."""

    has_version: bool
    version_label: str = ""
    version_clearances: frozenset[LifecycleState] = frozenset()
    evidence_types: frozenset[str] = frozenset()
    signoff_roles: frozenset[Role] = frozenset()
    latest_verdict: str | None = None
    open_hazards: tuple[tuple[str, int], ...] = ()
    assessment_complete: bool = False
    has_fallback_plan: bool = False


@dataclass(frozen=True)
class TransitionRequest:
    """A request to move a tool, with its reason and (for retirement) withdrawal steps."""

    target: LifecycleState
    reason: str = ""
    withdrawal: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Unmet:
    """One requirement not met: its kind, the item concerned, and a sentence for people."""

    requirement: str
    item: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"requirement": self.requirement, "item": self.item, "detail": self.detail}


def unmet_requirements(gate: Gate, request: TransitionRequest, facts: GateFacts) -> list[Unmet]:
    """Every requirement of ``gate`` that ``request`` and ``facts`` leave unmet, in policy order."""
    unmet: list[Unmet] = []
    if gate.reason and not request.reason.strip():
        unmet.append(Unmet("reason", "reason", f"a reason is required to move to {gate.target}"))
    for step in gate.withdrawal_steps:
        if not str(request.withdrawal.get(step, "")).strip():
            unmet.append(Unmet("withdrawal_step", step, f"describe the withdrawal step {step!r}"))
    if gate.immediate:
        return unmet
    unmet += [
        Unmet("evidence", kind, f"no {kind} evidence filed")
        for kind in gate.evidence
        if kind not in facts.evidence_types
    ]
    unmet += [
        Unmet("signoff", role.value, f"no sign-off by the {role.value} for {gate.target}")
        for role in gate.signoffs
        if role not in facts.signoff_roles
    ]
    unmet += _clearance_missing(gate.version_cleared_for, facts)
    if gate.evaluation_verdict is not None:
        unmet += _evaluation_unmet(gate.evaluation_verdict, facts)
    if gate.max_open_hazard_risk is not None:
        unmet += [
            Unmet("hazard", reference, f"hazard {reference} is open at risk level {level}")
            for reference, level in facts.open_hazards
            if level > gate.max_open_hazard_risk
        ]
    if gate.assessment_complete and not facts.assessment_complete:
        unmet.append(Unmet("assessment", "dtac", "the DTAC assessment is not complete"))
    if gate.fallback_plan and not facts.has_fallback_plan:
        unmet.append(Unmet("fallback_plan", "fallback_plan", "no fallback plan recorded"))
    return unmet


def _clearance_missing(required: LifecycleState | None, facts: GateFacts) -> list[Unmet]:
    if required is None or not facts.has_version or required in facts.version_clearances:
        return []
    detail = f"version {facts.version_label} has not passed the gate into {required.value}"
    return [Unmet("version_clearance", required.value, detail)]


def clearance_unmet(
    policy: LifecyclePolicy, tool_state: LifecycleState, target: LifecycleState
) -> list[Unmet]:
    """Whether a version may be cleared for ``target`` while its tool is in ``tool_state``.

    A version goes no further than its tool: up to the tool's own state on the pathway, or only
    into a silent pilot while the tool is suspended (a fix is trialled silently first).
    """
    if tool_state in policy.pathway:
        reach: LifecycleState | None = tool_state
    elif tool_state is LifecycleState.SUSPENDED:
        reach = policy.pathway[0]
    else:
        reach = None
    if reach is not None and policy.pathway.index(target) <= policy.pathway.index(reach):
        return []
    detail = (
        f"the tool is {tool_state.value}: a version is cleared for {target.value} only while the "
        f"tool is at {target.value} or beyond; move the tool itself through that gate"
    )
    return [Unmet("tool_state", tool_state.value, detail)]


def _evaluation_unmet(required: str, facts: GateFacts) -> list[Unmet]:
    if not facts.has_version:
        return [Unmet("evaluation", "version", "no version of the tool is recorded")]
    if facts.latest_verdict is None:
        return [Unmet("evaluation", "verdict", "no local evaluation of the current version")]
    if facts.latest_verdict != required:
        detail = f"the latest evaluation's verdict is {facts.latest_verdict}, not {required}"
        return [Unmet("evaluation", "verdict", detail)]
    return []


def _gate(entry: Mapping[str, Any]) -> Gate:
    return Gate(
        sources=frozenset(LifecycleState(s) for s in entry["from"]),
        target=LifecycleState(entry["to"]),
        by=frozenset(Role(r) for r in entry["by"]),
        evidence=tuple(entry.get("evidence", ())),
        signoffs=tuple(Role(r) for r in entry.get("signoffs", ())),
        evaluation_verdict=entry.get("evaluation_verdict"),
        version_cleared_for=_state_or_none(entry.get("version_cleared_for")),
        max_open_hazard_risk=entry.get("max_open_hazard_risk"),
        assessment_complete=bool(entry.get("assessment_complete", False)),
        fallback_plan=bool(entry.get("fallback_plan", False)),
        reason=bool(entry.get("reason", False)),
        withdrawal_steps=tuple(entry.get("withdrawal_steps", ())),
        immediate=bool(entry.get("immediate", False)),
    )


def _state_or_none(value: str | None) -> LifecycleState | None:
    return LifecycleState(value) if value is not None else None


@cache
def lifecycle_policy() -> LifecyclePolicy:
    """The lifecycle policy in force, parsed from its data file."""
    document = load_policy("lifecycle-gates")
    pathway = document["version_pathway"]
    return LifecyclePolicy(
        version=str(document["version"]),
        gates=tuple(_gate(entry) for entry in document["transitions"]),
        pathway_entry=LifecycleState(pathway["from"]),
        pathway=tuple(LifecycleState(s) for s in pathway["through"]),
    )
