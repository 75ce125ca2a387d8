"""Evidence documents (content-addressed by SHA-256, size-limited, type-checked) and the
evaluation results of ``steward evaluate`` attached to a version."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from steward.registry.errors import FieldProblem, InvalidInputError, invalid
from steward.registry.models import Tool, ToolVersion, User
from steward.registry.organisations import require_text
from steward.registry.policies import load_policy
from steward.registry.records import EvaluationRecord, EvidenceBlob, EvidenceDocument, Verdict


def _is_text(content: bytes) -> bool:
    if b"\x00" in content:
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_json(content: bytes) -> bool:
    try:
        json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def _is_office(part: str) -> Callable[[bytes], bool]:
    def check(content: bytes) -> bool:
        if not content.startswith(b"PK\x03\x04"):
            return False
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                return any(name.startswith(part) for name in archive.namelist())
        except zipfile.BadZipFile:
            return False

    return check


CONTENT_CHECKS: dict[str, Callable[[bytes], bool]] = {
    "application/pdf": lambda c: c.startswith(b"%PDF-"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _is_office("word/"),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _is_office("xl/"),
    "text/csv": _is_text,
    "text/plain": _is_text,
    "text/markdown": _is_text,
    "application/json": _is_json,
    "image/png": lambda c: c.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": lambda c: c.startswith(b"\xff\xd8\xff"),
}


def evidence_types() -> dict[str, str]:
    """Evidence type -> description, from the versioned list."""
    return dict(load_policy("evidence-types")["types"])


def check_upload(
    evidence_type: str, filename: str, media_type: str, content: bytes, max_bytes: int
) -> list[FieldProblem]:
    """Every reason to refuse an upload: unknown type, wrong extension, content not as declared."""
    problems: list[FieldProblem] = []
    if evidence_type not in evidence_types():
        problems.append(FieldProblem("evidence_type", f"unknown evidence type {evidence_type!r}"))
    allowed = load_policy("evidence-types")["media_types"]
    base_media_type = media_type.split(";")[0].strip().lower()
    if base_media_type not in allowed:
        problems.append(FieldProblem("media_type", f"{media_type!r} is not an accepted file type"))
    elif PurePath(filename).suffix.lower() not in allowed[base_media_type]:
        expected = ", ".join(allowed[base_media_type])
        problems.append(
            FieldProblem("filename", f"a {base_media_type} file must end in {expected}")
        )
    if not content:
        problems.append(FieldProblem("file", "is empty"))
    elif len(content) > max_bytes:
        problems.append(FieldProblem("file", f"is {len(content)} bytes; the limit is {max_bytes}"))
    elif base_media_type in CONTENT_CHECKS and not CONTENT_CHECKS[base_media_type](content):
        problems.append(FieldProblem("file", f"content is not a valid {base_media_type} file"))
    return problems


def file_evidence(
    session: Session,
    tool: Tool,
    *,
    evidence_type: str,
    title: str,
    filename: str,
    media_type: str,
    content: bytes,
    max_bytes: int,
    version: ToolVersion | None = None,
    uploaded_by: User | None = None,
) -> EvidenceDocument:
    """Check and store a document; identical content is stored once."""
    if version is not None and version.tool_id != tool.id:
        raise invalid("version_id", "the version belongs to another tool")
    problems = check_upload(evidence_type, filename, media_type, content, max_bytes)
    if problems:
        raise InvalidInputError(problems)
    digest = hashlib.sha256(content).hexdigest()
    if session.get(EvidenceBlob, digest) is None:
        session.add(EvidenceBlob(sha256=digest, size_bytes=len(content), content=content))
    document = EvidenceDocument(
        id=uuid.uuid4(),
        tool_id=tool.id,
        version_id=version.id if version else None,
        evidence_type=evidence_type,
        title=require_text("title", title, 300),
        filename=require_text("filename", PurePath(filename).name, 255),
        media_type=media_type.split(";")[0].strip().lower(),
        size_bytes=len(content),
        sha256=digest,
        uploaded_by_id=uploaded_by.id if uploaded_by else None,
    )
    session.add(document)
    session.flush()
    return document


def evidence_content(session: Session, document: EvidenceDocument) -> bytes:
    """The stored bytes of ``document``, checked against its digest."""
    blob = session.get(EvidenceBlob, document.sha256)
    if blob is None or hashlib.sha256(blob.content).hexdigest() != document.sha256:
        raise InvalidInputError(
            [FieldProblem("sha256", "stored content does not match its digest")]
        )
    return blob.content


def record_evaluation(
    session: Session, version: ToolVersion, document: Any, recorded_by: User | None = None
) -> EvaluationRecord:
    """Attach a ``steward evaluate`` result document to ``version``; its verdict is read from it."""
    if not isinstance(document, dict):
        raise invalid("document", "must be the JSON object written by steward evaluate")
    verdict = document.get("verdict")
    status = verdict.get("status") if isinstance(verdict, dict) else None
    if status not in {v.value for v in Verdict}:
        choices = ", ".join(v.value for v in Verdict)
        raise invalid("document.verdict.status", f"must be one of: {choices}")
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    record = EvaluationRecord(
        id=uuid.uuid4(),
        version_id=version.id,
        verdict=Verdict(status),
        sha256=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        document=document,
        recorded_by_id=recorded_by.id if recorded_by else None,
    )
    session.add(record)
    session.flush()
    return record


@dataclass(frozen=True)
class LatestVerdict:
    """The verdict of a tool's most recent local evaluation (any version) and when it was filed."""

    verdict: Verdict
    created_at: datetime


def latest_tool_verdict(session: Session, tool_id: uuid.UUID) -> LatestVerdict | None:
    """The newest evaluation verdict recorded for any version of the tool, if there is one."""
    row = session.execute(
        select(EvaluationRecord.verdict, EvaluationRecord.created_at)
        .join(ToolVersion, ToolVersion.id == EvaluationRecord.version_id)
        .where(ToolVersion.tool_id == tool_id)
        .order_by(EvaluationRecord.created_at.desc())
        .limit(1)
    ).first()
    return LatestVerdict(row.verdict, row.created_at) if row else None
