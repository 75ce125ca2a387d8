"""API tokens: random, shown once, stored as SHA-256, scoped to an organisation and role,
expiring and revocable; and the principal a valid token stands for."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from steward.auth.models import ApiToken
from steward.auth.roles import Role
from steward.errors import StewardError
from steward.registry.errors import NotFoundError, invalid
from steward.registry.models import Organisation, User
from steward.registry.organisations import roles_of

TOKEN_PREFIX = "stw_"


class InvalidTokenError(StewardError):
    """The presented token is unknown, expired or revoked (clients are not told which)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: one role in one organisation, through a token (optionally a user's)."""

    actor: str
    organisation_id: uuid.UUID
    role: Role
    token_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset({self.role})


def token_digest(token: str) -> str:
    """The stored form of a token: SHA-256 hex (tokens carry 256 random bits, so no salt)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    session: Session,
    organisation: Organisation,
    role: Role,
    now: datetime,
    days: int,
    user: User | None = None,
    label: str = "",
) -> tuple[str, ApiToken]:
    """Issue a token; returns the plaintext (shown once) and the stored row."""
    if not 1 <= days <= 366:
        raise invalid("days", "a token must expire within 1 to 366 days")
    if user is not None and role not in roles_of(session, user.id, organisation.id):
        raise invalid("role", f"{user.email} does not hold the role {role.value} here")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        id=uuid.uuid4(),
        token_hash=token_digest(plaintext),
        prefix=plaintext[:12],
        organisation_id=organisation.id,
        role=role,
        user_id=user.id if user else None,
        label=label,
        expires_at=now + timedelta(days=days),
    )
    session.add(row)
    session.flush()
    return plaintext, row


def resolve_token(session: Session, plaintext: str, now: datetime) -> Principal:
    """The principal of a valid token; :class:`InvalidTokenError` otherwise."""
    if not plaintext.startswith(TOKEN_PREFIX):
        raise InvalidTokenError("unknown token")
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(plaintext)))
    if row is None:
        raise InvalidTokenError("unknown token")
    if row.revoked_at is not None:
        raise InvalidTokenError("revoked token")
    if row.expires_at <= now:
        raise InvalidTokenError("expired token")
    if row.user_id is not None and not session.get_one(User, row.user_id).active:
        raise InvalidTokenError("token of a deactivated user")
    return Principal(
        actor=f"token:{row.id}",
        organisation_id=row.organisation_id,
        role=row.role,
        token_id=row.id,
        user_id=row.user_id,
    )


def revoke_token(session: Session, token_id: uuid.UUID, now: datetime) -> ApiToken:
    """Revoke a token at once; revoking twice keeps the first time."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFoundError(f"no token with id {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
        session.flush()
    return row
