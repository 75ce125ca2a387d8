"""Tables of a tool's governance file: evidence, evaluation results, hazards, sign-offs,
decisions and the fallback plan."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from steward.auth.roles import Role
from steward.db.base import Base, CreatedMixin, IdMixin, enum_type, utcnow
from steward.registry.hazards import Likelihood, Severity


class Verdict(StrEnum):
    """The verdict of a local validation (``steward evaluate``)."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    NOT_ASSESSED = "not_assessed"


class HazardStatus(StrEnum):
    """Status of a hazard-log entry (DCB0160)."""

    OPEN = "open"
    TRANSFERRED = "transferred"
    CLOSED = "closed"


class DecisionOutcome(StrEnum):
    """What a committee or accountable person decided."""

    APPROVED = "approved"
    REJECTED = "rejected"
    DEFERRED = "deferred"
    NOTED = "noted"


def _fk(target: str, *, nullable: bool = False) -> Any:
    return mapped_column(ForeignKey(target, ondelete="RESTRICT"), index=True, nullable=nullable)


class EvidenceBlob(Base):
    """File content, stored once per SHA-256 digest (content-addressed)."""

    __tablename__ = "evidence_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int]
    content: Mapped[bytes] = mapped_column(LargeBinary, info={"audit": "omit"})


class EvidenceDocument(IdMixin, CreatedMixin, Base):
    """A document filed as evidence for a tool (optionally for one version)."""

    __tablename__ = "evidence_documents"

    tool_id: Mapped[uuid.UUID] = _fk("tools.id")
    version_id: Mapped[uuid.UUID | None] = _fk("tool_versions.id", nullable=True)
    evidence_type: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(120))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(
        ForeignKey("evidence_blobs.sha256", ondelete="RESTRICT"), index=True
    )
    uploaded_by_id: Mapped[uuid.UUID | None] = _fk("users.id", nullable=True)


class EvaluationRecord(IdMixin, CreatedMixin, Base):
    """A result document from ``steward evaluate``, linked to the version it validated."""

    __tablename__ = "evaluation_results"

    version_id: Mapped[uuid.UUID] = _fk("tool_versions.id")
    verdict: Mapped[Verdict] = mapped_column(enum_type(Verdict, "verdict"))
    sha256: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(info={"audit": "omit"})
    recorded_by_id: Mapped[uuid.UUID | None] = _fk("users.id", nullable=True)


class Hazard(IdMixin, CreatedMixin, Base):
    """An entry of a tool's DCB0160 hazard log; risk levels come from the matrix."""

    __tablename__ = "hazards"
    __table_args__ = (UniqueConstraint("tool_id", "reference"),)

    tool_id: Mapped[uuid.UUID] = _fk("tools.id")
    reference: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    causes: Mapped[str] = mapped_column(Text, default="")
    effect: Mapped[str] = mapped_column(Text, default="")
    harm: Mapped[str] = mapped_column(Text, default="")
    existing_controls: Mapped[str] = mapped_column(Text, default="")
    initial_severity: Mapped[Severity] = mapped_column(enum_type(Severity, "initial_severity"))
    initial_likelihood: Mapped[Likelihood] = mapped_column(
        enum_type(Likelihood, "initial_likelihood")
    )
    initial_risk: Mapped[int]
    additional_controls: Mapped[str] = mapped_column(Text, default="")
    residual_severity: Mapped[Severity | None] = mapped_column(
        enum_type(Severity, "residual_severity")
    )
    residual_likelihood: Mapped[Likelihood | None] = mapped_column(
        enum_type(Likelihood, "residual_likelihood")
    )
    residual_risk: Mapped[int | None]
    matrix_version: Mapped[str] = mapped_column(String(40))
    owner_id: Mapped[uuid.UUID | None] = _fk("users.id", nullable=True)
    verification_evidence: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[HazardStatus] = mapped_column(
        enum_type(HazardStatus, "status"), default=HazardStatus.OPEN
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def current_risk(self) -> int:
        """The residual risk once assessed, the initial risk until then."""
        return self.residual_risk if self.residual_risk is not None else self.initial_risk


class SignOff(IdMixin, CreatedMixin, Base):
    """A named person, holding a role, signing a tool (version) off for a gate."""

    __tablename__ = "sign_offs"
    __table_args__ = (UniqueConstraint("tool_id", "version_id", "gate", "role", "user_id"),)

    tool_id: Mapped[uuid.UUID] = _fk("tools.id")
    version_id: Mapped[uuid.UUID | None] = _fk("tool_versions.id", nullable=True)
    gate: Mapped[str] = mapped_column(String(40))
    role: Mapped[Role] = mapped_column(enum_type(Role, "role"))
    user_id: Mapped[uuid.UUID] = _fk("users.id")
    note: Mapped[str] = mapped_column(Text, default="")


class Decision(IdMixin, CreatedMixin, Base):
    """A recorded decision about a tool: what, by whom, why."""

    __tablename__ = "decisions"

    tool_id: Mapped[uuid.UUID] = _fk("tools.id")
    version_id: Mapped[uuid.UUID | None] = _fk("tool_versions.id", nullable=True)
    subject: Mapped[str] = mapped_column(String(300))
    outcome: Mapped[DecisionOutcome] = mapped_column(enum_type(DecisionOutcome, "outcome"))
    rationale: Mapped[str] = mapped_column(Text)
    decided_by_id: Mapped[uuid.UUID | None] = _fk("users.id", nullable=True)


class FallbackPlan(IdMixin, CreatedMixin, Base):
    """What the service does when the tool is unavailable or compromised (one per tool)."""

    __tablename__ = "fallback_plans"

    tool_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tools.id", ondelete="RESTRICT"), unique=True
    )
    triggers: Mapped[str] = mapped_column(Text)
    clinical_fallback: Mapped[str] = mapped_column(Text)
    communication: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID | None] = _fk("users.id", nullable=True)
    last_tested_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VersionClearance(IdMixin, CreatedMixin, Base):
    """A version passing the gate into a pilot or deployment: by the tool's own transition, or
    on its own when a new version of a tool already there re-enters the gates."""

    __tablename__ = "version_clearances"
    __table_args__ = (UniqueConstraint("version_id", "state"),)

    tool_id: Mapped[uuid.UUID] = _fk("tools.id")
    version_id: Mapped[uuid.UUID] = _fk("tool_versions.id")
    state: Mapped[str] = mapped_column(String(40))
    transition_id: Mapped[uuid.UUID | None] = _fk("state_transitions.id", nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(200))
    policy_version: Mapped[str] = mapped_column(String(40))


class StateTransition(IdMixin, CreatedMixin, Base):
    """One move of a tool through its lifecycle: from, to, who, why, under which policy."""

    __tablename__ = "state_transitions"

    tool_id: Mapped[uuid.UUID] = _fk("tools.id")
    version_id: Mapped[uuid.UUID | None] = _fk("tool_versions.id", nullable=True)
    from_state: Mapped[str] = mapped_column(String(40))
    to_state: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(200))
    policy_version: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict[str, Any]]
