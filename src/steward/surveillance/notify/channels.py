"""The channels this installation can send through, configured from the settings."""

from __future__ import annotations

from steward.config import Settings
from steward.surveillance.notify.smtp import EmailTransport
from steward.surveillance.notify.transport import Transport
from steward.surveillance.notify.webhook import WebhookTransport


def transports_from_settings(settings: Settings) -> dict[str, Transport]:
    """One transport per channel kind, built from the ``STEWARD_SMTP_*``/``WEBHOOK_*`` settings."""
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    channels: list[Transport] = [
        WebhookTransport(
            timeout=settings.webhook_timeout_seconds, attempts=settings.webhook_attempts
        ),
        EmailTransport(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            username=settings.smtp_username,
            password=password,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        ),
    ]
    return {channel.kind: channel for channel in channels}
