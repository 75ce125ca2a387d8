"""``/approvals``: the gates waiting for the viewer's sign-off, and signing or refusing a gate
(from the inbox or the tool's page) in the role of the viewer's seat."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from steward.api.deps import SessionDep
from steward.registry.decisions import record_decision
from steward.registry.errors import ForbiddenError, invalid
from steward.registry.lifecycle import lifecycle_policy
from steward.registry.models import LifecycleState, Tool
from steward.registry.records import DecisionOutcome
from steward.registry.tools import latest_version
from steward.registry.transitions import sign_off
from steward.web.deps import FormDep, SignOffToolsPage, Viewer
from steward.web.forms import Form
from steward.web.pages.tool import find_tool, show_tool
from steward.web.templating import render, role_label, state_label
from steward.web.views.approvals import Waiting, refusal_subject, waiting_for

router = APIRouter(include_in_schema=False)

INBOX = "/approvals"


@dataclass(frozen=True)
class ApprovalsPage:
    waiting: tuple[Waiting, ...]
    role: str
    organisation: str
    forms: dict[str, Form] = field(default_factory=dict)
    notice: str = ""

    def form(self, key: str) -> Form:
        return self.forms.get(key) or Form()


def _inbox(
    request: Request,
    session: SessionDep,
    viewer: Viewer,
    forms: dict[str, Form] | None = None,
    status: int = 200,
) -> Response:
    done = request.query_params.get("done", "")
    page = ApprovalsPage(
        waiting=tuple(waiting_for(session, viewer.organisation_id, viewer.role)),
        role=viewer.role.value,
        organisation=viewer.seat.organisation_name,
        forms=forms or {},
        notice={"signed": "Sign-off recorded.", "refused": "Refusal recorded."}.get(done, ""),
    )
    return render(request, "approvals.html", page, status=status, title="Approvals")


@router.get(INBOX)
def approvals_page(request: Request, session: SessionDep, viewer: SignOffToolsPage) -> Response:
    """The gates of the viewer's organisation waiting for a sign-off by the viewer's role."""
    return _inbox(request, session, viewer)


def _gate_asking(tool: Tool, data: FormDep, viewer: Viewer) -> LifecycleState:
    """The gate named by the form, if it lies ahead of the tool and asks for the viewer's role."""
    try:
        target = LifecycleState(str(data.get("gate", "")))
    except ValueError:
        raise invalid("gate", "choose a gate of the lifecycle") from None
    gate = lifecycle_policy().gate(tool.state, target)
    if gate is None:
        raise invalid("gate", f"the tool cannot move from {tool.state.value} to {target.value}")
    if viewer.role not in gate.signoffs:
        raise ForbiddenError(
            f"the move to {state_label(target.value)} does not ask for a sign-off by the "
            f"{role_label(viewer.role.value)}"
        )
    return target


def _back(data: FormDep, tool: Tool, done: str) -> Response:
    target = INBOX if data.get("next") == INBOX else f"/tools/{tool.id}"
    anchor = "" if target == INBOX else "#lifecycle"
    return RedirectResponse(f"{target}?done={done}{anchor}", status_code=303)


@router.post("/tools/{tool_id}/signoffs")
def sign_gate(
    session: SessionDep, viewer: SignOffToolsPage, data: FormDep, tool_id: uuid.UUID
) -> Response:
    """Sign the tool's current version off for a gate, as the viewer in their seat's role.

    Signing a gate that does not ask for the role, or in a role the viewer does not hold in the
    tool's organisation, is refused (403) and the refusal is recorded in the audit trail."""
    tool = find_tool(session, viewer, tool_id, write=True)
    target = _gate_asking(tool, data, viewer)
    note = str(data.get("note", "")).strip()
    sign_off(session, tool, target, viewer.role, viewer.user, note)
    return _back(data, tool, "signed")


@router.post("/tools/{tool_id}/refusals")
def refuse_gate(
    request: Request,
    session: SessionDep,
    viewer: SignOffToolsPage,
    data: FormDep,
    tool_id: uuid.UUID,
) -> Response:
    """Refuse to sign a gate, with a comment; recorded as a decision with outcome rejected."""
    tool = find_tool(session, viewer, tool_id, write=True)
    target = _gate_asking(tool, data, viewer)
    form = Form.of(data, "note")
    if not form.value("note"):
        form.errors["note"] = "Say why you refuse to sign: the committee will read it."
        if data.get("next") == INBOX:
            return _inbox(request, session, viewer, {f"{tool.id}-{target.value}": form}, 422)
        return show_tool(
            request, session, viewer, tool, forms={f"sign-{target.value}": form}, status=422
        )
    record_decision(
        session,
        tool,
        subject=refusal_subject(target.value, viewer.role),
        outcome=DecisionOutcome.REJECTED,
        rationale=form.value("note"),
        decided_by=viewer.user,
        version=latest_version(session, tool),
    )
    return _back(data, tool, "refused")
