"""The evaluation workbench end to end over HTTP on both databases: upload, map, run in the
background with progress, read the verdict and report, attach to a version as evidence; and
every bad input refused with its reason, leaving nothing behind."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from sqlalchemy import func, select

from steward.auth.roles import Role
from steward.db.session import unit_of_work
from steward.registry.evidence import evidence_content
from steward.registry.organisations import organisation_by_slug
from steward.registry.records import EvaluationRecord, EvidenceDocument
from steward.registry.tools import add_version, register_tool
from steward.synthetic import generate
from steward.workbench.models import DataUpload, EvaluationRun

from .conftest import ACTOR, Browser, Web, csrf_of

SCIENTIST = Role.DATA_SCIENTIST


@pytest.fixture(scope="module")
def scores_csv() -> bytes:
    table = generate(4000, seed=3).select(
        ["risk_score", "deteriorated", "sex", "ethnicity", "clinician_estimate", "patient_id"]
    )
    out = io.BytesIO()
    pacsv.write_csv(table, out)
    return out.getvalue()


def _version(web: Web) -> str:
    with unit_of_work(web.sessions, ACTOR) as session:
        tool = register_tool(session, organisation_by_slug(session, "rxa"), "Deterioration Score")
        version = add_version(session, tool, "2.1")
    return str(version.id)


def _upload(browser: Browser, name: str, content: bytes) -> object:
    token = csrf_of(browser.get("/evaluations/new").text)
    files = {"file": (name, content, "text/csv")}
    return browser.client.post("/evaluations/uploads", data={"csrf_token": token}, files=files)


def _wait_until_finished(browser: Browser, run_url: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = browser.get(run_url + "/progress").json()["status"]
        if state in {"done", "failed"}:
            return str(state)
        time.sleep(0.2)
    raise AssertionError("the evaluation did not finish within two minutes")


def test_upload_map_run_read_and_attach(web: Web, scores_csv: bytes) -> None:
    version_id = _version(web)
    browser = web.browser(web.user("ds@rxa.nhs.uk", ("rxa", SCIENTIST)))
    uploaded = _upload(browser, "ward-scores.csv", scores_csv)
    assert uploaded.status_code == 303  # type: ignore[attr-defined]
    mapping_url = uploaded.headers["location"]  # type: ignore[attr-defined]
    mapping = browser.get(mapping_url).text
    assert '<option value="risk_score" selected>' in mapping
    assert '<option value="deteriorated" selected>' in mapping
    settings = {
        "title": "Ward validation",
        "score": "risk_score",
        "label": "deteriorated",
        "comparator": "clinician_estimate",
        "patient": "",
        "score_scale": "probability",
        "thresholds": "0.1, 0.2",
        "criteria": "auroc.ci_low >= 0.60\nabs(citl) <= 0.5",
        "replicates": "50",
        "version": "",
        "groups": "sex",
    }
    started = browser.submit(mapping_url, mapping_url + "/runs", settings)
    assert started.status_code == 303
    run_url = started.headers["location"]
    assert _wait_until_finished(browser, run_url) == "done"
    page = browser.get(run_url).text
    assert "Verdict" in page
    assert "<code>auroc.ci_low &gt;= 0.6</code>" in page
    report = browser.get(run_url + "/report")
    assert report.status_code == 200
    assert "<svg" in report.text
    attached = browser.submit(run_url, run_url + "/attach", {"version": version_id})
    assert attached.status_code == 303
    assert attached.headers["location"].startswith("/tools/")
    with web.sessions() as session:
        record = session.scalars(select(EvaluationRecord)).one()
        assert str(record.version_id) == version_id
        document = session.scalars(select(EvidenceDocument)).one()
        assert document.evidence_type == "local_validation_report"
        assert b"<svg" in evidence_content(session, document)
    again = browser.submit(run_url, run_url + "/attach", {"version": version_id})
    assert again.status_code in {303, 422}
    with web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(EvaluationRecord)) == 1


def test_a_file_that_is_not_data_is_refused_and_nothing_is_kept(web: Web) -> None:
    browser = web.browser(web.user("ds@rxa.nhs.uk", ("rxa", SCIENTIST)))
    response = _upload(browser, "scan.csv", b"\x00\x01\x02 not a table \xff\xfe")
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "scan.csv" in response.text  # type: ignore[attr-defined]
    home: Path = web.app.state.settings.home
    assert not any((home / "uploads").glob("*"))
    with web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(DataUpload)) == 0


def test_an_upload_over_the_limit_is_refused(web: Web, scores_csv: bytes) -> None:
    web.app.state.settings = web.app.state.settings.model_copy(update={"upload_max_bytes": 1000})
    browser = web.browser(web.user("ds@rxa.nhs.uk", ("rxa", SCIENTIST)))
    response = _upload(browser, "big.csv", scores_csv)
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "upload limit" in response.text  # type: ignore[attr-defined]
    assert not any((web.app.state.settings.home / "uploads").glob("*"))


def test_bad_settings_are_shown_next_to_their_fields_and_kept(web: Web, scores_csv: bytes) -> None:
    browser = web.browser(web.user("ds@rxa.nhs.uk", ("rxa", SCIENTIST)))
    mapping_url = _upload(browser, "ward.csv", scores_csv).headers["location"]  # type: ignore[attr-defined]
    settings = {
        "score": "risk_score",
        "label": "deteriorated",
        "thresholds": "0.1, 1.5",
        "criteria": "auroc.ci_low >= 0.70\nwobble >= 3",
        "replicates": "50",
    }
    response = browser.submit(mapping_url, mapping_url + "/runs", settings)
    assert response.status_code == 422
    assert re.search(r'id="f-thresholds-error">.*strictly between 0 and 1', response.text, re.S)
    unknown = r'id="f-criteria-error">.*unknown metric &#39;wobble&#39;'
    assert re.search(unknown, response.text, re.S)
    assert "wobble &gt;= 3" in response.text
    with web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(EvaluationRun)) == 0


def test_only_evaluating_roles_reach_the_workbench(web: Web) -> None:
    browser = web.browser(web.user("fin@rxa.nhs.uk", ("rxa", Role.FINANCE)))
    assert browser.get("/evaluations/new").status_code == 403
