"""Tools and their outputs as HL7 AI Transparency on FHIR resources (R4): an AI-Device per tool
version, its model card as an AI-ModelCard DocumentReference, and each logged output as a
RiskAssessment labelled ``AIAST`` with an AI-Provenance naming the device.

Pure functions from plain facts to FHIR JSON; :func:`validated` checks any of them with
``fhir.resources.R4B``. Profile URLs and codes come from the versioned ``ai_transparency.yaml``.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import yaml

#: Identifier system of Steward's ids (tool versions, logged outputs): RFC 3986 URNs.
URN_SYSTEM = "urn:ietf:rfc:3986"
#: What FHIR accepts as a resource id.
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
#: R4 Device.status of each lifecycle state: only tools that may be used are active.
ACTIVE_STATES = frozenset({"silent_pilot", "live_pilot", "deployed"})


@cache
def guide() -> dict[str, Any]:
    """The AI Transparency on FHIR profiles and codes (see ``ai_transparency.yaml``)."""
    text = resources.files(__package__).joinpath("ai_transparency.yaml").read_text("utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def _coding(name: str) -> dict[str, str]:
    return dict(guide()["codes"][name])


def _concept(name: str) -> dict[str, Any]:
    return {"coding": [_coding(name)]}


@dataclass(frozen=True)
class DeviceFacts:
    """What the registry knows about one version of a tool."""

    version_id: str
    tool_name: str
    version: str
    state: str
    description: str = ""
    supplier: str | None = None
    supplier_contact: str | None = None
    organisation: str | None = None


@dataclass(frozen=True)
class LoggedOutput:
    """One output of a tool as logged for surveillance."""

    output_id: str
    patient_id: str
    score: float
    occurred_at: datetime
    outcome: str | None = None
    encounter_id: str | None = None


def _patient(patient_id: str) -> dict[str, Any]:
    """A reference to the patient: by id when it is a valid FHIR id, else by identifier."""
    if FHIR_ID.fullmatch(patient_id):
        return {"reference": f"Patient/{patient_id}"}
    return {"identifier": {"value": patient_id}}


def instant(moment: datetime) -> str:
    """A FHIR instant in UTC to the second, as FHIR writes it (``...Z``)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def device_id(facts: DeviceFacts) -> str:
    return f"ai-{facts.version_id}"


def model_card_id(facts: DeviceFacts) -> str:
    return f"model-card-{facts.version_id}"


def ai_device(facts: DeviceFacts, *, with_model_card: bool = False) -> dict[str, Any]:
    """An AI-Device for one tool version."""
    device: dict[str, Any] = {
        "resourceType": "Device",
        "id": device_id(facts),
        "meta": {"profile": [guide()["profiles"]["device"]]},
    }
    if with_model_card:
        device["extension"] = [
            {
                "url": guide()["extensions"]["model_card"],
                "valueReference": {"reference": f"DocumentReference/{model_card_id(facts)}"},
            }
        ]
    device["identifier"] = [{"system": URN_SYSTEM, "value": f"urn:uuid:{facts.version_id}"}]
    device["status"] = "active" if facts.state in ACTIVE_STATES else "inactive"
    if facts.supplier:
        device["manufacturer"] = facts.supplier
    device["deviceName"] = [{"name": facts.tool_name, "type": "user-friendly-name"}]
    device["type"] = _concept("artificial_intelligence")
    device["version"] = [{"value": facts.version}]
    if facts.organisation:
        device["owner"] = {"display": facts.organisation}
    if facts.supplier_contact:
        system = "email" if "@" in facts.supplier_contact else "url"
        device["contact"] = [{"system": system, "value": facts.supplier_contact}]
    notes = [f"Lifecycle state in Steward: {facts.state.replace('_', ' ')}."]
    if facts.description.strip():
        notes.insert(0, facts.description.strip())
    device["note"] = [{"text": text} for text in notes]
    return device


def ai_model_card(facts: DeviceFacts, chai_xml: bytes) -> dict[str, Any]:
    """An AI-ModelCard DocumentReference carrying the CHAI Applied Model Card XML."""
    return {
        "resourceType": "DocumentReference",
        "id": model_card_id(facts),
        "meta": {"profile": [guide()["profiles"]["model_card"]]},
        "status": "current",
        "type": _concept("model_card_type"),
        "category": [_concept("model_card_chai")],
        "description": f"CHAI Applied Model Card of {facts.tool_name} {facts.version}",
        "content": [
            {
                "attachment": {
                    "contentType": "application/xml",
                    "data": base64.b64encode(chai_xml).decode("ascii"),
                    "title": f"{facts.tool_name} {facts.version} model card",
                }
            }
        ],
    }


def ai_output(output: LoggedOutput, facts: DeviceFacts) -> dict[str, Any]:
    """The logged output as a RiskAssessment, labelled as asserted by AI (``AIAST``)."""
    prediction: dict[str, Any] = {"probabilityDecimal": output.score}
    if output.outcome:
        prediction["outcome"] = {"text": output.outcome}
    assessment: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "id": f"output-{output.output_id}",
        "meta": {"security": [_coding("ai_asserted")]},
        "identifier": [{"system": URN_SYSTEM, "value": f"urn:uuid:{output.output_id}"}],
        "status": "final",
        "subject": _patient(output.patient_id),
        "occurrenceDateTime": instant(output.occurred_at),
        "performer": {
            "reference": f"Device/{device_id(facts)}",
            "display": f"{facts.tool_name} {facts.version}",
        },
        "prediction": [prediction],
    }
    if output.encounter_id and FHIR_ID.fullmatch(output.encounter_id):
        assessment["encounter"] = {"reference": f"Encounter/{output.encounter_id}"}
    return assessment


def ai_provenance(
    output: LoggedOutput, facts: DeviceFacts, recorded: datetime, *, with_model_card: bool = False
) -> dict[str, Any]:
    """The AI-Provenance of a logged output: the AI-Device authored it."""
    provenance: dict[str, Any] = {
        "resourceType": "Provenance",
        "id": f"provenance-{output.output_id}",
        "meta": {"profile": [guide()["profiles"]["provenance"]]},
        "target": [{"reference": f"RiskAssessment/output-{output.output_id}"}],
        "occurredDateTime": instant(output.occurred_at),
        "recorded": instant(recorded),
        "reason": [_concept("ai_asserted")],
        "activity": _concept("activity_create"),
        "agent": [
            {
                "type": _concept("agent_author"),
                "role": [_concept("artificial_intelligence")],
                "who": {
                    "reference": f"Device/{device_id(facts)}",
                    "display": f"{facts.tool_name} {facts.version}",
                },
            }
        ],
    }
    if with_model_card:
        provenance["entity"] = [
            {
                "role": guide()["codes"]["entity_derivation"]["code"],
                "what": {"reference": f"DocumentReference/{model_card_id(facts)}"},
            }
        ]
    return provenance


def collection(resources_: list[dict[str, Any]], stamp: datetime) -> dict[str, Any]:
    """A collection Bundle of ``resources_`` (full URLs are relative references)."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": instant(stamp),
        "entry": [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in resources_],
    }


def validated(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` checked by ``fhir.resources.R4B`` and serialised back (a round trip)."""
    import json

    from fhir.resources.R4B import get_fhir_model_class

    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    result: dict[str, Any] = json.loads(model.model_dump_json())
    return result
