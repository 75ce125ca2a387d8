"""The tool page's assessment forms: the DTAC checklist (answers saved as they are given; the
gate into silent pilot needs every required one) and the fallback plan (needed before a live
pilot)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from steward.api.deps import SessionDep
from steward.registry.assessments import answer_dtac, dtac_questions
from steward.registry.safety import set_fallback_plan
from steward.web.deps import AssessToolsPage, FallbackToolsPage, FormDep
from steward.web.forms import Form, attempt
from steward.web.pages.tool import find_tool, show_tool

router = APIRouter(include_in_schema=False)

FALLBACK_FIELDS = ("triggers", "clinical_fallback", "communication")


def _done(tool_id: uuid.UUID, what: str) -> Response:
    return RedirectResponse(f"/tools/{tool_id}?done={what}#assessment", status_code=303)


@router.post("/tools/{tool_id}/assessments/dtac")
def save_dtac(
    request: Request,
    session: SessionDep,
    viewer: AssessToolsPage,
    data: FormDep,
    tool_id: uuid.UUID,
) -> Response:
    """Save the DTAC answers given (a blank answer clears that question)."""
    tool = find_tool(session, viewer, tool_id, write=True)
    names = {qid: f"dtac-{qid}" for qid in dtac_questions()}
    form = Form.of(data, *names.values())
    answers = {qid: form.value(name) for qid, name in names.items() if name in data}
    fields = {f"answers.{qid}": name for qid, name in names.items()}
    attempt(session, form, lambda: answer_dtac(session, tool, answers), fields)
    if not form.ok:
        return show_tool(request, session, viewer, tool, forms={"dtac": form}, status=422)
    return _done(tool.id, "dtac")


@router.post("/tools/{tool_id}/fallback-plan")
def save_fallback_plan(
    request: Request,
    session: SessionDep,
    viewer: FallbackToolsPage,
    data: FormDep,
    tool_id: uuid.UUID,
) -> Response:
    """Write what the service does when the tool is unavailable or compromised."""
    tool = find_tool(session, viewer, tool_id, write=True)
    form = Form.of(data, *FALLBACK_FIELDS).require(*FALLBACK_FIELDS)
    if form.ok:
        attempt(
            session,
            form,
            lambda: set_fallback_plan(
                session,
                tool,
                triggers=form.value("triggers"),
                clinical_fallback=form.value("clinical_fallback"),
                communication=form.value("communication"),
                owner=viewer.user,
            ),
            {},
        )
    if not form.ok:
        return show_tool(request, session, viewer, tool, forms={"fallback": form}, status=422)
    return _done(tool.id, "fallback")
