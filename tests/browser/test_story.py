"""The whole adoption story in a browser, as the people of the demo trust would walk it.

A clinical lead proposes a sepsis tool, fills a model fact and files evidence on its tool page; the
committee chair is refused the first gate before signing it, signs it in the approvals inbox and
moves the tool into assessment; the data scientist validates it on a local CSV and attaches the
result to the tool version; the public register does not show a tool that is not in use; the
chair verifies the audit chain. Roles that may not do a step are refused or not offered it. Every
main page is checked with axe-core and saved as a screenshot.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from playwright.sync_api import Page, expect

from ._support import check_accessibility, screenshot, sign_in, sign_out

TOOL = "Sepsis Sentinel"
VERSION = "2.1"


def _write_predictions(path: Path, rows: int = 20_000) -> Path:
    """Scores that discriminate (AUROC about 0.8) and are roughly calibrated, with a sex column."""
    rng = np.random.default_rng(20261122)
    logit = rng.normal(-2.2, 1.3, rows)
    risk = 1 / (1 + np.exp(-logit))
    outcome = rng.random(rows) < risk
    sex = rng.choice(["female", "male"], rows)
    lines = ["patient_id,risk_score,deteriorated,sex"]
    lines += [f"P{i:05d},{risk[i]:.5f},{int(outcome[i])},{sex[i]}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _propose(page: Page) -> str:
    """The clinical lead proposes the tool; returns the path of its tool page."""
    sign_in(page, "clinical_lead")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Propose a tool").click()
    expect(page.get_by_role("heading", name="Propose a tool", level=1)).to_be_visible()
    check_accessibility(page, "intake")
    screenshot(page, "intake")
    page.get_by_label("Title of the proposal").fill("Earlier recognition of sepsis on the wards")
    page.get_by_label("The problem it solves").fill(
        "Sepsis on the medical wards is recognised hours late; a score on the observations chart "
        "would prompt review sooner."
    )
    page.get_by_label("Product name").fill(TOOL)
    page.get_by_label("Supplier").fill("Sentinel Health Ltd")
    page.get_by_label("Version").fill(VERSION)
    page.get_by_label("If none: why propose it anyway").fill("Raised by the sepsis working group")
    page.get_by_role("button", name="Submit proposal").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Earlier recognition of sepsis on the wards"
    )
    check_accessibility(page, "proposal")
    screenshot(page, "proposal")
    tool_link = page.get_by_role("link", name="open its tool page")
    href = tool_link.get_attribute("href")
    assert href is not None
    assert re.fullmatch(r"/tools/[0-9a-f-]{36}", href), href
    page.goto("/portfolio")
    expect(page.get_by_role("link", name=TOOL)).to_have_attribute("href", href)
    check_accessibility(page, "portfolio")
    screenshot(page, "portfolio")
    sign_out(page)
    return href


def _evaluate(page: Page, data: Path, tool_page: str) -> None:
    """The data scientist uploads a CSV, maps its columns, runs and attaches the evaluation."""
    sign_in(page, "data_scientist")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Evaluate").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Evaluate a tool on local data")
    check_accessibility(page, "evaluation upload")
    screenshot(page, "evaluation-upload")
    page.get_by_label("Data file (CSV or Parquet)").set_input_files(str(data))
    page.get_by_role("button", name="Upload and map columns").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Map the columns of {data.name}")
    check_accessibility(page, "evaluation mapping")
    screenshot(page, "evaluation-mapping")
    page.get_by_label("Title of the evaluation").fill("Local validation, medical wards 2026")
    page.get_by_label("Risk score (the tool's output)").select_option("risk_score")
    page.get_by_label("Outcome (1 event, 0 no event, empty if not yet known)").select_option(
        "deteriorated"
    )
    page.get_by_label("Patient identifier (for patient-clustered intervals)").select_option(
        "patient_id"
    )
    page.get_by_label("sex").check()
    page.get_by_label("Decision thresholds").fill("0.1, 0.2")
    page.get_by_label("Acceptance criteria, one per line").fill("auroc.ci_low >= 0.70")
    page.get_by_label("Bootstrap replicates").fill("200")
    page.get_by_label("Tool version this data tests").select_option(
        label=f"{TOOL}, version {VERSION}"
    )
    page.get_by_role("button", name="Run the evaluation").click()
    verdict = page.get_by_role("heading", name=re.compile(r"^Verdict:"))
    expect(verdict).to_be_visible(timeout=120_000)
    expect(verdict).to_contain_text("PASS")
    check_accessibility(page, "evaluation result")
    screenshot(page, "evaluation-result")
    run_page = page.url
    page.get_by_label("Tool version", exact=True).select_option(label=f"{TOOL}, version {VERSION}")
    page.get_by_role("button", name="Attach as evidence").click()
    expect(page).to_have_url(re.compile(re.escape(tool_page) + "$"))  # on to the tool page
    page.goto(run_page)
    expect(page.get_by_text("as its local validation")).to_be_visible()
    expect(page.get_by_role("link", name=f"{TOOL}, version {VERSION}")).to_have_attribute(
        "href", tool_page
    )
    sign_out(page)


def _file_evidence(page: Page, tool_page: str, document: Path) -> None:
    """The clinical lead reads the tool page and files a document against the current version."""
    sign_in(page, "clinical_lead")
    page.goto(tool_page)
    expect(page.get_by_role("heading", name=TOOL, level=1)).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"^Model facts"))).to_be_visible()
    check_accessibility(page, "tool page")
    screenshot(page, "tool-page")
    page.get_by_text("Edit model facts").click()
    facts = page.locator("form[action$='/facts']")
    facts.get_by_role("textbox").first.fill("Sentinel Health Ltd, sepsis team")
    facts.get_by_role("button", name="Save model facts").click()
    completeness = page.get_by_role("progressbar", name=re.compile("HTI-1"))
    expect(completeness).to_have_attribute("value", "1")
    page.get_by_label("Type of evidence").select_option(index=1)
    page.get_by_label("Title", exact=True).fill("Supplier clinical safety case")
    page.get_by_label("File", exact=True).set_input_files(str(document))
    page.get_by_role("button", name="Upload evidence").click()
    filed = page.get_by_role("table").filter(has_text="Supplier clinical safety case")
    expect(filed).to_be_visible()
    check_accessibility(page, "tool page with evidence")
    # The first gate awaits the committee chair: the clinical lead may neither sign it nor move.
    gate = page.locator("#gate-in_assessment")
    expect(gate).to_be_visible()
    expect(gate.get_by_role("button", name="Sign off")).to_have_count(0)
    expect(gate.get_by_role("button", name=re.compile("^Move to"))).to_have_count(0)
    sign_out(page)


def _first_gate(page: Page, tool_page: str) -> None:
    """The committee chair is refused the move before signing, signs the gate in the approvals
    inbox, then moves the tool into assessment."""
    sign_in(page, "chair")
    page.goto(tool_page)
    gate = page.locator("#gate-in_assessment")
    gate.get_by_role("button", name=re.compile("^Move to")).click()
    refusal = page.get_by_role("alert").filter(has_text="Not moved")
    expect(refusal).to_be_visible()
    expect(refusal.get_by_role("listitem")).to_have_count(1)  # the chair's sign-off, nothing else
    check_accessibility(page, "tool page with a refused move")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()
    expect(page.get_by_role("heading", name="Approvals", level=1)).to_be_visible()
    check_accessibility(page, "approvals")
    screenshot(page, "approvals")
    waiting = page.get_by_role("article").filter(has_text=TOOL)
    waiting.get_by_label("Comment").fill("Meets the sepsis priority; assess it.")
    waiting.get_by_role("button", name="Sign off").click()
    expect(page.get_by_role("article").filter(has_text=TOOL)).to_have_count(0)
    page.goto(tool_page)
    page.locator("#gate-in_assessment").get_by_role("button", name=re.compile("^Move to")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("In assessment")
    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text("Dr Amara Okafor")
    expect(timeline.get_by_text(re.compile("assessment", re.I)).first).to_be_visible()
    screenshot(page, "tool-page-in-assessment")
    sign_out(page)


def _refused(page: Page, who: str, path: str) -> None:
    """``who`` signs in and is refused ``path`` with a page that says so (403)."""
    sign_in(page, who)
    response = page.goto(path)
    assert response is not None
    assert response.status == 403, (who, path, response.status)
    check_accessibility(page, f"refusal of {path}")
    sign_out(page)


def _verify_audit_chain(page: Page) -> None:
    sign_in(page, "chair")
    page.goto("/audit")
    expect(page.get_by_role("heading", name="Audit trail", level=1)).to_be_visible()
    page.get_by_role("button", name="Verify the chain now").click()
    expect(page.get_by_role("status").filter(has_text="Verified")).to_contain_text(
        "the chain is intact"
    )
    page.get_by_label("Action contains").fill("evaluation")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("table")).to_contain_text("evaluation")
    check_accessibility(page, "audit")
    screenshot(page, "audit")
    sign_out(page)


def test_story_from_proposal_to_verified_audit_trail(page: Page, tmp_path: Path) -> None:
    tool_page = _propose(page)
    _refused(page, "patient_rep", "/evaluations/new")
    safety_case = tmp_path / "safety-case.pdf"
    safety_case.write_bytes(b"%PDF-1.7\n% Sepsis Sentinel clinical safety case\n%%EOF\n")
    _file_evidence(page, tool_page, safety_case)
    _first_gate(page, tool_page)
    _evaluate(page, _write_predictions(tmp_path / "sepsis-sentinel-wards.csv"), tool_page)
    _refused(page, "data_scientist", "/audit")
    page.goto("/register")
    expect(page.get_by_role("main")).not_to_contain_text(TOOL)  # proposed, not in use
    _verify_audit_chain(page)
