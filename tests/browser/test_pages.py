"""The pages every visitor meets, in headless Chromium: the public register without sign-in, the
sign-in redirect of private pages, signing in and out; and the same without JavaScript."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from ._support import EMAILS, check_accessibility, screenshot, sign_in, sign_out


def test_public_register_needs_no_sign_in(page: Page) -> None:
    response = page.goto("/register")
    assert response is not None
    assert response.status == 200
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    check_accessibility(page, "public register")
    screenshot(page, "register")


def test_portfolio_sends_visitors_to_sign_in_and_back(page: Page) -> None:
    page.goto("/portfolio")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Fportfolio|/signin\?next=/portfolio"))
    check_accessibility(page, "sign-in")
    screenshot(page, "signin")
    page.get_by_label("Email address").fill(EMAILS["chair"])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong")
    expect(page.get_by_label("Email address")).to_have_value(EMAILS["chair"])
    expect(page.get_by_label("Password")).to_have_value("")
    check_accessibility(page, "sign-in with an error")
    sign_in(page, "chair")
    expect(page).to_have_url(re.compile(r"/portfolio$"))
    expect(page.get_by_role("heading", name="Portfolio", level=1)).to_be_visible()
    check_accessibility(page, "portfolio")
    screenshot(page, "portfolio-empty")
    sign_out(page)
    page.goto("/portfolio")
    expect(page).to_have_url(re.compile(r"/signin"))


def test_reading_and_plain_forms_work_without_javascript(page_without_js: Page) -> None:
    page = page_without_js
    page.goto("/register")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    sign_in(page, "clinical_lead", "/portfolio")
    expect(page.get_by_role("heading", name="Portfolio", level=1)).to_be_visible()
    page.get_by_role("link", name="Propose a tool").first.click()
    page.get_by_label("Title of the proposal").fill("Discharge summary drafting")
    page.get_by_label("The problem it solves").fill("Discharge letters wait days for sign-off")
    page.get_by_label("Product name").fill("LetterLens")
    page.get_by_role("button", name="Submit proposal").click()
    # Without a priority or a reason the form comes back with the error next to the field and
    # everything typed kept.
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("Product name")).to_have_value("LetterLens")
    page.get_by_label("If none: why propose it anyway").fill("Raised by the discharge team")
    page.get_by_role("button", name="Submit proposal").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Discharge summary drafting")
    screenshot(page, "proposal-without-javascript")


def test_the_accessibility_check_fails_on_serious_violations(page: Page) -> None:
    page.set_content(
        '<html lang="en"><head><title>t</title></head><body><main><h1>Form</h1>'
        '<input type="text" name="unlabelled"><img src="x.png"></main></body></html>'
    )
    with pytest.raises(pytest.fail.Exception, match=r"image-alt \(critical\)(.|\n)*- label "):
        check_accessibility(page, "a page with an unlabelled field")
