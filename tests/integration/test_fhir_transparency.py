"""AI Transparency on FHIR resources: AI-Device, AI-Provenance and the AIAST-labelled output,
each checked by fhir.resources.R4B and round-tripped."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from steward.integration.fhir.transparency import (
    DeviceFacts,
    LoggedOutput,
    ai_device,
    ai_model_card,
    ai_output,
    ai_provenance,
    collection,
)

FACTS = DeviceFacts(
    version_id="0b8b0a52-8f4e-4a4b-9a55-1c2d3e4f5a6b",
    tool_name="Deterioration score",
    version="2.1",
    state="deployed",
    description="Predicts deterioration within 48 hours.",
    supplier="Acme Health AI",
    supplier_contact="support@acme.example",
    organisation="Riverside",
)
OUTPUT = LoggedOutput(
    output_id="7d3f5b8e-2a41-4c55-9e0f-0a1b2c3d4e5f",
    patient_id="p-123",
    score=0.42,
    occurred_at=datetime(2026, 3, 1, 8, 30, tzinfo=UTC),
    outcome="Deterioration within 48 hours",
    encounter_id="enc-9",
)
AIAST = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "AIAST",
    "display": "Artificial Intelligence asserted",
}
AI_ROLE = "http://hl7.org/fhir/uv/aitransparency/CodeSystem/AIdeviceTypeCS"


def _round_trip(resource: dict[str, Any]) -> dict[str, Any]:
    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    again: dict[str, Any] = json.loads(model.model_dump_json())
    assert again == resource
    return again


def test_device_is_an_ai_device() -> None:
    device = _round_trip(ai_device(FACTS, with_model_card=True))
    assert device["type"] == {
        "coding": [
            {
                "system": AI_ROLE,
                "code": "Artificial-Intelligence",
                "display": "All kinds of Artificial Intelligence",
            }
        ]
    }
    assert device["status"] == "active"
    assert device["manufacturer"] == "Acme Health AI"
    assert device["contact"] == [{"system": "email", "value": "support@acme.example"}]
    assert device["deviceName"] == [{"name": "Deterioration score", "type": "user-friendly-name"}]
    assert device["extension"][0]["url"].endswith("aitransparency.modelCardDescription")


@pytest.mark.parametrize("state", ["suspended", "retired", "proposed"])
def test_devices_of_tools_that_may_not_be_used_are_inactive(state: str) -> None:
    facts = DeviceFacts(**{**FACTS.__dict__, "state": state})
    assert ai_device(facts)["status"] == "inactive"


def test_output_is_labelled_ai_asserted_and_its_provenance_names_the_device() -> None:
    output = _round_trip(ai_output(OUTPUT, FACTS))
    assert output["meta"]["security"] == [AIAST]
    assert output["prediction"][0]["probabilityDecimal"] == 0.42
    assert output["performer"]["reference"] == f"Device/ai-{FACTS.version_id}"
    recorded = datetime(2026, 3, 1, 8, 31, tzinfo=UTC)
    provenance = _round_trip(ai_provenance(OUTPUT, FACTS, recorded, with_model_card=True))
    assert provenance["meta"]["profile"] == [
        "http://hl7.org/fhir/uv/aitransparency/StructureDefinition/AI-Provenance"
    ]
    assert provenance["target"] == [{"reference": f"RiskAssessment/{output['id']}"}]
    assert provenance["reason"] == [{"coding": [AIAST]}]
    (agent,) = provenance["agent"]
    assert agent["role"][0]["coding"][0]["system"] == AI_ROLE
    assert agent["role"][0]["coding"][0]["code"] == "Artificial-Intelligence"
    assert agent["type"]["coding"][0]["code"] == "author"
    assert agent["who"]["reference"] == output["performer"]["reference"]
    assert provenance["entity"] == [
        {
            "role": "derivation",
            "what": {"reference": f"DocumentReference/model-card-{FACTS.version_id}"},
        }
    ]


def test_bundle_of_everything_round_trips() -> None:
    stamp = datetime(2026, 3, 2, tzinfo=UTC)
    resources = [
        ai_device(FACTS, with_model_card=True),
        ai_model_card(FACTS, b"<AppliedModelCard/>"),
        ai_output(OUTPUT, FACTS),
        ai_provenance(OUTPUT, FACTS, stamp, with_model_card=True),
    ]
    bundle = _round_trip(collection(resources, stamp))
    assert [e["fullUrl"] for e in bundle["entry"]] == [
        f"{r['resourceType']}/{r['id']}" for r in resources
    ]


def test_an_invalid_output_is_refused_by_the_validator() -> None:
    output = ai_output(OUTPUT, FACTS)
    output["status"] = None
    with pytest.raises(ValueError, match="status"):
        _round_trip(output)
