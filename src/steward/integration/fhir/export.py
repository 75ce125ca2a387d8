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
from steward.registry.models import Organisation, Supplier, Tool, ToolVersion
from steward.registry.tools import get_tool


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


def logged_outputs(session: Session, version: ToolVersion) -> Iterator[LoggedOutput]:
    """Outputs of ``version`` logged for surveillance (none until they are stored)."""
    return iter(())


def tool_bundle(session: Session, tool_id: uuid.UUID) -> tuple[dict[str, Any], int]:
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
        for output in logged_outputs(session, version):
            resources.append(validated(ai_output(output, facts)))
            resources.append(
                validated(ai_provenance(output, facts, recorded, with_model_card=True))
            )
            outputs += 1
    return validated(collection(resources, recorded)), outputs
