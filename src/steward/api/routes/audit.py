"""``GET /api/v1/audit``: the audit trail, oldest first, paginated by sequence number."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from steward.api.deps import ReadAudit, SessionDep
from steward.api.schemas import AuditEventOut, AuditPage, ChainHeadOut
from steward.audit.models import HEAD_ID, AuditChainHead, AuditEvent
from steward.audit.search import visible_to

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=AuditPage)
def list_audit_events(
    session: SessionDep,
    principal: ReadAudit,
    after: Annotated[int, Query(ge=0, le=2**62, description="Events after this number")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    entity_type: Annotated[str | None, Query(max_length=64)] = None,
    entity_id: Annotated[str | None, Query(max_length=100)] = None,
) -> AuditPage:
    """Events caused by the caller's organisation or those below it, with the chain head.

    Command-line events (no organisation) are visible to callers from a top-level organisation.
    """
    visible = visible_to(session, principal.organisation_id)
    query = select(AuditEvent).where(visible, AuditEvent.seq > after)
    if entity_type is not None:
        query = query.where(AuditEvent.entity_type == entity_type)
    if entity_id is not None:
        query = query.where(AuditEvent.entity_id == entity_id)
    events = list(session.scalars(query.order_by(AuditEvent.seq).limit(limit + 1)))
    head = session.get_one(AuditChainHead, HEAD_ID)
    page = events[:limit]
    return AuditPage(
        items=[AuditEventOut.model_validate(e, from_attributes=True) for e in page],
        next_after=page[-1].seq if len(events) > limit else None,
        head=ChainHeadOut(seq=head.seq, hash=head.hash),
    )
