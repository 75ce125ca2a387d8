"""``POST /api/v1/auth/login``: exchange a local password for a day-long token in one role.

Failed attempts are counted (and lead to lockout) in the request's own transaction: a refused
login answers 401 without raising, so the counter is committed like any other change.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from steward.api.deps import SessionDep, SettingsDep
from steward.api.problems import problem
from steward.api.schemas import Request as RequestBody
from steward.audit.context import AuditContext, bind
from steward.auth.passwords import authenticate
from steward.auth.roles import Role
from steward.auth.tokens import create_token
from steward.db.base import utcnow
from steward.registry.errors import ForbiddenError
from steward.registry.organisations import organisation_by_slug, roles_of

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginIn(RequestBody):
    email: str = Field(min_length=3, max_length=320)
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    organisation: str = Field(min_length=1, max_length=64)
    role: Role


class LoginOut(BaseModel):
    token: str
    token_type: str = "bearer"
    expires_at: datetime
    organisation: str
    role: Role


@router.post("/login", response_model=LoginOut, responses={401: {"description": "Refused"}})
def login(
    body: LoginIn, request: Request, session: SessionDep, settings: SettingsDep
) -> LoginOut | JSONResponse:
    """A token for ``role`` at ``organisation`` if the password is right and the user holds it."""
    bind(session, AuditContext(f"login:{body.email.strip().lower()}", request.state.request_id))
    now = utcnow()
    lockout = timedelta(seconds=settings.login_lockout_seconds)
    outcome = authenticate(
        session, body.email, body.password, now, settings.login_max_failures, lockout
    )
    if outcome.user is None:
        return problem(401, "Wrong email or password, or the account is locked for now.")
    organisation = organisation_by_slug(session, body.organisation)
    if body.role not in roles_of(session, outcome.user.id, organisation.id):
        raise ForbiddenError(f"you do not hold the role {body.role.value} at {organisation.slug}")
    token, row = create_token(
        session, organisation, body.role, now, days=1, user=outcome.user, label="login"
    )
    return LoginOut(
        token=token, expires_at=row.expires_at, organisation=organisation.slug, role=body.role
    )
