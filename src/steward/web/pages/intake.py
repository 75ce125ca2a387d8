"""Dual-track intake in the browser: committee priorities (``/priorities``), proposals from any
member of staff (``/intake``) and each proposal with the same product found elsewhere in the
region (``/proposals/{id}``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from steward.api.deps import SessionDep
from steward.registry.errors import NotFoundError
from steward.registry.intake import (
    Priority,
    PriorityStatus,
    Proposal,
    ProposalInput,
    ReuseCandidate,
    create_priority,
    propose_tool,
    reuse_candidates,
)
from steward.registry.models import Organisation, User
from steward.web.deps import (
    CreatePrioritiesPage,
    CreateProposalsPage,
    FormDep,
    ReadProposalsPage,
    Viewer,
)
from steward.web.forms import Form, attempt
from steward.web.templating import render

router = APIRouter(include_in_schema=False)

PROPOSAL_FIELDS = (
    "title",
    "problem",
    "product_name",
    "supplier_name",
    "version",
    "priority",
    "no_priority_reason",
)
PRIORITY_FIELDS = ("problem", "service", "measurable_need")


@dataclass(frozen=True)
class IntakePage:
    form: Form
    priorities: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ProposalPage:
    proposal: Proposal
    priority: Priority | None
    organisation: str
    candidates: tuple[ReuseCandidate, ...]
    proposed_by: str | None


@dataclass(frozen=True)
class PriorityRow:
    priority: Priority
    proposals: int


@dataclass(frozen=True)
class PrioritiesPage:
    rows: tuple[PriorityRow, ...]
    form: Form
    can_create: bool


def _open_priorities(session: SessionDep, viewer: Viewer) -> tuple[tuple[str, str], ...]:
    rows = session.scalars(
        select(Priority)
        .where(
            Priority.organisation_id == viewer.organisation_id,
            Priority.status == PriorityStatus.OPEN,
        )
        .order_by(Priority.created_at)
    )
    return tuple((str(p.id), f"{p.problem} ({p.service})") for p in rows)


def _intake(
    request: Request, session: SessionDep, viewer: Viewer, form: Form, status: int = 200
) -> Response:
    page = IntakePage(form, _open_priorities(session, viewer))
    return render(request, "intake.html", page, status=status, title="Propose a tool")


@router.get("/intake")
def intake_form(request: Request, session: SessionDep, viewer: CreateProposalsPage) -> Response:
    """The proposal form."""
    return _intake(request, session, viewer, Form())


@router.post("/intake")
def submit_proposal(
    request: Request, session: SessionDep, viewer: CreateProposalsPage, data: FormDep
) -> Response:
    """Record the proposal and register the product as a proposed tool."""
    form = Form.of(data, *PROPOSAL_FIELDS).require("title", "problem", "product_name")
    priority_id = None
    if form.value("priority"):
        try:
            priority_id = uuid.UUID(form.value("priority"))
        except ValueError:
            form.errors["priority"] = "Choose a priority from the list."
    if not form.ok:
        return _intake(request, session, viewer, form, status=422)
    entry = ProposalInput(
        title=form.value("title"),
        problem=form.value("problem"),
        product_name=form.value("product_name"),
        supplier_name=form.value("supplier_name") or None,
        version=form.value("version") or None,
        priority_id=priority_id,
        no_priority_reason=form.value("no_priority_reason") or None,
    )
    organisation = session.get_one(Organisation, viewer.organisation_id)
    result = attempt(
        session,
        form,
        lambda: propose_tool(session, organisation, entry, viewer.user),
        {"priority_id": "priority", "name": "product_name", "description": "problem"},
    )
    if result is None:
        return _intake(request, session, viewer, form, status=422)
    proposal, _tool = result
    return RedirectResponse(f"/proposals/{proposal.id}", status_code=303)


@router.get("/proposals/{proposal_id}")
def proposal_page(
    request: Request, session: SessionDep, viewer: ReadProposalsPage, proposal_id: uuid.UUID
) -> Response:
    """A proposal with the same product already assessed elsewhere in the region."""
    proposal = session.get(Proposal, proposal_id)
    if proposal is None or proposal.organisation_id not in viewer.scope_ids:
        raise NotFoundError(f"no proposal with id {proposal_id}")
    by = session.get(User, proposal.proposed_by_id) if proposal.proposed_by_id else None
    page = ProposalPage(
        proposal=proposal,
        priority=session.get(Priority, proposal.priority_id) if proposal.priority_id else None,
        organisation=session.get_one(Organisation, proposal.organisation_id).name,
        candidates=tuple(reuse_candidates(session, proposal)),
        proposed_by=(by.display_name or by.email) if by else None,
    )
    return render(request, "proposal.html", page, title=proposal.title)


def _priorities(
    request: Request, session: SessionDep, viewer: Viewer, form: Form, status: int = 200
) -> Response:
    linked = (
        select(Proposal.priority_id, func.count())
        .where(Proposal.priority_id.is_not(None))
        .group_by(Proposal.priority_id)
    )
    counts = {pid: int(n) for pid, n in session.execute(linked)}
    rows = session.scalars(
        select(Priority)
        .where(Priority.organisation_id.in_(viewer.scope_ids))
        .order_by(Priority.created_at.desc())
    )
    page = PrioritiesPage(
        rows=tuple(PriorityRow(p, counts.get(p.id, 0)) for p in rows),
        form=form,
        can_create=viewer.may("priorities:create"),
    )
    return render(request, "priorities.html", page, status=status, title="Committee priorities")


@router.get("/priorities")
def priorities_page(request: Request, session: SessionDep, viewer: ReadProposalsPage) -> Response:
    """The committee's priorities (demand signals) and how many proposals answer each."""
    return _priorities(request, session, viewer, Form())


@router.post("/priorities")
def add_priority(
    request: Request, session: SessionDep, viewer: CreatePrioritiesPage, data: FormDep
) -> Response:
    """Record a committee priority."""
    form = Form.of(data, *PRIORITY_FIELDS).require(*PRIORITY_FIELDS)
    organisation = session.get_one(Organisation, viewer.organisation_id)
    if form.ok:
        created = attempt(
            session,
            form,
            lambda: create_priority(
                session,
                organisation,
                form.value("problem"),
                form.value("service"),
                form.value("measurable_need"),
                viewer.user,
            ),
            {},
        )
        if created is not None:
            return RedirectResponse("/priorities", status_code=303)
    return _priorities(request, session, viewer, form, status=422)
