"""Fixtures of the web tests: the real app on each test database, users with passwords, and
browsers (cookie-keeping clients) that sign in through the sign-in form like a person would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from steward.api.app import create_app
from steward.audit.context import AuditContext
from steward.auth.passwords import set_password
from steward.auth.roles import Role
from steward.config import Settings
from steward.db.base import utcnow
from steward.db.session import StewardSession, unit_of_work
from steward.registry.kinds import OrganisationKind
from steward.registry.organisations import (
    create_organisation,
    create_user,
    grant_role,
    organisation_by_slug,
)

ACTOR = AuditContext(actor="test:pytest", request_id="test-request")
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


class Browser:
    """One person's browser: keeps cookies, submits forms with the CSRF token the page gave."""

    def __init__(self, app: FastAPI) -> None:
        self.client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)

    def get(self, path: str, **kw: Any) -> Response:
        return self.client.get(path, **kw)

    def submit(self, page: str, action: str, data: dict[str, str], **kw: Any) -> Response:
        """Open ``page``, then post ``data`` to ``action`` with the page's CSRF token."""
        token = csrf_of(self.get(page).text)
        return self.client.post(action, data={"csrf_token": token, **data}, **kw)

    def sign_in(self, email: str, password: str = PASSWORD, next: str = "/portfolio") -> Response:
        return self.submit(
            f"/signin?next={next}", "/signin", {"email": email, "password": password, "next": next}
        )


@dataclass
class Web:
    app: FastAPI
    sessions: sessionmaker[StewardSession]
    browsers: list[Browser] = field(default_factory=list)

    def user(self, email: str, *seats: tuple[str, Role]) -> str:
        with unit_of_work(self.sessions, ACTOR) as session:
            user = create_user(session, email, email.split("@")[0].replace(".", " ").title())
            set_password(session, user, PASSWORD, utcnow())
            for org, role in seats:
                grant_role(session, user, organisation_by_slug(session, org), role)
        return email

    def browser(self, email: str | None = None) -> Browser:
        browser = Browser(self.app)
        self.browsers.append(browser)
        if email is not None:
            response = browser.sign_in(email)
            assert response.status_code == 303, response.text
        return browser


@pytest.fixture
def web(
    db_url: str, engine: Engine, sessions: sessionmaker[StewardSession], tmp_path: Path
) -> Iterator[Web]:
    with unit_of_work(sessions, ACTOR) as session:
        create_organisation(session, "north", "North Region", OrganisationKind.REGION)
        create_organisation(session, "rxa", "Riverside Trust", parent_slug="north")
        create_organisation(session, "rxb", "Brookside Trust", parent_slug="north")
    settings = Settings(dev=True, database_url=db_url, home=tmp_path / "home")
    app = create_app(settings, engine)
    with TestClient(app):
        yield Web(app, sessions)
