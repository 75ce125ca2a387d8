"""``steward serve``: run the REST API with uvicorn, in one process or several workers."""

from __future__ import annotations

import atexit
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from steward.cli.db import fail, reported_errors

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from steward.config import Settings


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Server processes (uvicorn workers). The CDS Hooks gateway's suspension "
            "guarantee holds across them through the database.",
        ),
    ] = 1,
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
        app = create_app(settings, engine) if workers == 1 else None
        if workers > 1:
            _share_dev_keys(settings)
    database = engine.url.render_as_string(hide_password=True)
    processes = f", {workers} worker processes" if workers > 1 else ""
    typer.echo(
        f"serving Steward API on http://{host}:{port}/api/v1 (database {database}{processes})"
    )
    stop = _start_scheduler(settings, engine)
    try:
        if app is not None:
            uvicorn.run(app, host=host, port=port, log_level="info")
        else:
            # Each worker builds its own application from the same environment.
            uvicorn.run(
                "steward.api.app:create_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level="info",
            )
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


def _share_dev_keys(settings: Settings) -> None:
    """In dev mode, give every worker the same secret and CDS signing key.

    Without this each worker would make its own random ones: sessions signed by one worker
    would be refused by another, and suppliers would see several keys for one ``kid``.
    """
    if not settings.dev:
        return
    if settings.secret_key is None:
        os.environ["STEWARD_SECRET_KEY"] = settings.require_secret_key()
    if settings.cds_signing_key_file is None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP384R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        handle, name = tempfile.mkstemp(prefix="steward-dev-cds-", suffix=".pem")
        with os.fdopen(handle, "wb") as file:  # mkstemp: readable by this user only
            file.write(pem)
        atexit.register(Path(name).unlink, missing_ok=True)
        os.environ["STEWARD_CDS_SIGNING_KEY_FILE"] = name
