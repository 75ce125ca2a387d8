"""``steward db``: the database schema, and the database access shared by registry commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import typer

from steward.errors import StewardError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# SQLAlchemy and Alembic are imported inside the commands that use them: they take over a second
# to import, and every `steward` command (evaluate included) loads this module.

db_app = typer.Typer(help="Create and upgrade the database schema.", no_args_is_help=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` on stderr and leave with ``code``, without a stack trace."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn Steward and database errors into one line on stderr and exit status 2."""
    from sqlalchemy.exc import SQLAlchemyError

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
    from steward.config import load_settings

    return load_settings().resolved_database_url


@db_app.command("upgrade")
def upgrade(
    revision: str = typer.Option("head", help="Alembic revision to upgrade to."),
) -> None:
    """Create or upgrade the schema of the configured database."""
    from steward.db import migrate

    with reported_errors():
        url = database_url()
        migrate.upgrade(url, revision)
        typer.echo(f"database at revision {migrate.current_revision(url)}")


@db_app.command("current")
def current() -> None:
    """Print the schema revision of the configured database."""
    from steward.db import migrate

    with reported_errors():
        typer.echo(migrate.current_revision(database_url()) or "empty (run: steward db upgrade)")
