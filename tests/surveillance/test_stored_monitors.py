"""The scheduler's default suite end to end on both databases: predictions and outcomes stored
through ingestion, windows closed, every configured monitor run from the window store, and a
score shift in the last month raising a drift alert."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from registry._support import ACTOR
from steward.db.session import StewardSession, unit_of_work
from steward.registry.models import LifecycleState, Tool
from steward.registry.organisations import organisation_by_slug
from steward.registry.tools import add_version, register_tool
from steward.surveillance.alerts.models import Alert, Severity
from steward.surveillance.deployments import MonitoringSettings, create_deployment
from steward.surveillance.ingest import ingest_outcomes, ingest_predictions
from steward.surveillance.linkage import OutcomeDefinition
from steward.surveillance.rows import OutcomeRow, PredictionRow
from steward.surveillance.scheduler.stored import StoredMonitorsSuite
from steward.surveillance.scheduler.suite import default_suite
from steward.surveillance.scheduler.worker import Scheduler

pytestmark = pytest.mark.slow

START = datetime(2026, 1, 1, tzinfo=UTC)
SHIFT = datetime(2026, 4, 1, tzinfo=UTC)
NOW = datetime(2026, 5, 2, 6, tzinfo=UTC)


def _deployment(sessions: sessionmaker[StewardSession]) -> uuid.UUID:
    with unit_of_work(sessions, ACTOR) as session:
        tool = register_tool(session, organisation_by_slug(session, "rxa"), "Early Warning")
        version = add_version(session, tool, "1.0")
        deployment, _ = create_deployment(
            session,
            version,
            organisation_by_slug(session, "rxa-ed"),
            "ED",
            MonitoringSettings(
                thresholds=(0.2,),
                outcome=OutcomeDefinition("deterioration", 48),
                subgroups=("sex",),
            ),
        )
        deployment.created_at = START
        session.get_one(Tool, tool.id).state = LifecycleState.DEPLOYED
        return deployment.id


def _ingest(sessions: sessionmaker[StewardSession], deployment_id: uuid.UUID) -> None:
    rng = np.random.default_rng(3)
    predictions, outcomes = [], []
    for day in range((NOW - START).days):
        moment = START + timedelta(days=day, hours=12)
        for i in range(30):
            z = rng.normal(-2.5, 1.0) + (1.5 if moment >= SHIFT else 0.0)
            p = float(1 / (1 + np.exp(-z)))
            key = f"{day}-{i}"
            predictions.append(
                PredictionRow(
                    event_id=f"p-{key}",
                    patient_id=f"patient-{key}",
                    encounter_id=f"enc-{key}",
                    time=moment,
                    score=p,
                    subgroups={"sex": "female" if i % 2 else "male"},
                )
            )
            if rng.random() < p:
                outcomes.append(
                    OutcomeRow(
                        event_id=f"o-{key}",
                        patient_id=f"patient-{key}",
                        encounter_id=f"enc-{key}",
                        outcome="deterioration",
                        value=1,
                        time=moment + timedelta(hours=6),
                    )
                )
    with unit_of_work(sessions, ACTOR) as session:
        report = ingest_predictions(session, deployment_id, predictions, now=NOW)
        assert report.accepted == len(predictions)
        ingest_outcomes(session, deployment_id, outcomes, now=NOW)


def test_default_suite_runs_every_monitor_from_the_window_store(
    orgs: sessionmaker[StewardSession],
) -> None:
    assert isinstance(default_suite(), StoredMonitorsSuite)
    deployment_id = _deployment(orgs)
    _ingest(orgs, deployment_id)
    report = Scheduler(orgs, StoredMonitorsSuite(90), {}, worker="w").tick(NOW)
    assert report.runs
    assert {r.status for r in report.runs} == {"done"}, [r.error for r in report.runs]
    monitors = {r.job.monitor for r in report.runs}
    assert monitors == {
        "drift",
        "estimated_performance",
        "realised_performance",
        "calibration_cusum",
        "ewma",
        "override_rate",
    }
    assert sum(r.findings for r in report.runs) > 0
    with orgs() as session:
        alerts = session.scalars(select(Alert).where(Alert.monitor == "drift")).all()
    shifted = [a for a in alerts if a.window_start >= SHIFT and a.subject == "overall"]
    assert shifted, [(a.monitor, a.subject, a.window_start) for a in alerts]
    assert shifted[0].severity is Severity.CRITICAL
    assert not [a for a in alerts if a.window_end <= SHIFT], "drift before the shift"
