"""Tables of authentication: password credentials and API tokens (secrets stored hashed only)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from steward.auth.roles import Role
from steward.db.base import Base, CreatedMixin, IdMixin, enum_type


class Credential(Base):
    """A user's argon2id password hash and failed-login counter."""

    __tablename__ = "credentials"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True
    )
    password_hash: Mapped[str] = mapped_column(String(200), info={"audit": "redact"})
    failed_attempts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    changed_at: Mapped[datetime]


class ApiToken(IdMixin, CreatedMixin, Base):
    """A machine credential scoped to one organisation and role; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True, info={"audit": "redact"})
    prefix: Mapped[str] = mapped_column(String(16))
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    role: Mapped[Role] = mapped_column(enum_type(Role, "role"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    label: Mapped[str] = mapped_column(String(200), default="")
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class BrowserSession(IdMixin, CreatedMixin, Base):
    """A signed-in browser: the cookie's SHA-256, the user, and the role and organisation they act
    in now (switchable); ended by sign-out or expiry, after which its CSRF tokens are refused."""

    __tablename__ = "browser_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True, info={"audit": "redact"})
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    role: Mapped[Role] = mapped_column(enum_type(Role, "role"))
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
