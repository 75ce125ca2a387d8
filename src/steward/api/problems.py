"""Errors as RFC 9457 problem documents (``application/problem+json``), with field paths, and
their description in the OpenAPI document.

Refused privileged actions are also written to the audit trail, in their own transaction since
the request's transaction has been rolled back.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException

from steward.audit.context import AuditContext
from steward.audit.recorder import append_events
from steward.auth.tokens import InvalidTokenError, Principal
from steward.db.session import unit_of_work
from steward.registry.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
)
from steward.registry.transitions import TransitionRefusedError

LOG = logging.getLogger("steward.api")
PROBLEM = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid input",
    500: "Internal error",
    503: "Service unavailable",
}


class FieldProblem(BaseModel):
    field: str
    detail: str


class UnmetRequirement(BaseModel):
    requirement: str
    item: str
    detail: str


class Problem(BaseModel):
    """An RFC 9457 problem document: what every error response carries."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] = []
    unmet: list[UnmetRequirement] = []


def problem(status: int, detail: str, **extra: Any) -> JSONResponse:
    """A problem document with ``status``, a standard title, ``detail`` and extension members."""
    body = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status}
    body |= {"detail": detail, **extra}
    headers = {"WWW-Authenticate": 'Bearer realm="steward"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field(location: tuple[Any, ...] | list[Any]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


async def _validation(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [{"field": _field(e["loc"]), "detail": e["msg"]} for e in error.errors()]
    return problem(422, "The request is not valid; see errors.", errors=errors)


async def _invalid_input(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, InvalidInputError)
    errors = [{"field": p.field, "detail": p.detail} for p in error.problems]
    return problem(422, str(error), errors=errors)


async def _not_found(_request: Request, error: Exception) -> JSONResponse:
    return problem(404, str(error))


async def _forbidden(request: Request, error: Exception) -> JSONResponse:
    _record_refusal(request, "access.denied", {"detail": str(error)})
    return problem(403, str(error))


async def _conflict(request: Request, error: Exception) -> JSONResponse:
    if isinstance(error, TransitionRefusedError):
        unmet = [u.as_dict() for u in error.unmet]
        _record_refusal(request, "tools.transition_refused", {"detail": str(error), "unmet": unmet})
        return problem(409, str(error), unmet=unmet)
    return problem(409, str(error))


async def _integrity(_request: Request, _error: Exception) -> JSONResponse:
    return problem(409, "The request conflicts with data already recorded.")


async def _unstorable(_request: Request, error: Exception) -> JSONResponse:
    LOG.info("value refused by the database: %s", error.__class__.__name__)
    return problem(422, "A value cannot be stored (out of range, or contains a NUL character).")


async def _database_unavailable(_request: Request, error: Exception) -> JSONResponse:
    LOG.warning("database unavailable: %s", error.__class__.__name__)
    return problem(503, "The database is unavailable; try again shortly.")


async def _unauthenticated(_request: Request, _error: Exception) -> JSONResponse:
    return problem(401, "A valid bearer token is required.")


async def _http(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    return problem(error.status_code, str(error.detail))


async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
    LOG.exception("unexpected error", exc_info=error)
    return problem(500, "An unexpected error occurred; it has been logged.")


def _record_refusal(request: Request, action: str, after: dict[str, Any]) -> None:
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        return
    context = AuditContext(
        principal.actor, request.state.request_id, organisation_id=principal.organisation_id
    )
    entity_id = str(request.path_params.get("tool_id", request.url.path))
    change = {
        "entity_type": "tools" if "tool_id" in request.path_params else "endpoint",
        "entity_id": entity_id,
        "action": action,
        "before": None,
        "after": {"method": request.method, "path": request.url.path, **after},
    }
    try:
        with unit_of_work(request.app.state.sessions, context) as session:
            append_events(session, context, [change])
    except SQLAlchemyError:
        # The refusal still reaches the client; losing its audit record is logged loudly.
        LOG.exception("could not record a refused action in the audit trail")


def _problem_response(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {PROBLEM: {"schema": schema}}}


def describe_problems(schema: dict[str, Any]) -> None:
    """Document every error response of ``schema`` as a problem document, in place.

    FastAPI describes 422 as its own ``HTTPValidationError`` (JSON); the handlers above answer
    every error, whatever its status, with :class:`Problem` as ``application/problem+json``.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    generated = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(generated.pop("$defs", {}))
    components["Problem"] = generated
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, response in list(responses.items()):
                if status[:1] in {"4", "5"}:
                    title = TITLES.get(int(status), "Error")
                    given = response.get("description", "")
                    described = given if given and given != "Validation Error" else title
                    responses[status] = _problem_response(described)
            responses["default"] = _problem_response("Any other error (RFC 9457 problem document)")


def _document_problems(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            describe_problems(generate())  # generate() caches the schema in app.openapi_schema
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error a request can raise to one problem document, and document them so."""
    _document_problems(app)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(InvalidInputError, _invalid_input)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(ForbiddenError, _forbidden)
    app.add_exception_handler(ConflictError, _conflict)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(DataError, _unstorable)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(InvalidTokenError, _unauthenticated)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
