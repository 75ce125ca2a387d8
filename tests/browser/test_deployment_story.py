"""The end of the pathway in the browser, on the seeded demo region: the roles the last gate asks
for sign it in their approvals inbox, the chair deploys the tool, the clinical safety officer
suspends it with a reason, and it leaves the public register at once."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from steward.demo.seed import seed_demo

from ._support import check_accessibility, screenshot, sign_in, sign_out
from .conftest import LiveServer, _context, serving

TOOL = "Sepsis Sentinel"  # the demo's live pilot, waiting for the CSO's and finance's sign-offs


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Steward serving the whole seeded demo region on a fresh SQLite database."""
    with serving(tmp_path_factory.mktemp("steward-demo"), seed_demo) as server:
        yield server


@pytest.fixture
def demo_page(browser: Browser, demo_server: LiveServer) -> Iterator[Page]:
    context = _context(browser, demo_server)
    yield context.new_page()
    context.close()


def _tool_page(page: Page) -> str:
    page.goto("/portfolio")
    page.get_by_role("link", name=TOOL).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(TOOL)
    return page.url


def _sign_from_inbox(page: Page, who: str, comment: str) -> None:
    sign_in(page, who, "/approvals")
    waiting = page.get_by_role("article").filter(has_text=TOOL).filter(has_text="Deployed")
    waiting.get_by_label("Comment").fill(comment)
    waiting.get_by_role("button", name="Sign off").click()
    expect(
        page.get_by_role("article").filter(has_text=TOOL).filter(has_text="Deployed")
    ).to_have_count(0)
    sign_out(page)


def test_sign_deploy_suspend_and_leave_the_public_register(demo_page: Page) -> None:
    page = demo_page
    page.goto("/register")
    expect(page.get_by_role("main")).to_contain_text(TOOL)  # a live pilot is in live use

    sign_in(page, "finance")
    tool_page = _tool_page(page)
    gate = page.locator("#gate-deployed")
    expect(gate.get_by_role("button", name=re.compile("^Move to"))).to_have_count(0)
    sign_out(page)

    _sign_from_inbox(page, "cso", "Safety case and hazard log reviewed for go-live.")
    _sign_from_inbox(page, "finance", "Within the agreed budget.")

    sign_in(page, "chair")
    page.goto(tool_page)
    page.locator("#gate-deployed").get_by_role("button", name="Move to Deployed").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Deployed")
    check_accessibility(page, "tool page deployed")
    screenshot(page, "tool-page-deployed")
    sign_out(page)

    sign_in(page, "cso")
    page.goto(tool_page)
    suspension = page.locator("#gate-suspended")
    suspension.get_by_label(re.compile("^Reason")).fill(
        "Two missed sepsis cases reported on ward 7; paused pending review."
    )
    suspension.get_by_role("button", name="Suspend").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Suspended")
    expect(page.locator("ol.timeline")).to_contain_text("Two missed sepsis cases")
    screenshot(page, "tool-page-suspended")
    sign_out(page)

    page.goto("/register")
    expect(page.get_by_role("main")).not_to_contain_text(TOOL)
    check_accessibility(page, "public register after suspension")
    screenshot(page, "register-after-suspension")
