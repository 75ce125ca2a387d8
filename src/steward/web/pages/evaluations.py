"""The evaluation workbench in the browser: upload a CSV or Parquet file (or reuse one uploaded
before), map its columns, choose thresholds and acceptance criteria, run with visible progress,
read the report, and attach it to a tool version as evidence."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile

from steward.api.deps import SessionDep, SettingsDep
from steward.audit.context import AuditContext
from steward.registry.errors import NotFoundError
from steward.registry.models import Organisation, Tool, ToolVersion
from steward.web.deps import FormDep, RecordEvaluationsPage, Viewer
from steward.web.forms import Form, attempt
from steward.web.templating import render
from steward.workbench.models import DataUpload, EvaluationRun
from steward.workbench.runs import attach, request_run
from steward.workbench.uploads import store_upload

router = APIRouter(include_in_schema=False)

MAPPING = (
    "title",
    "score",
    "label",
    "comparator",
    "patient",
    "time",
    "score_scale",
    "thresholds",
    "criteria",
    "replicates",
    "version",
)
SPEC_FIELDS = {
    "columns.score": "score",
    "columns.label": "label",
    "columns.comparator": "comparator",
    "columns.patient": "patient",
    "columns.time": "time",
    "columns.groups": "groups",
    "columns": "score",
    "acceptance": "criteria",
    "thresholds": "thresholds",
    "bootstrap": "replicates",
    "data": "score_scale",
}
GUESSES = {
    "score": re.compile(r"score|risk|prob|pred", re.I),
    "label": re.compile(r"label|outcome|event|deteriorat|^y$", re.I),
    "comparator": re.compile(r"clinician|comparator|baseline", re.I),
    "patient": re.compile(r"patient|person|subject|mrn", re.I),
    "time": re.compile(r"time|date|_at$", re.I),
}
DEFAULT_CRITERIA = "auroc.ci_low >= 0.70\nabs(citl) <= 0.05"


@dataclass(frozen=True)
class UploadPage:
    form: Form
    uploads: tuple[DataUpload, ...]
    runs: tuple[EvaluationRun, ...]
    limit_mb: int


@dataclass(frozen=True)
class MappingPage:
    upload: DataUpload
    form: Form
    columns: tuple[str, ...]
    text_columns: tuple[str, ...]
    groups: frozenset[str]
    versions: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class RunPage:
    run: EvaluationRun
    upload: DataUpload
    progress: float | None
    versions: tuple[tuple[str, str], ...]
    form: Form
    criteria: tuple[dict[str, Any], ...]
    attached_to: str | None


def _versions(session: SessionDep, viewer: Viewer) -> tuple[tuple[str, str], ...]:
    rows = session.execute(
        select(ToolVersion.id, Tool.name, ToolVersion.version)
        .join(Tool, Tool.id == ToolVersion.tool_id)
        .where(Tool.organisation_id.in_(viewer.scope_ids))
        .order_by(Tool.name, ToolVersion.created_at)
    )
    return tuple((str(vid), f"{name}, version {version}") for vid, name, version in rows)


def _upload(session: SessionDep, viewer: Viewer, upload_id: uuid.UUID) -> DataUpload:
    upload = session.get(DataUpload, upload_id)
    if upload is None or upload.organisation_id not in viewer.scope_ids:
        raise NotFoundError(f"no uploaded data set with id {upload_id}")
    return upload


def _run(session: SessionDep, viewer: Viewer, run_id: uuid.UUID) -> EvaluationRun:
    run = session.get(EvaluationRun, run_id)
    if run is None or run.organisation_id not in viewer.scope_ids:
        raise NotFoundError(f"no evaluation run with id {run_id}")
    return run


def _upload_page(
    request: Request, session: SessionDep, viewer: Viewer, limit: int, form: Form, status: int = 200
) -> Response:
    uploads = session.scalars(
        select(DataUpload)
        .where(DataUpload.organisation_id.in_(viewer.scope_ids))
        .order_by(DataUpload.created_at.desc())
        .limit(20)
    )
    runs = session.scalars(
        select(EvaluationRun)
        .where(EvaluationRun.organisation_id.in_(viewer.scope_ids))
        .order_by(EvaluationRun.created_at.desc())
        .limit(20)
    )
    page = UploadPage(form, tuple(uploads), tuple(runs), limit // (1024 * 1024))
    return render(request, "evaluation_upload.html", page, status=status, title="Evaluate a tool")


@router.get("/evaluations/new")
def new_evaluation(
    request: Request, session: SessionDep, viewer: RecordEvaluationsPage, settings: SettingsDep
) -> Response:
    """Upload a data set, or pick one uploaded before; recent runs are listed."""
    return _upload_page(request, session, viewer, settings.upload_max_bytes, Form())


@router.post("/evaluations/uploads")
def upload_data(
    request: Request,
    session: SessionDep,
    viewer: RecordEvaluationsPage,
    settings: SettingsDep,
    data: FormDep,
) -> Response:
    """Store the uploaded file and go on to map its columns."""
    form = Form()
    file = data.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        form.errors["file"] = "Choose a CSV or Parquet file to upload."
        return _upload_page(request, session, viewer, settings.upload_max_bytes, form, 422)
    organisation = session.get_one(Organisation, viewer.organisation_id)
    stored = attempt(
        session,
        form,
        lambda: store_upload(
            session,
            settings.home,
            organisation,
            file.filename or "data",
            file.file,
            settings.upload_max_bytes,
            viewer.user,
        ),
        {},
    )
    if stored is None:
        form.errors["file"], form.summary = form.summary, ""
        return _upload_page(request, session, viewer, settings.upload_max_bytes, form, 422)
    return RedirectResponse(f"/evaluations/uploads/{stored.id}", status_code=303)


def _guess(columns: list[str]) -> dict[str, str]:
    chosen: dict[str, str] = {}
    for role, pattern in GUESSES.items():
        for column in columns:
            if pattern.search(column) and column not in chosen.values():
                chosen[role] = column
                break
    return chosen


def _mapping_page(
    request: Request,
    session: SessionDep,
    viewer: Viewer,
    upload: DataUpload,
    form: Form,
    groups: frozenset[str],
    status: int = 200,
) -> Response:
    names, types = upload.columns["names"], upload.columns["types"]
    text = tuple(n for n, t in zip(names, types, strict=True) if t == "VARCHAR")
    page = MappingPage(upload, form, tuple(names), text, groups, _versions(session, viewer))
    return render(request, "evaluation_mapping.html", page, status=status, title="Map the columns")


@router.get("/evaluations/uploads/{upload_id}")
def map_columns(
    request: Request, session: SessionDep, viewer: RecordEvaluationsPage, upload_id: uuid.UUID
) -> Response:
    """Say which column is the score, the outcome, the groups; thresholds and criteria."""
    upload = _upload(session, viewer, upload_id)
    guessed = _guess(upload.columns["names"])
    values = {
        **guessed,
        "title": f"Local validation of {upload.filename}",
        "score_scale": "probability",
        "thresholds": "0.1, 0.2",
        "criteria": DEFAULT_CRITERIA,
        "replicates": "1000",
    }
    return _mapping_page(request, session, viewer, upload, Form(values=values), frozenset())


def _spec(form: Form, groups: list[str]) -> dict[str, Any]:
    thresholds: list[float] = []
    for part in re.split(r"[,\s]+", form.value("thresholds")):
        if part:
            try:
                thresholds.append(float(part))
            except ValueError:
                form.errors["thresholds"] = (
                    f"{part!r} is not a number; give thresholds like 0.1, 0.2"
                )
    replicates = form.value("replicates") or "1000"
    if not replicates.isdigit():
        form.errors["replicates"] = "Give a whole number of bootstrap replicates (0 to 100,000)."
    columns = {k: form.value(k) for k in ("score", "label", "comparator", "patient", "time")}
    return {
        "title": form.value("title") or None,
        "data": {"score_scale": form.value("score_scale") or "probability"},
        "columns": {**{k: v for k, v in columns.items() if v}, "groups": groups},
        "thresholds": thresholds,
        "acceptance": [
            line.strip() for line in form.value("criteria").splitlines() if line.strip()
        ],
        "bootstrap": {"replicates": int(replicates) if replicates.isdigit() else 1000},
    }


@router.post("/evaluations/uploads/{upload_id}/runs")
def start_run(
    request: Request,
    session: SessionDep,
    viewer: RecordEvaluationsPage,
    data: FormDep,
    upload_id: uuid.UUID,
) -> Response:
    """Check the settings and start the evaluation in the background."""
    upload = _upload(session, viewer, upload_id)
    form = Form.of(data, *MAPPING).require("score", "label")
    groups = [str(g) for g in data.getlist("groups")]
    raw = _spec(form, groups)
    version = None
    if form.value("version"):
        version = _version(session, viewer, form.value("version"))
        if version is None:
            form.errors["version"] = "Choose a tool version from the list."
    run = None
    if form.ok:
        run = attempt(
            session,
            form,
            lambda: request_run(session, upload, raw, version, viewer.user),
            SPEC_FIELDS,
        )
    if run is None:
        return _mapping_page(request, session, viewer, upload, form, frozenset(groups), 422)
    context = AuditContext(viewer.principal.actor, f"run:{run.id}", viewer.organisation_id)
    # A background task runs after the response, hence after the request's commit: the worker
    # then finds the run queued.
    queue = BackgroundTask(request.app.state.run_worker.submit, run.id, context)
    return RedirectResponse(f"/evaluations/runs/{run.id}", status_code=303, background=queue)


def _version(session: SessionDep, viewer: Viewer, value: str) -> ToolVersion | None:
    try:
        version = session.get(ToolVersion, uuid.UUID(value))
    except ValueError:
        return None
    if version is None:
        return None
    tool = session.get_one(Tool, version.tool_id)
    return version if tool.organisation_id in viewer.scope_ids else None


def _run_page(
    request: Request,
    session: SessionDep,
    viewer: Viewer,
    run: EvaluationRun,
    form: Form,
    status: int = 200,
) -> Response:
    attached_to = None
    if run.evaluation_id is not None and run.version_id is not None:
        version = session.get_one(ToolVersion, run.version_id)
        tool = session.get_one(Tool, version.tool_id)
        attached_to = f"{tool.name}, version {version.version}|/tools/{tool.id}"
    if not form.values:
        form.values["version"] = str(run.version_id or "")
    criteria = tuple((run.result or {}).get("verdict", {}).get("criteria", []))
    page = RunPage(
        run=run,
        upload=session.get_one(DataUpload, run.upload_id),
        progress=request.app.state.run_worker.progress(run.id),
        versions=_versions(session, viewer),
        form=form,
        criteria=criteria,
        attached_to=attached_to,
    )
    return render(request, "evaluation_run.html", page, status=status, title=run.title)


@router.get("/evaluations/runs/{run_id}")
def run_page(
    request: Request, session: SessionDep, viewer: RecordEvaluationsPage, run_id: uuid.UUID
) -> Response:
    """Progress while the run works; the verdict, the report and the attach form when done."""
    return _run_page(request, session, viewer, _run(session, viewer, run_id), Form())


@router.get("/evaluations/runs/{run_id}/progress")
def run_progress(
    request: Request, session: SessionDep, viewer: RecordEvaluationsPage, run_id: uuid.UUID
) -> JSONResponse:
    """The run's status and fraction done, for the page's progress bar."""
    run = _run(session, viewer, run_id)
    fraction = request.app.state.run_worker.progress(run.id)
    return JSONResponse({"status": run.status.value, "progress": fraction})


@router.get("/evaluations/runs/{run_id}/report")
def run_report(
    request: Request, session: SessionDep, viewer: RecordEvaluationsPage, run_id: uuid.UUID
) -> Response:
    """The self-contained HTML report of a finished run."""
    from steward.evaluation.report import render_html

    run = _run(session, viewer, run_id)
    if run.result is None:
        raise NotFoundError("this evaluation has no report yet")
    headers = {
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    }
    return HTMLResponse(render_html(run.result), headers=headers)


@router.post("/evaluations/runs/{run_id}/attach")
def attach_run(
    request: Request,
    session: SessionDep,
    viewer: RecordEvaluationsPage,
    settings: SettingsDep,
    data: FormDep,
    run_id: uuid.UUID,
) -> Response:
    """Record the result against a tool version and file the report as evidence."""
    from steward.evaluation.report import render_html

    run = _run(session, viewer, run_id)
    form = Form.of(data, "version").require("version")
    version = _version(session, viewer, form.value("version")) if form.ok else None
    if form.ok and version is None:
        form.errors["version"] = "Choose a tool version from the list."
    if version is not None and run.result is not None:
        html = render_html(run.result)
        done = attempt(
            session,
            form,
            lambda: attach(session, run, version, html, settings.evidence_max_bytes, viewer.user),
            {"document": "version"},
        )
        if done is not None:
            return RedirectResponse(f"/tools/{version.tool_id}", status_code=303)
    return _run_page(request, session, viewer, run, form, status=422)
