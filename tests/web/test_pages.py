"""The web pages over real HTTP on both databases: sign-in, CSRF, role checks, the portfolio,
the public register, intake and priorities, and the audit trail with chain verification."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from steward.api.permissions import PERMISSIONS, declared_permission, endpoints
from steward.auth.models import BrowserSession
from steward.auth.roles import Role
from steward.db.session import unit_of_work
from steward.registry.intake import Priority, Proposal
from steward.registry.kinds import OrganisationKind
from steward.registry.models import LifecycleState, Tool
from steward.registry.organisations import create_organisation, organisation_by_slug
from steward.registry.tools import add_version, deploy, register_tool
from steward.surveillance.alerts.models import Severity
from steward.surveillance.alerts.service import AlertSignal, raise_alert
from steward.web.deps import PUBLIC_PAGES

from .conftest import ACTOR, Web, csrf_of

CHAIR = Role.COMMITTEE_CHAIR


def _tool(web: Web, name: str, org: str = "rxa", state: LifecycleState | None = None) -> str:
    with unit_of_work(web.sessions, ACTOR) as session:
        tool = register_tool(session, organisation_by_slug(session, org), name, f"{name} helps.")
        if state is not None:
            tool.state = state
    return str(tool.id)


def test_pages_need_sign_in_and_come_back_after_it(web: Web) -> None:
    web.user("chair@rxa.nhs.uk", ("rxa", CHAIR))
    browser = web.browser()
    response = browser.get("/portfolio?stage=proposed")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=/portfolio%3Fstage%3Dproposed"
    signed_in = browser.sign_in("chair@rxa.nhs.uk", next="/portfolio?stage=proposed")
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/portfolio?stage=proposed"
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert browser.get("/portfolio").status_code == 200


def test_a_wrong_password_keeps_the_email_and_says_what_is_wrong(web: Web) -> None:
    web.user("chair@rxa.nhs.uk", ("rxa", CHAIR))
    browser = web.browser()
    response = browser.sign_in("chair@rxa.nhs.uk", password="wrong")
    assert response.status_code == 401
    assert "password is wrong" in response.text
    assert 'value="chair@rxa.nhs.uk"' in response.text
    assert "wrong" not in response.text.split("password is wrong")[1].split("</form>")[0]


def test_sign_in_refuses_open_redirects(web: Web) -> None:
    web.user("chair@rxa.nhs.uk", ("rxa", CHAIR))
    response = web.browser().sign_in("chair@rxa.nhs.uk", next="//evil.example/x")
    assert response.headers["location"] == "/portfolio"


def test_forms_without_the_sessions_csrf_token_are_refused(web: Web) -> None:
    web.user("chair@rxa.nhs.uk", ("rxa", CHAIR))
    browser = web.browser("chair@rxa.nhs.uk")
    body = {"problem": "Falls", "service": "Elderly care", "measurable_need": "10% fewer"}
    refused = browser.client.post("/priorities", data=body)
    assert refused.status_code == 403
    forged = browser.client.post("/priorities", data={**body, "csrf_token": "0" * 64})
    assert forged.status_code == 403
    with web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Priority)) == 0


def test_csrf_tokens_die_with_the_session(web: Web) -> None:
    web.user("chair@rxa.nhs.uk", ("rxa", CHAIR))
    browser = web.browser("chair@rxa.nhs.uk")
    token = csrf_of(browser.get("/priorities").text)
    cookie = browser.client.cookies.get("steward_session")
    assert browser.client.post("/signout", data={"csrf_token": token}).status_code == 303
    browser.client.cookies.set("steward_session", cookie)
    body = {"problem": "Falls", "service": "Care", "measurable_need": "less", "csrf_token": token}
    replayed = browser.client.post("/priorities", data=body)
    assert replayed.status_code == 303
    assert replayed.headers["location"].startswith("/signin")
    with web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Priority)) == 0
        ended = session.scalars(select(BrowserSession)).one()
        assert ended.ended_at is not None


def test_portfolio_groups_tools_by_stage_and_filters(web: Web) -> None:
    web.user("chair@rxa.nhs.uk", ("rxa", CHAIR))
    _tool(web, "Sepsis Alert", state=LifecycleState.DEPLOYED)
    _tool(web, "Falls Predictor")
    _tool(web, "Brookside Only", org="rxb")
    browser = web.browser("chair@rxa.nhs.uk")
    page = browser.get("/portfolio").text
    assert "Sepsis Alert" in page
    assert "Falls Predictor" in page
    assert "Brookside Only" not in page
    filtered = browser.get("/portfolio?stage=deployed").text
    assert "Sepsis Alert" in filtered
    assert "Falls Predictor" not in filtered
    wrong = browser.get("/portfolio?stage=flying")
    assert wrong.status_code == 200
    assert "Choose a stage from the list" in wrong.text


def test_the_portfolio_counts_each_tools_unresolved_alerts(web: Web) -> None:
    web.user("chair@rxa.nhs.uk", ("rxa", CHAIR))
    tool_id = _tool(web, "Sepsis Alert", state=LifecycleState.DEPLOYED)
    with unit_of_work(web.sessions, ACTOR) as session:
        tool = session.get_one(Tool, uuid.UUID(tool_id))
        version = add_version(session, tool, "1.0")
        site = create_organisation(session, "rxa-main", "Main Site", OrganisationKind.SITE, "rxa")
        deployment = deploy(session, version, site, "Emergency department")
        start = datetime(2026, 11, 1, tzinfo=UTC)
        for monitor in ("calibration_cusum", "score_psi"):
            signal = AlertSignal(
                deployment.id,
                monitor,
                "week",
                start,
                start + timedelta(days=7),
                Severity.CRITICAL,
                f"{monitor} crossed its limit",
            )
            raise_alert(session, signal, "test:pytest")
    page = web.browser("chair@rxa.nhs.uk").get("/portfolio").text
    assert '<span class="badge badge--alarm">2</span>' in page


def test_a_region_level_user_sees_every_member_organisation(web: Web) -> None:
    web.user("lead@north.nhs.uk", ("north", Role.COMMITTEE_MEMBER))
    _tool(web, "Riverside Tool")
    _tool(web, "Brookside Tool", org="rxb")
    page = web.browser("lead@north.nhs.uk").get("/portfolio").text
    assert "Riverside Tool" in page
    assert "Brookside Tool" in page
    assert "Brookside Trust" in page


def test_switching_seat_changes_what_the_user_may_do(web: Web) -> None:
    web.user("ann@rxa.nhs.uk", ("rxa", Role.CLINICIAN), ("rxb", CHAIR))
    browser = web.browser("ann@rxa.nhs.uk")
    assert browser.get("/audit").status_code == 200
    switched = browser.submit("/portfolio", "/session/seat", {"seat": "rxa:clinician"})
    assert switched.status_code == 303
    assert browser.get("/audit").status_code == 403
    refused = browser.submit("/portfolio", "/session/seat", {"seat": "rxb:admin"})
    assert refused.status_code == 403


def test_the_public_register_shows_only_tools_in_live_use(web: Web) -> None:
    live = _tool(web, "Sepsis Alert", state=LifecycleState.DEPLOYED)
    _tool(web, "Falls Predictor", state=LifecycleState.SILENT_PILOT)
    suspended = _tool(web, "Paused Tool", state=LifecycleState.SUSPENDED)
    anonymous = web.browser()
    page = anonymous.get("/register")
    assert page.status_code == 200
    assert "Sepsis Alert" in page.text
    assert "Falls Predictor" not in page.text
    assert "Paused Tool" not in page.text
    assert anonymous.get(f"/register/{live}").status_code == 200
    assert anonymous.get(f"/register/{suspended}").status_code == 404
    assert anonymous.get(f"/register/{uuid.uuid4()}").status_code == 404
    assert anonymous.get("/register/not-a-uuid").status_code == 422


def test_proposing_a_tool_registers_it_and_shows_reuse_in_the_region(web: Web) -> None:
    web.user("nurse@rxa.nhs.uk", ("rxa", Role.CLINICIAN))
    _tool(web, "Deterioration Index", org="rxb", state=LifecycleState.DEPLOYED)
    browser = web.browser("nurse@rxa.nhs.uk")
    entry = {
        "title": "Earlier warning of deterioration",
        "problem": "Ward patients deteriorate unseen at night.",
        "product_name": "Deterioration Index",
        "no_priority_reason": "Urgent safety concern raised by the ward.",
    }
    response = browser.submit("/intake", "/intake", entry)
    assert response.status_code == 303
    proposal_page = browser.get(response.headers["location"])
    assert "Brookside Trust" in proposal_page.text or "rxb" in proposal_page.text
    with web.sessions() as session:
        proposal = session.scalars(select(Proposal)).one()
        tool = session.get_one(Tool, proposal.tool_id)
        assert tool.state is LifecycleState.PROPOSED
        assert tool.name == "Deterioration Index"


def test_a_refused_proposal_keeps_what_was_typed_and_writes_nothing(web: Web) -> None:
    web.user("nurse@rxa.nhs.uk", ("rxa", Role.CLINICIAN))
    browser = web.browser("nurse@rxa.nhs.uk")
    entry = {"title": "Night-time deterioration", "problem": "", "product_name": "Watcher"}
    response = browser.submit("/intake", "/intake", entry)
    assert response.status_code == 422
    assert 'value="Night-time deterioration"' in response.text
    assert 'aria-invalid="true"' in response.text
    no_reason = {**entry, "problem": "Unseen deterioration"}
    again = browser.submit("/intake", "/intake", no_reason)
    assert again.status_code == 422
    assert "say why the proposal has none" in again.text
    with web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Proposal)) == 0
        assert session.scalar(select(func.count()).select_from(Tool)) == 0


def test_priorities_are_listed_and_added_by_the_committee(web: Web) -> None:
    web.user("chair@rxa.nhs.uk", ("rxa", CHAIR))
    browser = web.browser("chair@rxa.nhs.uk")
    body = {"problem": "Falls on wards", "service": "Elderly care", "measurable_need": "-10%"}
    assert browser.submit("/priorities", "/priorities", body).status_code == 303
    assert "Falls on wards" in browser.get("/priorities").text
    incomplete = browser.submit("/priorities", "/priorities", {**body, "service": ""})
    assert incomplete.status_code == 422
    assert 'value="Falls on wards"' in incomplete.text


def test_the_audit_trail_is_searchable_and_its_chain_verified(web: Web) -> None:
    web.user("cso@rxa.nhs.uk", ("rxa", Role.CLINICAL_SAFETY_OFFICER))
    browser = web.browser("cso@rxa.nhs.uk")
    page = browser.get("/audit?action=browser_sessions&actor=cso@")
    assert page.status_code == 200
    assert "user:cso@rxa.nhs.uk" in page.text
    verified = browser.submit("/audit", "/audit/verify", {})
    assert verified.status_code == 200
    assert "Verified" in verified.text
    assert browser.get("/audit?since=yesterday").status_code == 200


PAGES: dict[tuple[str, str], str] = {
    ("GET", "/portfolio"): "tools:read",
    ("GET", "/audit"): "audit:read",
    ("POST", "/audit/verify"): "audit:read",
    ("GET", "/intake"): "proposals:create",
    ("POST", "/intake"): "proposals:create",
    ("GET", "/priorities"): "proposals:read",
    ("POST", "/priorities"): "priorities:create",
    ("GET", "/evaluations/new"): "tools:evaluation",
    ("POST", "/evaluations/uploads"): "tools:evaluation",
    ("GET", "/approvals"): "tools:signoff",
    ("GET", "/tools/{tool}"): "tools:read",
    ("GET", "/tools/{tool}/evidence/{other}"): "tools:read",
    ("GET", "/tools/{tool}/evaluations/{other}"): "tools:read",
    ("POST", "/tools/{tool}/facts"): "tools:version",
    ("POST", "/tools/{tool}/versions"): "tools:version",
    ("POST", "/tools/{tool}/transitions"): "tools:transition",
    ("POST", "/tools/{tool}/versions/1.0/clearances"): "tools:transition",
    ("POST", "/tools/{tool}/evidence"): "tools:evidence",
    ("POST", "/tools/{tool}/hazards"): "tools:hazards",
    ("POST", "/tools/{tool}/deployments"): "deployments:create",
    ("POST", "/tools/{tool}/deployments/{other}/status"): "deployments:create",
    ("POST", "/tools/{tool}/signoffs"): "tools:signoff",
    ("POST", "/tools/{tool}/refusals"): "tools:signoff",
}


def test_every_page_is_public_or_declares_a_permission(web: Web) -> None:
    pages = [(p, r) for p, r in endpoints(web.app.routes) if not r.include_in_schema]
    assert pages
    for path, route in pages:
        permission = declared_permission(route)
        assert (path in PUBLIC_PAGES) != (permission is not None), path


@pytest.mark.parametrize("role", list(Role))
def test_role_by_page_matrix(web: Web, role: Role) -> None:
    email = web.user(f"{role.value}@rxa.nhs.uk", ("rxa", role))
    browser = web.browser(email)
    # The public register shows a signed-in user the seat switcher, hence the session's token.
    token = csrf_of(browser.get("/register").text)
    tool = _tool(web, "Matrix Tool")
    for (method, template), permission in PAGES.items():
        path = template.format(tool=tool, other=uuid.uuid4())
        if method == "POST":
            response = browser.client.post(path, data={"csrf_token": token})
        else:
            response = browser.get(path)
        denied = response.status_code == 403
        assert denied == (role not in PERMISSIONS[permission]), (method, path, role)
        assert response.status_code < 500
