"""The scheduler on both databases: calendar windows, planning, claims that exactly one of
several racing workers wins, lease expiry and reclaim, failures and restarts."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from steward.db.engine import make_engine
from steward.db.session import StewardSession, session_factory, unit_of_work
from steward.registry.models import LifecycleState
from steward.surveillance.alerts.models import Alert, AlertEvent
from steward.surveillance.scheduler.models import MonitorRun, RunStatus
from steward.surveillance.scheduler.runs import MAX_ATTEMPTS, claim_next, finish
from steward.surveillance.scheduler.windows import (
    closed_windows,
    next_start,
    window_start,
)
from steward.surveillance.scheduler.worker import Scheduler

from ._support import NOW, ScriptedSuite, deployed_tool

LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)


def test_calendar_windows() -> None:
    assert window_start(NOW, "day") == datetime(2026, 3, 18, tzinfo=UTC)
    assert window_start(NOW, "week") == datetime(2026, 3, 16, tzinfo=UTC)  # a Monday
    assert window_start(NOW, "month") == datetime(2026, 3, 1, tzinfo=UTC)
    assert next_start(datetime(2026, 12, 1, tzinfo=UTC), "month") == datetime(
        2027, 1, 1, tzinfo=UTC
    )
    assert closed_windows("month", NOW, LONG_AGO) == [
        (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)),
        (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
    ]
    # Nothing before the deployment existed: deployed on the 17th, only the 17th has closed.
    assert closed_windows("day", NOW, datetime(2026, 3, 17, 8, tzinfo=UTC)) == [
        (datetime(2026, 3, 17, tzinfo=UTC), datetime(2026, 3, 18, tzinfo=UTC))
    ]
    with pytest.raises(ValueError, match="hour"):
        window_start(NOW, "hour")


@given(
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    grain=st.sampled_from(["day", "week", "month"]),
    count=st.integers(1, 30),
)
def test_closed_windows_tile_time_and_end_before_now(
    moment: datetime, grain: str, count: int
) -> None:
    windows = closed_windows(grain, moment, datetime(1990, 1, 1, tzinfo=UTC), count)
    assert len(windows) == count
    assert windows[-1][1] == window_start(moment, grain) <= moment
    for (start, end), (following, _) in itertools.pairwise(windows):
        assert end == following == next_start(start, grain)
    for start, end in windows:
        assert window_start(start, grain) == start
        assert timedelta(days=1) <= end - start <= timedelta(days=31)


def test_plans_each_window_once_and_only_for_monitored_tools(
    orgs: sessionmaker[StewardSession],
) -> None:
    live = deployed_tool(orgs, created_at=LONG_AGO)
    deployed_tool(orgs, "Proposed Tool", LifecycleState.PROPOSED, created_at=LONG_AGO)
    suite = ScriptedSuite(monitors=[("score_psi", "day"), ("cusum", "week")])
    scheduler = Scheduler(orgs, suite, {}, worker="a")
    assert scheduler.plan(NOW) == 7 + 4
    assert scheduler.plan(NOW) == 0
    assert scheduler.plan(NOW + timedelta(days=1)) == 1
    with orgs() as session:
        runs = session.scalars(select(MonitorRun)).all()
        assert {r.deployment_id for r in runs} == {live.deployment_id}
        assert all(r.status is RunStatus.DUE and r.due_at == r.window_end for r in runs)


def test_a_run_executes_raises_alerts_once_and_reports(orgs: sessionmaker[StewardSession]) -> None:
    deployed = deployed_tool(orgs, created_at=NOW - timedelta(days=2))
    suite = ScriptedSuite()
    report = Scheduler(orgs, suite, {}, worker="a").tick(NOW)
    assert report.planned == 2
    assert [r.status for r in report.runs] == ["done", "done"]
    # The second window finds the condition still there: noted on the first alert, no new one.
    assert [len(r.alerts) for r in report.runs] == [1, 0]
    assert Scheduler(orgs, suite, {}, worker="b").tick(NOW).runs == []
    assert len(suite.calls) == 2
    with orgs() as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 1
        runs = session.scalars(select(MonitorRun)).all()
        assert {(r.status, r.findings, r.alerts, r.claimed_by) for r in runs} == {
            (RunStatus.DONE, 2, 1, "a"),
            (RunStatus.DONE, 2, 0, "a"),
        }
    assert deployed.deployment_id in {j.deployment_id for j in suite.calls}


def test_racing_workers_run_each_monitor_window_exactly_once(db_url: str) -> None:
    engines = [make_engine(db_url) for _ in range(3)]
    try:
        factories = [session_factory(e) for e in engines]
        from ._support import organisations

        organisations(factories[0])
        for index in range(3):
            deployed_tool(factories[0], f"Tool {index}", created_at=LONG_AGO)
        suite = ScriptedSuite(monitors=[("psi", "day"), ("cusum", "week"), ("auroc", "month")])
        workers = [Scheduler(f, suite, {}, worker=f"w{i}") for i, f in enumerate(factories)]
        workers[0].plan(NOW)
        barrier = threading.Barrier(len(workers))
        errors: list[BaseException] = []

        def work(scheduler: Scheduler) -> None:
            try:
                barrier.wait()
                scheduler.tick(NOW)
            except BaseException as error:  # surfaced by the assertion below
                errors.append(error)

        threads = [threading.Thread(target=work, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert errors == []
        planned = 3 * (7 + 4 + 2)
        keys = [(j.deployment_id, j.monitor, j.grain, j.window_start) for j in suite.calls]
        assert len(keys) == len(set(keys)) == planned
        with factories[0]() as session:
            runs = session.scalars(select(MonitorRun)).all()
            assert len(runs) == planned
            assert all(r.status is RunStatus.DONE and r.attempts == 1 for r in runs)
            # One alert per deployment, monitor and subject; every later window is noted on it.
            assert session.scalar(select(func.count()).select_from(Alert)) == 9
            recurred = select(func.count()).where(AlertEvent.action == "recurred")
            assert session.scalar(recurred) == planned - 9
    finally:
        for engine in engines:
            engine.dispose()


def test_an_abandoned_run_is_reclaimed_after_its_lease(orgs: sessionmaker[StewardSession]) -> None:
    deployed_tool(orgs, created_at=NOW - timedelta(days=1))
    suite = ScriptedSuite()
    crashed = Scheduler(orgs, suite, {}, worker="crashed", lease=timedelta(minutes=10))
    crashed.plan(NOW)
    job = crashed.claim(NOW)
    assert job is not None
    # The worker dies here. Another finds nothing to do until the lease has run out.
    rescuer = Scheduler(orgs, suite, {}, worker="rescuer", lease=timedelta(minutes=10))
    assert rescuer.claim(NOW + timedelta(minutes=9)) is None
    report = rescuer.tick(NOW + timedelta(minutes=11))
    assert [(r.job.run_id, r.status) for r in report.runs] == [(job.run_id, "done")]
    # The first worker comes back to life: its result is refused, nothing is recorded twice.
    assert crashed.execute(job).status == "lost"
    with unit_of_work(orgs) as session:
        assert not finish(session, job, "crashed", findings=0, alerts=0, now=NOW)
    with orgs() as session:
        run = session.get_one(MonitorRun, job.run_id)
        assert (run.claimed_by, run.attempts, run.status) == ("rescuer", 2, RunStatus.DONE)
        assert session.scalar(select(func.count()).select_from(Alert)) == 1


def test_failing_monitors_are_retried_then_marked_failed(
    orgs: sessionmaker[StewardSession],
) -> None:
    deployed_tool(orgs, created_at=NOW - timedelta(days=1))
    suite = ScriptedSuite(fail_with="cube missing for window")
    scheduler = Scheduler(orgs, suite, {}, worker="a")
    moment = NOW
    for attempt in range(1, MAX_ATTEMPTS + 1):
        (run,) = scheduler.tick(moment).runs
        assert run.status == "failed"
        assert "cube missing" in run.error
        moment += timedelta(hours=1)
        with orgs() as session:
            row = session.get_one(MonitorRun, run.job.run_id)
            assert row.attempts == attempt
    assert row.status is RunStatus.FAILED
    assert scheduler.tick(moment + timedelta(days=1)).runs[0].job.run_id != row.id


def test_runs_survive_a_restart(db_url: str, orgs: sessionmaker[StewardSession]) -> None:
    deployed_tool(orgs, created_at=NOW - timedelta(days=3))
    suite = ScriptedSuite()
    first = Scheduler(orgs, suite, {}, worker="before")
    first.plan(NOW)
    assert first.tick(NOW, max_runs=1).runs[0].status == "done"
    engine = make_engine(db_url)  # a new process: new engine, new scheduler, same rows
    try:
        again = Scheduler(session_factory(engine), suite, {}, worker="after")
        report = again.tick(NOW)
        assert [r.status for r in report.runs] == ["done", "done"]
    finally:
        engine.dispose()
    keys = [(j.monitor, j.window_start) for j in suite.calls]
    assert len(keys) == len(set(keys)) == 3


def test_claims_change_exactly_one_row(orgs: sessionmaker[StewardSession]) -> None:
    deployed_tool(orgs, created_at=NOW - timedelta(days=1))
    Scheduler(orgs, ScriptedSuite(), {}, worker="a").plan(NOW)
    with unit_of_work(orgs) as session:
        job = claim_next(session, "a", NOW, timedelta(minutes=5))
        assert job is not None
        assert claim_next(session, "b", NOW, timedelta(minutes=5)) is None
