"""Lifecycle gates as pure rules, without a database."""

from __future__ import annotations

from steward.auth.roles import Role
from steward.registry.evidence import evidence_types
from steward.registry.lifecycle import (
    GateFacts,
    TransitionRequest,
    clearance_unmet,
    lifecycle_policy,
    unmet_requirements,
)
from steward.registry.models import LifecycleState as S
from steward.registry.policies import load_policy

NOTHING = GateFacts(has_version=False)


def test_policy_names_only_known_states_roles_and_evidence_types() -> None:
    policy = lifecycle_policy()
    assert policy.version == "2026.2"
    assert load_policy("lifecycle-gates")["states"] == [s.value for s in S]
    known = set(evidence_types())
    for gate in policy.gates:
        assert set(gate.evidence) <= known
        assert gate.by
    assert policy.targets(S.RETIRED) == []
    assert policy.targets(S.REJECTED) == []
    assert policy.gate(S.RETIRED, S.DEPLOYED) is None
    assert policy.gate(S.PROPOSED, S.DEPLOYED) is None


def _unmet(source: S, target: S, facts: GateFacts, **request: object) -> list[tuple[str, str]]:
    gate = lifecycle_policy().gate(source, target)
    assert gate is not None
    found = unmet_requirements(gate, TransitionRequest(target, **request), facts)  # type: ignore[arg-type]
    return [(u.requirement, u.item) for u in found]


def test_a_refusal_lists_every_unmet_requirement() -> None:
    facts = GateFacts(has_version=True, open_hazards=(("H-001", 4), ("H-002", 3), ("H-003", 5)))
    assert _unmet(S.IN_ASSESSMENT, S.SILENT_PILOT, facts) == [
        ("evidence", "dpia"),
        ("evidence", "clinical_safety_case"),
        ("evidence", "security_review"),
        ("signoff", "clinical_safety_officer"),
        ("signoff", "ig_dpo"),
        ("signoff", "it_security"),
        ("hazard", "H-001"),
        ("hazard", "H-003"),
        ("assessment", "dtac"),
    ]


def test_evaluation_requirement_distinguishes_missing_and_failing() -> None:
    assert ("evaluation", "version") in _unmet(S.SILENT_PILOT, S.LIVE_PILOT, NOTHING)
    no_result = GateFacts(has_version=True)
    assert ("evaluation", "verdict") in _unmet(S.SILENT_PILOT, S.LIVE_PILOT, no_result)
    failing = GateFacts(has_version=True, latest_verdict="inconclusive")
    assert ("evaluation", "verdict") in _unmet(S.SILENT_PILOT, S.LIVE_PILOT, failing)


def test_a_met_gate_has_nothing_unmet() -> None:
    facts = GateFacts(
        has_version=True,
        evidence_types=frozenset({"local_validation_report"}),
        signoff_roles=frozenset(
            {Role.COMMITTEE_CHAIR, Role.CLINICAL_LEAD, Role.CLINICAL_SAFETY_OFFICER, Role.FINANCE}
        ),
        latest_verdict="pass",
        open_hazards=(("H-001", 3),),
        has_fallback_plan=True,
        version_clearances=frozenset({S.SILENT_PILOT, S.LIVE_PILOT}),
    )
    assert _unmet(S.LIVE_PILOT, S.DEPLOYED, facts) == []


def test_suspension_is_immediate_but_needs_a_reason() -> None:
    gate = lifecycle_policy().gate(S.DEPLOYED, S.SUSPENDED)
    assert gate is not None
    assert gate.immediate
    assert gate.by == {Role.CLINICAL_LEAD, Role.CLINICAL_SAFETY_OFFICER, Role.COMMITTEE_CHAIR}
    assert _unmet(S.DEPLOYED, S.SUSPENDED, NOTHING) == [("reason", "reason")]
    assert _unmet(S.DEPLOYED, S.SUSPENDED, NOTHING, reason="Drift alarm") == []


def test_retirement_records_each_withdrawal_step() -> None:
    facts = GateFacts(has_version=True, signoff_roles=frozenset({Role.COMMITTEE_CHAIR}))
    assert _unmet(S.SUSPENDED, S.RETIRED, facts, reason="Replaced") == [
        ("withdrawal_step", "clinical_fallback"),
        ("withdrawal_step", "communication"),
        ("withdrawal_step", "data_retention"),
    ]
    steps = {"clinical_fallback": "NEWS2", "communication": "Email", "data_retention": "8 years"}
    assert _unmet(S.SUSPENDED, S.RETIRED, facts, reason="Replaced", withdrawal=steps) == []


def test_version_pathway_is_the_gates_into_pilots_and_deployment() -> None:
    policy = lifecycle_policy()
    assert policy.pathway == (S.SILENT_PILOT, S.LIVE_PILOT, S.DEPLOYED)
    assert policy.clearance_gate(S.SILENT_PILOT) is policy.gate(S.IN_ASSESSMENT, S.SILENT_PILOT)
    assert policy.clearance_gate(S.LIVE_PILOT) is policy.gate(S.SILENT_PILOT, S.LIVE_PILOT)
    assert policy.clearance_gate(S.DEPLOYED) is policy.gate(S.LIVE_PILOT, S.DEPLOYED)
    assert policy.clearance_gate(S.SUSPENDED) is None
    assert policy.highest(frozenset({S.SILENT_PILOT, S.LIVE_PILOT})) is S.LIVE_PILOT
    assert policy.highest(frozenset()) is None


def test_a_version_must_pass_the_step_before() -> None:
    uncleared = GateFacts(has_version=True, version_label="2.0")
    assert ("version_clearance", "silent_pilot") in _unmet(S.SILENT_PILOT, S.LIVE_PILOT, uncleared)
    assert ("version_clearance", "live_pilot") in _unmet(S.LIVE_PILOT, S.DEPLOYED, uncleared)
    silent = GateFacts(
        has_version=True, version_label="2.0", version_clearances=frozenset({S.SILENT_PILOT})
    )
    assert ("version_clearance", "silent_pilot") not in _unmet(S.SILENT_PILOT, S.LIVE_PILOT, silent)
    assert ("version_clearance", "live_pilot") in _unmet(S.LIVE_PILOT, S.DEPLOYED, silent)
    # resuming a suspended tool is the committee's own gate, not a step of the pathway
    assert not any(r == "version_clearance" for r, _ in _unmet(S.SUSPENDED, S.DEPLOYED, uncleared))


def test_a_version_goes_no_further_than_its_tool() -> None:
    policy = lifecycle_policy()
    assert clearance_unmet(policy, S.DEPLOYED, S.DEPLOYED) == []
    assert clearance_unmet(policy, S.DEPLOYED, S.SILENT_PILOT) == []
    assert clearance_unmet(policy, S.LIVE_PILOT, S.LIVE_PILOT) == []
    assert [u.item for u in clearance_unmet(policy, S.LIVE_PILOT, S.DEPLOYED)] == ["live_pilot"]
    assert clearance_unmet(policy, S.SUSPENDED, S.SILENT_PILOT) == []
    assert [u.requirement for u in clearance_unmet(policy, S.SUSPENDED, S.LIVE_PILOT)] == [
        "tool_state"
    ]
    for state in (S.PROPOSED, S.IN_ASSESSMENT, S.RETIRED, S.REJECTED):
        assert [u.item for u in clearance_unmet(policy, state, S.SILENT_PILOT)] == [state.value]
