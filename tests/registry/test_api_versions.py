"""A new version of a deployed tool re-enters the gates before any of its deployments goes live."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from steward.audit.models import AuditEvent
from steward.auth.roles import Role
from steward.db.session import unit_of_work
from steward.registry.assessments import answer_dtac, dtac_questions
from steward.registry.evidence import record_evaluation
from steward.registry.kinds import OrganisationKind
from steward.registry.models import LifecycleState as S
from steward.registry.models import Organisation, Tool, User
from steward.registry.organisations import create_organisation, create_user, grant_role
from steward.registry.safety import set_fallback_plan
from steward.registry.tools import latest_version
from steward.registry.transitions import sign_off, transition

from ._support import ACTOR, CHAIR, Api, file_kinds
from ._support import new_tool as _new_tool

MDT = "mdt@example.org"
EVIDENCE = (
    "dpia",
    "clinical_safety_case",
    "security_review",
    "silent_pilot_report",
    "local_validation_report",
)
SIGNOFFS = {
    S.IN_ASSESSMENT: (CHAIR,),
    S.SILENT_PILOT: (Role.CLINICAL_SAFETY_OFFICER, Role.IG_DPO, Role.IT_SECURITY),
    S.LIVE_PILOT: (Role.CLINICAL_LEAD, Role.CLINICAL_SAFETY_OFFICER),
    S.DEPLOYED: (CHAIR, Role.CLINICAL_LEAD, Role.CLINICAL_SAFETY_OFFICER, Role.FINANCE),
}


def _deployed_tool(api: Api) -> str:
    """A tool walked through every gate to ``deployed`` with its version 1.0, and a site."""
    tool_id = _new_tool(api)
    with unit_of_work(api.sessions, ACTOR) as session:
        org = session.scalars(select(Organisation).where(Organisation.slug == "rxa")).one()
        create_organisation(session, "rxa-ed", "Riverside ED", OrganisationKind.SITE, "rxa")
        person = create_user(session, MDT)
        for role in Role:
            grant_role(session, person, org, role)
        tool = session.get_one(Tool, uuid.UUID(tool_id))
        file_kinds(session, tool, *EVIDENCE)
        answer_dtac(session, tool, dict.fromkeys(dtac_questions(), "Yes"))
        set_fallback_plan(
            session, tool, triggers="Outage", clinical_fallback="NEWS2", communication="Bleep"
        )
        version = latest_version(session, tool)
        assert version is not None
        record_evaluation(session, version, {"verdict": {"status": "pass"}})
        for gate, roles in SIGNOFFS.items():
            for role in roles:
                sign_off(session, tool, gate, role, person)
            transition(session, tool.id, gate, actor="user:chair", actor_roles=frozenset({CHAIR}))
    return tool_id


def _deployment(version: str, status: str) -> dict[str, Any]:
    return {
        "version": version,
        "site": "rxa-ed",
        "care_setting": f"emergency department ({version})",
        "status": status,
        "thresholds": [0.2],
        "outcome": {"name": "sepsis", "window_hours": 12},
    }


def test_a_new_version_re_enters_the_gates_before_going_live(api: Api) -> None:
    tool = _deployed_tool(api)

    def post(path: str, role: Role, user: str | None = MDT, **kw: Any) -> Any:
        token = api.token(role, user=user)
        return api.client.post(
            f"/api/v1/tools/{tool}{path}", headers={"Authorization": f"Bearer {token}"}, **kw
        )

    def clear(version: str, to: str, role: Role = CHAIR) -> Any:
        return post(f"/versions/{version}/clearances", role, json={"to": to})

    live_v1 = post("/deployments", Role.CLINICAL_LEAD, json=_deployment("1.0", "live"))
    assert live_v1.status_code == 201, live_v1.text
    assert post("/versions", CHAIR, json={"version": "2.0"}).status_code == 201
    read = api.call("GET", f"/tools/{tool}", Role.VIEWER).json()
    assert read["state"] == "deployed"
    assert [(v["version"], v["cleared_for"]) for v in read["versions"]] == [
        ("1.0", ["silent_pilot", "live_pilot", "deployed"]),
        ("2.0", []),
    ]

    # the tool is deployed, but version 2.0 has passed no gate: it may not run live anywhere
    too_early = post("/deployments", Role.CLINICAL_LEAD, json=_deployment("2.0", "live"))
    assert too_early.status_code == 422
    assert "version 2.0 has not passed the gate into live_pilot or deployed" in too_early.text
    skipped = clear("2.0", "live_pilot")
    assert skipped.status_code == 409
    assert [(u["requirement"], u["item"]) for u in skipped.json()["unmet"]] == [
        ("signoff", "clinical_lead"),
        ("signoff", "clinical_safety_officer"),
        ("version_clearance", "silent_pilot"),
        ("evaluation", "verdict"),
    ]
    assert "cannot clear version 2.0 for live_pilot" in skipped.json()["detail"]

    silent = clear("2.0", "silent_pilot")
    needed = [role.value for role in SIGNOFFS[S.SILENT_PILOT]]
    assert [u["item"] for u in silent.json()["unmet"]] == needed
    for role in SIGNOFFS[S.SILENT_PILOT]:
        signed = post("/signoffs", role, json={"gate": "silent_pilot", "version": "2.0"})
        assert signed.status_code == 201, signed.text
    cleared = clear("2.0", "silent_pilot")
    assert cleared.status_code == 201, cleared.text
    assert cleared.json()["cleared_for"] == ["silent_pilot"]
    assert clear("2.0", "silent_pilot").status_code == 409  # once only

    # sign-offs for version 1.0 do not count for 2.0; 2.0 needs its own evaluation
    for role in SIGNOFFS[S.LIVE_PILOT]:
        assert post("/signoffs", role, json={"gate": "live_pilot"}).status_code == 201
    failing = post("/evaluations", Role.DATA_SCIENTIST, json={"verdict": {"status": "fail"}})
    assert failing.status_code == 201, failing.text
    refused = clear("2.0", "live_pilot")
    assert [(u["requirement"], u["item"]) for u in refused.json()["unmet"]] == [
        ("evaluation", "verdict")
    ]
    assert "not pass" in refused.json()["unmet"][0]["detail"]
    post("/evaluations", Role.DATA_SCIENTIST, json={"verdict": {"status": "pass"}})
    not_committee = clear("2.0", "live_pilot", Role.CLINICAL_LEAD)
    assert not_committee.status_code == 403
    assert clear("2.0", "live_pilot").json()["cleared_for"] == ["silent_pilot", "live_pilot"]

    live_v2 = post("/deployments", Role.CLINICAL_LEAD, json=_deployment("2.0", "live"))
    assert live_v2.status_code == 201, live_v2.text
    assert live_v2.json()["status"] == "live"
    with api.sessions() as session:
        tool_row = session.get_one(Tool, uuid.UUID(tool))
        assert tool_row.state is S.DEPLOYED  # the tool itself never moved
        events = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_type == "version_clearances")
            .order_by(AuditEvent.seq)
        ).all()
        cleared = [(e.after["state"], e.actor) for e in events if e.after]
        # three for version 1.0 by the tool's own transitions, two for version 2.0 over the API
        assert [state for state, _ in cleared] == [
            "silent_pilot",
            "live_pilot",
            "deployed",
            "silent_pilot",
            "live_pilot",
        ]
        assert cleared[-1][1] != cleared[0][1]


def test_a_version_is_cleared_no_further_than_its_tool(api: Api) -> None:
    tool = _new_tool(api)
    with unit_of_work(api.sessions, ACTOR) as session:
        org = session.scalars(select(Organisation).where(Organisation.slug == "rxa")).one()
        grant_role(session, create_user(session, MDT), org, CHAIR)
        sign_off(
            session,
            session.get_one(Tool, uuid.UUID(tool)),
            S.IN_ASSESSMENT,
            CHAIR,
            session.scalars(select(User).where(User.email == MDT)).one(),
        )
    moved = api.call("POST", f"/tools/{tool}/transitions", CHAIR, json={"to": "in_assessment"})
    assert moved.status_code == 200, moved.text
    refused = api.call(
        "POST", f"/tools/{tool}/versions/1.0/clearances", CHAIR, json={"to": "silent_pilot"}
    )
    assert refused.status_code == 409
    assert refused.json()["unmet"][0]["requirement"] == "tool_state"
    assert "move the tool itself through that gate" in refused.json()["unmet"][0]["detail"]
    off_path = api.call(
        "POST", f"/tools/{tool}/versions/1.0/clearances", CHAIR, json={"to": "suspended"}
    )
    assert off_path.status_code == 422
    assert off_path.json()["errors"][0]["field"] == "to"
    unknown = api.call(
        "POST", f"/tools/{tool}/versions/9.9/clearances", CHAIR, json={"to": "silent_pilot"}
    )
    assert unknown.status_code == 404
    other_org = api.call(
        "POST", f"/tools/{tool}/versions/1.0/clearances", CHAIR, "rxb", json={"to": "silent_pilot"}
    )
    assert other_org.status_code == 404
