"""``GET /api/v1/tools/{id}/...``: a tool's governance records as paginated lists, newest first
(evidence, evaluation results, hazard log, sign-offs, decisions, lifecycle transitions)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from steward.api.deps import ReadTools, SessionDep
from steward.registry.models import ToolVersion
from steward.registry.records import (
    Decision,
    EvaluationRecord,
    EvidenceDocument,
    Hazard,
    SignOff,
    StateTransition,
)
from steward.registry.tools import tool_in_scope

router = APIRouter(prefix="/tools/{tool_id}", tags=["governance file"])

Item = TypeVar("Item", bound=BaseModel)
Limit = Annotated[int, Query(ge=1, le=200, description="Items per page")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip")]


class Page(BaseModel, Generic[Item]):
    """One page of a list, newest first, with the number of items in the whole list."""

    items: list[Item]
    total: int
    limit: int
    offset: int


class EvidenceItem(BaseModel):
    id: uuid.UUID
    version_id: uuid.UUID | None
    evidence_type: str
    title: str
    filename: str
    media_type: str
    size_bytes: int
    sha256: str
    created_at: datetime


class EvaluationItem(BaseModel):
    id: uuid.UUID
    version_id: uuid.UUID
    verdict: str
    sha256: str
    created_at: datetime


class HazardItem(BaseModel):
    id: uuid.UUID
    reference: str
    name: str
    status: str
    initial_risk: int
    residual_risk: int | None
    matrix_version: str
    created_at: datetime


class SignOffItem(BaseModel):
    id: uuid.UUID
    version_id: uuid.UUID | None
    gate: str
    role: str
    user_id: uuid.UUID
    note: str
    created_at: datetime


class DecisionItem(BaseModel):
    id: uuid.UUID
    version_id: uuid.UUID | None
    subject: str
    outcome: str
    rationale: str
    created_at: datetime


class TransitionItem(BaseModel):
    id: uuid.UUID
    version_id: uuid.UUID | None
    from_state: str
    to_state: str
    reason: str
    actor: str
    policy_version: str
    created_at: datetime


def _page(
    session: Session,
    query: Select[Any],
    order: Any,
    limit: int,
    offset: int,
    item: type[Item],
) -> Page[Item]:
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(order.desc()).limit(limit).offset(offset))
    items = [item.model_validate(row, from_attributes=True) for row in rows]
    return Page[Item](items=items, total=total, limit=limit, offset=offset)


def _tool_id(session: Session, tool_id: uuid.UUID, principal: ReadTools) -> uuid.UUID:
    return tool_in_scope(session, tool_id, principal.organisation_id, write=False).id


@router.get("/evidence", response_model=Page[EvidenceItem])
def list_evidence(
    tool_id: uuid.UUID,
    session: SessionDep,
    principal: ReadTools,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    """Evidence documents filed for the tool (download through the web app's tool page)."""
    tid = _tool_id(session, tool_id, principal)
    query = select(EvidenceDocument).where(EvidenceDocument.tool_id == tid)
    return _page(session, query, EvidenceDocument.created_at, limit, offset, EvidenceItem)


@router.get("/evaluations", response_model=Page[EvaluationItem])
def list_evaluations(
    tool_id: uuid.UUID,
    session: SessionDep,
    principal: ReadTools,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    """Local evaluation results recorded against the tool's versions."""
    tid = _tool_id(session, tool_id, principal)
    query = (
        select(EvaluationRecord)
        .join(ToolVersion, ToolVersion.id == EvaluationRecord.version_id)
        .where(ToolVersion.tool_id == tid)
    )
    return _page(session, query, EvaluationRecord.created_at, limit, offset, EvaluationItem)


@router.get("/hazards", response_model=Page[HazardItem])
def list_hazards(
    tool_id: uuid.UUID,
    session: SessionDep,
    principal: ReadTools,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    """The tool's DCB0160 hazard log."""
    tid = _tool_id(session, tool_id, principal)
    query = select(Hazard).where(Hazard.tool_id == tid)
    return _page(session, query, Hazard.created_at, limit, offset, HazardItem)


@router.get("/signoffs", response_model=Page[SignOffItem])
def list_sign_offs(
    tool_id: uuid.UUID,
    session: SessionDep,
    principal: ReadTools,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    """Sign-offs given for the tool's gates, by whom and in which role."""
    tid = _tool_id(session, tool_id, principal)
    query = select(SignOff).where(SignOff.tool_id == tid)
    return _page(session, query, SignOff.created_at, limit, offset, SignOffItem)


@router.get("/decisions", response_model=Page[DecisionItem])
def list_decisions(
    tool_id: uuid.UUID,
    session: SessionDep,
    principal: ReadTools,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    """Decisions recorded about the tool."""
    tid = _tool_id(session, tool_id, principal)
    query = select(Decision).where(Decision.tool_id == tid)
    return _page(session, query, Decision.created_at, limit, offset, DecisionItem)


@router.get("/transitions", response_model=Page[TransitionItem])
def list_transitions(
    tool_id: uuid.UUID,
    session: SessionDep,
    principal: ReadTools,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    """The tool's moves through the lifecycle: from, to, who, why, under which policy."""
    tid = _tool_id(session, tool_id, principal)
    query = select(StateTransition).where(StateTransition.tool_id == tid)
    return _page(session, query, StateTransition.created_at, limit, offset, TransitionItem)
