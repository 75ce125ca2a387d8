"""``steward audit``: check the tamper-evident audit trail."""

from __future__ import annotations

import typer

from steward.cli.db import database_url, reported_errors

audit_app = typer.Typer(help="Check the tamper-evident audit trail.", no_args_is_help=True)


@audit_app.command("verify")
def verify() -> None:
    """Recompute the hash chain; exit 0 when intact, 1 naming the first broken link."""
    from steward.audit.verify import verify_database
    from steward.db.engine import make_engine

    with reported_errors():
        engine = make_engine(database_url())
        try:
            report = verify_database(engine)
        finally:
            engine.dispose()
    if report.intact:
        typer.echo(
            f"audit chain intact: {report.checked} events, head {report.head_seq} "
            f"{report.head_hash}"
        )
        return
    typer.echo(f"audit chain broken at event {report.broken_at}: {report.reason}")
    raise typer.Exit(1)
