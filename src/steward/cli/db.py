"""``steward db``: the database schema, and the database access shared by registry commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from steward.config import load_settings
from steward.db import migrate
from steward.errors import StewardError

db_app = typer.Typer(help="Create and upgrade the database schema.", no_args_is_help=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` on stderr and leave with ``code``, without a stack trace."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn Steward and database errors into one line on stderr and exit status 2."""
    try:
        yield
    except StewardError as error:
        fail(str(error))
    except SQLAlchemyError as error:
        fail(f"database error: {error.__class__.__name__}: {str(error).splitlines()[0]}")


@contextmanager
def command_unit() -> Iterator[Session]:
    """A unit of work on the configured database, attributed to the operating-system login."""
    from steward.audit.context import cli_context
    from steward.db.engine import make_engine
    from steward.db.session import session_factory, unit_of_work

    engine = make_engine(database_url())
    try:
        with unit_of_work(session_factory(engine), cli_context()) as session:
            yield session
    finally:
        engine.dispose()


def database_url() -> str:
    """The configured database URL (``STEWARD_DATABASE_URL`` or the SQLite default)."""
    return load_settings().resolved_database_url


@db_app.command("upgrade")
def upgrade(
    revision: str = typer.Option("head", help="Alembic revision to upgrade to."),
) -> None:
    """Create or upgrade the schema of the configured database."""
    with reported_errors():
        url = database_url()
        migrate.upgrade(url, revision)
        typer.echo(f"database at revision {migrate.current_revision(url)}")


@db_app.command("current")
def current() -> None:
    """Print the schema revision of the configured database."""
    with reported_errors():
        typer.echo(migrate.current_revision(database_url()) or "empty (run: steward db upgrade)")
