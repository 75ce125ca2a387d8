"""``/cds/{site_slug}``: the CDS Hooks 2.0 gateway of a site (discovery, calls, feedback), and
Steward's JWK Set at ``/.well-known/jwks.json`` for suppliers.

These routes authenticate the calling EHR by its JWT, not by a Steward API token. They keep no
request-wide transaction: a hook call must not hold one while it waits for the supplier, so the
gateway runs its own short ones (see :mod:`steward.integration.cdshooks.store`).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from steward.api import hook_call
from steward.api.problems import problem
from steward.config import ConfigError
from steward.integration.cdshooks.documents import Problem, check_feedback
from steward.integration.cdshooks.gateway import Gateway
from steward.integration.cdshooks.tokens import JWKS_PATH, TokenRefusedError

LOG = logging.getLogger("steward.cdshooks")
BASE = "/cds/{site_slug}/cds-services"

router = APIRouter(tags=["CDS Hooks gateway"])


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.cds_gateway
    return gateway


@router.get(BASE, summary="CDS Hooks discovery: the services of tools live at this site")
async def discovery(site_slug: str, request: Request) -> Any:
    """Services of tools in live_pilot or deployed whose deployment at the site is live."""
    settings = request.app.state.settings
    try:
        required = settings.cds_discovery_requires_jwt
        await hook_call.token(request.scope, _gateway(request), settings, required=required)
    except TokenRefusedError as error:
        return hook_call.refused(request.scope, error)
    return await _gateway(request).discovery(site_slug)


@router.post(BASE + "/{service_id}", summary="Call a CDS service through the gateway")
async def call_service(site_slug: str, service_id: str, request: Request) -> Any:
    """Proxy the hook call to the supplier if the tool may be used here now; log every card.

    Served by :class:`steward.api.hook_call.HookCallMiddleware` before routing; declared here
    for the OpenAPI document, and answering the same way should a request reach it.
    """
    gateway, settings = _gateway(request), request.app.state.settings
    return await hook_call.answer(
        request.scope, request.receive, gateway, settings, site_slug, service_id
    )


@router.post(BASE + "/{service_id}/feedback", summary="Clinicians' feedback on cards")
async def feedback(site_slug: str, service_id: str, request: Request) -> Any:
    """Record accepted and overridden cards, with override reasons, as clinician feedback."""
    gateway = _gateway(request)
    try:
        token = await hook_call.token(request.scope, gateway, request.app.state.settings)
    except TokenRefusedError as error:
        return hook_call.refused(request.scope, error)
    body = await hook_call.json_body(request.receive)
    if body is hook_call.NOT_JSON:
        return hook_call.bad_request([Problem("body", "is not JSON")])
    items, problems = check_feedback(body)
    if problems:
        return hook_call.bad_request(problems)
    try:
        forward = await gateway.feedback(site_slug, service_id, items, token)
    except TokenRefusedError as error:
        return hook_call.refused(request.scope, error)
    return JSONResponse({}, background=BackgroundTask(forward))


@router.get(JWKS_PATH, summary="Steward's public keys, to verify its calls to suppliers")
async def jwks(request: Request) -> Any:
    """The JWK Set with the public key Steward signs its CDS Hooks calls with."""
    try:
        return _gateway(request).signer.jwks()
    except ConfigError as error:
        LOG.error("no JWK Set to publish: %s", error)
        return problem(503, "The CDS Hooks signing key is not configured.")
