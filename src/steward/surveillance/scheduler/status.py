"""What ``steward monitor status`` shows: per monitored deployment, runs and open alerts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from steward.registry.models import Deployment, Organisation, Tool, ToolVersion
from steward.surveillance.alerts.models import Alert, AlertStatus, Severity
from steward.surveillance.scheduler.models import MonitorRun, RunStatus
from steward.surveillance.scheduler.runs import MONITORED_STATES


@dataclass(frozen=True)
class DeploymentStatus:
    """One line of the status table."""

    deployment_id: uuid.UUID
    tool: str
    site: str
    state: str
    last_run: str
    due: int
    failed: int
    open_alerts: int
    critical_alerts: int


def deployment_status(session: Session) -> list[DeploymentStatus]:
    """Every monitored deployment with its latest finished run and its unresolved alerts."""
    deployments = session.execute(
        select(Deployment.id, Tool.name, Tool.state, Organisation.slug)
        .join(ToolVersion, ToolVersion.id == Deployment.version_id)
        .join(Tool, Tool.id == ToolVersion.tool_id)
        .join(Organisation, Organisation.id == Deployment.site_id)
        .where(Tool.state.in_(MONITORED_STATES))
        .order_by(Tool.name, Organisation.slug, Deployment.id)
    ).all()
    rows = []
    for deployment_id, tool, state, site in deployments:
        last = session.execute(
            select(MonitorRun.monitor, MonitorRun.finished_at, MonitorRun.window_start)
            .where(MonitorRun.deployment_id == deployment_id, MonitorRun.status == RunStatus.DONE)
            .order_by(MonitorRun.finished_at.desc())
            .limit(1)
        ).first()
        counts = dict(
            session.execute(
                select(MonitorRun.status, func.count())
                .where(MonitorRun.deployment_id == deployment_id)
                .group_by(MonitorRun.status)
            ).all()
        )
        unresolved = Alert.status != AlertStatus.RESOLVED
        alerts = dict(
            session.execute(
                select(Alert.severity, func.count())
                .where(Alert.deployment_id == deployment_id, unresolved)
                .group_by(Alert.severity)
            ).all()
        )
        rows.append(
            DeploymentStatus(
                deployment_id=deployment_id,
                tool=tool,
                site=site,
                state=state.value,
                last_run=(
                    f"{last.monitor} at {last.finished_at:%Y-%m-%d %H:%M}Z"
                    if last and last.finished_at
                    else "never"
                ),
                due=int(counts.get(RunStatus.DUE, 0)),
                failed=int(counts.get(RunStatus.FAILED, 0)),
                open_alerts=int(sum(alerts.values())),
                critical_alerts=int(alerts.get(Severity.CRITICAL, 0)),
            )
        )
    return rows
