"""Webhook channel: POST the alert as JSON, with a timeout and a bounded number of retries."""

from __future__ import annotations

import time
from typing import ClassVar
from urllib.parse import urlsplit

import httpx

from steward.surveillance.notify.transport import Message, Transport, TransportError

RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


class WebhookTransport(Transport):
    """POSTs ``message.payload`` to an http(s) URL; 2xx is success, 4xx (but 408/429) permanent."""

    kind: ClassVar[str] = "webhook"

    def __init__(self, timeout: float = 10.0, attempts: int = 3, backoff: float = 0.5) -> None:
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff

    def check_target(self, target: str) -> str | None:
        parts = urlsplit(target)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            return "a webhook target must be an http:// or https:// URL"
        return None

    def send(self, target: str, message: Message) -> int:
        last = "not attempted"
        with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
            for attempt in range(1, self.attempts + 1):
                try:
                    response = client.post(target, json=message.payload)
                except httpx.HTTPError as error:
                    last = f"{error.__class__.__name__}: {error}"
                else:
                    if 200 <= response.status_code < 300:
                        return attempt
                    last = f"HTTP {response.status_code}"
                    if response.status_code not in RETRYABLE:
                        raise TransportError(last, permanent=True, attempts=attempt)
                if attempt < self.attempts:
                    time.sleep(self.backoff * attempt)
        raise TransportError(last, attempts=self.attempts)
