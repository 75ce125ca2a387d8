"""A hook call (``POST /cds/{site_slug}/cds-services/{service_id}``) answered on plain ASGI,
ahead of FastAPI's routing: the gateway's hot path, where routing, dependency solving and
request wrappers cost a large share of the CPU time of a call beside the JWT work.

:func:`answer` is the whole exchange (token, body, gateway, response); the FastAPI route in
:mod:`steward.api.routes.cds_hooks` declares the same operation for the OpenAPI document and
calls it too. Errors the gateway raises go to the application's exception handlers, as for any
route; the middlewares outside this one (request id, server errors) apply as before.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from starlette.background import BackgroundTask
from starlette.datastructures import URL
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from steward.api.problems import problem
from steward.config import Settings
from steward.integration.cdshooks.documents import Problem, check_hook_request
from steward.integration.cdshooks.gateway import Gateway
from steward.integration.cdshooks.store import HookMismatchError
from steward.integration.cdshooks.tokens import TokenRefusedError, VerifiedToken

LOG = logging.getLogger("steward.cdshooks")
# The route's path parameters as Starlette matches them: one non-empty segment each.
CALL_PATH = re.compile(r"^/cds/(?P<site_slug>[^/]+)/cds-services/(?P<service_id>[^/]+)$")
NOT_JSON = object()


def audience(scope: Scope, settings: Settings) -> str:
    """The URL the EHR called, which its token's ``aud`` must name."""
    url = URL(scope=scope)
    base = settings.cds_base_url
    if base:
        return base.rstrip("/") + url.path
    return str(url.replace(query=None, fragment=None))


def authorization(scope: Scope) -> str | None:
    """The ``Authorization`` header (the first, as Starlette's ``Headers.get`` gives it)."""
    for key, value in scope["headers"]:
        if key == b"authorization":
            return str(value.decode("latin-1"))
    return None


async def token(
    scope: Scope, gateway: Gateway, settings: Settings, *, required: bool = True
) -> VerifiedToken | None:
    """The caller's verified token (None when it gave none and none is ``required``)."""
    given = authorization(scope)
    if given is None and not required:
        return None
    return await gateway.authenticate(given, audience(scope, settings))


def refused(scope: Scope, error: TokenRefusedError) -> JSONResponse:
    # The reason goes to the log only: telling a caller why its token failed helps an attacker.
    request_id = scope["state"]["request_id"]
    LOG.warning("request %s to %s: token refused: %s", request_id, URL(scope=scope).path, error)
    return problem(401, "The bearer token was not accepted.")


def bad_request(problems: list[Problem]) -> JSONResponse:
    errors = [{"field": p.field, "detail": p.detail} for p in problems]
    return problem(400, "The request is not a valid CDS Hooks request; see errors.", errors=errors)


async def json_body(receive: Receive) -> Any:
    """The request body as JSON, or :data:`NOT_JSON`; read as ``Request.body`` reads it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError):
        return NOT_JSON


async def answer(
    scope: Scope,
    receive: Receive,
    gateway: Gateway,
    settings: Settings,
    site_slug: str,
    service_id: str,
) -> Response:
    """Proxy the hook call to the supplier if the tool may be used here now; log every card."""
    try:
        verified = await token(scope, gateway, settings)
    except TokenRefusedError as error:
        return refused(scope, error)
    body = await json_body(receive)
    if body is NOT_JSON:
        return bad_request([Problem("body", "is not JSON")])
    checked, problems = check_hook_request(body)
    if checked is None:
        return bad_request(problems)
    try:
        result = await gateway.call(site_slug, service_id, checked, verified)
    except TokenRefusedError as error:
        return refused(scope, error)
    except HookMismatchError as error:
        return bad_request([Problem("hook", str(error))])
    # The call and its cards are logged right after the response leaves.
    headers = {}
    if result.supplier_ms is not None:
        # How long the supplier took, so a caller can tell the gateway's share from it.
        headers["Server-Timing"] = f"supplier;dur={result.supplier_ms:.3f}"
    return JSONResponse(result.body, headers=headers, background=BackgroundTask(result.log))


class HookCallMiddleware:
    """Answers hook calls before routing; every other request goes on to ``app``.

    Placed inside the request-id middleware; errors are handled by the application's own
    handlers (``handlers``, read when the middleware stack is built), as the router would.
    """

    def __init__(
        self,
        app: ASGIApp,
        gateway: Gateway,
        settings: Settings,
        handlers: Mapping[Any, Any],
    ) -> None:
        self.app = app
        self.gateway = gateway
        self.settings = settings
        # The same split as FastAPI's: 500 and Exception belong to the outer error middleware.
        routed = {k: v for k, v in handlers.items() if k not in (500, Exception)}
        self.handled = ExceptionMiddleware(self._call, handlers=routed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and CALL_PATH.match(_path(scope)):
            await self.handled(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _call(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = CALL_PATH.match(_path(scope))
        assert matched is not None
        response = await answer(
            scope,
            receive,
            self.gateway,
            self.settings,
            matched["site_slug"],
            matched["service_id"],
        )
        await response(scope, receive, send)


def _path(scope: Scope) -> str:
    """The path the router matches: without the ``root_path`` prefix (Starlette's rule)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root) :] if path[len(root)] == "/" else path
