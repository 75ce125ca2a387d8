"""``GET /api/v1/tools/{id}/...``: a tool's governance records as paginated lists, newest first
(evidence, evaluation results, hazard log, sign-offs, decisions, lifecycle transitions)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class RecordList:
    """One list endpoint: its path under the tool, its item schema, the query of a tool's rows
    and the column that orders them (newest first)."""

    path: str
    item: type[BaseModel]
    rows: Callable[[uuid.UUID], Select[Any]]
    newest: Any
    summary: str


def _of_versions(model: Any, tool_id: uuid.UUID) -> Select[Any]:
    return (
        select(model)
        .join(ToolVersion, ToolVersion.id == model.version_id)
        .where(ToolVersion.tool_id == tool_id)
    )


LISTS: tuple[RecordList, ...] = (
    RecordList(
        "evidence",
        EvidenceItem,
        lambda t: select(EvidenceDocument).where(EvidenceDocument.tool_id == t),
        EvidenceDocument.created_at,
        "Evidence documents filed for the tool (downloads through the web app's tool page).",
    ),
    RecordList(
        "evaluations",
        EvaluationItem,
        lambda t: _of_versions(EvaluationRecord, t),
        EvaluationRecord.created_at,
        "Local evaluation results recorded against the tool's versions.",
    ),
    RecordList(
        "hazards",
        HazardItem,
        lambda t: select(Hazard).where(Hazard.tool_id == t),
        Hazard.created_at,
        "The tool's DCB0160 hazard log.",
    ),
    RecordList(
        "signoffs",
        SignOffItem,
        lambda t: select(SignOff).where(SignOff.tool_id == t),
        SignOff.created_at,
        "Sign-offs given for the tool's gates, by whom and in which role.",
    ),
    RecordList(
        "decisions",
        DecisionItem,
        lambda t: select(Decision).where(Decision.tool_id == t),
        Decision.created_at,
        "Decisions recorded about the tool.",
    ),
    RecordList(
        "transitions",
        TransitionItem,
        lambda t: select(StateTransition).where(StateTransition.tool_id == t),
        StateTransition.created_at,
        "The tool's moves through the lifecycle: from, to, who, why, under which policy.",
    ),
)


def _endpoint(spec: RecordList) -> Callable[..., Any]:
    def list_records(
        tool_id: uuid.UUID,
        session: SessionDep,
        principal: ReadTools,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Any:
        tool = tool_in_scope(session, tool_id, principal.organisation_id, write=False)
        return _page(session, spec.rows(tool.id), spec.newest, limit, offset, spec.item)

    list_records.__name__ = f"list_{spec.path}"
    list_records.__doc__ = spec.summary
    return list_records


for _spec in LISTS:
    router.add_api_route(
        f"/{_spec.path}",
        _endpoint(_spec),
        methods=["GET"],
        response_model=Page[_spec.item],  # type: ignore[name-defined]
        name=f"list_{_spec.path}",
    )
