"""``steward export incident``: an incident as the MHRA Yellow Card or FDA MedWatch 3500A field
set, as JSON or as a printable HTML page."""

from __future__ import annotations

import json
import uuid
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from steward.cli.db import reported_errors

export_app = typer.Typer(help="Export records in regulators' formats.", no_args_is_help=True)


class Form(StrEnum):
    YELLOW_CARD = "yellow-card"
    MEDWATCH = "medwatch"


@export_app.command("incident")
def incident(
    incident_id: Annotated[uuid.UUID, typer.Argument(help="Id of the incident.")],
    form: Annotated[Form, typer.Option("--format", help="yellow-card or medwatch.")],
    html: Annotated[bool, typer.Option("--html", help="A printable HTML page, not JSON.")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")
    ] = None,
) -> None:
    """Fill the regulator's field set from the incident record; required fields left empty are
    listed in ``missing_required``."""
    from steward.config import load_settings
    from steward.db.engine import make_engine
    from steward.db.session import read_only_unit, session_factory
    from steward.files import write_text_atomic
    from steward.surveillance.incidents.export import export_html, export_incident
    from steward.surveillance.incidents.service import get_incident

    with reported_errors():
        engine = make_engine(load_settings().resolved_database_url)
        try:
            with read_only_unit(session_factory(engine)) as session:
                document = export_incident(session, get_incident(session, incident_id), form.value)
        finally:
            engine.dispose()
        text = export_html(document) if html else json.dumps(document, indent=2) + "\n"
        if output is None:
            typer.echo(text, nl=False)
            return
        write_text_atomic(output, text)
    missing = document["missing_required"]
    note = f"; required fields empty: {', '.join(missing)}" if missing else ""
    typer.echo(f"wrote {form.value} export of incident {incident_id} to {output}{note}", err=True)
