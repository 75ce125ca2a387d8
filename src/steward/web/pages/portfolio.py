"""``/portfolio``: every tool by lifecycle stage with owner, open alerts and hazards and the next
review date, with filters; a region-level user sees every member organisation's tools."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from steward.api.deps import SessionDep
from steward.registry.models import LifecycleState, Organisation
from steward.registry.portfolio import STAGES, PortfolioFilter, PortfolioRow, portfolio
from steward.surveillance.alerts.counts import open_alert_counts
from steward.web.deps import ReadToolsPage
from steward.web.forms import Form
from steward.web.templating import render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Stage:
    state: LifecycleState
    rows: tuple[PortfolioRow, ...]


@dataclass(frozen=True)
class PortfolioPage:
    stages: tuple[Stage, ...]
    total: int
    filters: Form
    organisations: tuple[tuple[str, str], ...]
    regional: bool
    scope_name: str
    can_propose: bool


def _parse_filter(
    stage: str, organisation: str, text: str, organisations: dict[str, uuid.UUID]
) -> tuple[PortfolioFilter, Form]:
    form = Form(values={"stage": stage, "organisation": organisation, "q": text})
    state = LifecycleState(stage) if stage in LifecycleState.__members__.values() else None
    if stage and state is None:
        form.errors["stage"] = "Choose a stage from the list."
    organisation_id = organisations.get(organisation)
    if organisation and organisation_id is None:
        form.errors["organisation"] = "Choose an organisation from the list."
    return PortfolioFilter(state, organisation_id, text[:200]), form


@router.get("/portfolio")
def portfolio_page(
    request: Request,
    session: SessionDep,
    viewer: ReadToolsPage,
    stage: str = "",
    organisation: str = "",
    q: str = "",
) -> Response:
    """The organisation's (or region's) tools by stage."""
    orgs = session.execute(
        select(Organisation.slug, Organisation.name, Organisation.id)
        .where(Organisation.id.in_(viewer.scope_ids))
        .order_by(Organisation.name)
    ).all()
    where, form = _parse_filter(stage, organisation, q, {slug: oid for slug, _, oid in orgs})
    rows = portfolio(session, viewer.scope_ids, where, open_alert_counts)
    stages = tuple(
        Stage(state, tuple(r for r in rows if r.state == state))
        for state in STAGES
        if where.stage in (None, state)
    )
    page = PortfolioPage(
        stages=stages,
        total=len(rows),
        filters=form,
        organisations=tuple((slug, name) for slug, name, _ in orgs),
        regional=len({row.organisation for row in rows}) > 1 or viewer.seat_is_region,
        scope_name=viewer.seat.organisation_name,
        can_propose=viewer.may("proposals:create"),
    )
    return render(request, "portfolio.html", page, title="Portfolio")
