"""``steward users``: local accounts and their roles."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from steward.auth.roles import Role
from steward.cli.db import command_unit, fail, reported_errors

users_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)


@users_app.command("create")
def create(
    email: Annotated[str, typer.Argument(help="Email address (the login).")],
    org: Annotated[str, typer.Option("--org", help="Slug of the organisation.")],
    role: Annotated[Role, typer.Option("--role", help="Role in that organisation.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
) -> None:
    """Create a user holding ROLE in ORG; the password is read from standard input."""
    from steward.auth.passwords import set_password
    from steward.db.base import utcnow
    from steward.registry.organisations import create_user, grant_role, organisation_by_slug

    password = sys.stdin.read().rstrip("\r\n") if password_stdin else None
    if password_stdin and not password:
        fail("no password on standard input")
    with reported_errors(), command_unit() as session:
        organisation = organisation_by_slug(session, org)
        user = create_user(session, email, name)
        grant_role(session, user, organisation, role)
        if password is not None:
            set_password(session, user, password, utcnow())
        typer.echo(f"created user {user.email} ({user.id}) as {role.value} at {organisation.slug}")
