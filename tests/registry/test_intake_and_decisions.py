"""Dual-track intake with regional reuse, decisions and the liability record (both databases)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import sessionmaker

from steward.auth.roles import Role
from steward.db.session import StewardSession, unit_of_work
from steward.registry.assessments import answer_dtac, dtac_questions
from steward.registry.decisions import record_decision, set_liability_record
from steward.registry.errors import InvalidInputError
from steward.registry.evidence import file_evidence, record_evaluation
from steward.registry.intake import ProposalInput, create_priority, propose, reuse_candidates
from steward.registry.kinds import OrganisationKind
from steward.registry.organisations import create_organisation
from steward.registry.records import DecisionOutcome
from steward.registry.tools import add_version, create_supplier, register_tool

from ._support import ACTOR, CHAIR, Api, new_tool


@pytest.fixture
def session(sessions: sessionmaker[StewardSession]) -> Iterator[StewardSession]:
    with unit_of_work(sessions, ACTOR) as session:
        yield session


def test_proposals_link_a_priority_or_say_why_not(session: StewardSession) -> None:
    trust = create_organisation(session, "rxa", "Riverside")
    other = create_organisation(session, "rxb", "Brookside")
    priority = create_priority(
        session, trust, "Late sepsis recognition", "Emergency department", "Door-to-antibiotic < 1h"
    )
    linked = propose(
        session,
        trust,
        ProposalInput("Sepsis AI", "Late antibiotics", "Sepsis Alert", priority_id=priority.id),
    )
    assert linked.priority_id == priority.id
    with pytest.raises(InvalidInputError, match="no_priority_reason"):
        propose(session, trust, ProposalInput("X", "Y", "Z"))
    reasoned = propose(
        session, trust, ProposalInput("X", "Y", "Z", no_priority_reason="Urgent safety gap")
    )
    assert reasoned.no_priority_reason == "Urgent safety gap"
    foreign = create_priority(session, other, "P", "S", "N")
    with pytest.raises(InvalidInputError, match="priority_id"):
        propose(session, trust, ProposalInput("X", "Y", "Z", priority_id=foreign.id))


def test_a_proposal_surfaces_the_same_product_assessed_in_the_region(
    session: StewardSession,
) -> None:
    create_organisation(session, "north", "North", OrganisationKind.REGION)
    create_organisation(session, "south", "South", OrganisationKind.REGION)
    rxa = create_organisation(session, "rxa", "Riverside", parent_slug="north")
    rxb = create_organisation(session, "rxb", "Brookside", parent_slug="north")
    far = create_organisation(session, "rxz", "Far away", parent_slug="south")
    acme = create_supplier(session, "Acme")
    assessed = register_tool(session, rxb, "Sepsis Alert", supplier_id=acme.id)
    version = add_version(session, assessed, "2.0")
    record_evaluation(session, version, {"verdict": {"status": "pass"}})
    file_evidence(
        session,
        assessed,
        evidence_type="dpia",
        title="DPIA",
        filename="dpia.pdf",
        media_type="application/pdf",
        content=b"%PDF-1.7 dpia",
        max_bytes=1000,
    )
    answer_dtac(session, assessed, dict.fromkeys(dtac_questions(), "Yes"))
    register_tool(session, far, "Sepsis Alert", supplier_id=acme.id)

    proposal = propose(
        session,
        rxa,
        ProposalInput(
            "Sepsis AI",
            "Late antibiotics",
            "sepsis alert",
            "ACME",
            "2.0",
            no_priority_reason="Regional pilot",
        ),
    )
    [candidate] = reuse_candidates(session, proposal)
    assert (candidate.organisation, candidate.versions) == ("rxb", ("2.0",))
    assert (candidate.latest_verdict, candidate.evidence_types) == ("pass", ("dpia",))
    assert candidate.dtac_complete
    other_version = propose(
        session, rxa, ProposalInput("S", "P", "Sepsis Alert", "Acme", "3.0", no_priority_reason="x")
    )
    assert reuse_candidates(session, other_version) == []


def test_decisions_need_a_rationale_and_liability_is_one_record_per_tool(
    session: StewardSession,
) -> None:
    tool = register_tool(session, create_organisation(session, "rxa", "Riverside"), "Tool")
    decision = record_decision(
        session,
        tool,
        subject="Proceed to assessment",
        outcome=DecisionOutcome.APPROVED,
        rationale="Meets the ED priority",
    )
    assert decision.outcome is DecisionOutcome.APPROVED
    with pytest.raises(InvalidInputError, match="rationale"):
        record_decision(session, tool, subject="S", outcome=DecisionOutcome.REJECTED, rationale=" ")
    first = set_liability_record(
        session,
        tool,
        contract_reference="C-1",
        liability_allocation="Supplier liable for defects",
        indemnity_provider="NHS Resolution",
        indemnity_cover="CNST",
    )
    second = set_liability_record(
        session,
        tool,
        contract_reference="C-2",
        liability_allocation="Shared",
        indemnity_provider="NHS Resolution",
        indemnity_cover="CNST",
    )
    assert first.id == second.id
    assert second.contract_reference == "C-2"


def test_intake_decisions_and_liability_over_http(api: Api) -> None:
    brookside = api.call(
        "POST",
        "/tools",
        CHAIR,
        org="rxb",
        json={"name": "Sepsis Alert", "supplier": "Acme", "version": "2.0"},
    )
    assert brookside.status_code == 201
    priority = api.call(
        "POST",
        "/priorities",
        Role.COMMITTEE_MEMBER,
        json={"problem": "Late sepsis", "service": "ED", "measurable_need": "Antibiotics < 1h"},
    )
    assert priority.status_code == 201
    body = {
        "title": "Sepsis AI",
        "problem": "Late antibiotics",
        "product_name": "Sepsis Alert",
        "supplier_name": "acme",
        "priority_id": priority.json()["id"],
    }
    proposal = api.call("POST", "/proposals", Role.CLINICIAN, json=body)
    assert proposal.status_code == 201, proposal.text
    [candidate] = proposal.json()["reuse_candidates"]
    assert (candidate["organisation"], candidate["versions"]) == ("rxb", ["2.0"])
    unlinked = api.call("POST", "/proposals", Role.CLINICIAN, json={**body, "priority_id": None})
    assert unlinked.status_code == 422
    assert unlinked.json()["errors"][0]["field"] == "no_priority_reason"
    read = api.call("GET", f"/proposals/{proposal.json()['id']}", Role.VIEWER)
    assert read.json()["id"] == proposal.json()["id"]
    assert (
        api.call("GET", f"/proposals/{proposal.json()['id']}", Role.VIEWER, org="rxb").status_code
        == 404
    )

    tool = new_tool(api)
    decision = {"subject": "Assess", "outcome": "approved", "rationale": "Matches the priority"}
    assert api.call("POST", f"/tools/{tool}/decisions", CHAIR, json=decision).status_code == 201
    liability = {
        "contract_reference": "C-1",
        "liability_allocation": "Supplier",
        "indemnity_provider": "NHS Resolution",
        "indemnity_cover": "CNST",
    }
    assert (
        api.call("PUT", f"/tools/{tool}/liability", Role.FINANCE, json=liability).status_code == 200
    )
