"""Signing in and out, and switching the organisation and role one acts in.

The sign-in form is protected against cross-site submission by a double-submit nonce (there is no
session yet); every later form carries the session's CSRF token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from steward.api.deps import SessionDep, SettingsDep
from steward.audit.context import AuditContext, bind
from steward.auth.passwords import authenticate
from steward.auth.sessions import (
    csrf_matches,
    csrf_token,
    end_session,
    seats_of,
    start_session,
    switch_seat,
)
from steward.db.base import utcnow
from steward.web.deps import CSRF_FIELD, FORM_COOKIE, SESSION_COOKIE, FormDep, OwnSessionPage
from steward.web.forms import Form
from steward.web.templating import render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class SignInPage:
    form: Form
    next: str
    csrf: str


def safe_next(target: str | None) -> str:
    """Only same-site paths are followed after sign-in (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/portfolio"
    return target


def _nonce(request: Request) -> str:
    return request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(24)


def _sign_in_page(
    request: Request, secret: str, form: Form, target: str, nonce: str, status: int = 200
) -> Response:
    page = SignInPage(form=form, next=target, csrf=csrf_token(secret, nonce))
    response = render(request, "signin.html", page, status=status, title="Sign in")
    response.set_cookie(FORM_COOKIE, nonce, httponly=True, samesite="strict", path="/signin")
    return response


@router.get("/")
def home(request: Request) -> Response:
    target = "/portfolio" if request.cookies.get(SESSION_COOKIE) else "/register"
    return RedirectResponse(target, status_code=303)


@router.get("/signin")
def sign_in_form(request: Request, settings: SettingsDep, next: str = "/portfolio") -> Response:
    """The sign-in form."""
    return _sign_in_page(
        request, settings.require_secret_key(), Form(), safe_next(next), _nonce(request)
    )


@router.post("/signin")
def sign_in(
    request: Request, session: SessionDep, settings: SettingsDep, form: FormDep
) -> Response:
    """Check the password (counting failures towards lockout) and start a browser session."""
    secret = settings.require_secret_key()
    entry = Form.of(form, "email", "password")
    target = safe_next(str(form.get("next", "")))
    nonce = request.cookies.get(FORM_COOKIE, "")
    if not csrf_matches(secret, nonce, str(form.get(CSRF_FIELD, ""))):
        entry.summary = "The sign-in form had expired; please try again."
        return _sign_in_page(request, secret, entry, target, _nonce(request), status=400)
    entry.require("email", "password")
    if not entry.ok:
        entry.values["password"] = ""
        return _sign_in_page(request, secret, entry, target, nonce, status=400)
    email = entry.value("email").lower()
    bind(session, AuditContext(f"login:{email}", request.state.request_id))
    now = utcnow()
    outcome = authenticate(
        session,
        email,
        entry.value("password"),
        now,
        settings.login_max_failures,
        timedelta(seconds=settings.login_lockout_seconds),
    )
    entry.values["password"] = ""
    if outcome.user is None:
        entry.summary = "The email address or password is wrong, or the account is locked for now."
        return _sign_in_page(request, secret, entry, target, nonce, status=401)
    seats = seats_of(session, outcome.user.id)
    if not seats:
        entry.summary = "Your account holds no role in any organisation yet; ask an administrator."
        return _sign_in_page(request, secret, entry, target, nonce, status=403)
    context = AuditContext(f"user:{email}", request.state.request_id, seats[0].organisation_id)
    bind(session, context)
    token, _row = start_session(session, outcome.user, now, settings.session_hours)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_hours * 3600,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
        path="/",
    )
    response.delete_cookie(FORM_COOKIE, path="/signin")
    return response


@router.post("/signout")
def sign_out(session: SessionDep, viewer: OwnSessionPage) -> Response:
    """End the session at once: the cookie and every form shown under it stop working."""
    end_session(session, viewer.browser_session, utcnow())
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/session/seat")
def switch(session: SessionDep, viewer: OwnSessionPage, form: FormDep) -> Response:
    """Act in another organisation or role the user holds."""
    switch_seat(session, viewer.browser_session, str(form.get("seat", "")))
    return RedirectResponse(safe_next(str(form.get("next", ""))), status_code=303)
