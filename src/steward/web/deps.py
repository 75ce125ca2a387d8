"""Who is looking at a page: the browser session behind the cookie, its CSRF token, and the role
check every page declares, as ``Annotated`` aliases in one place (like :mod:`steward.api.deps`).

A page either names a permission of :data:`steward.api.permissions.PERMISSIONS` through
:func:`page` or is listed in :data:`PUBLIC_PAGES`; forms that change anything are POSTs that carry
the session's CSRF token, checked before the route runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from steward.api.deps import SessionDep, SettingsDep
from steward.api.permissions import PERMISSIONS
from steward.audit.context import AuditContext, bind
from steward.auth.models import BrowserSession
from steward.auth.roles import Role
from steward.auth.sessions import (
    NotSignedInError,
    Seat,
    SignedIn,
    csrf_matches,
    csrf_token,
    resolve_session,
    seats_of,
)
from steward.auth.tokens import Principal
from steward.db.base import utcnow
from steward.errors import StewardError
from steward.registry.errors import ForbiddenError
from steward.registry.kinds import OrganisationKind
from steward.registry.models import Organisation, User
from steward.registry.organisations import subtree_ids

SESSION_COOKIE = "steward_session"
FORM_COOKIE = "steward_form"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD"})

PUBLIC_PAGES = frozenset({"/", "/signin", "/register", "/register/{tool_id}"})


class CsrfError(ForbiddenError):
    """A form came back without the CSRF token of the session that showed it."""


@dataclass(frozen=True)
class Viewer:
    """The signed-in person, the seat (organisation and role) they act in, and what they may see."""

    user: User
    browser_session: BrowserSession
    name: str
    principal: Principal
    seat: Seat
    seats: tuple[Seat, ...]
    csrf: str
    scope_ids: frozenset[uuid.UUID]
    seat_is_region: bool = False

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def organisation_id(self) -> uuid.UUID:
        return self.principal.organisation_id

    def may(self, permission: str) -> bool:
        return self.principal.role in PERMISSIONS[permission]


async def posted_form(request: Request) -> FormData:
    """The submitted form of a POST (parsed once; Starlette caches it for the route)."""
    if request.method in SAFE_METHODS:
        return FormData()
    return await request.form()


FormDep = Annotated[FormData, Depends(posted_form)]


def get_viewer(request: Request, session: SessionDep, settings: SettingsDep) -> Viewer:
    """The signed-in viewer; :class:`NotSignedInError` sends the browser to sign in."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        raise NotSignedInError("not signed in")
    try:
        signed_in: SignedIn = resolve_session(session, token, utcnow())
    except StewardError as error:
        raise NotSignedInError(str(error)) from error
    principal = signed_in.principal
    request.state.principal = principal
    bind(
        session,
        AuditContext(
            principal.actor, request.state.request_id, organisation_id=principal.organisation_id
        ),
    )
    seats = tuple(seats_of(session, signed_in.user.id))
    organisation = session.get_one(Organisation, principal.organisation_id)
    seat = next(
        (s for s in seats if s.organisation_id == organisation.id and s.role == principal.role),
        Seat(organisation.id, organisation.slug, organisation.name, principal.role),
    )
    viewer = Viewer(
        user=signed_in.user,
        browser_session=signed_in.row,
        name=signed_in.user.display_name or signed_in.user.email,
        principal=principal,
        seat=seat,
        seats=seats,
        csrf=csrf_token(settings.require_secret_key(), token),
        scope_ids=frozenset(subtree_ids(session, organisation.id)),
        seat_is_region=organisation.kind is OrganisationKind.REGION,
    )
    request.state.viewer = viewer
    return viewer


ViewerDep = Annotated[Viewer, Depends(get_viewer, scope="function")]


def get_optional_viewer(
    request: Request, session: SessionDep, settings: SettingsDep
) -> Viewer | None:
    """The viewer on a public page, when signed in (the header then shows their account)."""
    if not request.cookies.get(SESSION_COOKIE):
        return None
    try:
        return get_viewer(request, session, settings)
    except NotSignedInError:
        return None


MaybeViewerDep = Annotated[Viewer | None, Depends(get_optional_viewer, scope="function")]


def page(permission: str) -> Callable[..., Viewer]:
    """A dependency admitting viewers whose role holds ``permission``; POSTs must carry CSRF."""
    roles = PERMISSIONS[permission]

    def check(request: Request, viewer: ViewerDep, form: FormDep, settings: SettingsDep) -> Viewer:
        if request.method not in SAFE_METHODS:
            token = request.cookies.get(SESSION_COOKIE, "")
            presented = str(form.get(CSRF_FIELD, ""))
            if not csrf_matches(settings.require_secret_key(), token, presented):
                raise CsrfError("this form has expired or did not come from Steward; reload it")
        if viewer.role not in roles:
            raise ForbiddenError(f"the role {viewer.role.value} may not {permission}")
        return viewer

    check.permission = permission  # type: ignore[attr-defined]
    return check


ReadToolsPage = Annotated[Viewer, Depends(page("tools:read"), scope="function")]
ReadAuditPage = Annotated[Viewer, Depends(page("audit:read"), scope="function")]
CreatePrioritiesPage = Annotated[Viewer, Depends(page("priorities:create"), scope="function")]
CreateProposalsPage = Annotated[Viewer, Depends(page("proposals:create"), scope="function")]
ReadProposalsPage = Annotated[Viewer, Depends(page("proposals:read"), scope="function")]
AssessToolsPage = Annotated[Viewer, Depends(page("tools:assessment"), scope="function")]
FallbackToolsPage = Annotated[Viewer, Depends(page("tools:fallback"), scope="function")]
RecordEvaluationsPage = Annotated[Viewer, Depends(page("tools:evaluation"), scope="function")]
OwnSessionPage = Annotated[Viewer, Depends(page("session:own"), scope="function")]
VersionToolsPage = Annotated[Viewer, Depends(page("tools:version"), scope="function")]
TransitionToolsPage = Annotated[Viewer, Depends(page("tools:transition"), scope="function")]
EvidenceToolsPage = Annotated[Viewer, Depends(page("tools:evidence"), scope="function")]
HazardsToolsPage = Annotated[Viewer, Depends(page("tools:hazards"), scope="function")]
SignOffToolsPage = Annotated[Viewer, Depends(page("tools:signoff"), scope="function")]
DeployToolsPage = Annotated[Viewer, Depends(page("deployments:create"), scope="function")]
