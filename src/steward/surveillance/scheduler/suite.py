"""What the scheduler runs: a suite of monitors, seen through one small protocol."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from steward.surveillance.alerts.service import AlertSignal


@dataclass(frozen=True)
class RunJob:
    """One monitor for one deployment on one closed window."""

    run_id: uuid.UUID
    deployment_id: uuid.UUID
    monitor: str
    grain: str
    window_start: datetime
    window_end: datetime


@dataclass(frozen=True)
class RunResult:
    """What a monitor run computed (``findings`` statistics) and which of them alarm."""

    findings: int
    signals: Sequence[AlertSignal] = field(default_factory=tuple)
    notes: Sequence[str] = field(default_factory=tuple)


class MonitorSuite(Protocol):
    """Which monitors a deployment has, and running one of them on a window."""

    def prepare(self, session: Session, deployment_id: uuid.UUID, now: datetime) -> None:
        """Bring the deployment's data up to ``now`` before runs are planned (e.g. label
        predictions whose outcome window closed without an outcome)."""
        ...

    def schedule(self, session: Session, deployment_id: uuid.UUID) -> Sequence[tuple[str, str]]:
        """The (monitor, grain) pairs configured for the deployment."""
        ...

    def earliest_data(self, session: Session, deployment_id: uuid.UUID) -> datetime | None:
        """When the deployment's data begins, if earlier than the deployment's record (data
        loaded after the fact); windows from then on are planned."""
        ...

    def run(self, session: Session, job: RunJob) -> RunResult:
        """Compute the monitor on the job's window (reading cubes, not raw rows)."""
        ...


class NoMonitors:
    """A suite with no monitors."""

    def prepare(self, session: Session, deployment_id: uuid.UUID, now: datetime) -> None:
        return None

    def earliest_data(self, session: Session, deployment_id: uuid.UUID) -> datetime | None:
        return None

    def schedule(self, session: Session, deployment_id: uuid.UUID) -> Sequence[tuple[str, str]]:
        return ()

    def run(self, session: Session, job: RunJob) -> RunResult:
        return RunResult(findings=0)


def default_suite() -> MonitorSuite:
    """The surveillance monitors over the window store, as configured for each deployment."""
    from steward.surveillance.scheduler.stored import StoredMonitorsSuite

    return StoredMonitorsSuite()
