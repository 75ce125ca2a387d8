"""Organisations in a hierarchy, people, and the roles they hold in each organisation."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from steward.auth.roles import Role
from steward.registry.errors import ConflictError, NotFoundError, invalid
from steward.registry.kinds import OrganisationKind
from steward.registry.models import Membership, Organisation, User

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def require_text(field: str, value: str, max_length: int = 200) -> str:
    """``value`` stripped; refused when empty or longer than ``max_length``."""
    stripped = value.strip()
    if not stripped:
        raise invalid(field, "must not be empty")
    if "\x00" in stripped:
        raise invalid(field, "must not contain NUL characters")
    if len(stripped) > max_length:
        raise invalid(field, f"must be at most {max_length} characters")
    return stripped


def organisation_by_slug(session: Session, slug: str) -> Organisation:
    """The organisation called ``slug``."""
    found = session.scalar(select(Organisation).where(Organisation.slug == slug))
    if found is None:
        raise NotFoundError(f"no organisation with slug {slug!r}")
    return found


def create_organisation(
    session: Session,
    slug: str,
    name: str,
    kind: OrganisationKind | None = None,
    parent_slug: str | None = None,
) -> Organisation:
    """Add an organisation; without ``kind`` it is one level below its parent (or a trust)."""
    if not SLUG.match(slug):
        raise invalid("slug", "use 1-64 lower-case letters, digits and inner hyphens")
    parent = organisation_by_slug(session, parent_slug) if parent_slug else None
    if kind is None:
        kind = list(OrganisationKind)[parent.kind.level + 1] if parent else OrganisationKind.TRUST
    if parent is not None and kind.level <= parent.kind.level:
        raise invalid("kind", f"a {kind.value} cannot sit under a {parent.kind.value}")
    if session.scalar(select(Organisation.id).where(Organisation.slug == slug)):
        raise ConflictError(f"an organisation with slug {slug!r} already exists")
    # The foreign key is set directly (not through the relationship) so the audit event,
    # taken before the flush, records it.
    organisation = Organisation(
        id=uuid.uuid4(),
        slug=slug,
        name=require_text("name", name),
        kind=kind,
        parent_id=parent.id if parent else None,
    )
    session.add(organisation)
    session.flush()
    return organisation


def ancestors(session: Session, organisation: Organisation) -> list[Organisation]:
    """The organisations above ``organisation``, nearest first."""
    chain: list[Organisation] = []
    current = organisation.parent
    while current is not None:
        chain.append(current)
        current = current.parent
    return chain


def is_within(session: Session, organisation: Organisation, scope_id: uuid.UUID) -> bool:
    """Whether ``organisation`` is the organisation ``scope_id`` or sits anywhere below it."""
    return organisation.id == scope_id or any(
        a.id == scope_id for a in ancestors(session, organisation)
    )


def user_by_email(session: Session, email: str) -> User:
    """The user with ``email`` (case-insensitive)."""
    found = session.scalar(select(User).where(User.email == email.strip().lower()))
    if found is None:
        raise NotFoundError(f"no user with email {email!r}")
    return found


def create_user(session: Session, email: str, display_name: str | None = None) -> User:
    """Add a user; emails are unique and stored in lower case."""
    normalised = email.strip().lower()
    if not EMAIL.match(normalised) or len(normalised) > 320:
        raise invalid("email", "not a valid email address")
    if session.scalar(select(User.id).where(User.email == normalised)):
        raise ConflictError(f"a user with email {normalised!r} already exists")
    name = require_text("display_name", display_name) if display_name else normalised
    user = User(id=uuid.uuid4(), email=normalised, display_name=name, active=True)
    session.add(user)
    session.flush()
    return user


def grant_role(session: Session, user: User, organisation: Organisation, role: Role) -> Membership:
    """Give ``user`` the ``role`` in ``organisation`` (idempotent)."""
    existing = session.scalar(
        select(Membership).where(
            Membership.user_id == user.id,
            Membership.organisation_id == organisation.id,
            Membership.role == role,
        )
    )
    if existing is not None:
        return existing
    membership = Membership(
        id=uuid.uuid4(), user_id=user.id, organisation_id=organisation.id, role=role
    )
    session.add(membership)
    session.flush()
    return membership


def roles_of(session: Session, user_id: uuid.UUID, organisation_id: uuid.UUID) -> set[Role]:
    """The roles ``user_id`` holds directly in ``organisation_id``."""
    rows: Iterable[Role] = session.scalars(
        select(Membership.role).where(
            Membership.user_id == user_id, Membership.organisation_id == organisation_id
        )
    )
    return set(rows)


def subtree_ids(session: Session, root_id: uuid.UUID) -> set[uuid.UUID]:
    """``root_id`` and every organisation below it."""
    children: dict[uuid.UUID | None, list[uuid.UUID]] = {}
    for org_id, parent_id in session.execute(select(Organisation.id, Organisation.parent_id)):
        children.setdefault(parent_id, []).append(org_id)
    found, frontier = {root_id}, [root_id]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found
