"""Incidents on both databases: recording with links to alerts and hazards, bad input with field
paths, and the MHRA Yellow Card and FDA MedWatch 3500A exports as JSON, HTML and from the CLI."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from registry._support import ACTOR, Api
from steward.auth.roles import Role
from steward.cli.main import app
from steward.db.session import unit_of_work
from steward.registry.hazards import Likelihood, Severity
from steward.registry.models import Tool
from steward.registry.safety import HazardEntry, log_hazard
from steward.surveillance.alerts.service import raise_alert
from steward.surveillance.incidents.export import FORMS, load_form, working_days_after

from ._support import deployed_tool, signal

CHROMIUM = Path("/usr/bin/chromium")


def _setup(api: Api) -> tuple[str, str, str]:
    deployed = deployed_tool(api.sessions)
    with unit_of_work(api.sessions, ACTOR) as session:
        tool = session.get_one(Tool, deployed.tool_id)
        log_hazard(
            session,
            tool,
            HazardEntry(
                name="Missed deterioration",
                description="Score under-estimates risk",
                harm="Delayed escalation of care",
                initial_severity=Severity.MAJOR,
                initial_likelihood=Likelihood.LOW,
            ),
        )
        alert = raise_alert(session, signal(deployed.deployment_id), "system:surveillance")
        assert alert is not None
        return str(deployed.tool_id), str(deployed.deployment_id), str(alert.id)


def _incident(api: Api, **overrides: object) -> dict[str, object]:
    tool, deployment, alert = _setup(api)
    body: dict[str, object] = {
        "title": "Deterioration missed in ED",
        "description": "Score stayed below 0.1 for a patient who deteriorated <within> 6 hours.",
        "occurred_at": "2026-03-10T14:00:00Z",
        "detected_at": "2026-03-12T09:00:00Z",
        "outcome": "death",
        "patients_affected": 1,
        "patient_age": 71,
        "patient_sex": "female",
        "deployment_id": deployment,
        "regulatory_status": "UKCA class IIa",
        "reporter_name": "Dr A Safety",
        "reporter_email": "cso@rxa.nhs.uk",
        "reporter_role": "Clinical safety officer",
        "alert_ids": [alert],
        "hazard_references": ["H-001"],
        "actions_taken": "Tool suspended; cases reviewed.",
        **overrides,
    }
    response = api.call("POST", f"/tools/{tool}/incidents", Role.CLINICAL_SAFETY_OFFICER, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


def test_record_and_read_an_incident_with_its_links(api: Api) -> None:
    created = _incident(api)
    read = api.call("GET", f"/incidents/{created['id']}", Role.CLINICIAN).json()
    assert read["hazard_references"] == ["H-001"]
    assert len(read["alert_ids"]) == 1
    assert read["serious"] is True
    assert read["recorded_by"].startswith("token:")
    assert (
        api.call("GET", f"/incidents/{created['id']}", Role.CLINICIAN, org="rxb").status_code == 404
    )


def test_bad_incidents_are_refused_with_every_field(api: Api) -> None:
    tool, _, _ = _setup(api)
    response = api.call(
        "POST",
        f"/tools/{tool}/incidents",
        Role.CLINICIAN,
        json={
            "title": "x",
            "description": "y",
            "occurred_at": "2026-03-10T14:00:00Z",
            "detected_at": "2026-03-01T14:00:00Z",
            "outcome": "death",
            "alert_ids": [str(uuid.uuid4())],
            "hazard_references": ["H-999"],
            "deployment_id": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"detected_at", "alert_ids.0", "hazard_references.0", "deployment_id"} <= fields
    naive = api.call(
        "POST",
        f"/tools/{tool}/incidents",
        Role.CLINICIAN,
        json={"title": "x", "description": "y", "occurred_at": "2026-03-10T14:00", "outcome": "x"},
    )
    assert naive.status_code == 422
    assert {"body.occurred_at", "body.outcome"} <= {e["field"] for e in naive.json()["errors"]}


def test_yellow_card_and_medwatch_exports(api: Api) -> None:
    created = _incident(api)
    path = f"/incidents/{created['id']}/export"
    card = api.call("GET", f"{path}/yellow-card", Role.CLINICAL_SAFETY_OFFICER).json()
    assert (card["form"], card["form_version"]) == ("mhra-yellow-card", "2026.1")
    fields = card["fields"]
    assert fields["product_name"] == "Sepsis Alert"
    assert fields["software_version"] == "2.1"
    assert fields["patient_outcome"] == "Death"
    assert fields["device_suspected"] == "Yes"
    assert fields["incident_date"] == "2026-03-10"
    assert fields["care_setting"] == "Riverside ED, ED"
    assert "H-001 Missed deterioration" in fields["related_hazards"]
    assert "calibration_cusum" in fields["related_alerts"]
    assert card["missing_required"] == ["manufacturer"]  # the tool has no supplier recorded
    assert {f["key"] for s in load_form("yellow-card")["sections"] for f in s["fields"]} == set(
        fields
    )
    medwatch = api.call("GET", f"{path}/medwatch", Role.CLINICAL_SAFETY_OFFICER).json()
    values = medwatch["fields"]
    assert values["b2_death"] == "Yes"
    assert values["b2_life_threatening"] == "No"
    assert values["b1_type"] == "Adverse event"
    assert values["a2_age"] == 71
    assert values["f6_date_aware"] == "2026-03-12"
    assert values["f_deadline"] == "2026-03-26"  # 10 working days after Thursday 12 March
    page = api.call("GET", f"{path}/medwatch?format=html", Role.CLINICAL_LEAD)
    assert page.headers["content-type"].startswith("text/html")
    assert "B5. Describe event or problem" in page.text
    assert "&lt;within&gt;" in page.text
    assert "<within>" not in page.text
    unknown = api.call("GET", f"{path}/vaers", Role.CLINICAL_LEAD)
    assert unknown.status_code == 422


def test_working_days_skip_weekends() -> None:
    assert working_days_after(date(2026, 3, 13), 1) == date(2026, 3, 16)  # Friday -> Monday
    assert working_days_after(date(2026, 3, 12), 10) == date(2026, 3, 26)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_form_files_are_versioned_and_complete(form: str) -> None:
    document = load_form(form)
    keys = [f["key"] for s in document["sections"] for f in s["fields"]]
    assert len(keys) == len(set(keys))
    assert all(
        {"key", "label", "source"} <= f.keys() for s in document["sections"] for f in s["fields"]
    )


def test_cli_exports_json_and_a_printable_page(
    api: Api, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = _incident(api, outcome="hospitalisation")
    monkeypatch.setenv("STEWARD_DATABASE_URL", db_url)
    runner = CliRunner()
    result = runner.invoke(app, ["export", "incident", str(created["id"]), "--format", "medwatch"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["fields"]["b2_hospitalization"] == "Yes"
    target = tmp_path / "card.html"
    result = runner.invoke(
        app,
        [
            "export",
            "incident",
            str(created["id"]),
            "--format",
            "yellow-card",
            "--html",
            "-o",
            str(target),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Hospitalisation or prolonged hospitalisation" in target.read_text()
    missing = runner.invoke(app, ["export", "incident", str(uuid.uuid4()), "--format", "medwatch"])
    assert missing.exit_code == 2
    assert "no incident" in missing.output


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium")
def test_the_printable_page_prints_in_chromium(api: Api, tmp_path: Path) -> None:
    created = _incident(api)
    page = api.call(
        "GET", f"/incidents/{created['id']}/export/yellow-card?format=html", Role.CLINICAL_LEAD
    )
    source = tmp_path / "card.html"
    source.write_text(page.text)
    pdf = tmp_path / "card.pdf"
    subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--print-to-pdf={pdf}",
            source.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert pdf.read_bytes().startswith(b"%PDF")
