"""``/api/v1/tools``: register tools, read them with their state, move them through the gates."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from steward.api.deps import CreateTools, ReadTools, SessionDep, TransitionTools
from steward.api.schemas import (
    ToolCreate,
    ToolOut,
    ToolPage,
    TransitionIn,
    TransitionOut,
    VersionOut,
)
from steward.registry.clearances import cleared_states
from steward.registry.lifecycle import lifecycle_policy
from steward.registry.models import LifecycleState, Organisation, Supplier, Tool, ToolVersion
from steward.registry.organisations import subtree_ids
from steward.registry.tools import add_version, create_supplier, register_tool, tool_in_scope
from steward.registry.transitions import transition

router = APIRouter(prefix="/tools", tags=["tools"])


def version_out(session: Session, version: ToolVersion) -> VersionOut:
    """A version with the gates it has passed, in pathway order."""
    policy = lifecycle_policy()
    cleared = cleared_states(session, version.id)
    return VersionOut(
        id=version.id,
        version=version.version,
        created_at=version.created_at,
        cleared_for=[s for s in policy.pathway if s in cleared],
    )


def _out(session: Session, tool: Tool) -> ToolOut:
    organisation = session.get_one(Organisation, tool.organisation_id)
    supplier = session.get(Supplier, tool.supplier_id) if tool.supplier_id else None
    versions = session.scalars(
        select(ToolVersion).where(ToolVersion.tool_id == tool.id).order_by(ToolVersion.created_at)
    )
    return ToolOut(
        id=tool.id,
        name=tool.name,
        description=tool.description,
        organisation=organisation.slug,
        supplier=supplier.name if supplier else None,
        state=tool.state,
        allowed_transitions=lifecycle_policy().targets(tool.state),
        versions=[version_out(session, v) for v in versions],
        created_at=tool.created_at,
        updated_at=tool.updated_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ToolOut)
def create_tool(body: ToolCreate, session: SessionDep, principal: CreateTools) -> ToolOut:
    """Register a tool in the caller's organisation, in state ``proposed``."""
    organisation = session.get_one(Organisation, principal.organisation_id)
    supplier_id = None
    if body.supplier is not None:
        found = session.scalar(select(Supplier).where(Supplier.name == body.supplier.strip()))
        supplier_id = (found or create_supplier(session, body.supplier)).id
    tool = register_tool(session, organisation, body.name, body.description, supplier_id)
    if body.version is not None:
        add_version(session, tool, body.version)
    return _out(session, tool)


@router.get("", response_model=ToolPage)
def list_tools(
    session: SessionDep,
    principal: ReadTools,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    state: LifecycleState | None = None,
) -> ToolPage:
    """Tools of the caller's organisation and those below it, by name."""
    visible = Tool.organisation_id.in_(subtree_ids(session, principal.organisation_id))
    query = select(Tool).where(visible)
    if state is not None:
        query = query.where(Tool.state == state)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    tools = session.scalars(query.order_by(Tool.name, Tool.id).limit(limit).offset(offset))
    return ToolPage(
        items=[_out(session, t) for t in tools], total=total, limit=limit, offset=offset
    )


@router.get("/{tool_id}", response_model=ToolOut)
def read_tool(tool_id: uuid.UUID, session: SessionDep, principal: ReadTools) -> ToolOut:
    """One tool with its lifecycle state and the states it may move to."""
    return _out(session, tool_in_scope(session, tool_id, principal.organisation_id, write=False))


@router.post(
    "/{tool_id}/transitions",
    response_model=TransitionOut,
    responses={409: {"description": "Refused: the problem document lists every unmet item"}},
)
def move_tool(
    tool_id: uuid.UUID, body: TransitionIn, session: SessionDep, principal: TransitionTools
) -> TransitionOut:
    """Move the tool to ``to`` if the policy's gate is met; 409 with ``unmet`` otherwise."""
    tool = tool_in_scope(session, tool_id, principal.organisation_id, write=True)
    record = transition(
        session,
        tool.id,
        body.to,
        actor=principal.actor,
        actor_roles=principal.roles,
        reason=body.reason,
        withdrawal=body.withdrawal,
    )
    return TransitionOut(
        tool_id=tool.id,
        transition_id=record.id,
        from_state=LifecycleState(record.from_state),
        state=tool.state,
        policy_version=record.policy_version,
    )
