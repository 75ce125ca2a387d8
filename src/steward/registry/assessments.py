"""DTAC-style assessments: answers to the versioned checklist, complete when every required
question is answered."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from steward.db.base import Base, CreatedMixin, IdMixin, utcnow
from steward.registry.errors import FieldProblem, InvalidInputError
from steward.registry.models import Tool
from steward.registry.policies import load_policy, policy_version

DTAC = "dtac"


class Assessment(IdMixin, CreatedMixin, Base):
    """A tool's answers to one assessment framework's checklist."""

    __tablename__ = "assessments"
    __table_args__ = (UniqueConstraint("tool_id", "framework"),)

    tool_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tools.id", ondelete="RESTRICT"))
    framework: Mapped[str] = mapped_column(String(40))
    policy_version: Mapped[str] = mapped_column(String(40))
    answers: Mapped[dict[str, Any]]
    completed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def dtac_questions() -> dict[str, dict[str, Any]]:
    """Question id -> its text and whether it is required, in checklist order."""
    sections = load_policy("dtac-questions")["sections"]
    return {
        qid: spec for section in sections.values() for qid, spec in section["questions"].items()
    }


def unanswered(answers: dict[str, Any]) -> list[str]:
    """Required questions without an answer."""
    return [
        qid
        for qid, spec in dtac_questions().items()
        if spec["required"] and not str(answers.get(qid, "")).strip()
    ]


def answer_dtac(session: Session, tool: Tool, answers: Any) -> Assessment:
    """Merge ``answers`` into the tool's DTAC assessment; refuse unknown questions."""
    if not isinstance(answers, dict):
        raise InvalidInputError([FieldProblem("answers", "must be an object")])
    questions = dtac_questions()
    problems = [
        FieldProblem(
            f"answers.{qid}", "not a DTAC question" if qid not in questions else "must be text"
        )
        for qid, value in answers.items()
        if qid not in questions or not isinstance(value, str)
    ]
    if problems:
        raise InvalidInputError(problems)
    assessment = session.scalar(
        select(Assessment).where(Assessment.tool_id == tool.id, Assessment.framework == DTAC)
    )
    if assessment is None:
        assessment = Assessment(id=uuid.uuid4(), tool_id=tool.id, framework=DTAC, answers={})
        session.add(assessment)
    assessment.answers = {**assessment.answers, **answers}
    assessment.policy_version = policy_version("dtac-questions")
    complete = not unanswered(assessment.answers)
    if complete and assessment.completed_at is None:
        assessment.completed_at = utcnow()
    elif not complete:
        assessment.completed_at = None
    session.flush()
    return assessment


def dtac_complete(session: Session, tool: Tool) -> bool:
    """Whether every required DTAC question has been answered for ``tool``."""
    assessment = session.scalar(
        select(Assessment).where(Assessment.tool_id == tool.id, Assessment.framework == DTAC)
    )
    return assessment is not None and not unanswered(assessment.answers)
