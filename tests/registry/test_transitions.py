"""Sign-offs and lifecycle transitions against the database (both backends)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from steward.audit.models import AuditEvent
from steward.auth.roles import Role
from steward.db.session import StewardSession, unit_of_work
from steward.registry.assessments import answer_dtac, dtac_questions
from steward.registry.errors import ForbiddenError
from steward.registry.evidence import record_evaluation
from steward.registry.hazards import Likelihood, Severity
from steward.registry.models import LifecycleState as S
from steward.registry.models import Organisation, Tool, User
from steward.registry.organisations import create_organisation, create_user, grant_role
from steward.registry.records import StateTransition
from steward.registry.safety import HazardEntry, assess_residual_risk, log_hazard, set_fallback_plan
from steward.registry.tools import add_version, register_tool
from steward.registry.transitions import (
    TransitionRefusedError,
    clear_version,
    sign_off,
    transition,
)

from ._support import ACTOR, file_kinds

PDF = b"%PDF-1.7\n%%EOF\n"
COMMITTEE = frozenset({Role.COMMITTEE_CHAIR})


@pytest.fixture
def session(sessions: sessionmaker[StewardSession]) -> Iterator[StewardSession]:
    with unit_of_work(sessions, ACTOR) as session:
        yield session


@pytest.fixture
def trust(session: StewardSession) -> Organisation:
    return create_organisation(session, "rxa", "Riverside")


@pytest.fixture
def tool(session: StewardSession, trust: Organisation) -> Tool:
    tool = register_tool(session, trust, "Sepsis Alert")
    add_version(session, tool, "1.0")
    return tool


@pytest.fixture
def everyone(session: StewardSession, trust: Organisation) -> User:
    """One person holding every role (roles are what the gates check)."""
    user = create_user(session, "chair@example.org")
    for role in Role:
        grant_role(session, user, trust, role)
    return user


def _move(session: StewardSession, tool: Tool, target: S, **kwargs: object) -> StateTransition:
    return transition(
        session,
        tool.id,
        target,
        actor="user:chair",
        actor_roles=COMMITTEE,
        **kwargs,  # type: ignore[arg-type]
    )


def _sign(session: StewardSession, tool: Tool, gate: S, user: User, *roles: Role) -> None:
    for role in roles:
        sign_off(session, tool, gate, role, user)


def test_walk_from_proposed_to_retired(session: StewardSession, tool: Tool, everyone: User) -> None:
    _sign(session, tool, S.IN_ASSESSMENT, everyone, Role.COMMITTEE_CHAIR)
    _move(session, tool, S.IN_ASSESSMENT)

    hazard = log_hazard(
        session, tool, HazardEntry("Missed sepsis", Severity.MAJOR, Likelihood.HIGH)
    )
    with pytest.raises(TransitionRefusedError) as refused:
        _move(session, tool, S.SILENT_PILOT)
    assert [(u.requirement, u.item) for u in refused.value.unmet] == [
        ("evidence", "dpia"),
        ("evidence", "clinical_safety_case"),
        ("evidence", "security_review"),
        ("signoff", "clinical_safety_officer"),
        ("signoff", "ig_dpo"),
        ("signoff", "it_security"),
        ("hazard", "H-001"),
        ("assessment", "dtac"),
    ]
    assert tool.state is S.IN_ASSESSMENT
    file_kinds(session, tool, "dpia", "clinical_safety_case", "security_review")
    _sign(
        session,
        tool,
        S.SILENT_PILOT,
        everyone,
        Role.CLINICAL_SAFETY_OFFICER,
        Role.IG_DPO,
        Role.IT_SECURITY,
    )
    assess_residual_risk(session, hazard, Severity.MAJOR, Likelihood.LOW, "Second reader")
    answer_dtac(session, tool, dict.fromkeys(dtac_questions(), "Yes"))
    _move(session, tool, S.SILENT_PILOT)

    file_kinds(session, tool, "silent_pilot_report")
    _sign(session, tool, S.LIVE_PILOT, everyone, Role.CLINICAL_LEAD, Role.CLINICAL_SAFETY_OFFICER)
    set_fallback_plan(
        session, tool, triggers="Outage", clinical_fallback="NEWS2", communication="Bleep"
    )
    version = add_version(session, tool, "1.1")
    with pytest.raises(TransitionRefusedError) as refused:
        _move(session, tool, S.LIVE_PILOT)
    # A new version re-enters the gates: it has not been through the silent pilot's gate, and
    # its sign-offs and evaluation are still missing.
    assert [(u.requirement, u.item) for u in refused.value.unmet] == [
        ("signoff", "clinical_lead"),
        ("signoff", "clinical_safety_officer"),
        ("version_clearance", "silent_pilot"),
        ("evaluation", "verdict"),
    ]
    with pytest.raises(TransitionRefusedError) as refused:
        clear_version(
            session, version.id, S.SILENT_PILOT, actor="user:chair", actor_roles=COMMITTEE
        )
    assert [(u.requirement, u.item) for u in refused.value.unmet] == [
        ("signoff", "clinical_safety_officer"),
        ("signoff", "ig_dpo"),
        ("signoff", "it_security"),
    ]
    roles = (Role.CLINICAL_SAFETY_OFFICER, Role.IG_DPO, Role.IT_SECURITY)
    _sign(session, tool, S.SILENT_PILOT, everyone, *roles)
    clear_version(session, version.id, S.SILENT_PILOT, actor="user:chair", actor_roles=COMMITTEE)
    _sign(session, tool, S.LIVE_PILOT, everyone, Role.CLINICAL_LEAD, Role.CLINICAL_SAFETY_OFFICER)
    record_evaluation(session, version, {"verdict": {"status": "pass"}})
    _move(session, tool, S.LIVE_PILOT)

    file_kinds(session, tool, "local_validation_report")
    _sign(
        session,
        tool,
        S.DEPLOYED,
        everyone,
        Role.COMMITTEE_CHAIR,
        Role.CLINICAL_LEAD,
        Role.CLINICAL_SAFETY_OFFICER,
        Role.FINANCE,
    )
    _move(session, tool, S.DEPLOYED)

    suspended = transition(
        session,
        tool.id,
        S.SUSPENDED,
        actor="user:cso",
        actor_roles=frozenset({Role.CLINICAL_SAFETY_OFFICER}),
        reason="Alert rate doubled overnight",
    )
    assert suspended.reason == "Alert rate doubled overnight"
    _sign(session, tool, S.RETIRED, everyone, Role.COMMITTEE_CHAIR)
    steps = {
        "clinical_fallback": "NEWS2",
        "communication": "All staff email",
        "data_retention": "8 years",
    }
    retired = _move(session, tool, S.RETIRED, reason="Replaced", withdrawal=steps)
    assert retired.details == {"withdrawal": steps}
    assert tool.state is S.RETIRED

    history = session.scalars(
        select(StateTransition.to_state)
        .where(StateTransition.tool_id == tool.id)
        .order_by(StateTransition.created_at)
    ).all()
    assert history == [
        "in_assessment",
        "silent_pilot",
        "live_pilot",
        "deployed",
        "suspended",
        "retired",
    ]
    moves = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "state_transitions.created")
    )
    assert len(list(moves)) == 6


def test_only_the_policy_roles_may_move_or_suspend(session: StewardSession, tool: Tool) -> None:
    with pytest.raises(ForbiddenError, match="committee_chair, committee_member"):
        transition(
            session, tool.id, S.IN_ASSESSMENT, actor="x", actor_roles=frozenset({Role.CLINICIAN})
        )
    with pytest.raises(TransitionRefusedError) as refused:
        transition(session, tool.id, S.DEPLOYED, actor="x", actor_roles=COMMITTEE)
    assert refused.value.unmet[0].requirement == "transition"
    assert "allowed: in_assessment, rejected" in refused.value.unmet[0].detail


def test_sign_off_needs_the_role(session: StewardSession, trust: Organisation, tool: Tool) -> None:
    user = create_user(session, "clinician@example.org")
    grant_role(session, user, trust, Role.CLINICIAN)
    with pytest.raises(ForbiddenError, match="does not hold the role clinical_safety_officer"):
        sign_off(session, tool, S.SILENT_PILOT, Role.CLINICAL_SAFETY_OFFICER, user)


def test_a_refused_transition_changes_nothing(
    sessions: sessionmaker[StewardSession],
) -> None:
    with unit_of_work(sessions, ACTOR) as session:
        trust = create_organisation(session, "rxa", "Riverside")
        tool_id = register_tool(session, trust, "Tool").id
        before = session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))

    def attempt() -> None:
        with unit_of_work(sessions, ACTOR) as session:
            transition(session, tool_id, S.IN_ASSESSMENT, actor="x", actor_roles=COMMITTEE)

    with pytest.raises(TransitionRefusedError):
        attempt()
    with sessions() as session:
        assert session.get_one(Tool, tool_id).state is S.PROPOSED
        after = session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
        assert after == before


def test_dtac_assessment_completes_when_required_questions_are_answered(
    session: StewardSession, tool: Tool
) -> None:
    from steward.registry.assessments import dtac_complete, unanswered
    from steward.registry.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as refused:
        answer_dtac(session, tool, {"Z9": "Yes", "A1": 3})
    assert [p.field for p in refused.value.problems] == ["answers.Z9", "answers.A1"]
    partial = answer_dtac(session, tool, {"A1": "Acme Ltd, 0123"})
    assert partial.completed_at is None
    assert "B1" in unanswered(partial.answers)
    required = {q: "Yes" for q, spec in dtac_questions().items() if spec["required"]}
    done = answer_dtac(session, tool, required)
    assert done.completed_at is not None
    assert dtac_complete(session, tool)
