"""Errors on pages: the API's handlers decide status and wording once; pages show the same
answer as a readable HTML page (and send a visitor who is not signed in to the sign-in page)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from steward.auth.sessions import NotSignedInError
from steward.web.templating import render

API_PREFIXES = ("/api/", "/cds/", "/openapi.json", "/docs", "/redoc", "/.well-known/")


@dataclass(frozen=True)
class ErrorPage:
    status: int
    title: str
    detail: str
    errors: tuple[str, ...] = ()


def is_page(request: Request) -> bool:
    return not request.url.path.startswith(API_PREFIXES)


async def _sign_in_first(request: Request, _error: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = "/portfolio"
    return RedirectResponse(f"/signin?next={quote(target, safe='/')}", status_code=303)


def _as_page(api_handler: Any) -> Any:
    async def handle(request: Request, error: Exception) -> Response:
        response: Response = await api_handler(request, error)
        if not is_page(request):
            return response
        body = json.loads(bytes(response.body))
        errors = tuple(f"{e['field']}: {e['detail']}" for e in body.get("errors", []))
        unmet = tuple(u.get("detail", str(u)) for u in body.get("unmet", []))
        page = ErrorPage(response.status_code, body["title"], body["detail"], errors + unmet)
        return render(request, "error.html", page, status=response.status_code, title=page.title)

    return handle


def install_page_errors(app: FastAPI) -> None:
    """Wrap every installed problem handler so pages get HTML; add the sign-in redirect."""
    for error_type, handler in list(app.exception_handlers.items()):
        app.add_exception_handler(error_type, _as_page(handler))
    app.add_exception_handler(NotSignedInError, _sign_in_first)
