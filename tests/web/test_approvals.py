"""The approvals inbox on both databases: the gates waiting for the viewer's role, signing that
counts towards the gate, refusals recorded with their comment, wrong roles refused and audited;
and the batched gate snapshot agreeing with the registry's own gate facts."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from steward.audit.models import AuditEvent
from steward.auth.roles import Role
from steward.db.session import unit_of_work
from steward.registry.assessments import answer_dtac, dtac_questions
from steward.registry.evidence import file_evidence, record_evaluation
from steward.registry.hazards import Likelihood, Severity
from steward.registry.lifecycle import lifecycle_policy
from steward.registry.models import LifecycleState, Tool, User
from steward.registry.records import Decision, DecisionOutcome, SignOff
from steward.registry.safety import HazardEntry, log_hazard, set_fallback_plan
from steward.registry.tools import add_version, latest_version
from steward.registry.transitions import gate_facts, sign_off
from steward.web.views.gates import snapshots

from .conftest import ACTOR, Web
from .test_tool_page import PDF, make_tool

CHAIR = Role.COMMITTEE_CHAIR
CSO = Role.CLINICAL_SAFETY_OFFICER


def test_a_sign_off_by_the_right_role_counts_towards_the_gate(web: Web) -> None:
    web.user("chair@rxa.nhs.uk", ("rxa", CHAIR))
    tool_id = make_tool(web)
    make_tool(web, "Retired Tool", state=LifecycleState.RETIRED)
    browser = web.browser("chair@rxa.nhs.uk")
    inbox = browser.get("/approvals")
    assert inbox.status_code == 200
    assert "Sepsis Alert" in inbox.text
    assert "Retired Tool" not in inbox.text
    assert "Your sign-off is the last requirement of this gate" in inbox.text
    signed = browser.submit(
        "/approvals",
        f"/tools/{tool_id}/signoffs",
        {"gate": "in_assessment", "note": "Meets priority P3", "next": "/approvals"},
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/approvals?done=signed"
    after = browser.get("/approvals").text
    assert "Sepsis Alert" not in after
    assert "Nothing is waiting for your sign-off" in after
    with web.sessions() as session:
        tool = session.get_one(Tool, uuid.UUID(tool_id))
        facts = gate_facts(session, tool, LifecycleState.IN_ASSESSMENT)
        assert facts.signoff_roles == frozenset({CHAIR})
        signoff = session.scalars(select(SignOff)).one()
        assert signoff.note == "Meets priority P3"
    page = browser.get(f"/tools/{tool_id}").text
    assert "Meets priority P3" in page
    moved = browser.submit(
        f"/tools/{tool_id}", f"/tools/{tool_id}/transitions", {"to": "in_assessment"}
    )
    assert moved.status_code == 303
    timeline = browser.get(f"/tools/{tool_id}").text.split('id="timeline-title"')[1]
    assert "user:chair@rxa.nhs.uk" in timeline
    assert "Meets priority P3" in timeline.split("Gates ahead")[0]


def test_signing_in_a_role_the_gate_does_not_ask_for_is_refused_and_audited(web: Web) -> None:
    web.user("cso@rxa.nhs.uk", ("rxa", CSO))
    web.user("nurse@rxa.nhs.uk", ("rxa", Role.CLINICIAN))
    web.user("cso@north.nhs.uk", ("north", CSO))
    tool_id = make_tool(web, state=LifecycleState.IN_ASSESSMENT)
    path = f"/tools/{tool_id}"
    cso = web.browser("cso@rxa.nhs.uk")
    assert "Sepsis Alert" in cso.get("/approvals").text
    wrong_gate = cso.submit(path, f"{path}/signoffs", {"gate": "rejected", "note": "no"})
    assert wrong_gate.status_code == 403
    assert "does not ask for a sign-off by the Clinical Safety Officer" in wrong_gate.text
    nurse = web.browser("nurse@rxa.nhs.uk")
    assert nurse.get("/approvals").status_code == 403
    not_signer = nurse.submit(path, f"{path}/signoffs", {"gate": "silent_pilot"})
    assert not_signer.status_code == 403
    regional = web.browser("cso@north.nhs.uk")
    elsewhere = regional.submit(path, f"{path}/signoffs", {"gate": "silent_pilot"})
    assert elsewhere.status_code == 404
    with web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SignOff)) == 0
        denied = session.scalars(
            select(AuditEvent.actor).where(
                AuditEvent.action == "access.denied", AuditEvent.entity_id == tool_id
            )
        ).all()
        assert sorted(denied) == ["user:cso@rxa.nhs.uk", "user:nurse@rxa.nhs.uk"]
    signed = cso.submit(path, f"{path}/signoffs", {"gate": "silent_pilot", "note": "Hazards ok"})
    assert signed.status_code == 303
    assert signed.headers["location"] == f"{path}?done=signed#lifecycle"


def test_a_refusal_needs_a_comment_and_is_recorded_as_a_rejected_decision(web: Web) -> None:
    web.user("cso@rxa.nhs.uk", ("rxa", CSO))
    tool_id = make_tool(web, state=LifecycleState.IN_ASSESSMENT)
    browser = web.browser("cso@rxa.nhs.uk")
    gate = {"gate": "silent_pilot", "next": "/approvals"}
    silent = browser.submit("/approvals", f"/tools/{tool_id}/refusals", {**gate, "note": " "})
    assert silent.status_code == 422
    assert "Say why you refuse to sign" in silent.text
    with web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Decision)) == 0
    note = "The hazard log misses alert fatigue."
    refused = browser.submit("/approvals", f"/tools/{tool_id}/refusals", {**gate, "note": note})
    assert refused.status_code == 303
    inbox = browser.get("/approvals").text
    assert "refused" in inbox
    assert note in inbox
    with web.sessions() as session:
        decision = session.scalars(select(Decision)).one()
        assert decision.outcome is DecisionOutcome.REJECTED
        assert decision.rationale == note
        assert "Clinical Safety Officer" in decision.subject
        assert session.scalar(select(func.count()).select_from(SignOff)) == 0
    assert note in browser.get(f"/tools/{tool_id}").text.split('id="decisions"')[1]


def test_the_batched_snapshot_agrees_with_the_registrys_gate_facts(web: Web) -> None:
    web.user("chair@rxa.nhs.uk", ("rxa", CHAIR), ("rxa", CSO))
    ids = [make_tool(web, f"Tool {n}", state=LifecycleState.SILENT_PILOT) for n in range(3)]
    ids.append(make_tool(web, "No Version", version=None))
    with unit_of_work(web.sessions, ACTOR) as session:
        chair = session.scalars(select(User)).one()
        first, second = (session.get_one(Tool, uuid.UUID(i)) for i in ids[:2])
        old = latest_version(session, first)
        file_evidence(
            session,
            first,
            evidence_type="silent_pilot_report",
            title="Old report",
            filename="r.pdf",
            media_type="application/pdf",
            content=PDF,
            max_bytes=10**6,
            version=old,
        )
        sign_off(session, first, LifecycleState.LIVE_PILOT, CSO, chair)
        assert old is not None
        record_evaluation(session, old, {"verdict": {"status": "pass"}})
        add_version(session, first, "2.0")
        sign_off(session, first, LifecycleState.LIVE_PILOT, CHAIR, chair)
        file_evidence(
            session,
            first,
            evidence_type="dpia",
            title="DPIA",
            filename="d.txt",
            media_type="text/plain",
            content=b"dpia",
            max_bytes=10**6,
        )
        version = latest_version(session, second)
        assert version is not None
        record_evaluation(session, version, {"verdict": {"status": "fail"}})
        record_evaluation(session, version, {"verdict": {"status": "pass"}})
        log_hazard(session, second, HazardEntry("Drift", Severity.MAJOR, Likelihood.HIGH))
        set_fallback_plan(
            session, second, triggers="down", clinical_fallback="manual", communication="email"
        )
        answer_dtac(session, second, dict.fromkeys(dtac_questions(), "yes"))
    with web.sessions() as session:
        tools = [session.get_one(Tool, uuid.UUID(i)) for i in ids]
        board = snapshots(session, tools)
        for tool in tools:
            for gate in lifecycle_policy().gates:
                expected = gate_facts(session, tool, gate.target)
                assert board[tool.id].facts(gate.target.value) == expected, (tool.name, gate)
