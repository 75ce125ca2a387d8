"""Helpers of the browser tests: signing in as a demo person, axe-core checks, screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from steward.demo.people import DEMO_PASSWORD, USERS

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).with_name("node_modules") / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "test-output" / "screenshots"
EMAILS = {person.key: person.email for person in USERS}
BLOCKING = {"serious", "critical"}


def check_accessibility(page: Page, name: str) -> list[dict[str, Any]]:
    """Run axe-core (WCAG 2.x A/AA rules) on the current page; fail on serious or critical
    violations, naming each rule and the elements it found. Returns all violations."""
    if not AXE.exists():
        pytest.fail(f"axe-core not installed at {AXE}: run scripts/test-services.sh")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => await axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                           'wcag22aa', 'best-practice']},
            resultTypes: ['violations'],
        })"""
    )
    violations: list[dict[str, Any]] = result["violations"]
    blocking = [v for v in violations if v.get("impact") in BLOCKING]
    if blocking:
        lines = [f"axe-core: {len(blocking)} serious/critical violation(s) on {name} ({page.url})"]
        for violation in blocking:
            targets = [", ".join(node["target"]) for node in violation["nodes"][:5]]
            lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
            lines.extend(f"    {target}" for target in targets)
        pytest.fail("\n".join(lines))
    return violations


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as test-output/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, who: str, next_path: str = "") -> None:
    """Sign in through the form as the demo person ``who`` (a key of the demo cast)."""
    page.goto(f"/signin?next={next_path}" if next_path else "/signin")
    page.get_by_label("Email address").fill(EMAILS[who])
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "/signin" not in page.url, f"sign-in as {who} failed: {page.url}"


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signin**")
