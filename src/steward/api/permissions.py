"""Which roles may call which endpoint: the single table every route's role check reads.

Default-deny: a route either names an entry here or is listed in :data:`PUBLIC`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi.routing import APIRoute

from steward.auth.roles import MDT_ROLES, Role

STAFF = frozenset(Role) - {Role.SUPPLIER, Role.VIEWER, Role.PATIENT_REPRESENTATIVE}

PERMISSIONS: dict[str, frozenset[Role]] = {
    "tools:create": STAFF,
    "tools:read": frozenset(Role),
    "tools:transition": frozenset(
        {
            Role.COMMITTEE_CHAIR,
            Role.COMMITTEE_MEMBER,
            Role.CLINICAL_LEAD,
            Role.CLINICAL_SAFETY_OFFICER,
        }
    ),
    "tools:version": frozenset(
        {Role.COMMITTEE_CHAIR, Role.COMMITTEE_MEMBER, Role.CLINICAL_LEAD, Role.DATA_SCIENTIST}
    ),
    "tools:signoff": frozenset(MDT_ROLES | {Role.COMMITTEE_CHAIR, Role.COMMITTEE_MEMBER}),
    "tools:evidence": STAFF | {Role.SUPPLIER},
    "tools:evaluation": frozenset(
        {Role.DATA_SCIENTIST, Role.CLINICAL_LEAD, Role.CLINICAL_SAFETY_OFFICER}
    ),
    "tools:hazards": frozenset(
        {Role.CLINICAL_SAFETY_OFFICER, Role.CLINICAL_LEAD, Role.COMMITTEE_CHAIR}
    ),
    "tools:assessment": frozenset(
        {
            Role.COMMITTEE_CHAIR,
            Role.COMMITTEE_MEMBER,
            Role.CLINICAL_SAFETY_OFFICER,
            Role.IG_DPO,
            Role.IT_SECURITY,
        }
    ),
    "tools:fallback": frozenset(
        {Role.CLINICAL_LEAD, Role.CLINICAL_SAFETY_OFFICER, Role.COMMITTEE_CHAIR}
    ),
    "tools:decision": frozenset({Role.COMMITTEE_CHAIR}),
    "tools:liability": frozenset({Role.COMMITTEE_CHAIR, Role.FINANCE, Role.IG_DPO}),
    "priorities:create": frozenset({Role.COMMITTEE_CHAIR, Role.COMMITTEE_MEMBER}),
    "proposals:create": STAFF,
    "proposals:read": frozenset(Role),
    "deployments:create": frozenset(
        {
            Role.COMMITTEE_CHAIR,
            Role.CLINICAL_LEAD,
            Role.CLINICAL_SAFETY_OFFICER,
            Role.DATA_SCIENTIST,
        }
    ),
    "deployments:read": frozenset(Role),
    # how a deployment is watched: the monitors' thresholds, grains and alarm limits
    "deployments:configure": frozenset(
        {
            Role.COMMITTEE_CHAIR,
            Role.CLINICAL_LEAD,
            Role.CLINICAL_SAFETY_OFFICER,
            Role.DATA_SCIENTIST,
        }
    ),
    # machine feeds (integration engines, the CDS Hooks gateway) hold data_scientist or admin
    # tokens; clinicians may also report their own feedback on a prediction
    "deployments:ingest": frozenset({Role.ADMIN, Role.DATA_SCIENTIST}),
    "deployments:feedback": frozenset(
        {Role.ADMIN, Role.DATA_SCIENTIST, Role.CLINICIAN, Role.CLINICAL_LEAD}
    ),
    "audit:read": frozenset({Role.ADMIN, Role.COMMITTEE_CHAIR, Role.CLINICAL_SAFETY_OFFICER}),
    "session:own": frozenset(Role),
    # a patient's objection is recorded by those who handle data-protection requests
    "optouts:register": frozenset({Role.IG_DPO, Role.ADMIN}),
    "optouts:read": STAFF,
    "alerts:read": frozenset(Role) - {Role.SUPPLIER, Role.PATIENT_REPRESENTATIVE},
    "alerts:acknowledge": frozenset(
        {
            Role.CLINICAL_LEAD,
            Role.CLINICAL_SAFETY_OFFICER,
            Role.CLINICIAN,
            Role.DATA_SCIENTIST,
            Role.COMMITTEE_CHAIR,
        }
    ),
    "alerts:resolve": frozenset(
        {
            Role.CLINICAL_LEAD,
            Role.CLINICAL_SAFETY_OFFICER,
            Role.DATA_SCIENTIST,
            Role.COMMITTEE_CHAIR,
        }
    ),
    "tools:response-policy": frozenset(
        {Role.CLINICAL_SAFETY_OFFICER, Role.CLINICAL_LEAD, Role.COMMITTEE_CHAIR}
    ),
    "incidents:create": frozenset(
        {
            Role.CLINICAL_SAFETY_OFFICER,
            Role.CLINICAL_LEAD,
            Role.CLINICIAN,
            Role.DATA_SCIENTIST,
            Role.COMMITTEE_CHAIR,
        }
    ),
    "incidents:read": STAFF,
    "incidents:export": frozenset(
        {Role.CLINICAL_SAFETY_OFFICER, Role.CLINICAL_LEAD, Role.COMMITTEE_CHAIR}
    ),
    # A supplier endpoint put into the live clinical path: integration and safety sign it off.
    "cds:register": frozenset(
        {Role.IT_SECURITY, Role.CLINICAL_SAFETY_OFFICER, Role.COMMITTEE_CHAIR}
    ),
    "cds:read": frozenset(Role),
}

PUBLIC = frozenset(
    {
        "/api/v1/health",
        "/api/v1/auth/login",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        # The CDS Hooks gateway: the calling EHR is authenticated by its signed JWT instead.
        "/cds/{site_slug}/cds-services",
        "/cds/{site_slug}/cds-services/{service_id}",
        "/cds/{site_slug}/cds-services/{service_id}/feedback",
        "/.well-known/jwks.json",
    }
)


def endpoints(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every endpoint of an app (``app.routes``) with its full path, through included routers."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):
            inner = prefix + route.include_context.prefix
            yield from endpoints(route.original_router.routes, inner)
        elif hasattr(route, "routes"):
            yield from endpoints(route.routes, prefix)


def declared_permission(route: APIRoute) -> str | None:
    """The permission an endpoint's dependencies check, if any (see ``allowed`` and ``page``)."""
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        permission = getattr(dependency.call, "permission", None)
        if permission is not None:
            return str(permission)
        stack.extend(dependency.dependencies)
    return None
