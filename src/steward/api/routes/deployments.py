"""``/api/v1/tools/{id}/deployments`` and ``/api/v1/deployments/{id}``: deployments with their
monitoring configuration, and the ingestion of predictions, outcomes and clinician feedback."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request, status
from sqlalchemy.orm import Session

from steward.api.deps import (
    ConfigureDeployments,
    CreateDeployments,
    IngestEvents,
    IngestFeedback,
    ReadDeployments,
    SessionDep,
    SettingsDep,
)
from steward.api.surveillance_schemas import (
    DeploymentCreate,
    DeploymentOut,
    FeedbackIn,
    IngestOut,
    MonitoringOut,
    OutcomeDefinitionOut,
    OutcomeIn,
    PredictionIn,
)
from steward.auth.tokens import Principal
from steward.db.base import utcnow
from steward.registry.errors import ConflictError, NotFoundError, invalid
from steward.registry.models import Deployment, DeploymentStatus, Organisation, Tool, ToolVersion
from steward.registry.organisations import is_within, organisation_by_slug
from steward.registry.tools import latest_version, tool_in_scope
from steward.surveillance.batch import Batch
from steward.surveillance.bulk import read_predictions
from steward.surveillance.deployments import (
    MonitoringSettings,
    create_deployment,
    monitoring_config,
    set_monitor_overrides,
)
from steward.surveillance.ingest import ingest_feedback, ingest_outcomes, ingest_predictions
from steward.surveillance.linkage import OutcomeDefinition
from steward.surveillance.parsing import (
    CSV_TYPE,
    JSON_TYPE,
    NDJSON_TYPE,
    PARQUET_TYPE,
    Kind,
    media_type,
    parse_body,
)
from steward.surveillance.policies import policy_version
from steward.surveillance.predictions import SlowRows, ingest_read, read_batch
from steward.surveillance.rows import IngestReport

router = APIRouter(tags=["deployments"])


def _out(session: Session, deployment: Deployment) -> DeploymentOut:
    version = session.get_one(ToolVersion, deployment.version_id)
    site = session.get_one(Organisation, deployment.site_id)
    config = monitoring_config(session, deployment.id)
    monitoring = None
    if config is not None:
        monitoring = MonitoringOut(
            thresholds=list(config.thresholds),
            outcome=OutcomeDefinitionOut(
                name=config.outcome_name,
                window_hours=config.outcome_window_hours,
                per=config.outcome_per,
                lag_hours=config.outcome_lag_hours,
            ),
            subgroups=list(config.subgroups),
            feature_cuts=dict(config.feature_cuts),
            feature_reference_size=config.feature_reference_size,
            monitors=dict(config.monitor_overrides),
            monitors_policy_version=policy_version("monitors"),
        )
    return DeploymentOut(
        id=deployment.id,
        tool_id=version.tool_id,
        version=version.version,
        site=site.slug,
        care_setting=deployment.care_setting,
        status=deployment.status,
        monitoring=monitoring,
        created_at=deployment.created_at,
    )


@router.post(
    "/tools/{tool_id}/deployments",
    status_code=status.HTTP_201_CREATED,
    response_model=DeploymentOut,
)
def create(
    tool_id: uuid.UUID, body: DeploymentCreate, session: SessionDep, principal: CreateDeployments
) -> DeploymentOut:
    """Deploy a version of the tool at a site in a care setting, with how it is monitored:
    deployed thresholds, the outcome definition, subgroup attributes and feature bins."""
    tool = tool_in_scope(session, tool_id, principal.organisation_id, write=True)
    version = _version(session, tool, body.version)
    try:
        site = organisation_by_slug(session, body.site)
    except NotFoundError:
        raise invalid("site", f"no organisation with slug {body.site!r}") from None
    outcome = body.outcome
    settings = MonitoringSettings(
        thresholds=tuple(body.thresholds),
        outcome=OutcomeDefinition(
            outcome.name, outcome.window_hours, outcome.per, outcome.lag_hours
        ),
        subgroups=tuple(body.subgroups),
        feature_cuts=body.features,
        feature_reference_size=body.feature_reference_size,
        monitor_overrides=body.monitors,
    )
    deployment, _ = create_deployment(
        session, version, site, body.care_setting, settings, DeploymentStatus(body.status)
    )
    return _out(session, deployment)


def _version(session: Session, tool: Tool, label: str | None) -> ToolVersion:
    if label is None:
        version = latest_version(session, tool)
        if version is None:
            raise invalid("version", "record a version of the tool before deploying it")
        return version
    found = session.query(ToolVersion).filter_by(tool_id=tool.id, version=label).one_or_none()
    if found is None:
        raise invalid("version", f"the tool has no version {label!r}")
    return found


def deployment_in_scope(
    session: Session, deployment_id: uuid.UUID, principal: Principal
) -> Deployment:
    """The deployment, if the caller's organisation owns its tool or holds its site; else 404."""
    deployment = session.get(Deployment, deployment_id)
    if deployment is not None:
        site = session.get_one(Organisation, deployment.site_id)
        if is_within(session, site, principal.organisation_id):
            return deployment
        version = session.get_one(ToolVersion, deployment.version_id)
        tool = session.get_one(Tool, version.tool_id)
        owner = session.get_one(Organisation, tool.organisation_id)
        if is_within(session, owner, principal.organisation_id):
            return deployment
    raise NotFoundError(f"no deployment with id {deployment_id}")


@router.get("/deployments/{deployment_id}", response_model=DeploymentOut)
def read(
    deployment_id: uuid.UUID, session: SessionDep, principal: ReadDeployments
) -> DeploymentOut:
    """One deployment with its monitoring configuration (including feature bins frozen so far)."""
    return _out(session, deployment_in_scope(session, deployment_id, principal))


@router.put(
    "/deployments/{deployment_id}/monitors",
    response_model=DeploymentOut,
    responses={422: {"description": "A setting is unknown or out of range; each names its path"}},
)
def configure_monitors(
    deployment_id: uuid.UUID,
    overrides: Annotated[dict[str, Any], Body(examples=[{"drift": {"alarm": 0.2}}])],
    session: SessionDep,
    principal: ConfigureDeployments,
) -> DeploymentOut:
    """Replace how the deployment's monitors depart from their defaults (``{}``: the defaults).

    The body has the shape of policies/monitors.yaml; nested settings merge field by field. The
    next monitor run uses them; alarms already raised stay as they are.
    """
    deployment = deployment_in_scope(session, deployment_id, principal)
    version = session.get_one(ToolVersion, deployment.version_id)
    tool_in_scope(session, version.tool_id, principal.organisation_id, write=True)
    set_monitor_overrides(session, deployment.id, overrides)
    return _out(session, deployment)


@dataclass(frozen=True)
class IngestBody:
    media: str
    content: bytes


async def ingest_body(request: Request, settings: SettingsDep) -> IngestBody:
    """The raw body: 415 for a media type not accepted, 413 past ``STEWARD_INGEST_MAX_BYTES``."""
    media = media_type(request.headers.get("content-type"))
    if media is None:
        raise HTTPException(
            415,
            f"send {JSON_TYPE} (one object), {NDJSON_TYPE}, {CSV_TYPE} or {PARQUET_TYPE}",
        )
    limit = settings.ingest_max_bytes
    too_large = f"the body exceeds the limit of {limit} bytes; send it in smaller parts"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, too_large)
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, too_large)
        parts.append(chunk)
    return IngestBody(media, b"".join(parts))


BodyDep = Annotated[IngestBody, Depends(ingest_body)]
Service = Callable[..., IngestReport]


def _schema(model: type[Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                JSON_TYPE: {"schema": model.model_json_schema()},
                NDJSON_TYPE: {"schema": {"type": "string", "description": "one object a line"}},
                CSV_TYPE: {"schema": {"type": "string", "description": "header row of fields"}},
                PARQUET_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }


RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown deployment"},
    409: {"description": "One JSON object whose event_id is stored with other content"},
    413: {"description": "Body larger than STEWARD_INGEST_MAX_BYTES"},
    415: {"description": "Content type not accepted"},
    422: {"description": "One JSON object that is not valid, or a body that cannot be read"},
}


def _ingest(
    session: Session,
    deployment_id: uuid.UUID,
    principal: Principal,
    body: IngestBody,
    kind: Kind,
    service: Service,
) -> IngestOut:
    deployment = deployment_in_scope(session, deployment_id, principal)
    if kind == "predictions" and body.media != JSON_TYPE:
        columns = read_predictions(body.media, body.content)
        if columns is not None:
            return IngestOut.model_validate(_ingest_columns(session, deployment.id, *columns))
    parsed = parse_body(kind, body.media, body.content)
    report: IngestReport = IngestReport()
    if parsed.rows:
        report = service(session, deployment.id, parsed.rows, row_numbers=parsed.numbers)
    report.rejected.extend(parsed.rejected)
    if parsed.single and report.rejected:
        problem = report.rejected[0]
        if problem.conflict:
            raise ConflictError(problem.error)
        raise invalid("body", problem.error)
    return IngestOut.model_validate(report.as_dict())


def _ingest_columns(
    session: Session, deployment_id: uuid.UUID, batch: Batch, slow: SlowRows
) -> dict[str, Any]:
    """Bulk predictions through the column path (same answer as the row path, faster)."""
    now = utcnow()
    rows_read = read_batch(batch, slow, now)
    if not rows_read.any_rows():  # as the row path: nothing readable, nothing to store
        return IngestReport(rejected=rows_read.unreadable).as_dict()
    return ingest_read(session, deployment_id, rows_read, now=now).as_dict()


def _route(kind: Kind, model: type[Any], summary: str) -> dict[str, Any]:
    return {
        "path": f"/deployments/{{deployment_id}}/{kind}",
        "response_model": IngestOut,
        "openapi_extra": _schema(model),
        "responses": RESPONSES,
        "summary": summary,
    }


@router.post(**_route("predictions", PredictionIn, "Ingest predictions"))
def post_predictions(
    deployment_id: uuid.UUID, principal: IngestEvents, body: BodyDep, session: SessionDep
) -> IngestOut:
    """Store predictions (idempotent by ``event_id``); each is labelled when its outcome window
    closes or its outcome arrives, and counted in the deployment's window cubes."""
    return _ingest(session, deployment_id, principal, body, "predictions", ingest_predictions)


@router.post(**_route("outcomes", OutcomeIn, "Ingest outcomes"))
def post_outcomes(
    deployment_id: uuid.UUID, principal: IngestEvents, body: BodyDep, session: SessionDep
) -> IngestOut:
    """Store outcomes (idempotent by ``event_id``) and relabel the predictions they belong to;
    outcomes of patients with no prediction yet are kept and matched when predictions arrive."""
    return _ingest(session, deployment_id, principal, body, "outcomes", ingest_outcomes)


@router.post(**_route("feedback", FeedbackIn, "Ingest clinician feedback"))
def post_feedback(
    deployment_id: uuid.UUID, principal: IngestFeedback, body: BodyDep, session: SessionDep
) -> IngestOut:
    """Store clinicians' acceptance or override of predictions (by event id or card id)."""
    return _ingest(session, deployment_id, principal, body, "feedback", ingest_feedback)


__all__: Sequence[str] = ["deployment_in_scope", "router"]
