"""``/audit``: the searchable audit trail with the chain head, and verification of the whole
chain on request (verified, or broken at event N and why)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.api.deps import SessionDep
from steward.audit.chain import ChainReport
from steward.audit.models import HEAD_ID, AuditChainHead, AuditEvent
from steward.audit.search import AuditSearch, search_events
from steward.audit.verify import verify_database
from steward.web.deps import ReadAuditPage
from steward.web.forms import Form
from steward.web.templating import render

router = APIRouter(include_in_schema=False)
FIELDS = ("actor", "action", "entity_type", "entity_id", "since", "until")


@dataclass(frozen=True)
class AuditPage:
    events: tuple[AuditEvent, ...]
    filters: Form
    head_seq: int
    head_hash: str
    next_page: str | None
    report: ChainReport | None


def _date(form: Form, name: str, end_of_day: bool = False) -> datetime | None:
    text = form.value(name)
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        form.errors[name] = "Enter a date as YYYY-MM-DD."
        return None
    return day + timedelta(days=1) if end_of_day else day


def _page(
    request: Request, session: SessionDep, viewer: ReadAuditPage, report: ChainReport | None
) -> Response:
    params = request.query_params
    form = Form.of(params, *FIELDS)
    search = AuditSearch(
        actor=form.value("actor")[:200],
        action=form.value("action")[:100],
        entity_type=form.value("entity_type")[:64],
        entity_id=form.value("entity_id")[:100],
        since=_date(form, "since"),
        until=_date(form, "until", end_of_day=True),
    )
    before = params.get("before", "")
    before_seq = int(before) if before.isdigit() and len(before) < 19 else None
    events, next_seq = search_events(session, viewer.organisation_id, search, before_seq)
    head = session.get_one(AuditChainHead, HEAD_ID)
    next_page = None
    if next_seq is not None:
        kept = {k: v for k, v in form.values.items() if v}
        next_page = "/audit?" + urlencode({**kept, "before": next_seq})
    page = AuditPage(tuple(events), form, head.seq, head.hash, next_page, report)
    return render(request, "audit.html", page, title="Audit trail")


@router.get("/audit")
def audit_page(request: Request, session: SessionDep, viewer: ReadAuditPage) -> Response:
    """Events visible to the viewer's organisation, newest first, with search."""
    return _page(request, session, viewer, None)


@router.post("/audit/verify")
def verify_page(request: Request, session: SessionDep, viewer: ReadAuditPage) -> Response:
    """Recompute every link of the chain and show whether it is intact."""
    report = verify_database(request.app.state.engine)
    return _page(request, session, viewer, report)
