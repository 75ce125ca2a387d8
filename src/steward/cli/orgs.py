"""``steward orgs``: organisations of the hierarchy (region > trust > hospital > site)."""

from __future__ import annotations

from typing import Annotated

import typer

from steward.cli.db import command_unit, reported_errors
from steward.registry.kinds import OrganisationKind

orgs_app = typer.Typer(help="Manage organisations.", no_args_is_help=True)


@orgs_app.command("create")
def create(
    slug: Annotated[str, typer.Argument(help="Short unique name, e.g. rxa.")],
    name: Annotated[str, typer.Option("--name", help="Full name.")],
    parent: Annotated[str | None, typer.Option("--parent", help="Slug of the parent.")] = None,
    kind: Annotated[
        OrganisationKind | None,
        typer.Option("--kind", help="Level; default one below the parent, or trust."),
    ] = None,
) -> None:
    """Create an organisation, optionally under a parent."""
    from steward.registry.organisations import create_organisation

    with reported_errors(), command_unit() as session:
        organisation = create_organisation(session, slug, name, kind, parent)
        typer.echo(f"created {organisation.kind.value} {organisation.slug} ({organisation.id})")
