"""`steward demo`: seed a demo region into an embedded database and serve the web application.

With ``--no-serve`` it seeds, then writes a synthetic data set validated end to end (JSON results
and HTML reports) instead of serving.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
import threading
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from steward.cli.consoles import stderr, stdout
from steward.cli.db import fail, reported_errors
from steward.cli.progress import scan_progress
from steward.errors import InputError
from steward.files import write_text_atomic

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from steward.config import Settings


DEMO_SPECS = ("deterioration-validation.yaml", "deterioration-equity-audit.yaml")
HOST = "127.0.0.1"  # the demo's accounts share a published password: never listen beyond loopback
PORTS_TRIED = 20
SECRET_FILE = "demo-secret-key"


def demo_command(
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port to serve on; the next free one if busy.")
    ] = 8000,
    no_serve: Annotated[
        bool,
        typer.Option(
            "--no-serve", help="Seed, then write the validation reports instead of serving."
        ),
    ] = False,
    rows: Annotated[
        int, typer.Option(help="Rows of synthetic predictions for the reports (--no-serve).")
    ] = 500_000,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the data, specs and reports are written.")
    ] = Path(".steward/demo"),
    seed: Annotated[int, typer.Option(help="Seed of the reports' synthetic data set.")] = 0,
) -> None:
    """Seed a demo region (three trusts, nine tools at every stage) and serve the web app.

    The database is the embedded SQLite file under STEWARD_HOME; it is created and migrated if
    needed and seeded only when empty. Prints the URL and the demo accounts, then serves on
    http://127.0.0.1:PORT until stopped with Ctrl+C.
    """
    settings = _demo_settings()
    engine = _seeded_engine(settings)
    if no_serve:
        engine.dispose()
        _write_reports(rows, directory, seed)
        return
    listener = _listen(port)
    _serve(settings, engine, listener)


def _demo_settings() -> Settings:
    """The configured settings on the embedded database, with a development secret if none is set.

    The key is random and kept in STEWARD_HOME so that forms survive a restart of the demo; the
    settings used by ``steward serve`` are untouched and still refuse a missing key.
    """
    from pydantic import SecretStr

    from steward.config import load_settings

    with reported_errors():
        settings = load_settings()
    if settings.database_url:
        stderr().print(
            "note: the demo ignores STEWARD_DATABASE_URL and uses its own SQLite database"
        )
    update: dict[str, object] = {"database_url": None}
    if settings.secret_key is None:
        update["secret_key"] = SecretStr(_demo_secret(settings.home))
    return settings.model_copy(update=update)


def _demo_secret(home: Path) -> str:
    path = home / SECRET_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text(encoding="utf-8").strip()


def _seeded_engine(settings: Settings) -> Engine:
    """Migrate the embedded database and seed the demo if it is empty."""
    out = stdout()
    from steward.db import migrate
    from steward.db.engine import make_engine
    from steward.demo.seed import seed_demo

    url = settings.resolved_database_url
    with reported_errors():
        migrate.upgrade(url)
        engine = make_engine(url)
        started = time.perf_counter()
        with out.status("Seeding the demo region (evaluations run on synthetic data)..."):
            outcome = seed_demo(engine)
    database = engine.url.database
    elapsed = time.perf_counter() - started
    out.print(f"{outcome.message} ({database}, {elapsed:.1f} s)", highlight=False, soft_wrap=True)
    return engine


def _listen(port: int) -> socket.socket:
    """A listening socket on ``port``, or on the next free port after it (said so)."""
    last = min(port + PORTS_TRIED, 65536) - 1
    for candidate in range(port, last + 1):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind((HOST, candidate))
        except OSError:
            listener.close()
            continue
        listener.listen(128)
        if candidate != port:
            stdout().print(
                f"port {port} is busy; serving on port {candidate} instead",
                highlight=False,
                soft_wrap=True,
            )
        return listener
    return fail(f"ports {port} to {last} on {HOST} are all busy; choose another with --port")


def _serve(settings: Settings, engine: Engine, listener: socket.socket) -> None:
    import uvicorn

    from steward.api.app import create_app
    from steward.demo.people import DEMO_PASSWORD, USERS

    app = create_app(settings, engine)
    port = listener.getsockname()[1]
    lines = [
        f"Steward demo: http://{HOST}:{port}",
        f"Sign in at http://{HOST}:{port}/signin with one of these accounts "
        f"(password for every account: {DEMO_PASSWORD}):",
    ]
    for person in USERS:
        roles = ", ".join(f"{role.value} at {org}" for org, role in person.roles)
        lines.append(f"  {person.email:<36} {person.name:<20} {roles}")
    lines.append("Press Ctrl+C to stop.")
    typer.echo("\n".join(lines))
    sys.stdout.flush()
    stop = _start_scheduler(settings, engine)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    try:
        server.run(sockets=[listener])
    finally:
        if stop is not None:
            stop.set()


def _start_scheduler(settings: Settings, engine: Engine) -> threading.Event | None:
    """Run the monitors in the background, as ``steward serve`` does (unless switched off)."""
    if not settings.scheduler_embedded:
        return None
    from steward.surveillance.scheduler.setup import scheduler_from_settings
    from steward.surveillance.scheduler.worker import start_in_thread

    _, stop = start_in_thread(
        scheduler_from_settings(settings, engine), settings.scheduler_interval_seconds
    )
    return stop


def _write_reports(rows: int, directory: Path, seed: int) -> None:
    """Generate the synthetic data set and write both validations as JSON and HTML."""
    out = stdout()
    from steward.evaluation.report import write_html
    from steward.evaluation.run import evaluate
    from steward.evaluation.spec import load_spec
    from steward.synthetic import write

    try:
        directory.mkdir(parents=True, exist_ok=True)
        data = directory / f"deterioration-{rows}-seed{seed}.parquet"
        if not data.exists():
            started = time.perf_counter()
            with out.status(f"Generating {rows:,} synthetic predictions..."):
                write(data, rows, seed=seed)
            out.print(f"Generated {data} in {time.perf_counter() - started:.1f} s")
        for name in DEMO_SPECS:
            spec_path = directory / name
            write_text_atomic(spec_path, _demo_spec(name))
            spec = load_spec(spec_path)
            started = time.perf_counter()
            with scan_progress() as progress:
                result = evaluate(data, spec, progress=progress)
            stem = spec_path.stem
            write_text_atomic(directory / f"{stem}.json", result.model_dump_json(indent=2) + "\n")
            report = write_html(result.model_dump(mode="json"), directory / f"{stem}.html")
            elapsed = time.perf_counter() - started
            out.print(
                f"[bold]{result.title}[/]: verdict [bold]{result.verdict.status.upper()}[/] "
                f"({result.verdict.summary}) in {elapsed:.1f} s",
                highlight=False,
            )
            out.print(f"  spec   {spec_path}", highlight=False)
            out.print(f"  report {report.resolve().as_uri()}", highlight=False)
    except InputError as exc:
        stderr().print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None


def _demo_spec(name: str) -> str:
    return resources.files("steward.cli").joinpath("demo_specs", name).read_text(encoding="utf-8")
