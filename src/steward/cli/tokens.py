"""``steward tokens``: API tokens scoped to an organisation and role."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from steward.auth.roles import Role
from steward.cli.db import command_unit, reported_errors

tokens_app = typer.Typer(help="Issue and revoke API tokens.", no_args_is_help=True)


@tokens_app.command("create")
def create(
    org: Annotated[str, typer.Option("--org", help="Slug of the organisation.")],
    role: Annotated[Role, typer.Option("--role", help="Role the token acts in.")],
    days: Annotated[int | None, typer.Option("--days", help="Days until it expires.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Email of the owner.")] = None,
    label: Annotated[str, typer.Option("--label", help="What the token is for.")] = "",
) -> None:
    """Issue a token; it is printed once, as the last word of the last line."""
    from steward.auth.tokens import create_token
    from steward.config import load_settings
    from steward.db.base import utcnow
    from steward.registry.organisations import organisation_by_slug, user_by_email

    with reported_errors():
        lifetime = days if days is not None else load_settings().token_default_days
        with command_unit() as session:
            organisation = organisation_by_slug(session, org)
            owner = user_by_email(session, user) if user else None
            plaintext, row = create_token(
                session, organisation, role, utcnow(), lifetime, owner, label
            )
    typer.echo(f"token {row.id} for {role.value} at {org}, expires {row.expires_at:%Y-%m-%d}")
    typer.echo(f"store it now, it is not shown again: {plaintext}")


@tokens_app.command("revoke")
def revoke(token_id: Annotated[uuid.UUID, typer.Argument(help="Id of the token.")]) -> None:
    """Revoke a token at once."""
    from steward.auth.tokens import revoke_token
    from steward.db.base import utcnow

    with reported_errors(), command_unit() as session:
        row = revoke_token(session, token_id, utcnow())
        typer.echo(f"revoked token {row.id} at {row.revoked_at:%Y-%m-%d %H:%M:%S}Z")
