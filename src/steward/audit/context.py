"""Who is acting and in which request: attached to a session so every change can be attributed."""

from __future__ import annotations

import getpass
import uuid
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

CONTEXT_KEY = "steward.audit.context"


@dataclass(frozen=True)
class AuditContext:
    """The actor (``user:EMAIL``, ``token:ID``, ``cli:LOGIN``), the request id of a change, and
    the organisation the actor acts for (None for the command line)."""

    actor: str
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    organisation_id: uuid.UUID | None = None


def cli_context() -> AuditContext:
    """The context of a command run from a shell: the operating-system login."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "unknown"
    return AuditContext(actor=f"cli:{login}")


def bind(session: Session, context: AuditContext) -> None:
    """Attribute every later change made through ``session`` to ``context``."""
    session.info[CONTEXT_KEY] = context


def bound_context(session: Session) -> AuditContext | None:
    """The context bound to ``session``, if any."""
    context = session.info.get(CONTEXT_KEY)
    return context if isinstance(context, AuditContext) else None
