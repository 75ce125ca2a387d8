"""``/register``: the public transparency register (no sign-in) of tools in live clinical use."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.api.deps import SessionDep
from steward.registry.transparency import RegisterCard, register_card, register_cards
from steward.web.deps import MaybeViewerDep
from steward.web.templating import render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class RegisterPage:
    cards: tuple[RegisterCard, ...]


@dataclass(frozen=True)
class RegisterToolPage:
    card: RegisterCard


@router.get("/register")
def register_page(request: Request, session: SessionDep, _viewer: MaybeViewerDep) -> Response:
    """Every AI tool in live use, each as a plain-language card."""
    page = RegisterPage(tuple(register_cards(session)))
    return render(request, "register.html", page, title="Public register of AI tools in use")


@router.get("/register/{tool_id}")
def register_tool_page(
    request: Request, session: SessionDep, _viewer: MaybeViewerDep, tool_id: uuid.UUID
) -> Response:
    """One tool's card, with a stable address to share."""
    page = RegisterToolPage(register_card(session, tool_id))
    return render(request, "register_tool.html", page, title=page.card.name)
