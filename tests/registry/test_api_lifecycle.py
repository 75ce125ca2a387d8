"""Lifecycle walks through the API, with the governance file filled in over HTTP or directly."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from steward.auth.roles import Role
from steward.db.session import unit_of_work
from steward.registry.assessments import answer_dtac, dtac_questions
from steward.registry.errors import InvalidInputError
from steward.registry.evidence import file_evidence, record_evaluation
from steward.registry.hazards import Likelihood, Severity
from steward.registry.models import (
    LifecycleState,
    Organisation,
    Tool,
    ToolVersion,
)
from steward.registry.organisations import (
    create_user,
    grant_role,
    user_by_email,
)
from steward.registry.records import Hazard
from steward.registry.safety import HazardEntry, assess_residual_risk, log_hazard, set_fallback_plan
from steward.registry.transitions import sign_off

from ._support import ACTOR, CHAIR, Api
from ._support import new_tool as _new_tool


def test_full_walk_proposed_to_deployed_suspended_retired(api: Api) -> None:
    tool_id = _new_tool(api)
    with unit_of_work(api.sessions, ACTOR) as session:
        org = session.scalars(select(Organisation).where(Organisation.slug == "rxa")).one()
        person = create_user(session, "mdt@example.org")
        for role in Role:
            grant_role(session, person, org, role)

    def prepare(gate: str, *roles: Role, evidence: tuple[str, ...] = ()) -> None:
        with unit_of_work(api.sessions, ACTOR) as session:
            tool = session.get_one(Tool, uuid.UUID(tool_id))
            user = session.get_one(type(person), person.id)
            for role in roles:
                sign_off(session, tool, LifecycleState(gate), role, user)
            for kind in evidence:
                file_evidence(
                    session,
                    tool,
                    evidence_type=kind,
                    title=kind,
                    filename=f"{kind}.pdf",
                    media_type="application/pdf",
                    content=b"%PDF-1.7 " + kind.encode(),
                    max_bytes=10_000,
                )

    def move(to: str, role: Role = CHAIR, **extra: Any) -> Any:
        response = api.call("POST", f"/tools/{tool_id}/transitions", role, json={"to": to, **extra})
        return response.status_code, response.json()

    prepare("in_assessment", CHAIR)
    assert move("in_assessment")[1]["state"] == "in_assessment"
    prepare(
        "silent_pilot",
        Role.CLINICAL_SAFETY_OFFICER,
        Role.IG_DPO,
        Role.IT_SECURITY,
        evidence=("dpia", "clinical_safety_case", "security_review"),
    )
    with unit_of_work(api.sessions, ACTOR) as session:
        tool = session.get_one(Tool, uuid.UUID(tool_id))
        answer_dtac(session, tool, dict.fromkeys(dtac_questions(), "Yes"))
        log_hazard(session, tool, HazardEntry("Missed sepsis", Severity.MAJOR, Likelihood.HIGH))
    status, body = move("silent_pilot")
    assert (status, [u["item"] for u in body["unmet"]]) == (409, ["H-001"])
    with unit_of_work(api.sessions, ACTOR) as session:
        hazard = session.scalars(select(Hazard)).one()
        assess_residual_risk(session, hazard, Severity.MAJOR, Likelihood.VERY_LOW, "Two readers")
    assert move("silent_pilot")[1]["state"] == "silent_pilot"
    prepare(
        "live_pilot",
        Role.CLINICAL_LEAD,
        Role.CLINICAL_SAFETY_OFFICER,
        evidence=("silent_pilot_report",),
    )
    status, body = move("live_pilot")
    assert [u["requirement"] for u in body["unmet"]] == ["evaluation", "fallback_plan"]
    with unit_of_work(api.sessions, ACTOR) as session:
        tool = session.get_one(Tool, uuid.UUID(tool_id))
        version = session.scalars(select(ToolVersion)).one()
        record_evaluation(session, version, {"verdict": {"status": "pass"}})
        set_fallback_plan(
            session, tool, triggers="Outage", clinical_fallback="NEWS2", communication="Bleep"
        )
    assert move("live_pilot")[1]["state"] == "live_pilot"
    prepare(
        "deployed",
        CHAIR,
        Role.CLINICAL_LEAD,
        Role.CLINICAL_SAFETY_OFFICER,
        Role.FINANCE,
        evidence=("local_validation_report",),
    )
    assert move("deployed")[1]["state"] == "deployed"
    assert move("suspended", Role.CLINICAL_LEAD)[1]["unmet"][0]["requirement"] == "reason"
    status, body = move("suspended", Role.CLINICAL_LEAD, reason="Override rate 60%")
    assert (status, body["state"]) == (200, "suspended")
    prepare("retired", CHAIR)
    status, body = move("retired", reason="Withdrawn by supplier")
    assert [u["item"] for u in body["unmet"]] == [
        "clinical_fallback",
        "communication",
        "data_retention",
    ]
    steps = {"clinical_fallback": "NEWS2", "communication": "Email", "data_retention": "8 years"}
    status, body = move("retired", reason="Withdrawn by supplier", withdrawal=steps)
    assert (status, body["state"]) == (200, "retired")
    read = api.call("GET", f"/tools/{tool_id}", Role.VIEWER).json()
    assert (read["state"], read["allowed_transitions"]) == ("retired", [])


def test_governance_file_and_gates_entirely_over_http(api: Api) -> None:
    with unit_of_work(api.sessions, ACTOR) as session:
        org = session.scalars(select(Organisation).where(Organisation.slug == "rxa")).one()
        person = create_user(session, "mdt@example.org")
        for role in (CHAIR, Role.CLINICAL_SAFETY_OFFICER, Role.IG_DPO, Role.IT_SECURITY):
            grant_role(session, person, org, role)
    tool = _new_tool(api)
    base = f"/api/v1/tools/{tool}"

    def as_(role: Role, user: str | None = "mdt@example.org") -> dict[str, str]:
        return {"Authorization": f"Bearer {api.token(role, user=user)}"}

    def post(path: str, role: Role, user: str | None = "mdt@example.org", **kw: Any) -> Any:
        return api.client.post(base + path, headers=as_(role, user), **kw)

    def put(path: str, role: Role, **kw: Any) -> Any:
        return api.client.put(base + path, headers=as_(role), **kw)

    assert post("/signoffs", CHAIR, user=None, json={"gate": "in_assessment"}).status_code == 403
    with pytest.raises(InvalidInputError, match="does not hold the role finance"):
        api.token(Role.FINANCE, user="mdt@example.org")
    assert post("/signoffs", CHAIR, json={"gate": "in_assessment"}).status_code == 201
    assert post("/transitions", CHAIR, json={"to": "in_assessment"}).status_code == 200

    pdf = b"%PDF-1.7 evidence"
    for kind in ("dpia", "clinical_safety_case", "security_review"):
        files = {"file": (f"{kind}.pdf", pdf + kind.encode(), "application/pdf")}
        data = {"evidence_type": kind, "title": kind}
        response = post("/evidence", Role.CLINICAL_SAFETY_OFFICER, files=files, data=data)
        assert response.status_code == 201, response.text
    mismatched = post(
        "/evidence",
        CHAIR,
        files={"file": ("x.pdf", b"MZ\x90", "application/pdf")},
        data={"evidence_type": "dpia", "title": "x"},
    )
    assert (mismatched.status_code, mismatched.json()["errors"][0]["field"]) == (422, "file")
    limit = api.client.app.state.settings.evidence_max_bytes  # type: ignore[attr-defined]
    huge = post(
        "/evidence",
        CHAIR,
        files={"file": ("big.pdf", b"%PDF-" + b"0" * limit, "application/pdf")},
        data={"evidence_type": "dpia", "title": "big"},
    )
    assert huge.status_code == 413
    for role in (Role.CLINICAL_SAFETY_OFFICER, Role.IG_DPO, Role.IT_SECURITY):
        assert post("/signoffs", role, json={"gate": "silent_pilot"}).status_code == 201
    hazard = {"name": "Missed sepsis", "initial_severity": "major", "initial_likelihood": "high"}
    created = post("/hazards", CHAIR, json=hazard).json()
    assert (created["reference"], created["initial_risk"]) == ("H-001", 4)
    answers = {"answers": dict.fromkeys(dtac_questions(), "Yes")}
    assert put("/assessments/dtac", CHAIR, json=answers).json() == {
        "complete": True,
        "unanswered": [],
    }
    refused = post("/transitions", CHAIR, json={"to": "silent_pilot"})
    assert [u["item"] for u in refused.json()["unmet"]] == ["H-001"]
    residual = {
        "residual_severity": "major",
        "residual_likelihood": "very_low",
        "additional_controls": "Second reader",
    }
    assert put("/hazards/H-001/residual-risk", CHAIR, json=residual).json()["residual_risk"] == 2
    assert (
        post("/transitions", CHAIR, json={"to": "silent_pilot"}).json()["state"] == "silent_pilot"
    )
    evaluation = post("/evaluations", CHAIR, json={"verdict": {"status": "fail"}})
    assert evaluation.status_code == 403
    assert "may not tools:evaluation" in evaluation.json()["detail"]
    with unit_of_work(api.sessions, ACTOR) as session:
        grant_role(session, user_by_email(session, "mdt@example.org"), org, Role.DATA_SCIENTIST)
    evaluation = post("/evaluations", Role.DATA_SCIENTIST, json={"verdict": {"status": "fail"}})
    assert (evaluation.status_code, evaluation.json()["verdict"]) == (201, "fail")
    fallback = {"triggers": "Outage", "clinical_fallback": "NEWS2", "communication": "Bleep"}
    assert put("/fallback-plan", CHAIR, json=fallback).status_code == 200
    refused = post("/transitions", CHAIR, json={"to": "live_pilot"})
    assert [u["item"] for u in refused.json()["unmet"]] == [
        "silent_pilot_report",
        "clinical_lead",
        "clinical_safety_officer",
        "verdict",
    ]
    assert "not pass" in refused.json()["unmet"][-1]["detail"]
