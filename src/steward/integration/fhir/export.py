"""A registered tool as an AI Transparency on FHIR Bundle: per version an AI-Device, its CHAI
model card as an AI-ModelCard, and every logged output with its AI-Provenance; each resource
validated with ``fhir.resources.R4B`` before it is written."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from steward.db.base import utcnow
from steward.integration.fhir.transparency import (
    DeviceFacts,
    LoggedOutput,
    ai_device,
    ai_model_card,
    ai_output,
    ai_provenance,
    collection,
    validated,
)
from steward.integration.modelcard.export import gather, render
from steward.integration.modelcard.formats import CardFormat
from steward.registry.models import Deployment, Organisation, Supplier, Tool, ToolVersion
from steward.registry.tools import get_tool
from steward.surveillance.models import PredictionEvent


def device_facts(session: Session, tool: Tool, version: ToolVersion) -> DeviceFacts:
    """What the registry says about ``version`` of ``tool``, for its AI-Device."""
    supplier = session.get(Supplier, tool.supplier_id) if tool.supplier_id else None
    organisation = session.get_one(Organisation, tool.organisation_id)
    return DeviceFacts(
        version_id=str(version.id),
        tool_name=tool.name,
        version=version.version,
        state=tool.state.value,
        description=tool.description,
        supplier=supplier.name if supplier else None,
        supplier_contact=supplier.contact if supplier else None,
        organisation=organisation.name,
    )


#: Most logged outputs exported per version (the latest ones).
MAX_OUTPUTS = 10_000


def logged_outputs(
    session: Session, version: ToolVersion, limit: int = MAX_OUTPUTS
) -> Iterator[LoggedOutput]:
    """The latest ``limit`` outputs of ``version`` logged for surveillance, oldest first."""
    rows = session.execute(
        select(PredictionEvent)
        .join(Deployment, Deployment.id == PredictionEvent.deployment_id)
        .where(Deployment.version_id == version.id)
        .order_by(PredictionEvent.predicted_at.desc(), PredictionEvent.event_id)
        .limit(limit)
    ).scalars()
    for event in reversed(list(rows)):
        # event ids are the client's; a name-based UUID is a valid FHIR id, stable per event
        key = f"{event.deployment_id}/{event.event_id}"
        yield LoggedOutput(
            output_id=str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
            patient_id=event.patient_id,
            score=event.score,
            occurred_at=event.predicted_at,
            encounter_id=event.encounter_id,
        )


def tool_bundle(
    session: Session, tool_id: uuid.UUID, max_outputs: int = MAX_OUTPUTS
) -> tuple[dict[str, Any], int]:
    """The tool's Bundle and the number of logged outputs in it."""
    tool = get_tool(session, tool_id)
    versions = session.scalars(
        select(ToolVersion)
        .where(ToolVersion.tool_id == tool.id)
        .order_by(ToolVersion.created_at, ToolVersion.id)
    )
    recorded = utcnow()
    resources: list[dict[str, Any]] = []
    outputs = 0
    for version in versions:
        facts = device_facts(session, tool, version)
        card = render(gather(session, tool.id, version.version), CardFormat.CHAI_XML)
        resources.append(validated(ai_device(facts, with_model_card=True)))
        resources.append(validated(ai_model_card(facts, card)))
        for output in logged_outputs(session, version, max_outputs):
            resources.append(validated(ai_output(output, facts)))
            resources.append(
                validated(ai_provenance(output, facts, recorded, with_model_card=True))
            )
            outputs += 1
    return validated(collection(resources, recorded)), outputs
