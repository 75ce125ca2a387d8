"""The public transparency register: each tool in live clinical use as a plain-language card —
what it does, who uses it, how it was checked, how it is monitored, whom to contact."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from steward.auth.roles import Role
from steward.registry.errors import NotFoundError
from steward.registry.evidence import latest_tool_verdict
from steward.registry.models import (
    Deployment,
    DeploymentStatus,
    LifecycleState,
    MdtMember,
    ModelFacts,
    Organisation,
    Supplier,
    Tool,
    ToolVersion,
    User,
)
from steward.registry.records import FallbackPlan, Hazard, StateTransition

#: States in which a tool is in live clinical use and so appears on the public register.
LIVE_STATES = frozenset({LifecycleState.LIVE_PILOT, LifecycleState.DEPLOYED})

#: Where each plain-language answer is looked for in the model facts, first match wins.
FACT_SOURCES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "what": (
        ("chai", "ModelSummary", "Summary"),
        ("hti1", "purpose", "intended_use"),
    ),
    "users": (
        ("chai", "UsesAndDirections", "PrimaryIntendedUsers"),
        ("hti1", "purpose", "intended_users"),
    ),
    "monitoring": (
        ("chai", "TrustIngredients", "OngoingMaintenance"),
        ("hti1", "ongoing_maintenance", "validity_monitoring"),
    ),
}


@dataclass(frozen=True)
class Milestone:
    state: str
    at: datetime


@dataclass(frozen=True)
class RegisterCard:
    """One tool on the public register, in words a patient can read."""

    tool_id: uuid.UUID
    name: str
    organisation: str
    supplier: str | None
    state: LifecycleState
    what_it_does: str
    intended_users: str
    used_at: tuple[str, ...]
    milestones: tuple[Milestone, ...]
    latest_evaluation: str | None
    latest_evaluation_at: datetime | None
    hazards_logged: int
    monitoring: str
    has_fallback_plan: bool
    contact: str


def register_cards(session: Session) -> list[RegisterCard]:
    """Every tool in live use, across all organisations, by name."""
    tools = session.scalars(
        select(Tool).where(Tool.state.in_(LIVE_STATES)).order_by(Tool.name, Tool.id)
    )
    return [_card(session, tool) for tool in tools]


def register_card(session: Session, tool_id: uuid.UUID) -> RegisterCard:
    """The card of one tool in live use; tools not in live use are not public."""
    tool = session.get(Tool, tool_id)
    if tool is None or tool.state not in LIVE_STATES:
        raise NotFoundError(f"no tool in live use with id {tool_id}")
    return _card(session, tool)


def _card(session: Session, tool: Tool) -> RegisterCard:
    organisation = session.get_one(Organisation, tool.organisation_id)
    supplier = session.get(Supplier, tool.supplier_id) if tool.supplier_id else None
    facts = _facts(session, tool)
    evaluation = latest_tool_verdict(session, tool.id)
    milestones = tuple(
        Milestone(state, at)
        for state, at in session.execute(
            select(StateTransition.to_state, StateTransition.created_at)
            .where(StateTransition.tool_id == tool.id)
            .order_by(StateTransition.created_at)
        )
    )
    sites = session.execute(
        select(Organisation.name, Deployment.care_setting)
        .join(Deployment, Deployment.site_id == Organisation.id)
        .join(ToolVersion, ToolVersion.id == Deployment.version_id)
        .where(ToolVersion.tool_id == tool.id, Deployment.status == DeploymentStatus.LIVE)
        .order_by(Organisation.name)
    ).all()
    return RegisterCard(
        tool_id=tool.id,
        name=tool.name,
        organisation=organisation.name,
        supplier=supplier.name if supplier else None,
        state=tool.state,
        what_it_does=_first(facts, "what") or tool.description or "Not described yet.",
        intended_users=_first(facts, "users") or "Clinical staff of the services listed.",
        used_at=tuple(f"{site}, {setting}" for site, setting in sites),
        milestones=milestones,
        latest_evaluation=evaluation.verdict.value if evaluation else None,
        latest_evaluation_at=evaluation.created_at if evaluation else None,
        hazards_logged=session.scalar(
            select(func.count()).select_from(Hazard).where(Hazard.tool_id == tool.id)
        )
        or 0,
        monitoring=_first(facts, "monitoring")
        or "Its performance is reviewed by the organisation's AI governance committee.",
        has_fallback_plan=session.scalar(
            select(FallbackPlan.id).where(FallbackPlan.tool_id == tool.id)
        )
        is not None,
        contact=_contact(session, tool, organisation),
    )


def _facts(session: Session, tool: Tool) -> dict[str, dict[str, Any]]:
    """The latest version's facts per standard (``chai``/``hti1``)."""
    rows = session.execute(
        select(ModelFacts.standard, ModelFacts.facts)
        .join(ToolVersion, ToolVersion.id == ModelFacts.version_id)
        .where(ToolVersion.tool_id == tool.id)
        .order_by(ToolVersion.created_at)
    ).all()
    return {str(standard): facts for standard, facts in rows}


def _first(facts: dict[str, dict[str, Any]], answer: str) -> str:
    for standard, group, field in FACT_SOURCES[answer]:
        value = facts.get(standard, {}).get(group, {})
        value = value.get(field) if isinstance(value, dict) else None
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _contact(session: Session, tool: Tool, organisation: Organisation) -> str:
    lead = session.execute(
        select(User.display_name)
        .join(MdtMember, MdtMember.user_id == User.id)
        .where(MdtMember.tool_id == tool.id, MdtMember.role == Role.CLINICAL_LEAD)
        .limit(1)
    ).scalar()
    who = f"{lead}, clinical lead" if lead else "the AI governance committee"
    return f"{who}, {organisation.name}"
