"""E-mail channel: plain-text messages over SMTP (optionally STARTTLS and login)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from typing import ClassVar

from steward.surveillance.notify.transport import Message, Transport, TransportError


class EmailTransport(Transport):
    """Sends through the SMTP server named by the ``STEWARD_SMTP_*`` settings."""

    kind: ClassVar[str] = "email"

    def __init__(
        self,
        host: str | None,
        port: int = 25,
        sender: str = "steward@localhost",
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout = timeout

    def check_target(self, target: str) -> str | None:
        _, address = parseaddr(target)
        if address != target.strip() or "@" not in address or any(c in target for c in "\r\n"):
            return "an e-mail target must be one address such as safety@trust.nhs.uk"
        return None

    def send(self, target: str, message: Message) -> int:
        if not self.host:
            raise TransportError("e-mail is not configured: set STEWARD_SMTP_HOST", permanent=True)
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = target
        email["Subject"] = message.subject
        email["Message-ID"] = make_msgid(domain="steward")
        email.set_content(message.text)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as server:
                if self.starttls:
                    server.starttls()
                if self.username:
                    server.login(self.username, self.password or "")
                server.send_message(email)
        except smtplib.SMTPRecipientsRefused as error:
            raise TransportError(f"recipient refused: {error.recipients}", permanent=True) from None
        except (smtplib.SMTPException, OSError) as error:
            raise TransportError(f"{error.__class__.__name__}: {error}") from None
        return 1
