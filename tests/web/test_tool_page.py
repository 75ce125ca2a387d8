"""The tool page over real HTTP on both databases: the governance file, model facts with
completeness and their form, refused and granted lifecycle moves, suspension, evidence round
trips, the hazard log with its risk matrix, evaluation reports and deployments."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func, select

from registry._support import file_kinds
from steward.audit.models import AuditEvent
from steward.auth.roles import Role
from steward.db.session import unit_of_work
from steward.registry.assessments import answer_dtac, dtac_questions
from steward.registry.clearances import record_clearance
from steward.registry.evidence import record_evaluation
from steward.registry.hazards import Likelihood, Severity
from steward.registry.kinds import OrganisationKind
from steward.registry.lifecycle import TransitionRequest, lifecycle_policy, unmet_requirements
from steward.registry.models import Deployment, LifecycleState, ModelFacts, Tool, User
from steward.registry.organisations import create_organisation, grant_role, organisation_by_slug
from steward.registry.records import EvidenceDocument, Hazard, StateTransition
from steward.registry.safety import HazardEntry, log_hazard
from steward.registry.tools import add_version, latest_version, register_tool
from steward.registry.transitions import gate_facts, sign_off

from .conftest import ACTOR, Web

CHAIR = Role.COMMITTEE_CHAIR
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def make_tool(
    web: Web,
    name: str = "Sepsis Alert",
    org: str = "rxa",
    version: str | None = "1.0",
    state: LifecycleState | None = None,
) -> str:
    with unit_of_work(web.sessions, ACTOR) as session:
        tool = register_tool(session, organisation_by_slug(session, org), name, f"{name} helps.")
        recorded = add_version(session, tool, version) if version else None
        if state is not None:
            tool.state = state
            pathway = lifecycle_policy().pathway
            passed = pathway[: pathway.index(state) + 1] if state in pathway else ()
            for step in passed if recorded else ():
                record_clearance(
                    session, recorded, step, actor="test", reason="fixture", policy_version="test"
                )
    return str(tool.id)


def test_the_tool_page_shows_the_governance_file(web: Web) -> None:
    web.user("chair@rxa.nhs.uk", ("rxa", CHAIR))
    tool_id = make_tool(web)
    with unit_of_work(web.sessions, ACTOR) as session:
        tool = session.get_one(Tool, uuid.UUID(tool_id))
        entry = HazardEntry("Missed sepsis", Severity.MAJOR, Likelihood.HIGH, harm="Death")
        log_hazard(session, tool, entry)
        version = latest_version(session, tool)
        assert version is not None
        record = record_evaluation(session, version, {"verdict": {"status": "fail"}, "n": 200})
    browser = web.browser("chair@rxa.nhs.uk")
    page = browser.get(f"/tools/{tool_id}")
    assert page.status_code == 200, page.text
    text = page.text
    assert "Sepsis Alert" in text
    assert "Riverside Trust" in text
    assert "0 of 31" in text
    assert "Move to In assessment" in text
    assert "Missed sepsis" in text
    matrix = text.split('id="risk-matrix"')[1].split("</table>")[0]
    assert matrix.count('class="risk__count">1<') == 1
    assert 'class="risk__count">0<' in matrix
    assert f"/tools/{tool_id}/evaluations/{record.id}" in text
    report = browser.get(f"/tools/{tool_id}/evaluations/{record.id}")
    assert report.status_code == 200
    assert report.text.lower().startswith("<!doctype html>")
    assert "hazards.created" not in text  # written from the command line: not this trust's
    entry = {"name": "Alert fatigue", "initial_severity": "minor", "initial_likelihood": "low"}
    path = f"/tools/{tool_id}"
    assert browser.submit(path, f"{path}/hazards", entry).status_code == 303
    history = browser.get(path).text.split('id="history"')[1]
    assert "hazards.created" in history
    assert f"/audit?entity_type=tools&amp;entity_id={tool_id}" in history
    other = make_tool(web, "Other Tool")
    assert browser.get(f"/tools/{other}/evaluations/{record.id}").status_code == 404


def test_a_tool_outside_the_viewers_organisations_is_not_found(web: Web) -> None:
    web.user("chair@rxa.nhs.uk", ("rxa", CHAIR))
    web.user("lead@north.nhs.uk", ("north", Role.COMMITTEE_MEMBER))
    elsewhere = make_tool(web, "Brookside Tool", org="rxb")
    assert web.browser("chair@rxa.nhs.uk").get(f"/tools/{elsewhere}").status_code == 404
    assert web.browser("chair@rxa.nhs.uk").get(f"/tools/{uuid.uuid4()}").status_code == 404
    regional = web.browser("lead@north.nhs.uk")
    page = regional.get(f"/tools/{elsewhere}")
    assert page.status_code == 200
    assert "Move to In assessment" not in page.text
    moved = regional.submit(
        f"/tools/{elsewhere}", f"/tools/{elsewhere}/transitions", {"to": "in_assessment"}
    )
    assert moved.status_code == 404


def test_model_facts_keep_typed_values_on_error_and_count_towards_completeness(web: Web) -> None:
    web.user("lead@rxa.nhs.uk", ("rxa", Role.CLINICAL_LEAD))
    tool_id = make_tool(web)
    browser = web.browser("lead@rxa.nhs.uk")
    path = f"/tools/{tool_id}"
    wrong = {"hti1-developer": "Acme Health, safety@acme.example", "hti1-output_type": "guess"}
    refused = browser.submit(path, f"{path}/facts", wrong)
    assert refused.status_code == 422
    assert "Acme Health, safety@acme.example</textarea>" in refused.text
    field = refused.text.split('id="f-facts-hti1-output_type"')[0].rsplit('<div class="field', 1)[1]
    assert "field--error" in field
    assert "Must be one of: prediction" in field
    with web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ModelFacts)) == 0
    right = {
        "hti1-developer": "Acme Health",
        "hti1-output_type": "prediction",
        "chai-BasicInfo-ModelName": "Sepsis Alert",
        "chai-KeyMetrics-FairnessEquity-MetricGoal": "Equal sensitivity by sex",
        "chai-Bibliography": "Smith 2024",
    }
    saved = browser.submit(path, f"{path}/facts", right)
    assert saved.status_code == 303
    page = browser.get(saved.headers["location"]).text
    assert "2 of 31" in page
    assert "3 of 35" in page
    assert "Equal sensitivity by sex</textarea>" in page
    missing = page.split('id="completeness-hti1"')[1].split("</details>")[0]
    assert "details_and_output.funding_source" in missing
    assert "details_and_output.developer" not in missing
    with web.sessions() as session:
        chai = session.scalars(select(ModelFacts).where(ModelFacts.standard == "chai")).one()
        assert chai.facts["KeyMetrics"]["FairnessEquity"] == [
            {"MetricGoal": "Equal sensitivity by sex"}
        ]


def test_evidence_round_trips_its_bytes_and_refusals_keep_the_form(web: Web) -> None:
    web.user("cso@rxa.nhs.uk", ("rxa", Role.CLINICAL_SAFETY_OFFICER))
    tool_id = make_tool(web)
    browser = web.browser("cso@rxa.nhs.uk")
    path = f"/tools/{tool_id}"
    fields = {"evidence_type": "clinical_safety_case", "title": "Safety case v1"}
    not_pdf = browser.submit(
        path, f"{path}/evidence", fields, files={"file": ("case.pdf", b"hello", "application/pdf")}
    )
    assert not_pdf.status_code == 422
    assert "not a valid application/pdf file" in not_pdf.text
    assert 'value="Safety case v1"' in not_pdf.text
    no_file = browser.submit(path, f"{path}/evidence", fields, files={})
    assert no_file.status_code == 422
    assert "Choose a file to upload" in no_file.text
    web.app.state.settings = web.app.state.settings.model_copy(update={"evidence_max_bytes": 64})
    too_big = browser.submit(
        path, f"{path}/evidence", fields, files={"file": ("big.pdf", PDF * 3, "application/pdf")}
    )
    assert too_big.status_code == 422
    assert "larger than the limit of 64 bytes" in too_big.text
    web.app.state.settings = web.app.state.settings.model_copy(update={"evidence_max_bytes": 10**6})
    with web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(EvidenceDocument)) == 0
    filed = browser.submit(
        path, f"{path}/evidence", fields, files={"file": ("case.pdf", PDF, "application/pdf")}
    )
    assert filed.status_code == 303
    page = browser.get(path).text
    link = re.search(rf'href="({path}/evidence/[0-9a-f-]+)"', page)
    assert link, page
    download = browser.get(link.group(1))
    assert download.status_code == 200
    assert download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''case.pdf"


def test_a_refused_move_lists_exactly_the_unmet_requirements(web: Web) -> None:
    web.user("chair@rxa.nhs.uk", ("rxa", CHAIR))
    tool_id = make_tool(web, state=LifecycleState.IN_ASSESSMENT)
    browser = web.browser("chair@rxa.nhs.uk")
    path = f"/tools/{tool_id}"
    refused = browser.submit(
        path, f"{path}/transitions", {"to": "silent_pilot", "reason": "Ready to shadow"}
    )
    assert refused.status_code == 409
    with web.sessions() as session:
        tool = session.get_one(Tool, uuid.UUID(tool_id))
        assert tool.state is LifecycleState.IN_ASSESSMENT
        gate = lifecycle_policy().gate(tool.state, LifecycleState.SILENT_PILOT)
        assert gate is not None
        request = TransitionRequest(LifecycleState.SILENT_PILOT, "Ready to shadow")
        expected = unmet_requirements(
            gate, request, gate_facts(session, tool, LifecycleState.SILENT_PILOT)
        )
        refusals = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "tools.transition_refused", AuditEvent.entity_id == tool_id)
        )
        assert refusals == 1
    shown = refused.text.split('id="refusal-silent_pilot"')[1].split("</ul>")[0]
    listed = re.findall(r"<li>(.*?)</li>", shown)
    assert listed == [u.detail for u in expected]
    assert len(listed) == 7
    assert "Ready to shadow</textarea>" in refused.text


def test_suspension_with_a_reason_takes_the_tool_off_the_register(web: Web) -> None:
    web.user("lead@rxa.nhs.uk", ("rxa", Role.CLINICAL_LEAD))
    web.user("member@rxa.nhs.uk", ("rxa", Role.COMMITTEE_MEMBER))
    tool_id = make_tool(web, state=LifecycleState.DEPLOYED)
    assert "Sepsis Alert" in web.browser().get("/register").text
    path = f"/tools/{tool_id}"
    member = web.browser("member@rxa.nhs.uk")
    assert "Suspend</button>" not in member.get(path).text
    forbidden = member.submit(path, f"{path}/transitions", {"to": "suspended", "reason": "x"})
    assert forbidden.status_code == 403
    lead = web.browser("lead@rxa.nhs.uk")
    assert "Suspend</button>" in lead.get(path).text
    no_reason = lead.submit(path, f"{path}/transitions", {"to": "suspended", "reason": " "})
    assert no_reason.status_code == 409
    assert "A reason is required to move to suspended" in no_reason.text
    suspended = lead.submit(
        path, f"{path}/transitions", {"to": "suspended", "reason": "Alert storm on ward 7"}
    )
    assert suspended.status_code == 303
    page = lead.get(suspended.headers["location"]).text
    assert "Alert storm on ward 7" in page
    assert "Sepsis Alert" not in web.browser().get("/register").text
    assert web.browser().get(f"/register/{tool_id}").status_code == 404
    with web.sessions() as session:
        move = session.scalars(select(StateTransition)).one()
        assert (move.from_state, move.to_state) == ("deployed", "suspended")
        assert move.actor == "user:lead@rxa.nhs.uk"


def test_hazards_are_logged_with_their_matrix_risk(web: Web) -> None:
    web.user("cso@rxa.nhs.uk", ("rxa", Role.CLINICAL_SAFETY_OFFICER))
    web.user("nurse@rxa.nhs.uk", ("rxa", Role.CLINICIAN))
    tool_id = make_tool(web)
    path = f"/tools/{tool_id}"
    nurse = web.browser("nurse@rxa.nhs.uk")
    assert "Log hazard</button>" not in nurse.get(path).text
    assert nurse.submit(path, f"{path}/hazards", {"name": "x"}).status_code == 403
    cso = web.browser("cso@rxa.nhs.uk")
    incomplete = cso.submit(path, f"{path}/hazards", {"name": "Wrong patient", "harm": "Delay"})
    assert incomplete.status_code == 422
    assert 'value="Wrong patient"' in incomplete.text
    entry = {
        "name": "Wrong patient",
        "harm": "Delay",
        "initial_severity": "major",
        "initial_likelihood": "high",
    }
    assert cso.submit(path, f"{path}/hazards", entry).status_code == 303
    with web.sessions() as session:
        hazard = session.scalars(select(Hazard)).one()
        assert (hazard.reference, hazard.initial_risk) == ("H-001", 4)
    matrix = cso.get(path).text.split('id="risk-matrix"')[1].split("</table>")[0]
    high = matrix.split('<th scope="row">High</th>')[1].split("</tr>")[0]
    cells = re.findall(r'class="risk risk--(\d)".*?risk__count">(\d+)<', high, re.S)
    assert cells == [("2", "0"), ("3", "0"), ("3", "0"), ("4", "1"), ("5", "0")]


def test_deployments_and_versions_are_recorded_from_the_page(web: Web) -> None:
    web.user("chair@rxa.nhs.uk", ("rxa", CHAIR))
    with unit_of_work(web.sessions, ACTOR) as session:
        create_organisation(session, "rxa-ed", "Riverside ED", OrganisationKind.SITE, "rxa")
    tool_id = make_tool(web, state=LifecycleState.LIVE_PILOT)
    browser = web.browser("chair@rxa.nhs.uk")
    path = f"/tools/{tool_id}"
    missing = browser.submit(path, f"{path}/deployments", {"site": "rxa-ed", "care_setting": ""})
    assert missing.status_code == 422
    body = {"site": "rxa-ed", "care_setting": "Emergency department"}
    assert browser.submit(path, f"{path}/deployments", body).status_code == 303
    again = browser.submit(path, f"{path}/deployments", body)
    assert again.status_code == 422
    assert "already deployed" in again.text
    with web.sessions() as session:
        deployment = session.scalars(select(Deployment)).one()
    status = f"{path}/deployments/{deployment.id}/status"
    assert browser.submit(path, status, {"status": "live"}).status_code == 303
    with unit_of_work(web.sessions, ACTOR) as session:
        session.get_one(Tool, uuid.UUID(tool_id)).state = LifecycleState.SUSPENDED
    assert browser.submit(path, status, {"status": "withdrawn"}).status_code == 303
    refused = browser.submit(path, status, {"status": "live"})
    assert refused.status_code == 422
    assert "goes live only in live_pilot or deployed" in refused.text
    assert browser.submit(path, f"{path}/versions", {"version": "1.1"}).status_code == 303
    page = browser.get(path).text
    assert "Emergency department" in page
    assert "Riverside ED" in page
    assert "version 1.1" in page
    with web.sessions() as session:
        assert session.scalars(select(Deployment.status)).one().value == "withdrawn"


def test_retirement_needs_the_chairs_sign_off_and_every_withdrawal_step(web: Web) -> None:
    web.user("chair@rxa.nhs.uk", ("rxa", CHAIR))
    tool_id = make_tool(web, state=LifecycleState.DEPLOYED)
    browser = web.browser("chair@rxa.nhs.uk")
    path = f"/tools/{tool_id}"
    steps = {
        "withdrawal_clinical_fallback": "Return to the NEWS2 paper chart",
        "withdrawal_communication": "",
        "withdrawal_data_retention": "Keep outputs 8 years",
    }
    retire = {"to": "retired", "reason": "Replaced by the EPR's own score", **steps}
    refused = browser.submit(path, f"{path}/transitions", retire)
    assert refused.status_code == 409
    shown = refused.text.split('id="refusal-retired"')[1].split("</ul>")[0]
    assert re.findall(r"<li>(.*?)</li>", shown) == [
        "describe the withdrawal step &#39;communication&#39;",
        "no sign-off by the committee_chair for retired",
    ]
    field = refused.text.split('id="f-move-retired-withdrawal_communication"')[0]
    assert "field--error" in field.rsplit('<div class="field', 1)[1]
    assert "Return to the NEWS2 paper chart</textarea>" in refused.text
    signed = browser.submit(path, f"{path}/signoffs", {"gate": "retired", "note": "Agreed"})
    assert signed.status_code == 303
    steps["withdrawal_communication"] = "Letter to every ward manager"
    retired = browser.submit(path, f"{path}/transitions", {**retire, **steps})
    assert retired.status_code == 303
    page = browser.get(path).text
    assert "Letter to every ward manager" in page
    assert "No further transition is possible from Retired" in page


def test_a_new_version_is_cleared_through_the_gates_from_the_page(web: Web) -> None:
    web.user("chair@rxa.nhs.uk", ("rxa", CHAIR))
    tool_id = make_tool(web, state=LifecycleState.LIVE_PILOT)
    browser = web.browser("chair@rxa.nhs.uk")
    path = f"/tools/{tool_id}"
    assert browser.submit(path, f"{path}/versions", {"version": "2.0"}).status_code == 303
    page = browser.get(path).text
    versions = page.split('id="versions"')[1].split("</table>")[0]
    assert "2.0" in versions
    assert "no gate passed yet" in versions
    card = page.split('id="gate-clear-silent_pilot"')[1].split("</article>")[0]
    assert "Version 2.0 → Silent pilot" in card
    assert "Sign-off by the Clinical Safety Officer" in card
    # the tool's own gate ahead now also waits for the version's clearance
    ahead = page.split('id="gate-deployed"')[1].split("</article>")[0]
    assert "The current version has passed the gate into Live pilot" in ahead

    web.user("cso@rxa.nhs.uk", ("rxa", Role.CLINICAL_SAFETY_OFFICER))
    inbox = web.browser("cso@rxa.nhs.uk").get("/approvals").text
    assert "version 2.0 → Silent pilot" in inbox
    assert f'href="/tools/{tool_id}#gate-clear-silent_pilot"' in inbox

    action = f"{path}/versions/2.0/clearances"
    refused = browser.submit(path, action, {"to": "silent_pilot"})
    assert refused.status_code == 409
    shown = refused.text.split('id="refusal-clear-silent_pilot"')[1].split("</ul>")[0]
    assert "Not cleared: cannot clear version 2.0 for silent_pilot" in shown
    assert "no sign-off by the clinical_safety_officer for silent_pilot" in shown
    with unit_of_work(web.sessions, ACTOR) as session:
        tool = session.get_one(Tool, uuid.UUID(tool_id))
        chair = session.scalars(select(User).where(User.email == "chair@rxa.nhs.uk")).one()
        for role in (Role.CLINICAL_SAFETY_OFFICER, Role.IG_DPO, Role.IT_SECURITY):
            grant_role(session, chair, organisation_by_slug(session, "rxa"), role)
            sign_off(session, tool, LifecycleState.SILENT_PILOT, role, chair)
        answer_dtac(session, tool, dict.fromkeys(dtac_questions(), "Yes"))
        file_kinds(session, tool, "dpia", "clinical_safety_case", "security_review")
    cleared = browser.submit(path, action, {"to": "silent_pilot"})
    assert cleared.status_code == 303, cleared.text
    page = browser.get(cleared.headers["location"]).text
    assert "The version passed the gate; the tool stays where it is." in page
    assert 'id="gate-clear-live_pilot"' in page  # the next step, up to the tool's live pilot
    versions = page.split('id="versions"')[1].split("</table>")[0]
    assert versions.count("Silent pilot") == 2  # 2.0 now, and 1.0 since its own transition
    with web.sessions() as session:
        assert session.get_one(Tool, uuid.UUID(tool_id)).state is LifecycleState.LIVE_PILOT
