"""``/api/v1/priorities`` and ``/api/v1/proposals``: dual-track intake, with the same product's
assessments elsewhere in the region shown for reuse."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from sqlalchemy.orm import Session

from steward.api.deps import CreatePriorities, CreateProposals, ReadProposals, SessionDep
from steward.api.schemas import CreatedOut, PriorityIn, ProposalIn, ProposalOut, ReuseCandidateOut
from steward.registry.errors import NotFoundError
from steward.registry.intake import (
    Proposal,
    ProposalInput,
    create_priority,
    propose,
    reuse_candidates,
)
from steward.registry.models import Organisation, User
from steward.registry.organisations import subtree_ids

router = APIRouter(tags=["intake"])


def _out(session: Session, proposal: Proposal) -> ProposalOut:
    candidates = [
        ReuseCandidateOut(
            tool_id=c.tool_id,
            organisation=c.organisation,
            state=c.state,
            versions=list(c.versions),
            evidence_types=list(c.evidence_types),
            latest_verdict=c.latest_verdict,
            dtac_complete=c.dtac_complete,
            evaluated_at=c.evaluated_at,
        )
        for c in reuse_candidates(session, proposal)
    ]
    return ProposalOut(
        id=proposal.id,
        title=proposal.title,
        product_name=proposal.product_name,
        supplier_name=proposal.supplier_name,
        version=proposal.version,
        priority_id=proposal.priority_id,
        no_priority_reason=proposal.no_priority_reason,
        reuse_candidates=candidates,
    )


@router.post("/priorities", status_code=status.HTTP_201_CREATED, response_model=CreatedOut)
def create_committee_priority(
    body: PriorityIn, session: SessionDep, principal: CreatePriorities
) -> CreatedOut:
    """Record a committee priority (a demand signal) of the caller's organisation."""
    organisation = session.get_one(Organisation, principal.organisation_id)
    by = session.get(User, principal.user_id) if principal.user_id else None
    priority = create_priority(
        session, organisation, body.problem, body.service, body.measurable_need, by
    )
    return CreatedOut(id=priority.id)


@router.post("/proposals", status_code=status.HTTP_201_CREATED, response_model=ProposalOut)
def create_proposal(
    body: ProposalIn, session: SessionDep, principal: CreateProposals
) -> ProposalOut:
    """Propose a tool; the answer lists the same product already assessed in the region."""
    organisation = session.get_one(Organisation, principal.organisation_id)
    by = session.get(User, principal.user_id) if principal.user_id else None
    proposal = propose(session, organisation, ProposalInput(**body.model_dump()), by)
    return _out(session, proposal)


@router.get("/proposals/{proposal_id}", response_model=ProposalOut)
def read_proposal(
    proposal_id: uuid.UUID, session: SessionDep, principal: ReadProposals
) -> ProposalOut:
    """A proposal with the current reuse candidates."""
    proposal = session.get(Proposal, proposal_id)
    if proposal is None or proposal.organisation_id not in subtree_ids(
        session, principal.organisation_id
    ):
        raise NotFoundError(f"no proposal with id {proposal_id}")
    return _out(session, proposal)
