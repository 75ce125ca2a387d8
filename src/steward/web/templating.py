"""Rendering pages: one Jinja2 environment, the chrome every page shares (who is signed in, the
seat switcher, the navigation their role may use), and labels for the domain's values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from steward.auth.sessions import Seat
from steward.registry.models import LifecycleState

TEMPLATES = Jinja2Templates(directory=str(resources.files("steward.web") / "templates"))

STATE_LABELS: dict[str, str] = {
    LifecycleState.PROPOSED: "Proposed",
    LifecycleState.IN_ASSESSMENT: "In assessment",
    LifecycleState.SILENT_PILOT: "Silent pilot",
    LifecycleState.LIVE_PILOT: "Live pilot",
    LifecycleState.DEPLOYED: "Deployed",
    LifecycleState.SUSPENDED: "Suspended",
    LifecycleState.RETIRED: "Retired",
    LifecycleState.REJECTED: "Rejected",
}


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str
    permission: str | None


NAVIGATION: tuple[NavItem, ...] = (
    NavItem("/portfolio", "Portfolio", "tools:read"),
    NavItem("/intake", "Propose a tool", "proposals:create"),
    NavItem("/priorities", "Priorities", "proposals:read"),
    NavItem("/approvals", "Approvals", "tools:signoff"),
    NavItem("/evaluations/new", "Evaluate", "tools:evaluation"),
    NavItem("/audit", "Audit trail", "audit:read"),
    NavItem("/register", "Public register", None),
)


@dataclass(frozen=True)
class Chrome:
    """What the layout shows around every page."""

    path: str
    signed_in: bool
    user_name: str = ""
    seat: Seat | None = None
    seats: tuple[Seat, ...] = ()
    csrf: str = ""
    navigation: tuple[NavItem, ...] = ()


def chrome_of(request: Request) -> Chrome:
    viewer = getattr(request.state, "viewer", None)
    path = request.url.path
    if viewer is None:
        public = tuple(n for n in NAVIGATION if n.permission is None)
        return Chrome(path=path, signed_in=False, navigation=public)
    return Chrome(
        path=path,
        signed_in=True,
        user_name=viewer.name,
        seat=viewer.seat,
        seats=viewer.seats,
        csrf=viewer.csrf,
        navigation=tuple(n for n in NAVIGATION if n.permission is None or viewer.may(n.permission)),
    )


def render(
    request: Request,
    template: str,
    page: Any,
    status: int = 200,
    title: str = "",
) -> HTMLResponse:
    """Render ``template`` with the typed ``page`` context and the shared chrome."""
    context = {"page": page, "chrome": chrome_of(request), "title": title}
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status)


def when(moment: datetime | None) -> str:
    """A time as hospital staff read it: ``22 Nov 2026, 16:20 UTC``."""
    return moment.strftime("%d %b %Y, %H:%M UTC") if moment else "—"


def day(moment: datetime | None) -> str:
    return moment.strftime("%d %b %Y") if moment else "—"


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state.replace("_", " ").capitalize())


def role_label(role: str) -> str:
    special = {"ig_dpo": "IG / DPO", "it_security": "IT / security"}
    if role == "clinical_safety_officer":
        return "Clinical Safety Officer"
    return special.get(role, role.replace("_", " ").capitalize())


TEMPLATES.env.filters.update(when=when, day=day, state_label=state_label, role_label=role_label)
TEMPLATES.env.globals.update(STATE_LABELS=STATE_LABELS)
