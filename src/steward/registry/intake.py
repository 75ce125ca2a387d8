"""Dual-track intake: committee priorities (demand signals) and staff proposals, with reuse of
assessments already made for the same product elsewhere in the region."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from steward.db.base import Base, CreatedMixin, IdMixin, enum_type
from steward.registry.assessments import dtac_complete
from steward.registry.errors import invalid
from steward.registry.evidence import latest_tool_verdict
from steward.registry.models import Organisation, Supplier, Tool, ToolVersion, User
from steward.registry.organisations import ancestors, require_text, subtree_ids
from steward.registry.records import EvidenceDocument
from steward.registry.tools import add_version, create_supplier, register_tool


class PriorityStatus(StrEnum):
    """Whether a priority still asks for a solution."""

    OPEN = "open"
    ADDRESSED = "addressed"
    CLOSED = "closed"


class Priority(IdMixin, CreatedMixin, Base):
    """A committee priority: a problem in a service with a measurable need."""

    __tablename__ = "priorities"

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    problem: Mapped[str] = mapped_column(String(300))
    service: Mapped[str] = mapped_column(String(200))
    measurable_need: Mapped[str] = mapped_column(Text)
    status: Mapped[PriorityStatus] = mapped_column(
        enum_type(PriorityStatus, "status"), default=PriorityStatus.OPEN
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT")
    )


class Proposal(IdMixin, CreatedMixin, Base):
    """A proposal from any member of staff, linked to a priority or saying why not."""

    __tablename__ = "proposals"

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    problem: Mapped[str] = mapped_column(Text)
    product_name: Mapped[str] = mapped_column(String(200))
    supplier_name: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[str | None] = mapped_column(String(100))
    priority_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("priorities.id", ondelete="RESTRICT"), index=True
    )
    no_priority_reason: Mapped[str | None] = mapped_column(Text)
    proposed_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT")
    )
    tool_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tools.id", ondelete="RESTRICT"), index=True
    )


def create_priority(
    session: Session,
    organisation: Organisation,
    problem: str,
    service: str,
    measurable_need: str,
    created_by: User | None = None,
) -> Priority:
    """Record a committee priority."""
    priority = Priority(
        id=uuid.uuid4(),
        organisation_id=organisation.id,
        problem=require_text("problem", problem, 300),
        service=require_text("service", service),
        measurable_need=require_text("measurable_need", measurable_need, 10_000),
        status=PriorityStatus.OPEN,
        created_by_id=created_by.id if created_by else None,
    )
    session.add(priority)
    session.flush()
    return priority


@dataclass(frozen=True)
class ProposalInput:
    """What a member of staff proposes."""

    title: str
    problem: str
    product_name: str
    supplier_name: str | None = None
    version: str | None = None
    priority_id: uuid.UUID | None = None
    no_priority_reason: str | None = None


def propose(
    session: Session, organisation: Organisation, entry: ProposalInput, by: User | None = None
) -> Proposal:
    """Record a proposal; it names a priority of the same organisation or says why it has none."""
    if entry.priority_id is not None:
        priority = session.get(Priority, entry.priority_id)
        if priority is None or priority.organisation_id != organisation.id:
            raise invalid("priority_id", "no such priority in this organisation")
        if entry.no_priority_reason:
            raise invalid("no_priority_reason", "give a priority or a reason, not both")
    elif not (entry.no_priority_reason or "").strip():
        raise invalid("no_priority_reason", "link a priority or say why the proposal has none")
    proposal = Proposal(
        id=uuid.uuid4(),
        organisation_id=organisation.id,
        title=require_text("title", entry.title, 300),
        problem=require_text("problem", entry.problem, 10_000),
        product_name=require_text("product_name", entry.product_name),
        supplier_name=entry.supplier_name.strip() if entry.supplier_name else None,
        version=entry.version.strip() if entry.version else None,
        priority_id=entry.priority_id,
        no_priority_reason=(entry.no_priority_reason or "").strip() or None,
        proposed_by_id=by.id if by else None,
    )
    session.add(proposal)
    session.flush()
    return proposal


def propose_tool(
    session: Session, organisation: Organisation, entry: ProposalInput, by: User | None = None
) -> tuple[Proposal, Tool]:
    """Record a proposal and register the product it names as a tool in state ``proposed``
    (with the named version), so the proposal enters the gates at once."""
    proposal = propose(session, organisation, entry, by)
    supplier_id = None
    if proposal.supplier_name:
        found = session.scalar(select(Supplier).where(Supplier.name == proposal.supplier_name))
        supplier_id = (found or create_supplier(session, proposal.supplier_name)).id
    tool = register_tool(
        session, organisation, proposal.product_name, proposal.problem, supplier_id, by
    )
    if proposal.version:
        add_version(session, tool, proposal.version)
    proposal.tool_id = tool.id
    session.flush()
    return proposal, tool


@dataclass(frozen=True)
class ReuseCandidate:
    """The same product already in the registry of an organisation of the same region."""

    tool_id: uuid.UUID
    organisation: str
    state: str
    versions: tuple[str, ...]
    evidence_types: tuple[str, ...]
    latest_verdict: str | None
    dtac_complete: bool
    evaluated_at: datetime | None


def reuse_candidates(session: Session, proposal: Proposal) -> list[ReuseCandidate]:
    """Tools of the same name (and supplier and version, when given) across the region."""
    home = session.get_one(Organisation, proposal.organisation_id)
    region = (ancestors(session, home) or [home])[-1]
    query = select(Tool).where(
        Tool.organisation_id.in_(subtree_ids(session, region.id)),
        func.lower(Tool.name) == proposal.product_name.lower(),
    )
    if proposal.tool_id is not None:
        query = query.where(Tool.id != proposal.tool_id)
    if proposal.supplier_name:
        query = query.join(Supplier, Supplier.id == Tool.supplier_id).where(
            func.lower(Supplier.name) == proposal.supplier_name.lower()
        )
    return [
        candidate
        for tool in session.scalars(query.order_by(Tool.created_at))
        if (candidate := _candidate(session, tool, proposal.version)) is not None
    ]


def _candidate(session: Session, tool: Tool, version: str | None) -> ReuseCandidate | None:
    versions = tuple(
        session.scalars(
            select(ToolVersion.version)
            .where(ToolVersion.tool_id == tool.id)
            .order_by(ToolVersion.created_at)
        )
    )
    if version is not None and version not in versions:
        return None
    latest = latest_tool_verdict(session, tool.id)
    evidence = session.scalars(
        select(EvidenceDocument.evidence_type)
        .where(EvidenceDocument.tool_id == tool.id)
        .distinct()
        .order_by(EvidenceDocument.evidence_type)
    )
    return ReuseCandidate(
        tool_id=tool.id,
        organisation=session.get_one(Organisation, tool.organisation_id).slug,
        state=tool.state.value,
        versions=versions,
        evidence_types=tuple(evidence),
        latest_verdict=latest.verdict.value if latest else None,
        dtac_complete=dtac_complete(session, tool),
        evaluated_at=latest.created_at if latest else None,
    )
