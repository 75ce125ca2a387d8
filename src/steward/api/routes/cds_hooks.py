"""``/cds/{site_slug}``: the CDS Hooks 2.0 gateway of a site (discovery, calls, feedback), and
Steward's JWK Set at ``/.well-known/jwks.json`` for suppliers.

These routes authenticate the calling EHR by its JWT, not by a Steward API token. They keep no
request-wide transaction: a hook call must not hold one while it waits for the supplier, so the
gateway runs its own short ones (see :mod:`steward.integration.cdshooks.store`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from steward.api.problems import problem
from steward.config import ConfigError
from steward.integration.cdshooks.documents import Problem, check_feedback, check_hook_request
from steward.integration.cdshooks.gateway import Gateway
from steward.integration.cdshooks.store import HookMismatchError
from steward.integration.cdshooks.tokens import JWKS_PATH, TokenRefusedError, VerifiedToken

LOG = logging.getLogger("steward.cdshooks")
BASE = "/cds/{site_slug}/cds-services"

router = APIRouter(tags=["CDS Hooks gateway"])


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.cds_gateway
    return gateway


def _audience(request: Request) -> str:
    """The URL the EHR called, which its token's ``aud`` must name."""
    base: str | None = request.app.state.settings.cds_base_url
    if base:
        return base.rstrip("/") + request.url.path
    return str(request.url.replace(query=None, fragment=None))


async def _token(request: Request, *, required: bool = True) -> VerifiedToken | None:
    authorization = request.headers.get("authorization")
    if authorization is None and not required:
        return None
    return await _gateway(request).authenticate(authorization, _audience(request))


def _refused(request: Request, error: TokenRefusedError) -> JSONResponse:
    # The reason goes to the log only: telling a caller why its token failed helps an attacker.
    LOG.warning(
        "request %s to %s: token refused: %s", request.state.request_id, request.url.path, error
    )
    return problem(401, "The bearer token was not accepted.")


def _bad_request(problems: list[Problem]) -> JSONResponse:
    errors = [{"field": p.field, "detail": p.detail} for p in problems]
    return problem(400, "The request is not a valid CDS Hooks request; see errors.", errors=errors)


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return _NOT_JSON


_NOT_JSON = object()


@router.get(BASE, summary="CDS Hooks discovery: the services of tools live at this site")
async def discovery(site_slug: str, request: Request) -> Any:
    """Services of tools in live_pilot or deployed whose deployment at the site is live."""
    try:
        required = request.app.state.settings.cds_discovery_requires_jwt
        await _token(request, required=required)
    except TokenRefusedError as error:
        return _refused(request, error)
    return await _gateway(request).discovery(site_slug)


@router.post(BASE + "/{service_id}", summary="Call a CDS service through the gateway")
async def call_service(site_slug: str, service_id: str, request: Request) -> Any:
    """Proxy the hook call to the supplier if the tool may be used here now; log every card."""
    try:
        token = await _token(request)
    except TokenRefusedError as error:
        return _refused(request, error)
    body = await _json(request)
    if body is _NOT_JSON:
        return _bad_request([Problem("body", "is not JSON")])
    checked, problems = check_hook_request(body)
    if checked is None:
        return _bad_request(problems)
    try:
        answer = await _gateway(request).call(site_slug, service_id, checked, token)
    except TokenRefusedError as error:
        return _refused(request, error)
    except HookMismatchError as error:
        return _bad_request([Problem("hook", str(error))])
    # The call and its cards are logged right after the response leaves.
    headers = {}
    if answer.supplier_ms is not None:
        # How long the supplier took, so a caller can tell the gateway's share from it.
        headers["Server-Timing"] = f"supplier;dur={answer.supplier_ms:.3f}"
    return JSONResponse(answer.body, headers=headers, background=BackgroundTask(answer.log))


@router.post(BASE + "/{service_id}/feedback", summary="Clinicians' feedback on cards")
async def feedback(site_slug: str, service_id: str, request: Request) -> Any:
    """Record accepted and overridden cards, with override reasons, as clinician feedback."""
    try:
        token = await _token(request)
    except TokenRefusedError as error:
        return _refused(request, error)
    body = await _json(request)
    if body is _NOT_JSON:
        return _bad_request([Problem("body", "is not JSON")])
    items, problems = check_feedback(body)
    if problems:
        return _bad_request(problems)
    try:
        forward = await _gateway(request).feedback(site_slug, service_id, items, token)
    except TokenRefusedError as error:
        return _refused(request, error)
    return JSONResponse({}, background=BackgroundTask(forward))


@router.get(JWKS_PATH, summary="Steward's public keys, to verify its calls to suppliers")
async def jwks(request: Request) -> Any:
    """The JWK Set with the public key Steward signs its CDS Hooks calls with."""
    try:
        return _gateway(request).signer.jwks()
    except ConfigError as error:
        LOG.error("no JWK Set to publish: %s", error)
        return problem(503, "The CDS Hooks signing key is not configured.")
