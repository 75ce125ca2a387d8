"""The monitoring dashboard over HTTP: a deployment with four months of predictions and
outcomes (one subgroup miscalibrated) shows each monitor's chart with limits, the subgroups as
small multiples, and is refused outside the viewer's organisations."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from steward.auth.roles import Role
from steward.db.session import unit_of_work
from steward.registry.kinds import OrganisationKind
from steward.registry.organisations import create_organisation, organisation_by_slug
from steward.registry.tools import add_version, register_tool
from steward.surveillance.deployments import MonitoringSettings, create_deployment
from steward.surveillance.ingest import ingest_outcomes, ingest_predictions
from steward.surveillance.linkage import OutcomeDefinition
from steward.surveillance.rows import OutcomeRow, PredictionRow

from .conftest import ACTOR, Web

DAYS = 120


def _deployment(web: Web, miscalibrated: str = "B") -> str:
    """Four months of daily predictions; group ``miscalibrated`` has twice the predicted risk."""
    rng = np.random.default_rng(7)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    now = start + timedelta(days=DAYS + 3)
    n = DAYS * 60
    times = [start + timedelta(minutes=int(m)) for m in np.sort(rng.integers(0, DAYS * 1440, n))]
    scores = rng.beta(1.2, 9.0, n)
    groups = rng.choice(["A", "B"], n)
    risk = np.where(groups == miscalibrated, np.minimum(1.0, 2 * scores), scores)
    events = rng.random(n) < risk
    with unit_of_work(web.sessions, ACTOR) as session:
        org = organisation_by_slug(session, "rxa")
        site = create_organisation(session, "rxa-main", "Main Site", OrganisationKind.SITE, "rxa")
        tool = register_tool(session, org, "Deterioration Score")
        version = add_version(session, tool, "1.0")
        settings = MonitoringSettings(
            thresholds=(0.1,),
            outcome=OutcomeDefinition(
                "deterioration", window_hours=24, per="encounter", lag_hours=0
            ),
            subgroups=("group",),
        )
        deployment, _ = create_deployment(session, version, site, "Wards", settings)
        predictions = [
            PredictionRow(
                event_id=f"p{i}",
                patient_id=f"pt{i}",
                encounter_id=f"e{i}",
                time=t,
                score=float(s),
                subgroups={"group": str(g)},
            )
            for i, (t, s, g) in enumerate(zip(times, scores, groups, strict=True))
        ]
        outcomes = [
            OutcomeRow(
                event_id=f"o{i}",
                patient_id=f"pt{i}",
                encounter_id=f"e{i}",
                outcome="deterioration",
                value=1,
                time=t + timedelta(hours=2),
            )
            for i, (t, e) in enumerate(zip(times, events, strict=True))
            if e
        ]
        ingest_predictions(session, deployment.id, predictions, now=now)
        ingest_outcomes(session, deployment.id, outcomes, now=now)
    return str(deployment.id)


@pytest.mark.slow
def test_the_dashboard_charts_every_monitor_and_marks_the_miscalibrated_group(web: Web) -> None:
    deployment = _deployment(web)
    browser = web.browser(web.user("cso@rxa.nhs.uk", ("rxa", Role.CLINICAL_SAFETY_OFFICER)))
    first = browser.get(f"/deployments/{deployment}/monitoring")
    assert first.status_code == 200
    # The page does not wait for the CUSUM limits: until they are simulated (once per process and
    # reference) it says so and shows the other monitors.
    assert 'role="img"' in first.text
    deadline = time.monotonic() + 300
    text = first.text
    while "being simulated" in text and time.monotonic() < deadline:
        time.sleep(1)
        text = browser.get(f"/deployments/{deployment}/monitoring").text
    assert "Calibration drift (risk-adjusted CUSUM)" in text
    assert text.count('<svg id="m') >= 3
    assert 'role="img"' in text
    assert "alarms in: group=B" in text
    assert "group=A" in text


def test_the_dashboard_waits_for_a_reference_period_and_stays_in_scope(web: Web) -> None:
    with unit_of_work(web.sessions, ACTOR) as session:
        org = organisation_by_slug(session, "rxb")
        site = create_organisation(session, "rxb-main", "B Site", OrganisationKind.SITE, "rxb")
        version = add_version(session, register_tool(session, org, "Sepsis Score"), "2")
        settings = MonitoringSettings(
            thresholds=(0.2,),
            outcome=OutcomeDefinition("sepsis", window_hours=24),
            monitor_overrides={"drift": {"alarm": 0.2}, "ewma": {"enabled": False}},
        )
        deployment, _ = create_deployment(session, version, site, "ED", settings)
    own = web.browser(web.user("cso@rxb.nhs.uk", ("rxb", Role.CLINICAL_SAFETY_OFFICER)))
    page = own.get(f"/deployments/{deployment.id}/monitoring")
    assert page.status_code == 200
    assert "reference period" in page.text
    shown = page.text.split('id="monitor-settings"')[1].split("</p>")[0]
    assert "<code>drift.alarm = 0.2</code>, <code>ewma.enabled = false</code>" in shown
    other = web.browser(web.user("cso@rxa.nhs.uk", ("rxa", Role.CLINICAL_SAFETY_OFFICER)))
    assert other.get(f"/deployments/{deployment.id}/monitoring").status_code == 404
    assert other.get(f"/deployments/{uuid.uuid4()}/monitoring").status_code == 404
