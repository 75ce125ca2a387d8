"""``steward export model-card``: a tool's CHAI Applied Model Card (XML) or HTI-1 source
attributes (JSON), from its model facts, latest local evaluation and monitoring."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer

from steward.cli.db import reported_errors
from steward.integration.modelcard.formats import CardFormat


def model_card_command(
    tool_id: Annotated[uuid.UUID, typer.Argument(help="Id of the tool.")],
    card_format: Annotated[CardFormat, typer.Option("--format", help="chai-xml or hti1-json.")],
    version: Annotated[
        str | None, typer.Option("--version", help="Version of the tool (default: latest).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")
    ] = None,
) -> None:
    """Write the tool's model card; quantitative performance and ongoing maintenance come from
    its latest local evaluation and monitoring."""
    from steward.config import load_settings
    from steward.db.engine import make_engine
    from steward.db.session import read_only_unit, session_factory
    from steward.files import write_text_atomic
    from steward.integration.modelcard.export import gather, render

    with reported_errors():
        engine = make_engine(load_settings().resolved_database_url)
        try:
            with read_only_unit(session_factory(engine)) as session:
                sources = gather(session, tool_id, version)
                body = render(sources, card_format)
        finally:
            engine.dispose()
        if output is None:
            typer.echo(body.decode("utf-8"), nl=False)
            return
        write_text_atomic(output, body.decode("utf-8"))
    evaluated = "latest local evaluation" if sources.evidence.evaluated else "no local evaluation"
    typer.echo(
        f"wrote {card_format.value} model card of {sources.tool.name} {sources.version.version} "
        f"({evaluated}) to {output}",
        err=True,
    )
