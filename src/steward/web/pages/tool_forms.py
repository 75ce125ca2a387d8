"""The forms of a tool's page: model facts, versions, lifecycle moves (including suspension and
retirement), evidence uploads, hazards and deployments. Each either redirects back to the page
with a confirmation, or shows the page again with the typed values and the errors."""

from __future__ import annotations

import uuid
from typing import TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import UploadFile

from steward.api.deps import SessionDep, SettingsDep
from steward.audit.context import bound_context
from steward.audit.recorder import append_events
from steward.registry.errors import FieldProblem, InvalidInputError, NotFoundError, invalid
from steward.registry.evidence import file_evidence
from steward.registry.facts import FactsStandard, validate_facts
from steward.registry.hazards import Likelihood, Severity
from steward.registry.lifecycle import lifecycle_policy
from steward.registry.models import (
    Deployment,
    DeploymentStatus,
    LifecycleState,
    ModelFacts,
    Organisation,
    ToolVersion,
)
from steward.registry.safety import HazardEntry, log_hazard
from steward.registry.tools import (
    add_version,
    deploy,
    latest_version,
    set_deployment_status,
    set_model_facts,
    version_by_label,
)
from steward.registry.transitions import TransitionRefusedError, clear_version, transition
from steward.web.deps import (
    DeployToolsPage,
    EvidenceToolsPage,
    FormDep,
    HazardsToolsPage,
    TransitionToolsPage,
    VersionToolsPage,
)
from steward.web.forms import Form, attempt
from steward.web.pages.tool import Refusal, find_tool, show_tool
from steward.web.views.facts import facts_from_form, field_names, problem_field

router = APIRouter(include_in_schema=False)
Choice = TypeVar("Choice", Severity, Likelihood)

HAZARD_FIELDS = (
    "name",
    "description",
    "causes",
    "effect",
    "harm",
    "existing_controls",
    "initial_severity",
    "initial_likelihood",
)


def _done(tool_id: uuid.UUID, what: str, anchor: str) -> Response:
    return RedirectResponse(f"/tools/{tool_id}?done={what}#{anchor}", status_code=303)


@router.post("/tools/{tool_id}/facts")
def save_facts(
    request: Request,
    session: SessionDep,
    viewer: VersionToolsPage,
    data: FormDep,
    tool_id: uuid.UUID,
) -> Response:
    """Store the HTI-1 and CHAI facts of the current version; empty boxes stay missing."""
    tool = find_tool(session, viewer, tool_id, write=True)
    form = Form.of(data, *field_names())
    version = latest_version(session, tool)
    if version is None:
        form.summary = "Record a version of the tool before its model facts."
        return show_tool(request, session, viewer, tool, forms={"facts": form}, status=422)
    stored = session.scalar(
        select(ModelFacts.facts).where(
            ModelFacts.version_id == version.id, ModelFacts.standard == FactsStandard.CHAI
        )
    )
    hti1, chai = facts_from_form(form.values, stored or {})

    def save() -> None:
        problems: list[FieldProblem] = []
        for standard, facts in ((FactsStandard.HTI1, hti1), (FactsStandard.CHAI, chai)):
            try:
                validate_facts(standard, facts)
            except InvalidInputError as error:
                problems += [
                    FieldProblem(problem_field(standard, p.field), p.detail) for p in error.problems
                ]
        if problems:
            raise InvalidInputError(problems)
        set_model_facts(session, version, FactsStandard.HTI1, hti1)
        set_model_facts(session, version, FactsStandard.CHAI, chai)

    attempt(session, form, save, {})
    if not form.ok:
        return show_tool(request, session, viewer, tool, forms={"facts": form}, status=422)
    return _done(tool.id, "facts", "facts")


@router.post("/tools/{tool_id}/versions")
def record_version(
    request: Request,
    session: SessionDep,
    viewer: VersionToolsPage,
    data: FormDep,
    tool_id: uuid.UUID,
) -> Response:
    """Record a released version; it becomes the one the gates look at."""
    tool = find_tool(session, viewer, tool_id, write=True)
    form = Form.of(data, "version", "release_notes").require("version")
    if form.ok:
        attempt(
            session,
            form,
            lambda: add_version(session, tool, form.value("version"), form.value("release_notes")),
            {},
        )
    if not form.ok:
        return show_tool(request, session, viewer, tool, forms={"version": form}, status=422)
    return _done(tool.id, "version", "deployments")


@router.post("/tools/{tool_id}/transitions")
def move_tool(
    request: Request,
    session: SessionDep,
    viewer: TransitionToolsPage,
    data: FormDep,
    tool_id: uuid.UUID,
) -> Response:
    """Ask to move the tool; a refusal shows every unmet requirement next to the gate."""
    tool = find_tool(session, viewer, tool_id, write=True)
    try:
        target = LifecycleState(str(data.get("to", "")))
    except ValueError:
        raise invalid("to", "choose a lifecycle state the tool can move to") from None
    gate = lifecycle_policy().gate(tool.state, target)
    steps = gate.withdrawal_steps if gate else ()
    form = Form.of(data, "reason", *(f"withdrawal_{s}" for s in steps))
    withdrawal = {s: form.value(f"withdrawal_{s}") for s in steps}
    savepoint = session.begin_nested()
    try:
        transition(
            session,
            tool.id,
            target,
            actor=viewer.principal.actor,
            actor_roles=viewer.principal.roles,
            reason=form.value("reason"),
            withdrawal=withdrawal,
        )
    except TransitionRefusedError as error:
        savepoint.rollback()
        refusal = _refusal(session, request, tool_id, error, target.value)
        for u in error.unmet:
            name = "reason" if u.requirement == "reason" else f"withdrawal_{u.item}"
            if name in form.values:
                form.errors[name] = u.detail[:1].upper() + u.detail[1:] + "."
        forms = {f"move-{target.value}": form}
        return show_tool(request, session, viewer, tool, forms=forms, refusal=refusal, status=409)
    savepoint.commit()
    return _done(tool.id, "moved", "lifecycle")


@router.post("/tools/{tool_id}/versions/{version}/clearances")
def clear_version_for(
    request: Request,
    session: SessionDep,
    viewer: TransitionToolsPage,
    data: FormDep,
    tool_id: uuid.UUID,
    version: str,
) -> Response:
    """Ask to clear a later version through its next gate; a refusal lists every unmet item."""
    tool = find_tool(session, viewer, tool_id, write=True)
    found = version_by_label(session, tool, version)
    try:
        target = LifecycleState(str(data.get("to", "")))
    except ValueError:
        raise invalid("to", "choose the gate the version is to pass") from None
    form = Form.of(data, "reason")
    savepoint = session.begin_nested()
    try:
        clear_version(
            session,
            found.id,
            target,
            actor=viewer.principal.actor,
            actor_roles=viewer.principal.roles,
            reason=form.value("reason"),
        )
    except TransitionRefusedError as error:
        savepoint.rollback()
        key = f"clear-{target.value}"
        refusal = _refusal(session, request, tool_id, error, key)
        return show_tool(
            request, session, viewer, tool, forms={key: form}, refusal=refusal, status=409
        )
    savepoint.commit()
    return _done(tool.id, "cleared", "lifecycle")


def _refusal(
    session: SessionDep,
    request: Request,
    tool_id: uuid.UUID,
    error: TransitionRefusedError,
    anchor: str,
) -> Refusal:
    """Audit a refused move or clearance and describe it for the gate card named ``anchor``."""
    unmet = [u.as_dict() for u in error.unmet]
    _audit_refusal(session, request, tool_id, {"detail": str(error), "unmet": unmet})
    return Refusal(anchor, str(error), tuple(error.unmet))


def _audit_refusal(
    session: SessionDep, request: Request, tool_id: uuid.UUID, after: dict[str, object]
) -> None:
    """Record the refused move in the request's own transaction: the page answers normally (the
    refusal is shown, not raised), so the transaction commits with this event and nothing else."""
    context = bound_context(session)
    assert context is not None, "the viewer dependency binds the audit context"
    change = {
        "entity_type": "tools",
        "entity_id": str(tool_id),
        "action": "tools.transition_refused",
        "before": None,
        "after": {"method": request.method, "path": request.url.path, **after},
    }
    append_events(session, context, [change])


@router.post("/tools/{tool_id}/evidence")
def upload_evidence(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: EvidenceToolsPage,
    data: FormDep,
    tool_id: uuid.UUID,
) -> Response:
    """File a document against the current version (multipart form)."""
    tool = find_tool(session, viewer, tool_id, write=True)
    form = Form.of(data, "evidence_type", "title").require("evidence_type", "title")
    form.values["file"] = ""
    upload = data.get("file")
    limit = settings.evidence_max_bytes
    content = b""
    if not isinstance(upload, UploadFile) or not upload.filename:
        form.errors["file"] = "Choose a file to upload."
    else:
        content = upload.file.read(limit + 1)
        if len(content) > limit:
            form.errors["file"] = f"The file is larger than the limit of {limit} bytes."
    if form.ok and isinstance(upload, UploadFile):
        attempt(
            session,
            form,
            lambda: file_evidence(
                session,
                tool,
                evidence_type=form.value("evidence_type"),
                title=form.value("title"),
                filename=upload.filename or "",
                media_type=upload.content_type or "",
                content=content,
                max_bytes=limit,
                version=latest_version(session, tool),
                uploaded_by=viewer.user,
            ),
            {"media_type": "file", "filename": "file"},
        )
    if not form.ok:
        return show_tool(request, session, viewer, tool, forms={"evidence": form}, status=422)
    return _done(tool.id, "evidence", "evidence")


@router.post("/tools/{tool_id}/hazards")
def add_hazard(
    request: Request,
    session: SessionDep,
    viewer: HazardsToolsPage,
    data: FormDep,
    tool_id: uuid.UUID,
) -> Response:
    """Log an open hazard; its risk level is looked up in the DCB0160 matrix."""
    tool = find_tool(session, viewer, tool_id, write=True)
    form = Form.of(data, *HAZARD_FIELDS).require("name", "initial_severity", "initial_likelihood")
    severity = _choice(form, "initial_severity", Severity, "a severity")
    likelihood = _choice(form, "initial_likelihood", Likelihood, "a likelihood")
    if form.ok and severity is not None and likelihood is not None:
        entry = HazardEntry(
            name=form.value("name"),
            initial_severity=severity,
            initial_likelihood=likelihood,
            description=form.value("description"),
            causes=form.value("causes"),
            effect=form.value("effect"),
            harm=form.value("harm"),
            existing_controls=form.value("existing_controls"),
        )
        attempt(session, form, lambda: log_hazard(session, tool, entry, owner=viewer.user), {})
    if not form.ok:
        return show_tool(request, session, viewer, tool, forms={"hazard": form}, status=422)
    return _done(tool.id, "hazard", "hazards")


def _choice(form: Form, name: str, kind: type[Choice], what: str) -> Choice | None:
    if not form.value(name) or form.error(name):
        return None
    try:
        return kind(form.value(name))
    except ValueError:
        form.errors[name] = f"Choose {what} from the list."
        return None


@router.post("/tools/{tool_id}/deployments")
def record_deployment(
    request: Request,
    session: SessionDep,
    viewer: DeployToolsPage,
    data: FormDep,
    tool_id: uuid.UUID,
) -> Response:
    """Record that the current version runs (or will run) at a site in a care setting, planned
    until marked live; its monitoring configuration is set through the deployments API."""
    tool = find_tool(session, viewer, tool_id, write=True)
    form = Form.of(data, "site", "care_setting").require("site", "care_setting")
    version: ToolVersion | None = latest_version(session, tool)
    site = session.scalar(select(Organisation).where(Organisation.slug == form.value("site")))
    if form.value("site") and site is None:
        form.errors["site"] = "Choose a site from the list."
    if version is None:
        form.summary = "Record a version of the tool before deploying it."
    if form.ok and site is not None and version is not None:
        attempt(
            session, form, lambda: deploy(session, version, site, form.value("care_setting")), {}
        )
    if not form.ok:
        return show_tool(request, session, viewer, tool, forms={"deploy": form}, status=422)
    return _done(tool.id, "deployed", "deployments")


@router.post("/tools/{tool_id}/deployments/{deployment_id}/status")
def change_deployment_status(
    request: Request,
    session: SessionDep,
    viewer: DeployToolsPage,
    data: FormDep,
    tool_id: uuid.UUID,
    deployment_id: uuid.UUID,
) -> Response:
    """Mark a deployment live (only while the tool is in live pilot or deployed) or withdrawn."""
    tool = find_tool(session, viewer, tool_id, write=True)
    deployment = session.get(Deployment, deployment_id)
    version = session.get(ToolVersion, deployment.version_id) if deployment else None
    if deployment is None or version is None or version.tool_id != tool.id:
        raise NotFoundError(f"no deployment {deployment_id} of this tool")
    form = Form.of(data, "status")
    try:
        status = DeploymentStatus(form.value("status"))
    except ValueError:
        raise invalid("status", "choose planned, live or withdrawn") from None
    attempt(session, form, lambda: set_deployment_status(session, deployment, status), {})
    if not form.ok:
        forms = {"deployment-status": form}
        return show_tool(request, session, viewer, tool, forms=forms, status=422)
    return _done(tool.id, "deployed", "deployments")
