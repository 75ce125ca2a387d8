"""The FastAPI application: settings, database, request ids, error documents and routers."""

from __future__ import annotations

import gc
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from steward.api.hook_call import HookCallMiddleware
from steward.api.problems import install_problem_handlers
from steward.api.routes import (
    alerts,
    audit,
    auth,
    cds_hooks,
    cds_services,
    deployments,
    governance,
    health,
    incidents,
    intake,
    optouts,
    records,
    tools,
)
from steward.config import Settings, load_settings
from steward.db.engine import make_engine
from steward.db.session import session_factory
from steward.integration.cdshooks.gateway import Gateway
from steward.web.app import install_web

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the API on ``engine`` (default: the configured database)."""
    settings = settings or load_settings()
    engine = engine or make_engine(settings.resolved_database_url)
    gateway = Gateway(settings, engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for service in app.state.background:
            service.start()
        with _collector_for_serving():
            yield
        for service in reversed(app.state.background):
            service.stop()
        await gateway.aclose()
        engine.dispose()

    app = FastAPI(
        title="Steward",
        version="0.1.0",
        summary="Clinical AI governance: registry, gates, audit trail, and the web application.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.background = []  # services with start() and stop(), run for the app's lifetime
    app.state.cds_gateway = gateway
    install_problem_handlers(app)

    # Added first, so it runs inside the request-id middleware: hook calls skip the routing.
    app.add_middleware(
        HookCallMiddleware, gateway=gateway, settings=settings, handlers=app.exception_handlers
    )
    app.add_middleware(RequestIdMiddleware)
    # The gateway's other routes first: matched without trying every other route.
    app.include_router(cds_hooks.router)
    api = APIRouter(prefix="/api/v1")
    api.include_router(health.router)
    api.include_router(auth.router)
    api.include_router(tools.router)
    api.include_router(governance.router)
    api.include_router(records.router)
    api.include_router(intake.router)
    api.include_router(deployments.router)
    api.include_router(audit.router)
    api.include_router(optouts.router)
    api.include_router(alerts.router)
    api.include_router(incidents.router)
    api.include_router(cds_services.router)
    app.include_router(api)
    install_web(app)
    return app


@contextmanager
def _collector_for_serving() -> Iterator[None]:
    """The cyclic garbage collector tuned while the application serves, restored after.

    What start-up made (modules, tables, compiled statements: some 300,000 objects) lives until
    shutdown, so it is frozen out of the collector's scans: full collections over it took about
    a tenth of a hook call's CPU at 200 calls in flight. The objects of calls in flight survive
    young collections, which therefore run every 7,000 allocations rather than 700 (a further
    5% of a call's CPU).
    """
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(7000, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()  # an application built again in this process (tests) frees the old one


class RequestIdMiddleware:
    """Gives each request an id (the caller's ``X-Request-ID`` if well formed) in
    ``request.state.request_id`` and the response's ``X-Request-ID`` header.

    Plain ASGI rather than ``@app.middleware("http")``, which costs a task and a stream per
    request: a large share of a gateway call's CPU time.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        text = given.decode("latin-1")
        request_id = text if REQUEST_ID.match(text) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)
