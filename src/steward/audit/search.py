"""Reading the audit trail: which events an organisation may see, and searching them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from steward.audit.models import AuditEvent
from steward.registry.models import Organisation
from steward.registry.organisations import subtree_ids


def visible_to(session: Session, organisation_id: uuid.UUID) -> ColumnElement[bool]:
    """Events caused within the organisation or below it; command-line events (no organisation)
    are visible to a top-level organisation only."""
    scope = [str(i) for i in subtree_ids(session, organisation_id)]
    visible: ColumnElement[bool] = AuditEvent.organisation_id.in_(scope)
    if session.get_one(Organisation, organisation_id).parent_id is None:
        visible = or_(visible, AuditEvent.organisation_id.is_(None))
    return visible


@dataclass(frozen=True)
class AuditSearch:
    """What to look for; empty values mean no restriction. Text matches are case-insensitive."""

    actor: str = ""
    action: str = ""
    entity_type: str = ""
    entity_id: str = ""
    since: datetime | None = None
    until: datetime | None = None


def search_events(
    session: Session,
    organisation_id: uuid.UUID,
    search: AuditSearch,
    before_seq: int | None = None,
    limit: int = 50,
) -> tuple[list[AuditEvent], int | None]:
    """Matching events, newest first, and the number to pass as ``before_seq`` for the next page."""
    query = _filtered(select(AuditEvent).where(visible_to(session, organisation_id)), search)
    if before_seq is not None:
        query = query.where(AuditEvent.seq < before_seq)
    events = list(session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit + 1)))
    page = events[:limit]
    return page, (page[-1].seq if len(events) > limit else None)


def _filtered(query: Select[AuditEvent], search: AuditSearch) -> Select[AuditEvent]:
    if search.actor:
        query = query.where(func.lower(AuditEvent.actor).contains(search.actor.lower()))
    if search.action:
        query = query.where(func.lower(AuditEvent.action).contains(search.action.lower()))
    if search.entity_type:
        query = query.where(AuditEvent.entity_type == search.entity_type)
    if search.entity_id:
        query = query.where(AuditEvent.entity_id == search.entity_id)
    if search.since is not None:
        query = query.where(AuditEvent.occurred_at >= search.since)
    if search.until is not None:
        query = query.where(AuditEvent.occurred_at < search.until)
    return query
