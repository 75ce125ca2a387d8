"""Fixtures of the surveillance tests: organisations, an API client, a loopback SMTP server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from registry._support import Api
from steward.api.app import create_app
from steward.config import Settings
from steward.db.session import StewardSession

from ._support import organisations


@pytest.fixture
def orgs(sessions: sessionmaker[StewardSession]) -> sessionmaker[StewardSession]:
    organisations(sessions)
    return sessions


@pytest.fixture
def api(db_url: str, engine: Engine, orgs: sessionmaker[StewardSession]) -> Iterator[Api]:
    app = create_app(Settings(dev=True, database_url=db_url), engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, orgs)


class Inbox:
    """What the SMTP server received: one parsed message per delivery, with its envelope."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, started for the test."""
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
