"""Shared test fixtures: registry databases on SQLite and PostgreSQL, built by the migrations.

Each database test runs twice, once per backend. PostgreSQL tests use a uniquely named database per
worker on the server at ``STEWARD_TEST_POSTGRES_URL`` (default: postgres@127.0.0.1:5432), dropped
at the end; an unreachable server fails the run when ``CI=true`` and skips those tests otherwise.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, create_engine, insert, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from steward.db import migrate
from steward.db.engine import make_engine
from steward.db.session import StewardSession, session_factory

POSTGRES_SERVER_URL = os.environ.get(
    "STEWARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _server_url() -> URL:
    url = make_url(POSTGRES_SERVER_URL)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url


class PostgresServer:
    """Creates and drops uniquely named databases on the test server."""

    def __init__(self) -> None:
        self.admin = create_engine(_server_url(), isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def create_database(self, purpose: str) -> str:
        name = f"steward_{purpose}_{_worker()}_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return _server_url().set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self.created:
            self.created.remove(name)

    def close(self) -> None:
        for name in list(self.created):
            self.drop_database(_server_url().set(database=name).render_as_string(False))
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The PostgreSQL test server; fails (CI) or skips (locally) when it does not answer."""
    server = PostgresServer()
    try:
        with server.admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        server.admin.dispose()
        message = f"PostgreSQL test server unreachable at {_server_url()!r}: {error.orig}"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    yield server
    server.close()


class MigratedDatabase:
    """A migrated database and the rows the migrations seeded, to restore after each test."""

    def __init__(self, url: str) -> None:
        self.url = url
        engine = make_engine(url)
        self.metadata = MetaData()
        self.metadata.reflect(engine)
        with engine.connect() as connection:
            self.seed: dict[str, list[dict[str, Any]]] = {
                table.name: [dict(row._mapping) for row in connection.execute(select(table))]
                for table in self.metadata.sorted_tables
                if table.name != "alembic_version"
            }
        engine.dispose()

    def reset(self) -> None:
        """Empty every table and put the seeded rows back (PostgreSQL)."""
        engine = make_engine(self.url)
        tables = [t for t in self.metadata.sorted_tables if t.name != "alembic_version"]
        with engine.begin() as connection:
            if tables:
                names = ", ".join(f'"{t.name}"' for t in tables)
                connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            for table in tables:
                if self.seed[table.name]:
                    connection.execute(insert(table), self.seed[table.name])
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_migrated(postgres_server: PostgresServer) -> MigratedDatabase:
    """One migrated PostgreSQL database per worker, emptied after every test that uses it."""
    url = postgres_server.create_database("registry")
    migrate.upgrade(url)
    return MigratedDatabase(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied afresh for every test."""
    path = tmp_path_factory.mktemp("sqlite-template") / "steward.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty, migrated registry database (SQLite file, then PostgreSQL)."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "steward.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    database: MigratedDatabase = request.getfixturevalue("postgres_migrated")
    try:
        yield database.url
    finally:
        database.reset()


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a database with no schema at all, to run the migrations on.

    On PostgreSQL this is a fresh schema (selected through ``search_path``) inside the worker's
    database: dropping a schema is cheap, whereas dropping a database forces a checkpoint.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    database: MigratedDatabase = request.getfixturevalue("postgres_migrated")
    schema = f"empty_{uuid.uuid4().hex[:12]}"
    admin = make_engine(database.url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(database.url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the test database."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[StewardSession]:
    """A session factory on the test database."""
    return session_factory(engine)
