"""``steward db``: the database schema, and the database access shared by registry commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from sqlalchemy.exc import SQLAlchemyError

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
