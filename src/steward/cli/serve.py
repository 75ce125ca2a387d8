"""``steward serve``: run the REST API with uvicorn."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated

import typer

from steward.cli.db import fail, reported_errors

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from steward.config import Settings


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
) -> None:
    """Serve the API (OpenAPI at /openapi.json); the database must be at the latest revision."""
    import uvicorn
    from alembic.script import ScriptDirectory

    from steward.api.app import create_app
    from steward.config import load_settings
    from steward.db import migrate
    from steward.db.engine import make_engine

    with reported_errors():
        settings = load_settings()
        settings.require_secret_key()
        url = settings.resolved_database_url
        current = migrate.current_revision(url)
        engine = make_engine(url)
        head = ScriptDirectory.from_config(migrate.alembic_config(engine)).get_current_head()
        if current != head:
            engine.dispose()
            at = current or "none"
            fail(f"the database is at revision {at}, not {head}: run steward db upgrade")
        app = create_app(settings, engine)
    database = engine.url.render_as_string(hide_password=True)
    typer.echo(f"serving Steward API on http://{host}:{port}/api/v1 (database {database})")
    stop = _start_scheduler(settings, engine)
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        if stop is not None:
            stop.set()


def _start_scheduler(settings: Settings, engine: Engine) -> threading.Event | None:
    """Run the monitor scheduler in a background thread unless STEWARD_SCHEDULER_EMBEDDED=0."""
    if not settings.scheduler_embedded:
        typer.echo("scheduler not embedded (STEWARD_SCHEDULER_EMBEDDED=0): run steward worker")
        return None
    from steward.surveillance.scheduler.setup import scheduler_from_settings
    from steward.surveillance.scheduler.worker import start_in_thread

    scheduler = scheduler_from_settings(settings, engine)
    _, stop = start_in_thread(scheduler, settings.scheduler_interval_seconds)
    typer.echo(f"scheduler running in this process every {settings.scheduler_interval_seconds:g}s")
    return stop
