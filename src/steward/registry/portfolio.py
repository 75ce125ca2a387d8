"""The portfolio: every tool within an organisation's scope with what a committee scans for —
stage, owner, open hazards and their highest risk, open alerts, next review date — in a few
aggregate queries, whatever the number of tools."""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from steward.auth.roles import Role
from steward.registry.models import LifecycleState, MdtMember, Organisation, Supplier, Tool, User
from steward.registry.policies import load_policy
from steward.registry.records import Hazard, HazardStatus, StateTransition

#: Stages in pathway order, as the portfolio lists them.
STAGES: tuple[LifecycleState, ...] = tuple(LifecycleState)

#: Counts of open alerts per tool, supplied by surveillance once it is installed.
AlertCounter = Callable[[Session, Collection[uuid.UUID]], Mapping[uuid.UUID, int]]


@dataclass(frozen=True)
class PortfolioFilter:
    """What the committee narrows the portfolio to; empty values mean no restriction."""

    stage: LifecycleState | None = None
    organisation_id: uuid.UUID | None = None
    text: str = ""


@dataclass(frozen=True)
class PortfolioRow:
    """One tool as the portfolio shows it."""

    tool_id: uuid.UUID
    name: str
    organisation: str
    supplier: str | None
    state: LifecycleState
    owner: str | None
    open_hazards: int
    highest_open_risk: int | None
    open_alerts: int
    state_since: datetime
    next_review: datetime | None


@cache
def review_months() -> dict[str, int]:
    """Months between reviews per state, from the versioned review-intervals policy."""
    return {str(k): int(v) for k, v in load_policy("review-intervals")["months"].items()}


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus whole calendar months, clamped to the month's last day."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def portfolio(
    session: Session,
    scope_ids: Collection[uuid.UUID],
    where: PortfolioFilter = PortfolioFilter(),
    alert_counts: AlertCounter | None = None,
) -> list[PortfolioRow]:
    """Tools of the organisations in ``scope_ids`` that match ``where``, by name."""
    query = (
        select(Tool, Organisation.name, Supplier.name)
        .join(Organisation, Organisation.id == Tool.organisation_id)
        .outerjoin(Supplier, Supplier.id == Tool.supplier_id)
        .where(Tool.organisation_id.in_(scope_ids))
        .order_by(Tool.name)
    )
    if where.stage is not None:
        query = query.where(Tool.state == where.stage)
    if where.organisation_id is not None:
        query = query.where(Tool.organisation_id == where.organisation_id)
    if where.text.strip():
        pattern = f"%{where.text.strip().lower()}%"
        query = query.where(
            func.lower(Tool.name).like(pattern) | func.lower(Supplier.name).like(pattern)
        )
    found = session.execute(query).all()
    ids = [tool.id for tool, _, _ in found]
    owners = _owners(session, ids)
    hazards = _open_hazards(session, ids)
    since = _state_since(session, ids)
    alerts = alert_counts(session, ids) if alert_counts and ids else {}
    rows = []
    for tool, organisation, supplier in found:
        entered = since.get(tool.id, tool.created_at)
        months = review_months().get(tool.state.value)
        count, highest = hazards.get(tool.id, (0, None))
        rows.append(
            PortfolioRow(
                tool_id=tool.id,
                name=tool.name,
                organisation=organisation,
                supplier=supplier,
                state=tool.state,
                owner=owners.get(tool.id),
                open_hazards=count,
                highest_open_risk=highest,
                open_alerts=alerts.get(tool.id, 0),
                state_since=entered,
                next_review=add_months(entered, months) if months else None,
            )
        )
    return rows


def _owners(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The clinical lead on each tool's MDT (the accountable owner), by display name."""
    rows = session.execute(
        select(MdtMember.tool_id, User.display_name, User.email)
        .join(User, User.id == MdtMember.user_id)
        .where(MdtMember.tool_id.in_(ids), MdtMember.role == Role.CLINICAL_LEAD)
        .order_by(MdtMember.created_at)
    ).all()
    owners: dict[uuid.UUID, str] = {}
    for tool_id, name, email in rows:
        owners.setdefault(tool_id, name or email)
    return owners


def _open_hazards(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
    risk = func.coalesce(Hazard.residual_risk, Hazard.initial_risk)
    rows = session.execute(
        select(Hazard.tool_id, func.count(), func.max(risk))
        .where(Hazard.tool_id.in_(ids), Hazard.status == HazardStatus.OPEN)
        .group_by(Hazard.tool_id)
    ).all()
    return {tool_id: (int(n), int(top)) for tool_id, n, top in rows}


def _state_since(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    rows = session.execute(
        select(StateTransition.tool_id, func.max(StateTransition.created_at))
        .where(StateTransition.tool_id.in_(ids))
        .group_by(StateTransition.tool_id)
    ).all()
    return {tool_id: moment for tool_id, moment in rows}  # noqa: C416 (typed rows)
