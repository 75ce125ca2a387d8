"""``/api/v1/tools/{id}/...``: a tool's governance file (versions, sign-offs, evidence,
evaluation results, hazard log, DTAC answers, fallback plan)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, HTTPException, Path, UploadFile, status
from sqlalchemy import select

from steward.api.deps import (
    EditAssessments,
    EditFallback,
    EditHazards,
    EditLiability,
    EditVersions,
    FileEvidence,
    RecordDecisions,
    RecordEvaluations,
    SessionDep,
    SettingsDep,
    SignOffTools,
    TransitionTools,
)
from steward.api.routes.tools import version_out
from steward.api.schemas import (
    ClearanceIn,
    ClearanceOut,
    CreatedOut,
    DecisionIn,
    DtacIn,
    DtacOut,
    EvaluationOut,
    EvidenceOut,
    FallbackIn,
    HazardIn,
    HazardOut,
    LiabilityIn,
    ResidualRiskIn,
    SignOffIn,
    VersionIn,
)
from steward.registry.assessments import answer_dtac, unanswered
from steward.registry.decisions import record_decision, set_liability_record
from steward.registry.errors import ForbiddenError, NotFoundError, invalid
from steward.registry.evidence import file_evidence, record_evaluation
from steward.registry.models import LifecycleState, User
from steward.registry.records import Hazard
from steward.registry.safety import HazardEntry, assess_residual_risk, log_hazard, set_fallback_plan
from steward.registry.tools import add_version, latest_version, tool_in_scope, version_by_label
from steward.registry.transitions import clear_version, sign_off

router = APIRouter(prefix="/tools/{tool_id}", tags=["governance file"])

CREATED = status.HTTP_201_CREATED


@router.post("/versions", status_code=CREATED, response_model=CreatedOut)
def create_version(
    tool_id: uuid.UUID, body: VersionIn, session: SessionDep, principal: EditVersions
) -> CreatedOut:
    """Record a new version; it becomes the version the gates look at."""
    tool = tool_in_scope(session, tool_id, principal.organisation_id, write=True)
    return CreatedOut(id=add_version(session, tool, body.version, body.release_notes).id)


@router.post("/signoffs", status_code=CREATED, response_model=CreatedOut)
def create_sign_off(
    tool_id: uuid.UUID, body: SignOffIn, session: SessionDep, principal: SignOffTools
) -> CreatedOut:
    """Sign a version (default: the current one) off for a gate, in the token's role, as the
    token's user."""
    tool = tool_in_scope(session, tool_id, principal.organisation_id, write=True)
    if principal.user_id is None:
        raise ForbiddenError("a sign-off needs a token issued to a named user (--user)")
    user = session.get_one(User, principal.user_id)
    version = version_by_label(session, tool, body.version) if body.version else None
    row = sign_off(session, tool, body.gate, principal.role, user, body.note, version)
    return CreatedOut(id=row.id)


@router.post(
    "/versions/{version}/clearances",
    status_code=CREATED,
    response_model=ClearanceOut,
    responses={409: {"description": "Refused: the problem document lists every unmet item"}},
)
def clear_version_for(
    tool_id: uuid.UUID,
    version: Annotated[str, Path(min_length=1, max_length=100)],
    body: ClearanceIn,
    session: SessionDep,
    principal: TransitionTools,
) -> ClearanceOut:
    """Pass a new version through the gate into ``to`` while the tool stays where it is.

    A version is cleared for silent_pilot, then live_pilot, then deployed, never beyond the
    tool's own state; its deployments go live only once it is cleared for live_pilot or deployed.
    409 with ``unmet`` lists every requirement the version does not meet.
    """
    tool = tool_in_scope(session, tool_id, principal.organisation_id, write=True)
    found = version_by_label(session, tool, version)
    row = clear_version(
        session,
        found.id,
        body.to,
        actor=principal.actor,
        actor_roles=principal.roles,
        reason=body.reason,
    )
    out = version_out(session, found)
    return ClearanceOut(
        tool_id=tool.id,
        version_id=found.id,
        version=found.version,
        state=LifecycleState(row.state),
        cleared_for=out.cleared_for,
        policy_version=row.policy_version,
    )


@router.post("/evidence", status_code=CREATED, response_model=EvidenceOut)
def upload_evidence(
    tool_id: uuid.UUID,
    evidence_type: Annotated[str, Form(max_length=64)],
    title: Annotated[str, Form(max_length=300)],
    file: Annotated[UploadFile, File()],
    session: SessionDep,
    settings: SettingsDep,
    principal: FileEvidence,
) -> EvidenceOut:
    """File a document (multipart); refused when too large, of an unlisted type or mismatched."""
    tool = tool_in_scope(session, tool_id, principal.organisation_id, write=True)
    content = file.file.read(settings.evidence_max_bytes + 1)
    if len(content) > settings.evidence_max_bytes:
        raise HTTPException(
            413, f"the file exceeds the limit of {settings.evidence_max_bytes} bytes"
        )
    document = file_evidence(
        session,
        tool,
        evidence_type=evidence_type,
        title=title,
        filename=file.filename or "",
        media_type=file.content_type or "",
        content=content,
        max_bytes=settings.evidence_max_bytes,
        version=latest_version(session, tool),
        uploaded_by=session.get(User, principal.user_id) if principal.user_id else None,
    )
    return EvidenceOut.model_validate(document, from_attributes=True)


@router.post("/evaluations", status_code=CREATED, response_model=EvaluationOut)
def attach_evaluation(
    tool_id: uuid.UUID,
    document: Annotated[dict[str, Any], Body()],
    session: SessionDep,
    principal: RecordEvaluations,
) -> EvaluationOut:
    """Attach a ``steward evaluate`` result document to the tool's current version."""
    tool = tool_in_scope(session, tool_id, principal.organisation_id, write=True)
    version = latest_version(session, tool)
    if version is None:
        raise invalid("version", "record a version of the tool before its evaluation")
    record = record_evaluation(session, version, document)
    return EvaluationOut(
        id=record.id, version_id=version.id, verdict=record.verdict.value, sha256=record.sha256
    )


@router.post("/hazards", status_code=CREATED, response_model=HazardOut)
def create_hazard(
    tool_id: uuid.UUID, body: HazardIn, session: SessionDep, principal: EditHazards
) -> HazardOut:
    """Add an open hazard; its risk level is looked up in the DCB0160 matrix."""
    tool = tool_in_scope(session, tool_id, principal.organisation_id, write=True)
    hazard = log_hazard(session, tool, HazardEntry(**body.model_dump()))
    return HazardOut.model_validate(hazard, from_attributes=True)


@router.put("/hazards/{reference}/residual-risk", response_model=HazardOut)
def set_residual_risk(
    tool_id: uuid.UUID,
    reference: str,
    body: ResidualRiskIn,
    session: SessionDep,
    principal: EditHazards,
) -> HazardOut:
    """Record the risk remaining after additional controls."""
    tool = tool_in_scope(session, tool_id, principal.organisation_id, write=True)
    hazard = session.scalar(
        select(Hazard).where(Hazard.tool_id == tool.id, Hazard.reference == reference)
    )
    if hazard is None:
        raise NotFoundError(f"no hazard {reference} in this tool's log")
    assess_residual_risk(
        session,
        hazard,
        body.residual_severity,
        body.residual_likelihood,
        body.additional_controls,
    )
    return HazardOut.model_validate(hazard, from_attributes=True)


@router.put("/assessments/dtac", response_model=DtacOut)
def answer_dtac_questions(
    tool_id: uuid.UUID, body: DtacIn, session: SessionDep, principal: EditAssessments
) -> DtacOut:
    """Merge answers into the tool's DTAC checklist; reports what is still unanswered."""
    tool = tool_in_scope(session, tool_id, principal.organisation_id, write=True)
    assessment = answer_dtac(session, tool, body.answers)
    missing = unanswered(assessment.answers)
    return DtacOut(complete=not missing, unanswered=missing)


@router.put("/fallback-plan", response_model=CreatedOut)
def write_fallback_plan(
    tool_id: uuid.UUID, body: FallbackIn, session: SessionDep, principal: EditFallback
) -> CreatedOut:
    """Write what the service does when the tool is unavailable or compromised."""
    tool = tool_in_scope(session, tool_id, principal.organisation_id, write=True)
    plan = set_fallback_plan(session, tool, **body.model_dump())
    return CreatedOut(id=plan.id)


@router.post("/decisions", status_code=CREATED, response_model=CreatedOut)
def create_decision(
    tool_id: uuid.UUID, body: DecisionIn, session: SessionDep, principal: RecordDecisions
) -> CreatedOut:
    """Record a decision about the tool's current version, with its rationale."""
    tool = tool_in_scope(session, tool_id, principal.organisation_id, write=True)
    decision = record_decision(
        session,
        tool,
        subject=body.subject,
        outcome=body.outcome,
        rationale=body.rationale,
        decided_by=session.get(User, principal.user_id) if principal.user_id else None,
        version=latest_version(session, tool),
    )
    return CreatedOut(id=decision.id)


@router.put("/liability", response_model=CreatedOut)
def write_liability_record(
    tool_id: uuid.UUID, body: LiabilityIn, session: SessionDep, principal: EditLiability
) -> CreatedOut:
    """Write the tool's contract, liability allocation and indemnity record."""
    tool = tool_in_scope(session, tool_id, principal.organisation_id, write=True)
    return CreatedOut(id=set_liability_record(session, tool, **body.model_dump()).id)
