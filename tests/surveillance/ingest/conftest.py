"""Fixtures of the surveillance tests: a monitored deployment on each test database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from steward.api.app import create_app
from steward.config import Settings
from steward.db.session import StewardSession

from ._support import Api, make_deployment


@pytest.fixture
def deployment(sessions: sessionmaker[StewardSession]) -> uuid.UUID:
    return make_deployment(sessions)


@pytest.fixture
def api(
    db_url: str, engine: Engine, sessions: sessionmaker[StewardSession], deployment: uuid.UUID
) -> Iterator[Api]:
    """An API client on the database that holds ``deployment`` (ingest limit 1 MB)."""
    app = create_app(Settings(dev=True, database_url=db_url, ingest_max_bytes=1_000_000), engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, sessions)
