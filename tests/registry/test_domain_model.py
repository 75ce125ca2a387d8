"""The registry's domain model on both databases: hierarchy, people, tools, facts, evidence,
evaluations, hazards and fallback plans."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from steward.auth.roles import Role
from steward.db.session import StewardSession, unit_of_work
from steward.registry.errors import ConflictError, InvalidInputError, NotFoundError
from steward.registry.evidence import evidence_content, file_evidence, record_evaluation
from steward.registry.facts import FactsStandard, missing_fields
from steward.registry.hazards import Likelihood, Severity
from steward.registry.kinds import OrganisationKind
from steward.registry.models import Organisation, Tool
from steward.registry.organisations import create_organisation, create_user, grant_role
from steward.registry.records import EvidenceBlob, EvidenceDocument, HazardStatus, Verdict
from steward.registry.safety import (
    HazardEntry,
    assess_residual_risk,
    log_hazard,
    open_hazards_at_or_above,
    set_fallback_plan,
    set_hazard_status,
)
from steward.registry.tools import (
    add_mdt_member,
    add_version,
    deploy,
    register_tool,
    set_model_facts,
)

from ._support import ACTOR

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def session(sessions: sessionmaker[StewardSession]) -> Iterator[StewardSession]:
    with unit_of_work(sessions, ACTOR) as session:
        yield session


@pytest.fixture
def trust(session: StewardSession) -> Organisation:
    create_organisation(session, "north", "North Region", OrganisationKind.REGION)
    return create_organisation(session, "rxa", "Riverside NHS Trust", parent_slug="north")


@pytest.fixture
def tool(session: StewardSession, trust: Organisation) -> Tool:
    return register_tool(session, trust, "Sepsis Alert", "Early warning of sepsis")


def test_hierarchy_infers_the_next_level_and_refuses_inversions(
    session: StewardSession, trust: Organisation
) -> None:
    assert trust.kind is OrganisationKind.TRUST
    hospital = create_organisation(session, "rxa-general", "General", parent_slug="rxa")
    site = create_organisation(session, "rxa-ed", "ED building", parent_slug="rxa-general")
    assert (hospital.kind, site.kind) == (OrganisationKind.HOSPITAL, OrganisationKind.SITE)
    with pytest.raises(InvalidInputError, match="a trust cannot sit under a hospital"):
        create_organisation(session, "bad", "Bad", OrganisationKind.TRUST, "rxa-general")
    with pytest.raises(NotFoundError, match="no organisation with slug 'nowhere'"):
        create_organisation(session, "x", "X", parent_slug="nowhere")
    with pytest.raises(ConflictError):
        create_organisation(session, "rxa", "Again")
    with pytest.raises(InvalidInputError, match="slug"):
        create_organisation(session, "Not A Slug", "X")


def test_users_are_unique_by_lowercased_email_and_hold_roles(
    session: StewardSession, trust: Organisation, tool: Tool
) -> None:
    user = create_user(session, "  Ada@Example.org ")
    assert user.email == "ada@example.org"
    with pytest.raises(ConflictError):
        create_user(session, "ADA@example.org")
    with pytest.raises(InvalidInputError, match="email"):
        create_user(session, "not-an-email")
    grant_role(session, user, trust, Role.CLINICAL_SAFETY_OFFICER)
    assert grant_role(session, user, trust, Role.CLINICAL_SAFETY_OFFICER) is not None
    member = add_mdt_member(session, tool, user, Role.CLINICAL_SAFETY_OFFICER)
    assert member.role is Role.CLINICAL_SAFETY_OFFICER
    with pytest.raises(InvalidInputError, match="does not hold the role finance"):
        add_mdt_member(session, tool, user, Role.FINANCE)
    with pytest.raises(InvalidInputError, match="not an MDT role"):
        add_mdt_member(session, tool, user, Role.VIEWER)


def test_versions_and_deployments(session: StewardSession, trust: Organisation, tool: Tool) -> None:
    version = add_version(session, tool, "2.1.0")
    with pytest.raises(ConflictError):
        add_version(session, tool, "2.1.0")
    hospital = create_organisation(session, "rxa-general", "General", parent_slug="rxa")
    site = create_organisation(session, "rxa-ed", "ED", parent_slug="rxa-general")
    deployment = deploy(session, version, site, "emergency department")
    assert deployment.site_id == site.id
    with pytest.raises(ConflictError):
        deploy(session, version, site, "emergency department")
    with pytest.raises(InvalidInputError, match="not a site"):
        deploy(session, version, hospital, "wards")
    elsewhere = create_organisation(session, "other-site", "Other", OrganisationKind.SITE)
    with pytest.raises(InvalidInputError, match="not within the organisation"):
        deploy(session, version, elsewhere, "wards")


def test_hti1_facts_cover_31_attributes_and_refuse_unknown_fields(
    session: StewardSession, tool: Tool
) -> None:
    version = add_version(session, tool, "1.0")
    assert len(missing_fields(FactsStandard.HTI1, {})) == 31
    facts = {"intended_use": "Flag adults at risk of sepsis", "output_type": "prediction"}
    row = set_model_facts(session, version, FactsStandard.HTI1, facts)
    assert row.policy_version == "HTI-1-2024.1"
    assert len(missing_fields(FactsStandard.HTI1, row.facts)) == 29
    with pytest.raises(InvalidInputError) as refused:
        set_model_facts(
            session,
            version,
            FactsStandard.HTI1,
            {"intended_usage": "x", "output_type": "vibes", "funding_source": 3},
        )
    assert [p.field for p in refused.value.problems] == [
        "facts.intended_usage",
        "facts.output_type",
        "facts.funding_source",
    ]


def test_chai_model_card_checks_nested_sections_and_metrics(
    session: StewardSession, tool: Tool
) -> None:
    version = add_version(session, tool, "1.0")
    card = {
        "BasicInfo": {"ModelName": "Sepsis Alert", "ModelDeveloper": "Acme"},
        "KeyMetrics": {"FairnessEquity": [{"MetricGoal": "Equal sensitivity", "Results": "0.8"}]},
        "Bibliography": "None yet.",
    }
    row = set_model_facts(session, version, FactsStandard.CHAI, card)
    missing = missing_fields(FactsStandard.CHAI, row.facts)
    assert "BasicInfo.DeveloperContact" in missing
    assert "KeyMetrics.SafetyReliability" in missing
    assert "KeyMetrics.FairnessEquity" not in missing
    bad = {
        "BasicInfo": {"ModelNom": "x"},
        "KeyMetrics": {"FairnessEquity": [{"Score": "1"}], "Speed": []},
        "Extra": {},
    }
    with pytest.raises(InvalidInputError) as refused:
        set_model_facts(session, version, FactsStandard.CHAI, bad)
    assert [p.field for p in refused.value.problems] == [
        "facts.BasicInfo.ModelNom",
        "facts.KeyMetrics.FairnessEquity[0].Score",
        "facts.KeyMetrics.Speed",
        "facts.Extra",
    ]


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def test_evidence_is_content_addressed_and_deduplicated(
    session: StewardSession, tool: Tool
) -> None:
    common = {"title": "DPIA", "media_type": "application/pdf", "max_bytes": 1000}
    first = file_evidence(
        session, tool, evidence_type="dpia", filename="dpia.pdf", content=PDF, **common
    )
    second = file_evidence(
        session, tool, evidence_type="dpia", filename="copy.pdf", content=PDF, **common
    )
    assert first.sha256 == second.sha256 == __import__("hashlib").sha256(PDF).hexdigest()
    assert session.scalar(select(func.count()).select_from(EvidenceBlob)) == 1
    assert evidence_content(session, second) == PDF
    docx = file_evidence(
        session,
        tool,
        evidence_type="clinical_safety_case",
        title="Safety case",
        filename="case.docx",
        media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        content=_docx(),
        max_bytes=10_000,
    )
    assert docx.size_bytes > 0


@pytest.mark.parametrize(
    ("kwargs", "fields"),
    [
        ({"evidence_type": "gossip"}, ["evidence_type"]),
        ({"content": b"plain text pretending"}, ["file"]),
        ({"filename": "dpia.exe"}, ["filename"]),
        ({"media_type": "application/x-msdownload"}, ["media_type"]),
        ({"content": PDF + b"x" * 2000}, ["file"]),
        ({"content": b""}, ["file"]),
        (
            {
                "media_type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "filename": "a.xlsx",
                "content": _docx(),
            },
            ["file"],
        ),
    ],
)
def test_bad_uploads_are_refused_and_nothing_is_stored(
    sessions: sessionmaker[StewardSession],
    kwargs: dict[str, object],
    fields: list[str],
) -> None:
    with unit_of_work(sessions, ACTOR) as session:
        trust = create_organisation(session, "rxa", "Riverside")
        tool_id = register_tool(session, trust, "Tool").id
    upload: dict[str, object] = {
        "evidence_type": "dpia",
        "title": "DPIA",
        "filename": "dpia.pdf",
        "media_type": "application/pdf",
        "content": PDF,
        "max_bytes": 1000,
    } | kwargs
    with pytest.raises(InvalidInputError) as refused, unit_of_work(sessions, ACTOR) as session:
        file_evidence(session, session.get_one(Tool, tool_id), **upload)  # type: ignore[arg-type]
    assert [p.field for p in refused.value.problems] == fields
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(EvidenceDocument)) == 0
        assert session.scalar(select(func.count()).select_from(EvidenceBlob)) == 0


def test_evaluation_results_carry_the_verdict(session: StewardSession, tool: Tool) -> None:
    version = add_version(session, tool, "1.0")
    document = {"steward_version": "0.1.0", "verdict": {"status": "pass", "criteria": []}}
    record = record_evaluation(session, version, document)
    assert record.verdict is Verdict.PASS
    assert len(record.sha256) == 64
    with pytest.raises(InvalidInputError, match=r"document\.verdict\.status"):
        record_evaluation(session, version, {"verdict": {"status": "great"}})
    with pytest.raises(InvalidInputError, match="document"):
        record_evaluation(session, version, ["not", "an", "object"])


# DCB0160 matrix as printed in the standard (rows: likelihood very high -> very low).
PRINTED_MATRIX = {
    Likelihood.VERY_HIGH: [3, 4, 4, 5, 5],
    Likelihood.HIGH: [2, 3, 3, 4, 5],
    Likelihood.MEDIUM: [2, 2, 3, 3, 4],
    Likelihood.LOW: [1, 2, 2, 3, 4],
    Likelihood.VERY_LOW: [1, 1, 2, 2, 3],
}


def test_hazard_risk_is_the_matrix_lookup(session: StewardSession, tool: Tool) -> None:
    for likelihood, row in PRINTED_MATRIX.items():
        for severity, expected in zip(Severity, row, strict=True):
            hazard = log_hazard(session, tool, HazardEntry("Missed alert", severity, likelihood))
            assert (severity, likelihood, hazard.initial_risk) == (severity, likelihood, expected)


def test_hazard_log_lifecycle(session: StewardSession, tool: Tool) -> None:
    first = log_hazard(session, tool, HazardEntry("Missed sepsis", Severity.MAJOR, Likelihood.HIGH))
    second = log_hazard(session, tool, HazardEntry("Alert fatigue", Severity.MINOR, Likelihood.LOW))
    assert (first.reference, second.reference) == ("H-001", "H-002")
    assert first.initial_risk == 4
    assert open_hazards_at_or_above(session, tool, 4) == [first]
    assess_residual_risk(session, first, Severity.MAJOR, Likelihood.VERY_LOW, "Second reader")
    assert (first.residual_risk, first.current_risk) == (2, 2)
    assert open_hazards_at_or_above(session, tool, 4) == []
    with pytest.raises(InvalidInputError, match="verification evidence"):
        set_hazard_status(session, first, HazardStatus.CLOSED)
    first.verification_evidence = "Silent pilot report section 4"
    assert set_hazard_status(session, first, HazardStatus.CLOSED).status is HazardStatus.CLOSED


def test_fallback_plan_is_one_per_tool(session: StewardSession, tool: Tool) -> None:
    plan = set_fallback_plan(
        session, tool, triggers="Outage", clinical_fallback="NEWS2", communication="Bleep"
    )
    again = set_fallback_plan(
        session, tool, triggers="Outage or drift", clinical_fallback="NEWS2", communication="Email"
    )
    assert plan.id == again.id
    assert again.triggers == "Outage or drift"
    with pytest.raises(InvalidInputError, match="clinical_fallback"):
        set_fallback_plan(session, tool, triggers="x", clinical_fallback=" ", communication="y")
