"""The scheduler running the real monitors on a simulated deployment, on both databases: a
calibration drift injected in one subgroup raises one critical alert for that subgroup's
CUSUM, which suspends the tool through the lifecycle; the drift-free control raises none."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from steward.audit.context import AuditContext
from steward.cube import edges_with_thresholds
from steward.db.session import StewardSession, unit_of_work
from steward.registry.models import LifecycleState, Tool
from steward.surveillance.alerts.models import Alert, AlertEvent, Severity
from steward.surveillance.monitors import (
    Grain,
    MonitorConfig,
    Reference,
    WindowData,
    monitor_config,
)
from steward.surveillance.response.apply import set_policy
from steward.surveillance.scheduler.monitor_suite import SECTIONS, MonitorsSuite, only
from steward.surveillance.scheduler.worker import Scheduler

from ._simulate import reference_from, simulate, window_cubes
from ._support import deployed_tool, tool_state

pytestmark = pytest.mark.slow

EDGES = edges_with_thresholds(100, [0.2])
START = dt.date(2024, 1, 1)
DRIFT_DAY = 400
DRIFT = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=DRIFT_DAY)
CONFIG = monitor_config({"threshold": 0.2, "cusum": {"family_arl_years": 50, "simulations": 3000}})


class Simulated:
    """Window cubes of a simulated deployment, kept in memory (a ``WindowSource``)."""

    def __init__(self, drift: bool) -> None:
        rows = simulate(DRIFT_DAY + 90, seed=7, drift_day=DRIFT_DAY if drift else None)
        self.windows = window_cubes(rows, EDGES, "day")
        self.ref = reference_from(simulate(180, seed=100), EDGES)

    def reference(self, session: Session, deployment_id: uuid.UUID) -> Reference | None:
        return self.ref

    def history(
        self, session: Session, deployment_id: uuid.UUID, grain: Grain, until: dt.date
    ) -> Sequence[WindowData]:
        assert grain == "day"
        return [w for w in self.windows if w.window.end <= until]


def _cusum_only(session: Session, deployment_id: uuid.UUID) -> MonitorConfig:
    return only(CONFIG, "cusum")


@pytest.mark.parametrize("drift", [True, False], ids=["drift", "control"])
def test_scheduled_cusum_alarms_on_the_drifting_subgroup_only(
    orgs: sessionmaker[StewardSession], drift: bool
) -> None:
    deployed = deployed_tool(orgs, created_at=datetime(2024, 1, 1, tzinfo=UTC))
    with unit_of_work(orgs, AuditContext(actor="user:cso")) as session:
        tool = session.get_one(Tool, deployed.tool_id)
        set_policy(session, tool, {"actions": {"critical": ["suspend", "require_review"]}}, "cso")
    suite = MonitorsSuite(Simulated(drift), _cusum_only)
    assert suite.schedule(Session(), deployed.deployment_id) == [("calibration_cusum", "day")]
    scheduler = Scheduler(orgs, suite, {}, worker="w")
    moment = DRIFT
    while moment < DRIFT + timedelta(days=70):  # weekly passes; each catches up on 7 days
        moment += timedelta(days=7)
        report = scheduler.tick(moment)
        assert all(r.status == "done" for r in report.runs), report.runs
    with orgs() as session:
        alerts = session.scalars(select(Alert)).all()
    if not drift:
        assert alerts == []
        assert tool_state(orgs, deployed.tool_id) is LifecycleState.DEPLOYED
        return
    with orgs() as session:
        (alert,) = session.scalars(select(Alert)).all()
        assert (alert.monitor, alert.metric, alert.subject) == (
            "calibration_cusum",
            "upper",
            "ethnicity=Black",
        )
        assert alert.severity is Severity.CRITICAL
        assert alert.review_required
        delay = (alert.window_start - DRIFT).days + 1
        assert 5 <= delay <= 70, delay  # expected ~30 days (see test_simulated_deployment)
        assert alert.details["status"] == "alarm"
        events = session.scalars(
            select(AlertEvent.action).where(AlertEvent.alert_id == alert.id)
        ).all()
        assert "suspended" in events
    assert tool_state(orgs, deployed.tool_id) is LifecycleState.SUSPENDED
    assert set(SECTIONS.values()) == {
        "drift",
        "estimated_performance",
        "realised",
        "cusum",
        "ewma",
        "override",
    }
