"""Request and response bodies of the API; requests refuse unknown fields."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from steward.registry.hazards import Likelihood, Severity
from steward.registry.models import LifecycleState
from steward.registry.records import DecisionOutcome


def _in_utc(moment: datetime) -> datetime:
    # 0001-01-01T00:00+05:00 is a valid timestamp with no UTC equivalent: refuse it here rather
    # than let the database or the audit chain overflow on it.
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time lies outside the range of UTC timestamps") from None


UtcTime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""A client's timestamp: with an explicit offset (or ``Z``), stored as UTC."""


class Request(BaseModel):
    """Base of request bodies: unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class ToolCreate(Request):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    supplier: str | None = Field(default=None, min_length=1, max_length=200)
    version: str | None = Field(default=None, min_length=1, max_length=100)


class VersionOut(BaseModel):
    id: uuid.UUID
    version: str
    created_at: datetime
    cleared_for: list[LifecycleState] = Field(
        default_factory=list,
        description="The gates into silent_pilot, live_pilot and deployed this version has passed",
    )


class ToolOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    organisation: str
    supplier: str | None
    state: LifecycleState
    allowed_transitions: list[LifecycleState]
    versions: list[VersionOut]
    created_at: datetime
    updated_at: datetime


class ToolPage(BaseModel):
    items: list[ToolOut]
    total: int
    limit: int
    offset: int


class TransitionIn(Request):
    to: LifecycleState
    reason: str = Field(default="", max_length=5_000)
    withdrawal: dict[str, str] | None = None


class TransitionOut(BaseModel):
    tool_id: uuid.UUID
    transition_id: uuid.UUID
    from_state: LifecycleState
    state: LifecycleState
    policy_version: str


class AuditEventOut(BaseModel):
    seq: int
    occurred_at: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str
    organisation_id: str | None
    prev_hash: str
    hash: str


class ChainHeadOut(BaseModel):
    seq: int
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    next_after: int | None
    head: ChainHeadOut


class DatabaseHealth(BaseModel):
    status: str
    backend: str
    revision: str | None = None
    detail: str | None = None


class Health(BaseModel):
    status: str
    database: DatabaseHealth


class VersionIn(Request):
    version: str = Field(min_length=1, max_length=100)
    release_notes: str = Field(default="", max_length=10_000)


class SignOffIn(Request):
    gate: LifecycleState
    note: str = Field(default="", max_length=5_000)
    version: str | None = Field(
        default=None,
        max_length=100,
        description="The version signed off; default: the tool's current version",
    )


class ClearanceIn(Request):
    to: LifecycleState
    reason: str = Field(default="", max_length=5_000)


class ClearanceOut(BaseModel):
    tool_id: uuid.UUID
    version_id: uuid.UUID
    version: str
    state: LifecycleState
    cleared_for: list[LifecycleState]
    policy_version: str


class CreatedOut(BaseModel):
    id: uuid.UUID


class EvidenceOut(BaseModel):
    id: uuid.UUID
    evidence_type: str
    title: str
    filename: str
    media_type: str
    size_bytes: int
    sha256: str


class EvaluationOut(BaseModel):
    id: uuid.UUID
    version_id: uuid.UUID
    verdict: str
    sha256: str


class HazardIn(Request):
    name: str = Field(min_length=1, max_length=300)
    initial_severity: Severity
    initial_likelihood: Likelihood
    description: str = Field(default="", max_length=10_000)
    causes: str = Field(default="", max_length=10_000)
    effect: str = Field(default="", max_length=10_000)
    harm: str = Field(default="", max_length=10_000)
    existing_controls: str = Field(default="", max_length=10_000)


class ResidualRiskIn(Request):
    residual_severity: Severity
    residual_likelihood: Likelihood
    additional_controls: str = Field(min_length=1, max_length=10_000)


class HazardOut(BaseModel):
    id: uuid.UUID
    reference: str
    name: str
    status: str
    initial_risk: int
    residual_risk: int | None
    matrix_version: str


class DtacIn(Request):
    answers: dict[str, str]


class DtacOut(BaseModel):
    complete: bool
    unanswered: list[str]


class FallbackIn(Request):
    triggers: str = Field(min_length=1, max_length=10_000)
    clinical_fallback: str = Field(min_length=1, max_length=10_000)
    communication: str = Field(min_length=1, max_length=10_000)


class DecisionIn(Request):
    subject: str = Field(min_length=1, max_length=300)
    outcome: DecisionOutcome
    rationale: str = Field(min_length=1, max_length=20_000)


class LiabilityIn(Request):
    contract_reference: str = Field(min_length=1, max_length=200)
    liability_allocation: str = Field(min_length=1, max_length=20_000)
    indemnity_provider: str = Field(min_length=1, max_length=200)
    indemnity_cover: str = Field(min_length=1, max_length=20_000)
    cover_expires_at: UtcTime | None = None
    notes: str = Field(default="", max_length=20_000)


class PriorityIn(Request):
    problem: str = Field(min_length=1, max_length=300)
    service: str = Field(min_length=1, max_length=200)
    measurable_need: str = Field(min_length=1, max_length=10_000)


class ProposalIn(Request):
    title: str = Field(min_length=1, max_length=300)
    problem: str = Field(min_length=1, max_length=10_000)
    product_name: str = Field(min_length=1, max_length=200)
    supplier_name: str | None = Field(default=None, max_length=200)
    version: str | None = Field(default=None, max_length=100)
    priority_id: uuid.UUID | None = None
    no_priority_reason: str | None = Field(default=None, max_length=10_000)


class ReuseCandidateOut(BaseModel):
    tool_id: uuid.UUID
    organisation: str
    state: str
    versions: list[str]
    evidence_types: list[str]
    latest_verdict: str | None
    dtac_complete: bool
    evaluated_at: datetime | None


class ProposalOut(BaseModel):
    id: uuid.UUID
    title: str
    product_name: str
    supplier_name: str | None
    version: str | None
    priority_id: uuid.UUID | None
    no_priority_reason: str | None
    reuse_candidates: list[ReuseCandidateOut]
