"""Done-when through the whole pipeline, on both databases: two years of a deployed score are
ingested month by month (each month's predictions, then the outcomes known by its end, so late
outcomes relabel earlier windows and overdue predictions turn negative as their windows close),
ingestion builds the window cells, and the scheduler's stored suite runs the calibration CUSUMs
from them, with the deployment's first 180 days as the reference period.

The data are those of ``test_simulated_deployment`` (which drives the monitors from in-memory
cubes, with several seeds): from day 400 the odds of an event among patients recorded as
ethnicity "Black" are 1.5 times what the score says. The first alarm must be that subgroup's
upper chart, after the drift and within the 99th percentile of the delay simulated for that
chart (``arl.delay_distribution``, about 30 days on average); the scheduler, ticking the day
after, must raise it as an alert. The drift-free run of the same length raises nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from registry._support import ACTOR
from steward.db.session import StewardSession, unit_of_work
from steward.registry.models import LifecycleState, Tool
from steward.registry.organisations import organisation_by_slug
from steward.registry.tools import add_version, register_tool
from steward.surveillance.alerts.models import Alert
from steward.surveillance.deployments import MonitoringSettings, create_deployment
from steward.surveillance.ingest import ingest_outcomes, ingest_predictions
from steward.surveillance.linkage import OutcomeDefinition
from steward.surveillance.monitors import Finding, Reference, Subject, case_mix, counts_for
from steward.surveillance.monitors.arl import delay_distribution
from steward.surveillance.monitors.run import run_monitors
from steward.surveillance.rows import OutcomeRow, PredictionRow
from steward.surveillance.scheduler.monitor_suite import limits_for, only
from steward.surveillance.scheduler.stored import StoredMonitorsSuite, stored_config
from steward.surveillance.scheduler.worker import Scheduler

from ._simulate import Rows, simulate

pytestmark = pytest.mark.slow

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
DAYS = 730
DRIFT_DAY = 400
DRIFT_DATE = START.date() + dt.timedelta(days=DRIFT_DAY)
REFERENCE_DAYS = 180
BLACK = Subject(("ethnicity",), ("Black",))
#: Outcome window of the deployment; each simulated event happens within it.
WINDOW_HOURS = 48.0
OVERRIDES = {"cusum": {"family_arl_years": 50, "simulations": 3000}}


def _deployment(sessions: sessionmaker[StewardSession]) -> uuid.UUID:
    with unit_of_work(sessions, ACTOR) as session:
        tool = register_tool(session, organisation_by_slug(session, "rxa"), "Deterioration")
        version = add_version(session, tool, "1.0")
        deployment, _ = create_deployment(
            session,
            version,
            organisation_by_slug(session, "rxa-ed"),
            "ED",
            MonitoringSettings(
                thresholds=(0.2,),
                outcome=OutcomeDefinition("deterioration", WINDOW_HOURS),
                subgroups=("ethnicity", "sex"),
                monitor_overrides=OVERRIDES,
            ),
        )
        deployment.created_at = START
        session.get_one(Tool, tool.id).state = LifecycleState.DEPLOYED
        return deployment.id


def _months() -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """Calendar months from START until the last simulated day's outcome window has closed."""
    end = START + dt.timedelta(days=DAYS, hours=WINDOW_HOURS + 24)
    begin = START
    while begin < end:
        following = (begin + dt.timedelta(days=32)).replace(day=1)
        yield begin, min(following, end)
        begin = following


def _ingest(sessions: sessionmaker[StewardSession], deployment_id: uuid.UUID, rows: Rows) -> None:
    """Each month: its predictions, then the outcomes that happened in it, as of its end."""
    rng = np.random.default_rng(7)
    seconds = rng.integers(0, 86_400, rows.p.size)
    made = [
        START + dt.timedelta(days=int(d), seconds=int(s))
        for d, s in zip(rows.day, seconds, strict=True)
    ]
    delays = rng.uniform(1.0, WINDOW_HOURS - 1.0, rows.p.size)
    events = {
        i: made[i] + dt.timedelta(hours=float(delays[i])) for i in np.flatnonzero(rows.y == 1.0)
    }
    ethnicity_names, ethnicity = rows.attributes["ethnicity"]
    sex_names, sex = rows.attributes["sex"]
    for begin, end in _months():
        predictions = [
            PredictionRow(
                event_id=f"p{i}",
                patient_id=f"patient{i}",
                encounter_id=f"encounter{i}",
                time=made[i],
                score=float(rows.p[i]),
                subgroups={
                    "ethnicity": ethnicity_names[ethnicity[i]],
                    "sex": sex_names[sex[i]],
                },
            )
            for i in range(rows.p.size)
            if begin <= made[i] < end
        ]
        outcomes = [
            OutcomeRow(
                event_id=f"o{i}",
                patient_id=f"patient{i}",
                encounter_id=f"encounter{i}",
                outcome="deterioration",
                value=1,
                time=moment,
            )
            for i, moment in events.items()
            if begin <= moment < end
        ]
        with unit_of_work(sessions, ACTOR) as session:
            stored = ingest_predictions(session, deployment_id, predictions, now=end)
            linked = ingest_outcomes(session, deployment_id, outcomes, now=end)
        assert stored.accepted == len(predictions)
        assert not stored.rejected
        assert linked.accepted == len(outcomes)
        assert not linked.rejected


def _simulated_deployment(sessions: sessionmaker[StewardSession], drift: bool) -> uuid.UUID:
    deployment_id = _deployment(sessions)
    rows = simulate(DAYS, seed=1, drift_day=DRIFT_DAY if drift else None)
    _ingest(sessions, deployment_id, rows)
    return deployment_id


def _chart_alarms(
    sessions: sessionmaker[StewardSession], deployment_id: uuid.UUID
) -> tuple[list[Finding], Reference, float]:
    """Every alarm of the calibration CUSUMs over the stored day windows, as the scheduler's
    runs compute them; the reference; the limit of the drifting subgroup's upper chart."""
    source = StoredMonitorsSuite(REFERENCE_DAYS).source
    with sessions() as session:
        reference = source.reference(session, deployment_id)
        config = stored_config(session, deployment_id)
        assert reference is not None
        assert config is not None
        last = START.date() + dt.timedelta(days=DAYS)
        history = source.history(session, deployment_id, "day", last)
    assert len(history) == DAYS
    cusum = only(config, "cusum")
    limits = limits_for(reference, cusum)
    assert len(limits) == 16  # overall and 7 subgroup levels, two sides each
    findings = run_monitors(
        {"day": history}, reference, cusum, since=START.date(), cusum_limits_=limits
    )
    alarms = [f for f in findings if f.monitor == "calibration_cusum" and f.status == "alarm"]
    return alarms, reference, limits[(BLACK, "upper")].h


def test_drift_ingested_month_by_month_raises_the_subgroups_cusum_in_time(
    orgs: sessionmaker[StewardSession],
) -> None:
    deployment_id = _simulated_deployment(orgs, drift=True)
    alarms, reference, h = _chart_alarms(orgs, deployment_id)
    assert alarms, "the injected drift was not detected"
    assert all(a.window.start >= DRIFT_DATE for a in alarms), "false alarm before the drift"
    first = alarms[0]
    assert (first.subject, first.metric) == (BLACK, "upper")
    delay = (first.window.start - DRIFT_DATE).days + 1
    counts = counts_for(reference.cube, BLACK)
    assert counts is not None
    mix = case_mix(counts, float(counts.stats[..., 0].sum()) / reference.days)
    delays = delay_distribution(mix, 1.5, h, 1.5, simulations=4000, seed=11)
    assert delay <= np.percentile(delays, 99), (delay, delays.mean())

    # The scheduler, ticking the day after, raises the alarm as an alert of that subgroup.
    tick = dt.datetime.combine(first.window.start, dt.time(6), dt.UTC) + dt.timedelta(days=1)
    scheduler = Scheduler(orgs, StoredMonitorsSuite(REFERENCE_DAYS), {}, worker="simulation")
    report = scheduler.tick(tick, deployment_id)
    assert {r.status for r in report.runs} == {"done"}, [r.error for r in report.runs]
    with orgs() as session:
        alerts = session.scalars(
            select(Alert).where(
                Alert.deployment_id == deployment_id, Alert.monitor == "calibration_cusum"
            )
        ).all()
    assert [(a.subject, a.metric, a.window_start.date()) for a in alerts] == [
        (BLACK.label, "upper", first.window.start)
    ]


def test_drift_free_deployment_ingested_month_by_month_raises_nothing(
    orgs: sessionmaker[StewardSession],
) -> None:
    deployment_id = _simulated_deployment(orgs, drift=False)
    alarms, _, _ = _chart_alarms(orgs, deployment_id)
    assert alarms == []
