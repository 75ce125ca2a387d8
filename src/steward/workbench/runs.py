"""Evaluation runs: requested with a spec checked against the data set's columns, executed by
a background worker that claims the run with a conditional UPDATE, and attached to a tool
version as an evaluation record plus its HTML report as evidence."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from steward.audit.context import AuditContext
from steward.db.base import utcnow
from steward.db.session import StewardSession, unit_of_work
from steward.errors import InputError
from steward.evaluation.criteria import parse_criterion
from steward.evaluation.spec import EvaluationSpec
from steward.registry.errors import ConflictError, FieldProblem, InvalidInputError, invalid
from steward.registry.evidence import file_evidence, record_evaluation
from steward.registry.models import Tool, ToolVersion, User
from steward.registry.records import EvaluationRecord
from steward.workbench.models import DataUpload, EvaluationRun, RunStatus
from steward.workbench.uploads import upload_path

LOG = logging.getLogger("steward.workbench")
REPORT_EVIDENCE_TYPE = "local_validation_report"

Progress = Callable[[float], None]


def check_spec(upload: DataUpload, raw: dict[str, Any]) -> EvaluationSpec:
    """The spec of a run, refused with field paths when invalid or naming absent columns."""
    problems: list[FieldProblem] = []
    for line in raw.get("acceptance", ()):
        try:
            parse_criterion(line)
        except InputError as error:
            problems.append(FieldProblem("acceptance", str(error)))
    if problems:
        raw = {**raw, "acceptance": []}
    try:
        spec = EvaluationSpec.model_validate(raw)
    except ValidationError as error:
        problems += [_problem(e) for e in error.errors()]
    if problems:
        raise InvalidInputError(problems)
    available = set(upload.columns["names"])
    named = {
        "columns.score": spec.columns.score,
        "columns.label": spec.columns.label,
        "columns.comparator": spec.columns.comparator,
        "columns.patient": spec.columns.patient,
        "columns.time": spec.columns.time,
    }
    for field, column in named.items():
        if column is not None and column not in available:
            raise invalid(field, f"{upload.filename} has no column {column!r}")
    for column in spec.columns.groups:
        if column not in available:
            raise invalid("columns.groups", f"{upload.filename} has no column {column!r}")
    return spec


def _problem(error: Any) -> FieldProblem:
    """A spec validation error as a problem on the top-level setting (``columns.*`` kept)."""
    location = [str(part) for part in error["loc"]]
    field = ".".join(location[:2]) if location[:1] == ["columns"] else (location or ["spec"])[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    return FieldProblem(field, message)


def request_run(
    session: Session,
    upload: DataUpload,
    raw_spec: dict[str, Any],
    version: ToolVersion | None,
    requested_by: User | None,
) -> EvaluationRun:
    """Queue a run of ``raw_spec`` over ``upload``."""
    spec = check_spec(upload, raw_spec)
    run = EvaluationRun(
        id=uuid.uuid4(),
        upload_id=upload.id,
        organisation_id=upload.organisation_id,
        version_id=version.id if version else None,
        requested_by_id=requested_by.id if requested_by else None,
        title=(spec.title or f"Local validation of {upload.filename}")[:300],
        spec=spec.model_dump(mode="json", exclude_none=True),
        status=RunStatus.QUEUED,
        error="",
    )
    session.add(run)
    session.flush()
    return run


def claim(session: Session, run_id: uuid.UUID) -> bool:
    """Move a queued run to running; only one worker ever succeeds for a run."""
    result = session.execute(
        update(EvaluationRun)
        .where(EvaluationRun.id == run_id, EvaluationRun.status == RunStatus.QUEUED)
        .values(status=RunStatus.RUNNING, started_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def execute(
    sessions: sessionmaker[StewardSession],
    home: Path,
    run_id: uuid.UUID,
    context: AuditContext,
    progress: Progress | None = None,
) -> RunStatus | None:
    """Claim and run one evaluation; the result or the error is stored on the run."""
    from steward.evaluation.run import evaluate
    from steward.integration.optout_register import opted_out_digests
    from steward.integration.optouts import PatientExclusion

    with unit_of_work(sessions, context) as session:
        if not claim(session, run_id):
            return None
        run = session.get_one(EvaluationRun, run_id)
        upload = session.get_one(DataUpload, run.upload_id)
        spec, path = EvaluationSpec.model_validate(run.spec), upload_path(home, upload)
        # with a patient column, the opt-out register always applies (and the report says so)
        opt_outs = (
            PatientExclusion("the opt-out register", opted_out_digests(session))
            if spec.columns.patient
            else None
        )
    try:
        result = evaluate(path, spec, progress=progress, opt_outs=opt_outs)
        document = result.model_dump(mode="json")
        outcome: dict[str, Any] = {"status": RunStatus.DONE, "result": document}
        outcome["verdict"] = document["verdict"]["status"]
    except InputError as error:
        outcome = {
            "status": RunStatus.FAILED,
            "error": str(error).replace(str(path), upload.filename),
        }
    except Exception:
        LOG.exception("evaluation run %s failed", run_id)
        outcome = {
            "status": RunStatus.FAILED,
            "error": "The evaluation failed unexpectedly; it has been logged.",
        }
    with unit_of_work(sessions, context) as session:
        run = session.get_one(EvaluationRun, run_id)
        for key, value in outcome.items():
            setattr(run, key, value)
        run.finished_at = utcnow()
    return RunStatus(outcome["status"])


def requeue_interrupted(session: Session) -> list[uuid.UUID]:
    """Runs a stopped server left running go back to the queue; returns every queued run."""
    session.execute(
        update(EvaluationRun)
        .where(EvaluationRun.status == RunStatus.RUNNING)
        .values(status=RunStatus.QUEUED, started_at=None)
        .execution_options(synchronize_session=False)
    )
    return list(
        session.scalars(
            EvaluationRun.__table__.select()
            .with_only_columns(EvaluationRun.id)
            .where(EvaluationRun.status == RunStatus.QUEUED)
        )
    )


def attach(
    session: Session,
    run: EvaluationRun,
    version: ToolVersion,
    report_html: str,
    max_bytes: int,
    by: User | None,
) -> EvaluationRecord:
    """Record the run's result against ``version`` and file its report as validation evidence."""
    if run.status is not RunStatus.DONE or run.result is None:
        raise ConflictError("only a finished evaluation can be attached")
    if run.evaluation_id is not None:
        raise ConflictError("this evaluation is already attached to a version")
    tool = session.get_one(Tool, version.tool_id)
    record = record_evaluation(session, version, run.result, by)
    file_evidence(
        session,
        tool,
        evidence_type=REPORT_EVIDENCE_TYPE,
        title=f"{run.title} ({run.verdict})",
        filename=f"evaluation-{run.id}.html",
        media_type="text/html",
        content=report_html.encode("utf-8"),
        max_bytes=max_bytes,
        version=version,
        uploaded_by=by,
    )
    run.version_id = version.id
    run.evaluation_id = record.id
    session.flush()
    return record
