"""Passwords (argon2id, lockout), API tokens (hashed, scoped, expiring, revocable) and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

from steward.audit.models import AuditEvent
from steward.auth import passwords
from steward.auth.models import ApiToken, Credential
from steward.auth.passwords import authenticate, set_password
from steward.auth.roles import Role
from steward.auth.tokens import InvalidTokenError, create_token, resolve_token, revoke_token
from steward.cli.main import app
from steward.db.base import utcnow
from steward.db.session import StewardSession, unit_of_work
from steward.registry.errors import InvalidInputError
from steward.registry.models import Organisation, User
from steward.registry.organisations import create_organisation, create_user, grant_role

from ._support import ACTOR, Api

LOCKOUT = timedelta(minutes=15)
PRODUCTION_HASHER = passwords.HASHER


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same algorithm (argon2id), minimal cost: the tests check behaviour, not hardness."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "HASHER", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("dummy"))


def test_production_hasher_is_argon2id_with_owasp_minimum_cost() -> None:
    assert PRODUCTION_HASHER.type is Type.ID
    assert PRODUCTION_HASHER.memory_cost >= 19 * 1024
    assert PRODUCTION_HASHER.hash("x" * 12).startswith("$argon2id$")


@pytest.fixture
def session(sessions: sessionmaker[StewardSession]) -> Iterator[StewardSession]:
    with unit_of_work(sessions, ACTOR) as session:
        yield session


@pytest.fixture
def trust(session: StewardSession) -> Organisation:
    return create_organisation(session, "rxa", "Riverside")


def test_passwords_are_argon2id_and_lock_after_repeated_failures(session: StewardSession) -> None:
    user = create_user(session, "ada@example.org")
    now = utcnow()
    credential = set_password(session, user, "correct horse battery", now)
    assert credential.password_hash.startswith("$argon2id$")
    with pytest.raises(InvalidInputError, match="at least 10"):
        set_password(session, user, "short", now)

    def login(password: str, at: timedelta = timedelta(0)) -> bool:
        return authenticate(session, "ADA@example.org", password, now + at, 3, LOCKOUT).ok

    assert login("correct horse battery")
    assert not login("wrong")
    assert not login("wrong")
    assert login("correct horse battery")  # success resets the count
    for _ in range(3):
        assert not login("wrong")
    assert not login("correct horse battery")  # locked
    assert session.get_one(Credential, user.id).locked_until == now + LOCKOUT
    assert login("correct horse battery", at=LOCKOUT + timedelta(seconds=1))
    assert not authenticate(session, "nobody@example.org", "x" * 12, now, 3, LOCKOUT).ok
    events = session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "credentials"))
    for event in events:
        for snapshot in (event.before, event.after):
            assert snapshot is None or snapshot["password_hash"] == "[redacted]"


def _viewer(session: StewardSession, trust: Organisation) -> User:
    user = create_user(session, "viewer@example.org")
    grant_role(session, user, trust, Role.VIEWER)
    return user


def test_tokens_are_hashed_scoped_expiring_and_revocable(
    session: StewardSession, trust: Organisation
) -> None:
    now = utcnow()
    plaintext, row = create_token(session, trust, Role.CLINICAL_LEAD, now, days=30)
    assert plaintext.startswith("stw_")
    assert len(plaintext) > 40
    stored = session.scalars(select(ApiToken.token_hash)).all()
    assert plaintext not in stored
    assert len(stored[0]) == 64
    principal = resolve_token(session, plaintext, now)
    assert (principal.organisation_id, principal.role) == (trust.id, Role.CLINICAL_LEAD)
    with pytest.raises(InvalidTokenError, match="unknown"):
        resolve_token(session, plaintext + "x", now)
    with pytest.raises(InvalidTokenError, match="expired"):
        resolve_token(session, plaintext, now + timedelta(days=30))
    owned, _ = create_token(session, trust, Role.VIEWER, now, days=1, user=_viewer(session, trust))
    assert resolve_token(session, owned, now).user_id is not None
    session.scalars(select(User)).one().active = False
    with pytest.raises(InvalidTokenError, match="deactivated"):
        resolve_token(session, owned, now)
    revoke_token(session, row.id, now)
    with pytest.raises(InvalidTokenError, match="revoked"):
        resolve_token(session, plaintext, now)
    with pytest.raises(InvalidInputError, match="expire"):
        create_token(session, trust, Role.VIEWER, now, days=0)
    ada = create_user(session, "ada@example.org")
    with pytest.raises(InvalidInputError, match="does not hold the role finance"):
        create_token(session, trust, Role.FINANCE, now, days=1, user=ada)
    created = session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "api_tokens"))
    assert all(e.after is None or e.after["token_hash"] == "[redacted]" for e in created)


def test_cli_creates_organisations_users_and_tokens(
    db_url: str, sessions: sessionmaker[StewardSession]
) -> None:
    runner = CliRunner()
    env = {"STEWARD_DATABASE_URL": db_url}

    def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env=env, input=stdin)
        return result.exit_code, result.output

    assert run("orgs", "create", "north", "--name", "North", "--kind", "region")[0] == 0
    code, output = run("orgs", "create", "rxa", "--name", "Riverside", "--parent", "north")
    assert (code, output.startswith("created trust rxa")) == (0, True)
    code, output = run("orgs", "create", "rxb", "--name", "B", "--parent", "missing")
    assert (code, "no organisation with slug 'missing'" in output) == (2, True)
    assert "Traceback" not in output
    code, output = run(
        "users",
        "create",
        "ada@example.org",
        "--org",
        "rxa",
        "--role",
        "clinical_safety_officer",
        "--password-stdin",
        stdin="correct horse battery\n",
    )
    assert code == 0, output
    code, output = run(
        "users",
        "create",
        "bob@example.org",
        "--org",
        "rxa",
        "--role",
        "wizard",
        "--password-stdin",
        stdin="correct horse battery\n",
    )
    assert code == 2
    code, output = run("tokens", "create", "--org", "rxa", "--role", "committee_chair")
    assert code == 0, output
    token = output.strip().splitlines()[-1].split()[-1]
    with unit_of_work(sessions, ACTOR) as session:
        principal = resolve_token(session, token, utcnow())
        assert principal.role is Role.COMMITTEE_CHAIR
        assert authenticate(
            session, "ada@example.org", "correct horse battery", utcnow(), 5, LOCKOUT
        ).ok
    code, output = run("tokens", "revoke", str(principal.token_id))
    assert code == 0, output
    with unit_of_work(sessions, ACTOR) as session, pytest.raises(InvalidTokenError):
        resolve_token(session, token, utcnow())
    assert run("audit", "verify")[0] == 0


def test_login_over_http_issues_a_role_token_and_locks_after_failures(api: Api) -> None:
    with unit_of_work(api.sessions, ACTOR) as session:
        org = session.scalars(select(Organisation).where(Organisation.slug == "rxa")).one()
        user = create_user(session, "ada@example.org")
        grant_role(session, user, org, Role.CLINICAL_LEAD)
        set_password(session, user, "correct horse battery", utcnow())

    def login(password: str, role: str = "clinical_lead") -> Any:
        body = {
            "email": "Ada@example.org",
            "password": password,
            "organisation": "rxa",
            "role": role,
        }
        return api.client.post("/api/v1/auth/login", json=body)

    granted = login("correct horse battery")
    assert granted.status_code == 200, granted.text
    token = granted.json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/v1/tools", headers=headers).status_code == 200
    assert login("correct horse battery", role="committee_chair").status_code == 403
    for _ in range(5):  # the default limit; each failure is committed although refused
        refused = login("wrong password")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
    assert login("correct horse battery").status_code == 401
    with api.sessions() as session:
        assert session.get_one(Credential, user.id).locked_until is not None
