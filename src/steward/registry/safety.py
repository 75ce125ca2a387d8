"""The DCB0160 hazard log of a tool and its fallback plan."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from steward.registry.errors import invalid
from steward.registry.hazards import Likelihood, Severity, matrix_version, risk_level
from steward.registry.models import Tool, User
from steward.registry.organisations import require_text
from steward.registry.records import FallbackPlan, Hazard, HazardStatus


@dataclass(frozen=True)
class HazardEntry:
    """What a person writes in a hazard-log entry; risk levels are derived, never typed in."""

    name: str
    initial_severity: Severity
    initial_likelihood: Likelihood
    description: str = ""
    causes: str = ""
    effect: str = ""
    harm: str = ""
    existing_controls: str = ""
    additional_controls: str = ""
    verification_evidence: str = ""


def log_hazard(
    session: Session, tool: Tool, entry: HazardEntry, owner: User | None = None
) -> Hazard:
    """Add an open hazard with the next reference (H-001, H-002, ...) of the tool's log."""
    count = session.scalar(select(func.count()).where(Hazard.tool_id == tool.id)) or 0
    hazard = Hazard(
        id=uuid.uuid4(),
        tool_id=tool.id,
        reference=f"H-{count + 1:03d}",
        name=require_text("name", entry.name, 300),
        description=entry.description,
        causes=entry.causes,
        effect=entry.effect,
        harm=entry.harm,
        existing_controls=entry.existing_controls,
        additional_controls=entry.additional_controls,
        verification_evidence=entry.verification_evidence,
        initial_severity=entry.initial_severity,
        initial_likelihood=entry.initial_likelihood,
        initial_risk=risk_level(entry.initial_severity, entry.initial_likelihood),
        matrix_version=matrix_version(),
        owner_id=owner.id if owner else None,
        status=HazardStatus.OPEN,
    )
    session.add(hazard)
    session.flush()
    return hazard


def assess_residual_risk(
    session: Session,
    hazard: Hazard,
    severity: Severity,
    likelihood: Likelihood,
    additional_controls: str,
) -> Hazard:
    """Record the risk left after additional controls, looked up in the matrix."""
    hazard.additional_controls = require_text("additional_controls", additional_controls, 10_000)
    hazard.residual_severity = severity
    hazard.residual_likelihood = likelihood
    hazard.residual_risk = risk_level(severity, likelihood)
    hazard.matrix_version = matrix_version()
    session.flush()
    return hazard


def set_hazard_status(session: Session, hazard: Hazard, status: HazardStatus) -> Hazard:
    """Open, transfer or close a hazard; closing needs verification evidence."""
    if status is HazardStatus.CLOSED and not hazard.verification_evidence.strip():
        raise invalid("verification_evidence", "a hazard is closed only with verification evidence")
    hazard.status = status
    session.flush()
    return hazard


def open_hazards_at_or_above(session: Session, tool: Tool, level: int) -> list[Hazard]:
    """Open hazards of ``tool`` whose current risk is ``level`` or higher."""
    hazards = session.scalars(
        select(Hazard)
        .where(Hazard.tool_id == tool.id, Hazard.status == HazardStatus.OPEN)
        .order_by(Hazard.reference)
    )
    return [h for h in hazards if h.current_risk >= level]


def set_fallback_plan(
    session: Session,
    tool: Tool,
    *,
    triggers: str,
    clinical_fallback: str,
    communication: str,
    owner: User | None = None,
    last_tested_at: datetime | None = None,
) -> FallbackPlan:
    """Write (or rewrite) what the service does when the tool is unavailable or compromised."""
    plan = session.scalar(select(FallbackPlan).where(FallbackPlan.tool_id == tool.id))
    if plan is None:
        plan = FallbackPlan(id=uuid.uuid4(), tool_id=tool.id)
        session.add(plan)
    plan.triggers = require_text("triggers", triggers, 10_000)
    plan.clinical_fallback = require_text("clinical_fallback", clinical_fallback, 10_000)
    plan.communication = require_text("communication", communication, 10_000)
    plan.owner_id = owner.id if owner else None
    plan.last_tested_at = last_tested_at
    session.flush()
    return plan
