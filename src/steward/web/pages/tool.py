"""``/tools/{id}``: a tool's page (facts, lifecycle and gates, evidence, hazards, evaluations,
deployments, decisions, audit history), the download of a filed document and the HTML report of
a stored evaluation. The forms of the page post to :mod:`steward.web.pages.tool_forms`."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from steward.api.deps import SessionDep
from steward.auth.roles import Role
from steward.evaluation.report.html import render_html
from steward.registry.errors import NotFoundError
from steward.registry.evidence import evidence_content
from steward.registry.hazards import Likelihood, Severity
from steward.registry.lifecycle import Unmet
from steward.registry.models import Tool, ToolVersion
from steward.registry.records import EvaluationRecord, EvidenceDocument
from steward.web.deps import ReadToolsPage, Viewer
from steward.web.forms import Form
from steward.web.templating import render
from steward.web.views.assessment import AssessmentView, assessment_view
from steward.web.views.facts import FactSection, chai_sections, hti1_sections
from steward.web.views.risk import label
from steward.web.views.tool import ToolView, tool_view

router = APIRouter(include_in_schema=False)

DONE = {
    "facts": "Model facts saved.",
    "moved": "The tool moved to its new state.",
    "cleared": "The version passed the gate; the tool stays where it is.",
    "evidence": "Evidence uploaded.",
    "hazard": "Hazard logged.",
    "deployed": "Deployment recorded.",
    "version": "Version recorded.",
    "signed": "Sign-off recorded.",
    "refused": "Refusal recorded.",
    "dtac": "DTAC answers saved.",
    "fallback": "Fallback plan saved.",
}

ACTIONS = {
    "facts": "tools:version",
    "version": "tools:version",
    "transition": "tools:transition",
    "evidence": "tools:evidence",
    "hazards": "tools:hazards",
    "deploy": "deployments:create",
    "signoff": "tools:signoff",
    "assessment": "tools:assessment",
    "fallback": "tools:fallback",
}


@dataclass(frozen=True)
class Refusal:
    """A transition the registry refused, with every requirement it found unmet."""

    target: str
    summary: str
    unmet: tuple[Unmet, ...]


@dataclass(frozen=True)
class ToolPage:
    view: ToolView
    role: Role
    can: dict[str, bool]
    forms: dict[str, Form] = field(default_factory=dict)
    refusal: Refusal | None = None
    notice: str = ""
    hti1: tuple[FactSection, ...] = ()
    chai: tuple[FactSection, ...] = ()
    severities: tuple[tuple[str, str], ...] = ()
    likelihoods: tuple[tuple[str, str], ...] = ()
    max_upload: int = 0
    can_audit: bool = False
    assessment: AssessmentView | None = None

    def form(self, key: str) -> Form:
        return self.forms.get(key) or Form()

    def may_move(self, by: frozenset[Role]) -> bool:
        return self.can["transition"] and self.role in by


def find_tool(session: SessionDep, viewer: Viewer, tool_id: uuid.UUID, *, write: bool) -> Tool:
    """The tool if the viewer may see it (their organisation or below) or change it (their own);
    otherwise not found, so a tool outside their reach is not revealed."""
    tool = session.get(Tool, tool_id)
    if tool is None or tool.organisation_id not in viewer.scope_ids:
        raise NotFoundError(f"no tool with id {tool_id}")
    if write and tool.organisation_id != viewer.organisation_id:
        raise NotFoundError(f"no tool with id {tool_id} in {viewer.seat.organisation_name}")
    return tool


def show_tool(
    request: Request,
    session: SessionDep,
    viewer: Viewer,
    tool: Tool,
    *,
    forms: Mapping[str, Form] | None = None,
    refusal: Refusal | None = None,
    status: int = 200,
) -> Response:
    """Render the tool page, with any refused form's values and errors."""
    view = tool_view(session, tool, viewer.organisation_id)
    own = tool.organisation_id == viewer.organisation_id
    shown = dict(forms or {})
    shown.setdefault("facts", Form(values=dict(view.facts)))
    assessment = assessment_view(session, tool)
    if assessment.fallback is not None:
        plan = assessment.fallback
        stored = {
            "triggers": plan.triggers,
            "clinical_fallback": plan.clinical_fallback,
            "communication": plan.communication,
        }
        shown.setdefault("fallback", Form(values=stored))
    page = ToolPage(
        view=view,
        role=viewer.role,
        can={key: own and viewer.may(p) for key, p in ACTIONS.items()},
        forms=shown,
        refusal=refusal,
        notice=DONE.get(request.query_params.get("done", ""), ""),
        hti1=hti1_sections(),
        chai=chai_sections(),
        severities=tuple((s.value, label(s.value)) for s in Severity),
        likelihoods=tuple((v.value, label(v.value)) for v in Likelihood),
        max_upload=request.app.state.settings.evidence_max_bytes,
        can_audit=viewer.may("audit:read"),
        assessment=assessment,
    )
    return render(request, "tool.html", page, status=status, title=tool.name)


@router.get("/tools/{tool_id}")
def tool_page(
    request: Request, session: SessionDep, viewer: ReadToolsPage, tool_id: uuid.UUID
) -> Response:
    """The tool's governance file on one page."""
    return show_tool(request, session, viewer, find_tool(session, viewer, tool_id, write=False))


@router.get("/tools/{tool_id}/evidence/{document_id}")
def download_evidence(
    session: SessionDep, viewer: ReadToolsPage, tool_id: uuid.UUID, document_id: uuid.UUID
) -> Response:
    """The stored bytes of a filed document, as an attachment of its recorded media type."""
    tool = find_tool(session, viewer, tool_id, write=False)
    document = session.get(EvidenceDocument, document_id)
    if document is None or document.tool_id != tool.id:
        raise NotFoundError(f"no evidence document {document_id} for this tool")
    disposition = f"attachment; filename*=UTF-8''{quote(document.filename, safe='')}"
    return Response(
        evidence_content(session, document),
        media_type=document.media_type,
        headers={"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"},
    )


@router.get("/tools/{tool_id}/evaluations/{evaluation_id}")
def evaluation_report(
    session: SessionDep, viewer: ReadToolsPage, tool_id: uuid.UUID, evaluation_id: uuid.UUID
) -> Response:
    """The HTML report of a stored evaluation result of one of the tool's versions."""
    tool = find_tool(session, viewer, tool_id, write=False)
    record = session.get(EvaluationRecord, evaluation_id)
    version = session.get(ToolVersion, record.version_id) if record else None
    if record is None or version is None or version.tool_id != tool.id:
        raise NotFoundError(f"no evaluation {evaluation_id} for this tool")
    return HTMLResponse(render_html(record.document))
