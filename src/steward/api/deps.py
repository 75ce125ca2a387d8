"""Dependencies of the API routes, as ``Annotated`` aliases in one place.

:data:`SessionDep` owns the request's single transaction: committed when the route returns,
rolled back when it raises; routes never commit. Every authenticated route declares its
permission with :func:`allowed`, which reads the table in :mod:`steward.api.permissions`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header, Request

from steward.api.permissions import PERMISSIONS
from steward.audit.context import AuditContext, bind
from steward.auth.tokens import InvalidTokenError, Principal, resolve_token
from steward.config import Settings
from steward.db.base import utcnow
from steward.db.session import StewardSession, read_only_unit, unit_of_work
from steward.registry.errors import ForbiddenError


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[StewardSession]:
    """The request's transaction; GET requests read without taking SQLite's write lock."""
    unit = read_only_unit if request.method in {"GET", "HEAD"} else unit_of_work
    with unit(request.app.state.sessions) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[StewardSession, Depends(get_session, scope="function")]


def get_principal(
    request: Request,
    session: SessionDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    """The caller named by the bearer token; their changes are attributed to them."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidTokenError("missing bearer token")
    principal = resolve_token(session, token.strip(), utcnow())
    request.state.principal = principal
    bind(
        session,
        AuditContext(
            principal.actor, request.state.request_id, organisation_id=principal.organisation_id
        ),
    )
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal, scope="function")]


def allowed(permission: str) -> Callable[[Principal], Principal]:
    """A dependency admitting only the roles that :data:`PERMISSIONS` grants ``permission``."""
    roles = PERMISSIONS[permission]

    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            raise ForbiddenError(f"the role {principal.role.value} may not {permission}")
        return principal

    check.permission = permission  # type: ignore[attr-defined]
    return check


CreateTools = Annotated[Principal, Depends(allowed("tools:create"), scope="function")]
ReadTools = Annotated[Principal, Depends(allowed("tools:read"), scope="function")]
TransitionTools = Annotated[Principal, Depends(allowed("tools:transition"), scope="function")]
ReadAudit = Annotated[Principal, Depends(allowed("audit:read"), scope="function")]
EditVersions = Annotated[Principal, Depends(allowed("tools:version"), scope="function")]
SignOffTools = Annotated[Principal, Depends(allowed("tools:signoff"), scope="function")]
FileEvidence = Annotated[Principal, Depends(allowed("tools:evidence"), scope="function")]
RecordEvaluations = Annotated[Principal, Depends(allowed("tools:evaluation"), scope="function")]
EditHazards = Annotated[Principal, Depends(allowed("tools:hazards"), scope="function")]
EditAssessments = Annotated[Principal, Depends(allowed("tools:assessment"), scope="function")]
EditFallback = Annotated[Principal, Depends(allowed("tools:fallback"), scope="function")]
RecordDecisions = Annotated[Principal, Depends(allowed("tools:decision"), scope="function")]
EditLiability = Annotated[Principal, Depends(allowed("tools:liability"), scope="function")]
CreatePriorities = Annotated[Principal, Depends(allowed("priorities:create"), scope="function")]
CreateProposals = Annotated[Principal, Depends(allowed("proposals:create"), scope="function")]
ReadProposals = Annotated[Principal, Depends(allowed("proposals:read"), scope="function")]
RegisterOptOuts = Annotated[Principal, Depends(allowed("optouts:register"), scope="function")]
ReadOptOuts = Annotated[Principal, Depends(allowed("optouts:read"), scope="function")]
ReadAlerts = Annotated[Principal, Depends(allowed("alerts:read"), scope="function")]
AcknowledgeAlerts = Annotated[Principal, Depends(allowed("alerts:acknowledge"), scope="function")]
ResolveAlerts = Annotated[Principal, Depends(allowed("alerts:resolve"), scope="function")]
EditResponsePolicy = Annotated[
    Principal, Depends(allowed("tools:response-policy"), scope="function")
]
CreateIncidents = Annotated[Principal, Depends(allowed("incidents:create"), scope="function")]
ReadIncidents = Annotated[Principal, Depends(allowed("incidents:read"), scope="function")]
ExportIncidents = Annotated[Principal, Depends(allowed("incidents:export"), scope="function")]
CreateDeployments = Annotated[Principal, Depends(allowed("deployments:create"), scope="function")]
ReadDeployments = Annotated[Principal, Depends(allowed("deployments:read"), scope="function")]
ConfigureDeployments = Annotated[
    Principal, Depends(allowed("deployments:configure"), scope="function")
]
IngestEvents = Annotated[Principal, Depends(allowed("deployments:ingest"), scope="function")]
IngestFeedback = Annotated[Principal, Depends(allowed("deployments:feedback"), scope="function")]
