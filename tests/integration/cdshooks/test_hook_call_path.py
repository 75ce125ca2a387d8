"""Hook calls are answered before FastAPI's routing (steward.api.hook_call): the answers must be
those the routed operation gives, status, headers and body, for success and every refusal."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from steward.api.app import create_app
from steward.api.hook_call import HookCallMiddleware

from ._support import STEWARD_BASE, bearer, ehr_token, service_url, spec
from .conftest import Gateway, gateway_settings

CALL = "/cds/rxa-main/cds-services/sepsis-risk"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def routed(gateway: Gateway, db_url: str, engine: Engine) -> Iterator[TestClient]:
    """The same application without the hook-call middleware: calls go through the router."""
    app = create_app(gateway_settings(db_url, gateway.supplier), engine)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not HookCallMiddleware]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _answer(response: httpx.Response) -> tuple[int, dict[str, str], str]:
    """Status, headers and body, with what differs from call to call (card ids, timings)."""
    headers = dict(response.headers)
    if "server-timing" in headers:
        headers["server-timing"] = headers["server-timing"].split(";")[0]
    body = UUID.sub("<uuid>", response.text)
    headers["content-length"] = str(len(UUID.sub("<uuid>", response.content.decode())))
    return response.status_code, headers, body


def _requests() -> list[tuple[str, dict[str, Any]]]:
    """One of each answer, with fresh tokens (a jti is accepted once) and given request ids."""
    request = spec("request-patient-view.json")

    def good() -> dict[str, str]:
        return bearer(ehr_token(service_url()))

    requests = [
        (CALL, {"json": request, "headers": good()}),
        (CALL, {"json": request, "headers": bearer(ehr_token(STEWARD_BASE + "/elsewhere"))}),
        (CALL, {"json": request, "headers": {}}),
        (CALL, {"content": b"{not json", "headers": good()}),
        (CALL, {"json": {"hook": "patient-view"}, "headers": good()}),
        (CALL, {"json": request | {"hook": "order-select"}, "headers": good()}),
        (
            "/cds/rxa-main/cds-services/nope",
            {"json": request, "headers": bearer(ehr_token(service_url(service="nope")))},
        ),
        ("/cds/nowhere/cds-services/sepsis-risk", {"json": request, "headers": {}}),
    ]
    for index, (_, kwargs) in enumerate(requests):
        kwargs["headers"]["X-Request-ID"] = f"hook-{index}"
    return requests


def test_hook_calls_are_answered_as_the_routed_operation_answers(
    gateway: Gateway, routed: TestClient
) -> None:
    fast = [_answer(gateway.client.post(url, **kwargs)) for url, kwargs in _requests()]
    slow = [_answer(routed.post(url, **kwargs)) for url, kwargs in _requests()]
    assert [a[0] for a in fast] == [200, 401, 401, 400, 400, 400, 404, 401]
    assert fast == slow
    assert fast[0][1]["x-request-id"] == "hook-0"
    assert fast[0][1]["server-timing"] == "supplier"
    assert fast[1][1]["www-authenticate"] == 'Bearer realm="steward"'


def test_other_methods_and_paths_still_go_through_the_router(gateway: Gateway) -> None:
    assert gateway.client.get(CALL).status_code == 405
    openapi = gateway.client.get("/openapi.json").json()
    operation = openapi["paths"]["/cds/{site_slug}/cds-services/{service_id}"]["post"]
    assert operation["summary"] == "Call a CDS service through the gateway"
