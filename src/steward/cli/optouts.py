"""``steward optouts``: the register of patients who opted out of evaluation and monitoring."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from steward.cli.db import command_unit, reported_errors

optouts_app = typer.Typer(
    help="Register patients who opted out of evaluation and monitoring.", no_args_is_help=True
)


@optouts_app.command("import")
def import_opt_outs(
    file: Annotated[
        Path,
        typer.Argument(
            help="Patient ids (one per line, or CSV with a patient_id column) or FHIR JSON "
            "with Consent resources that deny."
        ),
    ],
) -> None:
    """Add the file's opted-out patients to the register (stored as SHA-256 digests)."""
    from steward.integration.optout_register import opted_out_count, register_opt_outs
    from steward.integration.optout_sources import read_opt_out_file

    with reported_errors():
        opt_outs = read_opt_out_file(file)
        with command_unit() as session:
            outcome = register_opt_outs(session, opt_outs)
            total = opted_out_count(session)
    typer.echo(
        f"registered {outcome.added} opted-out patient(s) from {file} "
        f"({outcome.already_registered} already registered); the register holds {total}"
    )
    if outcome.removed_predictions or outcome.removed_outcomes:
        typer.echo(
            f"removed from monitoring: {outcome.removed_predictions} stored prediction(s) and "
            f"{outcome.removed_outcomes} outcome(s) of these patients"
        )


@optouts_app.command("count")
def count() -> None:
    """Print how many patients the register holds."""
    from steward.integration.optout_register import opted_out_count

    with reported_errors(), command_unit() as session:
        typer.echo(f"{opted_out_count(session)} opted-out patient(s) registered")
