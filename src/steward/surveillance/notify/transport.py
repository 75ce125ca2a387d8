"""The contract every notification channel implements, and the message it carries.

A transport sends one message to one target and either returns the number of attempts it took
or raises :class:`TransportError` (``permanent`` when retrying cannot help, e.g. a 404).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Message:
    """A notification: a subject and plain text for people, a JSON payload for machines."""

    subject: str
    text: str
    payload: dict[str, Any] = field(default_factory=dict)


class TransportError(Exception):
    """Sending failed; says why, whether retrying could help, and how many attempts were made."""

    def __init__(self, message: str, *, permanent: bool = False, attempts: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.attempts = attempts


class Transport(ABC):
    """One channel (webhook, e-mail, ...): checks targets and sends messages."""

    kind: ClassVar[str]

    @abstractmethod
    def check_target(self, target: str) -> str | None:
        """Why ``target`` cannot be used by this channel, or None when it can."""

    @abstractmethod
    def send(self, target: str, message: Message) -> int:
        """Deliver ``message`` to ``target``; returns the attempts used, raises on failure."""
