"""Fixtures of the integration tests: an API client on each test database (as in the registry)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from registry._support import ACTOR, Api
from steward.api.app import create_app
from steward.config import Settings
from steward.db.session import StewardSession, unit_of_work
from steward.registry.kinds import OrganisationKind
from steward.registry.organisations import create_organisation


@pytest.fixture
def api(db_url: str, engine: Engine, sessions: sessionmaker[StewardSession]) -> Iterator[Api]:
    with unit_of_work(sessions, ACTOR) as session:
        create_organisation(session, "north", "North", OrganisationKind.REGION)
        create_organisation(session, "rxa", "Riverside", parent_slug="north")
    app = create_app(Settings(dev=True, database_url=db_url), engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, sessions)
