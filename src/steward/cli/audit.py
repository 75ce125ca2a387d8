"""``steward audit``: check the tamper-evident audit trail."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from steward.cli.db import database_url, fail, reported_errors
from steward.files import atomic_path

audit_app = typer.Typer(help="Check the tamper-evident audit trail.", no_args_is_help=True)


@audit_app.command("verify")
def verify(
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Verify an export file instead of the database."),
    ] = None,
) -> None:
    """Recompute the hash chain; exit 0 when intact, 1 naming the first broken link."""
    from steward.audit.export import verify_export
    from steward.audit.verify import verify_database
    from steward.db.engine import make_engine

    with reported_errors():
        if file is not None:
            try:
                with file.open(encoding="utf-8") as lines:
                    report = verify_export(lines)
            except OSError as error:
                fail(f"cannot read {file}: {error.strerror}")
        else:
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


@audit_app.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write (JSON Lines).")],
) -> None:
    """Write the whole trail with its chain head, for verification by a third party."""
    from steward.audit.export import export_lines
    from steward.db.engine import make_engine

    with reported_errors():
        engine = make_engine(database_url())
        try:
            with atomic_path(output) as partial, partial.open("x", encoding="utf-8") as handle:
                for line in export_lines(engine):
                    handle.write(line + "\n")
        finally:
            engine.dispose()
    typer.echo(f"exported the audit trail to {output}")
