"""``GET /api/v1/health``: liveness and database status, without authentication."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from steward.api.schemas import DatabaseHealth, Health
from steward.db.engine import READ_ONLY

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(request: Request) -> JSONResponse:
    """200 when the database answers, 503 with the reason when it does not."""
    engine: Engine = request.app.state.engine
    backend = engine.dialect.name
    try:
        with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
            connection.execute(text("SELECT 1"))
            revision = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as error:
        detail = error.__class__.__name__
        database = DatabaseHealth(status="unavailable", backend=backend, detail=detail)
        body = Health(status="degraded", database=database)
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
    database = DatabaseHealth(status="ok", backend=backend, revision=revision)
    return JSONResponse(Health(status="ok", database=database).model_dump(mode="json"))
