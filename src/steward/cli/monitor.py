"""``steward monitor run|status`` and ``steward worker``: running the monitors of deployments."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated

import typer

from steward.cli.db import fail, reported_errors

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from steward.surveillance.scheduler.worker import TickReport

monitor_app = typer.Typer(help="Run the monitors of deployments and see their state.")


@monitor_app.command("run")
def run(
    deployment: Annotated[
        uuid.UUID | None, typer.Option("--deployment", help="Only this deployment's monitors.")
    ] = None,
) -> None:
    """Run every due monitor now (of one deployment, or all) and print what it found."""
    from steward.config import load_settings
    from steward.db.engine import make_engine
    from steward.surveillance.scheduler.setup import scheduler_from_settings

    with reported_errors():
        settings = load_settings()
        engine = make_engine(settings.resolved_database_url)
        try:
            if deployment is not None:
                _require_deployment(engine, deployment)
            report = scheduler_from_settings(settings, engine, worker=_cli_worker()).tick(
                deployment_id=deployment
            )
        finally:
            engine.dispose()
    _print_report(report)


def _cli_worker() -> str:
    from steward.surveillance.scheduler.worker import worker_name

    return f"cli:{worker_name()}"


def _require_deployment(engine: Engine, deployment: uuid.UUID) -> None:
    from sqlalchemy import select

    from steward.registry.models import Deployment

    with engine.connect() as connection:
        if connection.scalar(select(Deployment.id).where(Deployment.id == deployment)):
            return
    fail(f"no deployment with id {deployment} (steward monitor status lists them)")


def _print_report(report: TickReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"planned {report.planned} new run(s); ran {len(report.runs)}")
    if report.runs:
        table = Table("deployment", "monitor", "grain", "window", "result", "findings", "alerts")
        for r in report.runs:
            outcome = r.status if not r.error else f"{r.status}: {r.error}"
            table.add_row(
                str(r.job.deployment_id)[:8],
                r.job.monitor,
                r.job.grain,
                f"{r.job.window_start:%Y-%m-%d} to {r.job.window_end:%Y-%m-%d}",
                outcome,
                str(r.findings),
                str(len(r.alerts)),
            )
        console.print(table)
        for r in report.runs:
            for note in r.notes:
                console.print(f"  {r.job.monitor}: {note}")
    opened = sum(len(r.alerts) for r in report.runs)
    console.print(
        f"{opened} new alert(s), {report.escalations} escalation(s), "
        f"{report.notifications} notification(s) delivered"
    )


@monitor_app.command("status")
def status() -> None:
    """Per deployment: the last run of each monitor and the alerts still open."""
    from rich.console import Console
    from rich.table import Table

    from steward.config import load_settings
    from steward.db.engine import make_engine
    from steward.db.session import read_only_unit, session_factory
    from steward.surveillance.scheduler.status import deployment_status

    with reported_errors():
        engine = make_engine(load_settings().resolved_database_url)
        try:
            with read_only_unit(session_factory(engine)) as session:
                rows = deployment_status(session)
        finally:
            engine.dispose()
    console = Console()
    if not rows:
        console.print("no monitored deployments (tools in a pilot, deployed or suspended)")
        return
    table = Table(
        "deployment", "tool", "site", "state", "last run", "runs due", "failed", "open alerts"
    )
    for row in rows:
        table.add_row(
            str(row.deployment_id),
            row.tool,
            row.site,
            row.state,
            row.last_run,
            str(row.due),
            str(row.failed),
            f"{row.open_alerts} ({row.critical_alerts} critical)"
            if row.critical_alerts
            else str(row.open_alerts),
        )
    console.print(table)


def worker_command(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    interval: Annotated[
        float | None,
        typer.Option("--interval", min=0.1, help="Seconds between passes (default the setting)."),
    ] = None,
) -> None:
    """Run the scheduler on its own: plan, claim and run due monitors, escalate, notify."""
    import signal
    import threading

    from steward.config import load_settings
    from steward.db.engine import make_engine
    from steward.surveillance.scheduler.setup import scheduler_from_settings

    with reported_errors():
        settings = load_settings()
        engine = make_engine(settings.resolved_database_url)
        scheduler = scheduler_from_settings(settings, engine)
        if once:
            try:
                report = scheduler.tick()
            finally:
                engine.dispose()
            _print_report(report)
            return
        every = interval or settings.scheduler_interval_seconds
        typer.echo(f"worker {scheduler.worker} running every {every:g}s; Ctrl-C to stop")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            scheduler.run_forever(stop, every)
        except KeyboardInterrupt:
            pass
        finally:
            engine.dispose()
    typer.echo("worker stopped")
