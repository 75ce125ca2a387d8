"""Entry point of the ``steward`` command; each capability registers its commands here."""

from __future__ import annotations

import typer

from steward.cli.evaluate import evaluate_command

from steward.cli.audit import audit_app
from steward.cli.db import db_app

app = typer.Typer(
    name="steward",
    help="Steward: register, validate, approve, monitor and withdraw clinical AI tools.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """Steward: register, validate, approve, monitor and withdraw clinical AI tools."""


app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")


app.command("evaluate")(evaluate_command)
