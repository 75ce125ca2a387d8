"""Planning, claiming and finishing monitor runs with conditional SQL.

A worker claims a run with ``UPDATE ... WHERE id = :id AND <still claimable>`` and proceeds only
when exactly one row changed, so among several workers exactly one wins each run. A running
run whose lease has expired (its worker died) is claimable again. Finishing is conditional on
still holding the claim, so a worker that lost its lease cannot record a second result.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from steward.registry.models import Deployment, DeploymentStatus, LifecycleState, Tool, ToolVersion
from steward.surveillance.scheduler.models import MonitorRun, RunStatus
from steward.surveillance.scheduler.suite import MonitorSuite, RunJob
from steward.surveillance.scheduler.windows import closed_windows

MONITORED_STATES = (
    LifecycleState.SILENT_PILOT,
    LifecycleState.LIVE_PILOT,
    LifecycleState.DEPLOYED,
    LifecycleState.SUSPENDED,
)
MAX_ATTEMPTS = 3


def monitored_deployments(
    session: Session, deployment_id: uuid.UUID | None = None
) -> list[tuple[uuid.UUID, datetime]]:
    """Deployments whose tool is piloted, deployed or suspended, with when each was recorded."""
    query = (
        select(Deployment.id, Deployment.created_at)
        .join(ToolVersion, ToolVersion.id == Deployment.version_id)
        .join(Tool, Tool.id == ToolVersion.tool_id)
        .where(Tool.state.in_(MONITORED_STATES), Deployment.status != DeploymentStatus.WITHDRAWN)
        .order_by(Deployment.created_at, Deployment.id)
    )
    if deployment_id is not None:
        query = query.where(Deployment.id == deployment_id)
    return [(row.id, row.created_at) for row in session.execute(query)]


def plan_runs(
    session: Session,
    suite: MonitorSuite,
    now: datetime,
    deployment_id: uuid.UUID | None = None,
) -> int:
    """Add a due run for every configured monitor on every recently closed window; returns how
    many were new. Existing runs are left alone (insert-or-ignore on the unique key)."""
    rows = []
    for deployment, recorded in monitored_deployments(session, deployment_id):
        earliest = suite.earliest_data(session, deployment)
        since = min(recorded, earliest) if earliest is not None else recorded
        for monitor, grain in suite.schedule(session, deployment):
            for start, end in closed_windows(grain, now, since):
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "created_at": now,
                        "deployment_id": deployment,
                        "monitor": monitor,
                        "grain": grain,
                        "window_start": start,
                        "window_end": end,
                        "status": RunStatus.DUE,
                        "due_at": end,
                        "attempts": 0,
                        "error": "",
                    }
                )
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(MonitorRun).on_conflict_do_nothing(
        index_elements=["deployment_id", "monitor", "grain", "window_start"]
    )
    count = select(func.count()).select_from(MonitorRun)
    before = session.connection().scalar(count) or 0
    session.connection().execute(statement, rows)
    return int(session.connection().scalar(count) or 0) - int(before)


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(MonitorRun.status == RunStatus.DUE, MonitorRun.due_at <= now),
        and_(MonitorRun.status == RunStatus.RUNNING, MonitorRun.lease_expires_at < now),
    )


def claim_next(
    session: Session,
    worker: str,
    now: datetime,
    lease: timedelta,
    deployment_id: uuid.UUID | None = None,
    skip: frozenset[uuid.UUID] = frozenset(),
) -> RunJob | None:
    """Claim the oldest due run (or one whose lease expired); None when there is none to take.

    The caller commits right after, so the claim is visible to every other worker.
    """
    for _ in range(20):
        query = select(MonitorRun).where(_claimable(now)).order_by(MonitorRun.due_at).limit(1)
        if deployment_id is not None:
            query = query.where(MonitorRun.deployment_id == deployment_id)
        if skip:
            query = query.where(MonitorRun.id.not_in(skip))
        run = session.execute(query).scalars().first()
        if run is None:
            return None
        changed = session.connection().execute(
            update(MonitorRun)
            .where(MonitorRun.id == run.id, _claimable(now))
            .values(
                status=RunStatus.RUNNING,
                claimed_by=worker,
                claimed_at=now,
                lease_expires_at=now + lease,
                attempts=MonitorRun.attempts + 1,
            )
        )
        session.expunge(run)
        if changed.rowcount == 1:
            return RunJob(
                run_id=run.id,
                deployment_id=run.deployment_id,
                monitor=run.monitor,
                grain=run.grain,
                window_start=run.window_start,
                window_end=run.window_end,
            )
    return None


def finish(
    session: Session, job: RunJob, worker: str, *, findings: int, alerts: int, now: datetime
) -> bool:
    """Mark the run done if ``worker`` still holds it; False when the claim was lost."""
    changed = session.connection().execute(
        update(MonitorRun)
        .where(
            MonitorRun.id == job.run_id,
            MonitorRun.claimed_by == worker,
            MonitorRun.status == RunStatus.RUNNING,
        )
        .values(status=RunStatus.DONE, finished_at=now, findings=findings, alerts=alerts, error="")
    )
    return changed.rowcount == 1


def fail(session: Session, job: RunJob, worker: str, error: str, now: datetime) -> bool:
    """Record a failed attempt; the run is due again later unless it has failed too often."""
    run = session.get(MonitorRun, job.run_id)
    if run is None:
        return False
    retry = run.attempts < MAX_ATTEMPTS
    changed = session.connection().execute(
        update(MonitorRun)
        .where(
            MonitorRun.id == job.run_id,
            MonitorRun.claimed_by == worker,
            MonitorRun.status == RunStatus.RUNNING,
        )
        .values(
            status=RunStatus.DUE if retry else RunStatus.FAILED,
            due_at=now + timedelta(minutes=5 * run.attempts) if retry else run.due_at,
            finished_at=None if retry else now,
            lease_expires_at=None,
            error=error[:4000],
        )
    )
    session.expunge(run)
    return changed.rowcount == 1


def latest_runs(session: Session, deployment_id: uuid.UUID) -> list[MonitorRun]:
    """The most recent run of each monitor and grain of the deployment."""
    runs = session.scalars(
        select(MonitorRun)
        .where(MonitorRun.deployment_id == deployment_id)
        .order_by(MonitorRun.window_start.desc(), MonitorRun.created_at.desc())
    )
    seen: dict[tuple[str, str], MonitorRun] = {}
    for run in runs:
        seen.setdefault((run.monitor, run.grain), run)
    return list(seen.values())
