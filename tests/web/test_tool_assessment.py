"""The tool page's DTAC checklist and fallback plan over HTTP on both databases: answers saved
and completeness shown, the gate's requirement met once complete, the fallback plan written and
shown, and both forms refused to roles that may not change them."""

from __future__ import annotations

from sqlalchemy import select

from steward.auth.roles import Role
from steward.db.session import unit_of_work
from steward.registry.assessments import dtac_complete, dtac_questions
from steward.registry.models import Tool
from steward.registry.organisations import organisation_by_slug
from steward.registry.records import FallbackPlan
from steward.registry.tools import add_version, register_tool

from .conftest import ACTOR, Web


def _tool(web: Web) -> str:
    with unit_of_work(web.sessions, ACTOR) as session:
        tool = register_tool(session, organisation_by_slug(session, "rxa"), "Sepsis Alert")
        add_version(session, tool, "1.0")
    return str(tool.id)


def test_dtac_answers_are_saved_and_the_assessment_completes(web: Web) -> None:
    tool_id = _tool(web)
    browser = web.browser(web.user("cso@rxa.nhs.uk", ("rxa", Role.CLINICAL_SAFETY_OFFICER)))
    page = f"/tools/{tool_id}"
    assert "incomplete" in browser.get(page).text
    required = [q for q, spec in dtac_questions().items() if spec["required"]]
    first = {f"dtac-{required[0]}": "Acme Health Ltd, company 01234567"}
    saved = browser.submit(page, f"{page}/assessments/dtac", first)
    assert saved.status_code == 303
    shown = browser.get(page).text
    assert "Acme Health Ltd, company 01234567" in shown
    every = {f"dtac-{q}": f"Answer to {q}" for q in required}
    assert browser.submit(page, f"{page}/assessments/dtac", every).status_code == 303
    assert "Every required question is answered" in browser.get(page).text
    with web.sessions() as session:
        tool = session.scalars(select(Tool)).one()
        assert dtac_complete(session, tool)


def test_a_fallback_plan_is_written_and_a_blank_field_is_refused(web: Web) -> None:
    tool_id = _tool(web)
    browser = web.browser(web.user("lead@rxa.nhs.uk", ("rxa", Role.CLINICAL_LEAD)))
    page = f"/tools/{tool_id}"
    plan = {
        "triggers": "Alert feed down for 15 minutes",
        "clinical_fallback": "",
        "communication": "Bleep the site manager",
    }
    refused = browser.submit(page, f"{page}/fallback-plan", plan)
    assert refused.status_code == 422
    assert (
        'value="Alert feed down' in refused.text or "Alert feed down for 15 minutes" in refused.text
    )
    with web.sessions() as session:
        assert session.scalars(select(FallbackPlan)).first() is None
    plan["clinical_fallback"] = "NEWS2 observations every 4 hours"
    assert browser.submit(page, f"{page}/fallback-plan", plan).status_code == 303
    assert "NEWS2 observations every 4 hours" in browser.get(page).text


def test_roles_without_the_permission_are_refused(web: Web) -> None:
    tool_id = _tool(web)
    browser = web.browser(web.user("fin@rxa.nhs.uk", ("rxa", Role.FINANCE)))
    page = f"/tools/{tool_id}"
    assert browser.submit(page, f"{page}/fallback-plan", {"triggers": "x"}).status_code == 403
    assert browser.submit(page, f"{page}/assessments/dtac", {}).status_code == 403
