"""Model-card exports: CHAI Applied Model Card XML in schema v0.2 order, the HTI-1 document, and
the AI Transparency on FHIR Bundle, filled from facts and the latest local evaluation."""

from __future__ import annotations

import base64
import json
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

from registry._support import ACTOR
from steward.cli.main import app
from steward.db.session import StewardSession, unit_of_work
from steward.evaluation.run import evaluate
from steward.evaluation.spec import spec_from_mapping
from steward.registry.evidence import record_evaluation
from steward.registry.facts import FactsStandard
from steward.registry.kinds import OrganisationKind
from steward.registry.organisations import create_organisation
from steward.registry.tools import add_version, create_supplier, register_tool, set_model_facts
from steward.synthetic import DEMO_COLUMNS, generate

NS = "{https://mc.chai.org/v0.2/schema.xsd}"
runner = CliRunner()

# The sequences of schema v0.2 (coalition-for-health-ai/mc-schema v0.2/schema.xsd), written out
# here by hand from the schema, independently of the layout file the exporter reads.
# Names ending in "?" are optional (minOccurs="0").
SCHEMA: dict[str, list[str]] = {
    "AppliedModelCard": [
        "BasicInfo",
        "ReleaseInfo",
        "ModelSummary",
        "UsesAndDirections",
        "Warnings",
        "TrustIngredients",
        "KeyMetrics",
        "Resources",
        "Bibliography",
    ],
    "BasicInfo": ["ModelName", "ModelDeveloper", "DeveloperContact"],
    "ReleaseInfo": [
        "ReleaseStage",
        "ReleaseDate",
        "ReleaseVersion",
        "GlobalAvailability",
        "EHRCompatability?",
        "RegulatoryApproval?",
    ],
    "ModelSummary": ["Summary", "Keywords"],
    "UsesAndDirections": [
        "IntendedUseAndWorkflow",
        "PrimaryIntendedUsers",
        "HowToUse",
        "TargetedPatientPopulation",
        "CautionedOutOfScopeSettings",
    ],
    "Warnings": [
        "KnownRisksAndLimitations",
        "KnownBiasesOrEthicalConsiderations",
        "ClinicalRiskLevel",
    ],
    "TrustIngredients": ["AISystemFacts", "TransparencyInformation"],
    "AISystemFacts": [
        "OutcomesAndOutputs",
        "ModelType",
        "FoundationModels?",
        "InputDataSource",
        "OutputAndInputDataTypes",
        "DevelopmentDataCharacterization",
        "BiasMitigationApproaches",
        "OngoingMaintenance",
        "Security?",
        "Transparency?",
    ],
    "TransparencyInformation": ["FundingSource", "ThirdPartyInformation?", "StakeholdersConsulted"],
    "KeyMetrics": ["UsefulnessUsabilityEfficacy", "FairnessEquity", "SafetyReliability"],
    "UsefulnessUsabilityEfficacy": [
        "MetricGoal",
        "Results",
        "Interpretation",
        "TestType",
        "TestingDataDescription",
        "ValidationProcessAndJustification",
    ],
    "Resources": [
        "EvaluationReferences?",
        "ClinicalTrial?",
        "PeerReviewedPublications",
        "ReimbursementStatus?",
        "PatientConsentOrDisclosure",
    ],
}
SCHEMA["FairnessEquity"] = SCHEMA["SafetyReliability"] = SCHEMA["UsefulnessUsabilityEfficacy"]


def _check_against_schema(element: ET.Element) -> None:
    """Children of every complex element follow the schema's sequence, required ones present."""
    name = element.tag.removeprefix(NS)
    assert element.tag.startswith(NS), element.tag
    if name not in SCHEMA:
        return
    expected = SCHEMA[name]
    required = [e for e in expected if not e.endswith("?")]
    order = [e.rstrip("?") for e in expected]
    children = [c.tag.removeprefix(NS) for c in element]
    assert all(c in order for c in children), (name, children)
    assert children == sorted(children, key=order.index), (name, children)
    assert set(required) <= set(children), (name, set(required) - set(children))
    for child in element:
        _check_against_schema(child)


CHAI_FACTS = {
    "BasicInfo": {"ModelName": "DeteriorAI", "DeveloperContact": "safety@acme.example"},
    "ReleaseInfo": {"ReleaseStage": "UKCA marked", "EHRCompatibility": "Epic, Cerner"},
    "ModelSummary": {"Keywords": "deterioration\nearly warning"},
    "TrustIngredients": {"OngoingMaintenance": "Quarterly recalibration by the developer."},
    "KeyMetrics": {
        "UsefulnessUsabilityEfficacy": [
            {"MetricGoal": "Developer validation AUROC", "Results": "0.84 (0.82-0.86)"}
        ]
    },
}


@pytest.fixture(scope="module")
def evaluation_document() -> dict[str, Any]:
    c = DEMO_COLUMNS
    spec = spec_from_mapping(
        {
            "columns": {"score": c["score"], "label": c["label"], "groups": ["sex"]},
            "thresholds": [0.2],
            "bootstrap": {"replicates": 0},
            "acceptance": ["auroc.ci_low >= 0.6"],
        },
        origin="test",
    )
    return evaluate(generate(4_000, seed=5).to_pandas(), spec).model_dump(mode="json")


def _tool(
    sessions: sessionmaker[StewardSession], document: dict[str, Any] | None
) -> tuple[str, str]:
    with unit_of_work(sessions, ACTOR) as session:
        organisation = create_organisation(session, "rxa", "Riverside", OrganisationKind.TRUST)
        supplier = create_supplier(session, "Acme Health AI", "support@acme.example")
        tool = register_tool(
            session, organisation, "Deterioration score", "Predicts deterioration.", supplier.id
        )
        add_version(session, tool, "1.0")
        version = add_version(session, tool, "2.1")
        set_model_facts(session, version, FactsStandard.CHAI, CHAI_FACTS)
        set_model_facts(
            session,
            version,
            FactsStandard.HTI1,
            {"intended_use": "Flag adult inpatients at risk.", "output_type": "prediction"},
        )
        if document is not None:
            record_evaluation(session, version, document)
        return str(tool.id), str(version.id)


def _export(db_url: str, tool_id: str, fmt: str, *extra: str) -> str:
    env = {"STEWARD_DATABASE_URL": db_url}
    result = runner.invoke(app, ["export", "model-card", tool_id, "--format", fmt, *extra], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_chai_card_follows_the_schema_and_carries_local_results(
    db_url: str, sessions: sessionmaker[StewardSession], evaluation_document: dict[str, Any]
) -> None:
    tool_id, _ = _tool(sessions, evaluation_document)
    root = ET.fromstring(_export(db_url, tool_id, "chai-xml"))
    assert root.tag == f"{NS}AppliedModelCard"
    _check_against_schema(root)
    assert root.findtext(f"{NS}BasicInfo/{NS}ModelName") == "DeteriorAI"
    assert root.findtext(f"{NS}BasicInfo/{NS}ModelDeveloper") == "Acme Health AI"
    assert root.findtext(f"{NS}ReleaseInfo/{NS}ReleaseVersion") == "2.1"
    ehrs = [e.text for e in root.iterfind(f"{NS}ReleaseInfo/{NS}EHRCompatability/{NS}EHR")]
    assert ehrs == ["Epic", "Cerner"]
    keywords = [k.text for k in root.iterfind(f"{NS}ModelSummary/{NS}Keywords/{NS}Keyword")]
    assert keywords == ["deterioration", "early warning"]
    assert root.findtext(f"{NS}Warnings/{NS}ClinicalRiskLevel") == "Not provided."
    maintenance = root.findtext(f"{NS}TrustIngredients/{NS}AISystemFacts/{NS}OngoingMaintenance")
    assert (
        maintenance
        == "Quarterly recalibration by the developer.\n\nLocal monitoring: Not yet monitored."
    )
    usefulness = root.find(f"{NS}KeyMetrics/{NS}UsefulnessUsabilityEfficacy")
    assert usefulness is not None
    results = {
        r.findtext(f"{NS}Label"): json.loads(r.findtext(f"{NS}ValueJson") or "")
        for r in usefulness.iterfind(f"{NS}Results/{NS}MetricResult")
    }
    assert results["Developer validation AUROC"] == {"kind": "text", "value": "0.84 (0.82-0.86)"}
    auroc = evaluation_document["metrics"]["auroc"]
    assert results["Local validation: AUROC"] == {
        "kind": "estimate_ci",
        "estimate": round(auroc["value"], 4),
        "lower": round(auroc["ci_low"], 4),
        "upper": round(auroc["ci_high"], 4),
        "level": 95,
    }
    assert "Local validation: Sensitivity at threshold 0.2" in results
    fairness = root.find(f"{NS}KeyMetrics/{NS}FairnessEquity")
    assert fairness is not None
    assert "Local equity audit across sex" in (fairness.findtext(f"{NS}Interpretation") or "")
    references = root.findtext(f"{NS}Resources/{NS}EvaluationReferences") or ""
    assert references.startswith("Local validation of ")


def test_a_card_without_facts_or_evaluation_is_still_complete(
    db_url: str, sessions: sessionmaker[StewardSession]
) -> None:
    tool_id, _ = _tool(sessions, None)
    root = ET.fromstring(_export(db_url, tool_id, "chai-xml", "--version", "1.0"))
    _check_against_schema(root)
    assert root.find(f"{NS}ReleaseInfo/{NS}EHRCompatability") is None
    labels = [e.text for e in root.iterfind(f".//{NS}SafetyReliability//{NS}Label")]
    assert labels == ["Local monitoring"]
    goal = root.findtext(f"{NS}KeyMetrics/{NS}FairnessEquity/{NS}Interpretation")
    assert goal == "Not yet validated on local data."


def test_hti1_document_fills_performance_and_maintenance_from_local_results(
    db_url: str, sessions: sessionmaker[StewardSession], evaluation_document: dict[str, Any]
) -> None:
    tool_id, version_id = _tool(sessions, evaluation_document)
    document = json.loads(_export(db_url, tool_id, "hti1-json"))
    assert [g["group"] for g in document["groups"]] == [
        "details_and_output",
        "purpose",
        "cautioned_out_of_scope_use",
        "development_data_and_inputs",
        "fairness_in_development",
        "external_validation",
        "quantitative_performance",
        "ongoing_maintenance",
        "update_schedule",
    ]
    attributes = {a["attribute"]: a for g in document["groups"] for a in g["attributes"]}
    assert len(attributes) == 31
    assert document["tool"]["version_id"] == version_id
    assert attributes["developer"]["value"] == "Acme Health AI (support@acme.example)"
    assert attributes["developer"]["sources"] == ["registry"]
    assert attributes["intended_use"]["sources"] == ["model facts"]
    auroc = evaluation_document["metrics"]["auroc"]["value"]
    for name in ("validity_local", "validity_external"):
        assert f"AUROC {auroc:.3f}" in attributes[name]["value"]
        assert attributes[name]["sources"] == ["local evaluation"]
    assert "Local equity audit across sex" in attributes["fairness_local"]["value"]
    assert attributes["validity_monitoring"]["value"] == "Local monitoring: Not yet monitored."
    assert attributes["validity_monitoring"]["sources"] == ["local monitoring"]
    assert attributes["funding_source"]["value"] is None
    assert "details_and_output.funding_source" in document["missing"]
    assert document["complete"] is False


def test_export_errors_are_one_line(db_url: str, sessions: sessionmaker[StewardSession]) -> None:
    tool_id, _ = _tool(sessions, None)
    env = {"STEWARD_DATABASE_URL": db_url}
    args = ["export", "model-card", tool_id, "--format", "chai-xml", "--version", "9"]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 2
    assert "has no version '9'" in result.output
    args = ["export", "model-card", str(uuid.uuid4()), "--format", "hti1-json"]
    assert runner.invoke(app, args, env=env).exit_code == 2


def test_fhir_bundle_of_a_tool_validates_and_round_trips(
    db_url: str,
    sessions: sessionmaker[StewardSession],
    evaluation_document: dict[str, Any],
    tmp_path: Path,
) -> None:
    tool_id, version_id = _tool(sessions, evaluation_document)
    out = tmp_path / "tool.json"
    env = {"STEWARD_DATABASE_URL": db_url}
    result = runner.invoke(app, ["fhir", "export", tool_id, "--output", str(out)], env=env)
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    bundle = Bundle.model_validate(document)
    assert json.loads(bundle.model_dump_json()) == document
    resources = [e["resource"] for e in document["entry"]]
    devices = [r for r in resources if r["resourceType"] == "Device"]
    assert [d["version"][0]["value"] for d in devices] == ["1.0", "2.1"]
    device = devices[1]
    assert device["meta"]["profile"] == [
        "http://hl7.org/fhir/uv/aitransparency/StructureDefinition/AI-Device"
    ]
    assert device["type"]["coding"][0]["code"] == "Artificial-Intelligence"
    assert device["identifier"][0]["value"] == f"urn:uuid:{version_id}"
    assert device["status"] == "inactive"  # proposed tools may not be used
    card_ref = device["extension"][0]["valueReference"]["reference"]
    card = next(r for r in resources if f"DocumentReference/{r['id']}" == card_ref)
    xml = base64.b64decode(card["content"][0]["attachment"]["data"])
    _check_against_schema(ET.fromstring(xml))
    assert "wrote 2 AI-Device(s)" in result.output
