"""What the tool page shows of a tool's DTAC assessment and fallback plan."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from steward.registry.assessments import DTAC, Assessment, unanswered
from steward.registry.models import Tool
from steward.registry.policies import load_policy
from steward.registry.records import FallbackPlan


@dataclass(frozen=True)
class Question:
    qid: str
    text: str
    required: bool
    answer: str


@dataclass(frozen=True)
class DtacSection:
    title: str
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class AssessmentView:
    """The tool's DTAC checklist with its answers, and its fallback plan (if written)."""

    sections: tuple[DtacSection, ...]
    unanswered: tuple[str, ...]
    fallback: FallbackPlan | None

    @property
    def complete(self) -> bool:
        return not self.unanswered


def assessment_view(session: Session, tool: Tool) -> AssessmentView:
    assessment = session.scalar(
        select(Assessment).where(Assessment.tool_id == tool.id, Assessment.framework == DTAC)
    )
    answers = dict(assessment.answers) if assessment else {}
    sections = tuple(
        DtacSection(
            str(section["title"]),
            tuple(
                Question(qid, str(spec["text"]), bool(spec["required"]), str(answers.get(qid, "")))
                for qid, spec in section["questions"].items()
            ),
        )
        for section in load_policy("dtac-questions")["sections"].values()
    )
    fallback = session.scalar(select(FallbackPlan).where(FallbackPlan.tool_id == tool.id))
    return AssessmentView(sections, tuple(unanswered(answers)), fallback)
