"""Browser sessions: a random cookie stored as SHA-256, acting as one role in one organisation at
a time (switchable among the user's memberships), with CSRF tokens bound to the session."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from steward.auth.models import BrowserSession
from steward.auth.roles import Role
from steward.auth.tokens import Principal, token_digest
from steward.errors import StewardError
from steward.registry.errors import ForbiddenError
from steward.registry.models import Membership, Organisation, User

#: Roles offered first when a user holding several signs in: the committee's view is the widest.
ROLE_PREFERENCE: tuple[Role, ...] = (
    Role.COMMITTEE_CHAIR,
    Role.CLINICAL_SAFETY_OFFICER,
    Role.CLINICAL_LEAD,
    Role.COMMITTEE_MEMBER,
    Role.DATA_SCIENTIST,
    Role.ADMIN,
)


class NotSignedInError(StewardError):
    """The browser carries no session, or one that has ended or expired."""


@dataclass(frozen=True)
class Seat:
    """One (organisation, role) a user may act as."""

    organisation_id: uuid.UUID
    organisation_slug: str
    organisation_name: str
    role: Role

    @property
    def key(self) -> str:
        return f"{self.organisation_slug}:{self.role.value}"


@dataclass(frozen=True)
class SignedIn:
    """A live browser session with the user behind it and the principal it acts as."""

    row: BrowserSession
    user: User
    principal: Principal


def seats_of(session: Session, user_id: uuid.UUID) -> list[Seat]:
    """Every organisation and role the user holds, in a stable, preference-first order."""
    rows = session.execute(
        select(Membership.role, Organisation.id, Organisation.slug, Organisation.name)
        .join(Organisation, Organisation.id == Membership.organisation_id)
        .where(Membership.user_id == user_id)
    ).all()
    seats = [Seat(org_id, slug, name, Role(role)) for role, org_id, slug, name in rows]
    rank = {role: i for i, role in enumerate(ROLE_PREFERENCE)}
    return sorted(seats, key=lambda s: (rank.get(s.role, len(rank)), s.organisation_name))


def start_session(
    session: Session, user: User, now: datetime, hours: int
) -> tuple[str, BrowserSession]:
    """Sign ``user`` in; returns the cookie value (shown once) and the stored row."""
    seats = seats_of(session, user.id)
    if not seats:
        raise ForbiddenError(f"{user.email} holds no role in any organisation")
    token = secrets.token_urlsafe(32)
    row = BrowserSession(
        id=uuid.uuid4(),
        token_hash=token_digest(token),
        user_id=user.id,
        organisation_id=seats[0].organisation_id,
        role=seats[0].role,
        expires_at=now + timedelta(hours=hours),
    )
    session.add(row)
    session.flush()
    return token, row


def resolve_session(session: Session, token: str, now: datetime) -> SignedIn:
    """The live session behind a cookie value; :class:`NotSignedInError` otherwise."""
    row = session.scalar(
        select(BrowserSession).where(BrowserSession.token_hash == token_digest(token))
    )
    if row is None or row.ended_at is not None or row.expires_at <= now:
        raise NotSignedInError("not signed in")
    user = session.get_one(User, row.user_id)
    if not user.active:
        raise NotSignedInError("the account is deactivated")
    principal = Principal(
        actor=f"user:{user.email}",
        organisation_id=row.organisation_id,
        role=row.role,
        user_id=user.id,
    )
    return SignedIn(row, user, principal)


def switch_seat(session: Session, row: BrowserSession, seat_key: str) -> Seat:
    """Act as another of the user's (organisation, role) pairs from now on."""
    for seat in seats_of(session, row.user_id):
        if seat.key == seat_key:
            row.organisation_id = seat.organisation_id
            row.role = seat.role
            session.flush()
            return seat
    raise ForbiddenError("you do not hold that role in that organisation")


def end_session(session: Session, row: BrowserSession, now: datetime) -> None:
    """Sign out: the cookie and every CSRF token issued under it stop working at once."""
    if row.ended_at is None:
        row.ended_at = now
        session.flush()


def csrf_token(secret: str, binding: str) -> str:
    """The CSRF token of a form shown under ``binding`` (a session cookie or a pre-sign-in nonce).

    An HMAC, so it need not be stored; it dies with the session it is bound to.
    """
    return hmac.new(secret.encode(), f"csrf:{binding}".encode(), hashlib.sha256).hexdigest()


def csrf_matches(secret: str, binding: str, presented: str) -> bool:
    """Whether ``presented`` is the CSRF token of ``binding`` (constant-time comparison)."""
    return bool(binding) and hmac.compare_digest(csrf_token(secret, binding), presented)
