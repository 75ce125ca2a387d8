"""Local passwords: argon2id hashes, and lockout after repeated failures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from steward.auth.models import Credential
from steward.registry.errors import invalid
from steward.registry.models import User

MIN_PASSWORD_LENGTH = 10
HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY_HASH = HASHER.hash("timing equaliser for unknown accounts")


def set_password(session: Session, user: User, password: str, now: datetime) -> Credential:
    """Store an argon2id hash of ``password`` for ``user`` and clear any lockout."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise invalid("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    credential = session.get(Credential, user.id)
    if credential is None:
        credential = Credential(user_id=user.id, failed_attempts=0)
        session.add(credential)
    credential.password_hash = HASHER.hash(password)
    credential.failed_attempts = 0
    credential.locked_until = None
    credential.changed_at = now
    session.flush()
    return credential


@dataclass(frozen=True)
class LoginOutcome:
    """The result of a login attempt; commit it either way, so failures are counted."""

    user: User | None
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.user is not None


def authenticate(
    session: Session,
    email: str,
    password: str,
    now: datetime,
    max_failures: int,
    lockout: timedelta,
) -> LoginOutcome:
    """Check a password; after ``max_failures`` failures in a row the account locks for ``lockout``.

    A locked account refuses even the right password until the lock expires.
    """
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    credential = session.get(Credential, user.id, with_for_update=True) if user else None
    if user is None or credential is None or not user.active:
        _verify(_DUMMY_HASH, password)
        return LoginOutcome(None)
    if credential.locked_until is not None and credential.locked_until > now:
        return LoginOutcome(None, credential.locked_until)
    if not _verify(credential.password_hash, password):
        credential.failed_attempts += 1
        if credential.failed_attempts >= max_failures:
            credential.locked_until = now + lockout
            credential.failed_attempts = 0
        session.flush()
        return LoginOutcome(None, credential.locked_until)
    if credential.failed_attempts or credential.locked_until is not None:
        credential.failed_attempts = 0
        credential.locked_until = None
    if HASHER.check_needs_rehash(credential.password_hash):
        credential.password_hash = HASHER.hash(password)
    session.flush()
    return LoginOutcome(user)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
