"""``/api/v1/tools/{id}/...cds-services``: register a supplier's CDS service per tool version."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field
from sqlalchemy import select

from steward.api.deps import SessionDep, allowed
from steward.api.schemas import Request
from steward.auth.tokens import Principal
from steward.integration.cdshooks.models import CdsService, ScoreSource
from steward.integration.cdshooks.services import ServiceSpec, register_service
from steward.registry.errors import NotFoundError
from steward.registry.models import ToolVersion
from steward.registry.tools import tool_in_scope

router = APIRouter(prefix="/tools/{tool_id}", tags=["CDS Hooks gateway"])

RegisterCds = Annotated[Principal, Depends(allowed("cds:register"), scope="function")]
ReadCds = Annotated[Principal, Depends(allowed("cds:read"), scope="function")]


class CdsServiceIn(Request):
    hook: str = Field(min_length=1, max_length=200, examples=["patient-view"])
    title: str = Field(default="", max_length=300)
    description: str = Field(min_length=1, max_length=10_000)
    supplier_url: str = Field(
        min_length=1,
        max_length=2000,
        description="The supplier's service endpoint, {supplierBase}/cds-services/{id}",
    )
    prefetch: dict[str, str] = Field(default_factory=dict)
    tenant: str | None = Field(default=None, min_length=1, max_length=200)
    score_source: ScoreSource = ScoreSource.NONE
    score_pattern: str | None = Field(default=None, min_length=1, max_length=500)
    score_scale: float = Field(default=1.0, gt=0, le=1_000_000)
    fallback_card: bool = False


class CdsServiceOut(BaseModel):
    id: uuid.UUID
    version_id: uuid.UUID
    service_id: str
    hook: str
    title: str
    description: str
    supplier_url: str
    prefetch: dict[str, str]
    tenant: str | None
    score_source: ScoreSource
    score_pattern: str | None
    score_scale: float
    fallback_card: bool
    updated_at: datetime


@router.put("/versions/{version}/cds-services/{service_id}", response_model=CdsServiceOut)
def put_cds_service(
    tool_id: uuid.UUID,
    version: Annotated[str, Path(min_length=1, max_length=100)],
    service_id: Annotated[str, Path(min_length=1, max_length=200)],
    body: CdsServiceIn,
    session: SessionDep,
    principal: RegisterCds,
) -> CdsServiceOut:
    """Register (or replace) the supplier's service ``service_id`` for one hook of a version."""
    tool = tool_in_scope(session, tool_id, principal.organisation_id, write=True)
    row = session.scalar(
        select(ToolVersion).where(ToolVersion.tool_id == tool.id, ToolVersion.version == version)
    )
    if row is None:
        raise NotFoundError(f"tool {tool.name!r} has no version {version!r}")
    spec = ServiceSpec(service_id=service_id, **body.model_dump())
    return CdsServiceOut.model_validate(register_service(session, row, spec), from_attributes=True)


@router.get("/cds-services", response_model=list[CdsServiceOut])
def list_cds_services(
    tool_id: uuid.UUID, session: SessionDep, principal: ReadCds
) -> list[CdsServiceOut]:
    """Every CDS service registered for any version of the tool."""
    tool = tool_in_scope(session, tool_id, principal.organisation_id, write=False)
    rows = session.scalars(
        select(CdsService)
        .join(ToolVersion, ToolVersion.id == CdsService.version_id)
        .where(ToolVersion.tool_id == tool.id)
        .order_by(ToolVersion.created_at, CdsService.service_id, CdsService.hook)
    )
    return [CdsServiceOut.model_validate(r, from_attributes=True) for r in rows]
