"""The scheduler loop shared by ``steward serve`` (a background thread) and ``steward worker``.

Each tick plans the runs of recently closed windows, claims and executes due runs one at a time,
escalates unacknowledged alerts and retries notifications a dead process left unsent.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import sessionmaker

from steward.audit.context import AuditContext
from steward.audit.recorder import lock_chain_head
from steward.db.base import utcnow
from steward.db.session import StewardSession, read_only_unit, unit_of_work
from steward.surveillance.alerts.service import raise_alert
from steward.surveillance.notify.dispatch import deliver_all, deliver_pending
from steward.surveillance.notify.transport import Transport
from steward.surveillance.response.apply import SYSTEM_ACTOR, escalate_due, respond
from steward.surveillance.scheduler.runs import (
    claim_next,
    fail,
    finish,
    monitored_deployments,
    plan_runs,
)
from steward.surveillance.scheduler.suite import MonitorSuite, RunJob

log = logging.getLogger("steward.scheduler")


def worker_name() -> str:
    """A name that tells workers apart in the runs table: host, process and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class RunReport:
    """How one claimed run ended: done, failed, or lost (another worker took it over)."""

    job: RunJob
    status: str
    findings: int = 0
    alerts: tuple[uuid.UUID, ...] = ()
    notes: tuple[str, ...] = ()
    error: str = ""


@dataclass
class TickReport:
    """What one pass of the scheduler did."""

    planned: int = 0
    runs: list[RunReport] = field(default_factory=list)
    escalations: int = 0
    notifications: int = 0


class _ClaimLostError(Exception):
    """The run was reclaimed by another worker after this one's lease ran out."""


class Scheduler:
    """Plans, claims and executes monitor runs; safe to run in several processes at once."""

    def __init__(
        self,
        sessions: sessionmaker[StewardSession],
        suite: MonitorSuite,
        transports: Mapping[str, Transport],
        *,
        worker: str | None = None,
        lease: timedelta = timedelta(minutes=10),
    ) -> None:
        self.sessions = sessions
        self.suite = suite
        self.transports = transports
        self.worker = worker or worker_name()
        self.lease = lease

    def _context(self) -> AuditContext:
        return AuditContext(actor=SYSTEM_ACTOR, request_id=f"scheduler-{uuid.uuid4().hex[:12]}")

    def plan(self, now: datetime, deployment_id: uuid.UUID | None = None) -> int:
        """Bring each deployment's data up to ``now``, then add due runs for recently closed
        windows; returns how many runs were new."""
        with read_only_unit(self.sessions) as session:
            deployments = [d for d, _ in monitored_deployments(session, deployment_id)]
        for deployment in deployments:
            with unit_of_work(self.sessions, self._context()) as session:
                self.suite.prepare(session, deployment, now)
        with unit_of_work(self.sessions) as session:
            return plan_runs(session, self.suite, now, deployment_id)

    def claim(
        self,
        now: datetime,
        deployment_id: uuid.UUID | None = None,
        skip: frozenset[uuid.UUID] = frozenset(),
    ) -> RunJob | None:
        """Claim one due run in its own committed transaction."""
        with unit_of_work(self.sessions) as session:
            return claim_next(session, self.worker, now, self.lease, deployment_id, skip)

    def execute(self, job: RunJob, now: datetime | None = None) -> RunReport:
        """Run the monitor, open alerts and apply the response policy, all in one transaction
        that commits only if this worker still holds the run; then send the notifications."""
        context = self._context()
        now = now or utcnow()
        try:
            # The monitor only reads: on SQLite it must not hold the write lock while it computes.
            with read_only_unit(self.sessions) as session:
                result = self.suite.run(session, job)
            with unit_of_work(self.sessions, context) as session:
                lock_chain_head(session)
                opened, notifications = [], []
                for signal in result.signals:
                    alert = raise_alert(session, signal, SYSTEM_ACTOR)
                    if alert is not None:
                        opened.append(alert.id)
                        notifications += respond(session, alert, SYSTEM_ACTOR)
                done = finish(
                    session,
                    job,
                    self.worker,
                    findings=result.findings,
                    alerts=len(opened),
                    now=now,
                )
                if not done:
                    raise _ClaimLostError
        except _ClaimLostError:
            return RunReport(job, "lost")
        except Exception as error:  # a failing monitor must not stop the scheduler
            log.exception("monitor %s failed on run %s", job.monitor, job.run_id)
            message = f"{error.__class__.__name__}: {error}"
            with unit_of_work(self.sessions) as session:
                fail(session, job, self.worker, message, now)
            return RunReport(job, "failed", error=message)
        deliver_all(self.sessions, context, notifications, self.transports)
        return RunReport(
            job, "done", result.findings, tuple(opened), tuple(str(n) for n in result.notes)
        )

    def tick(
        self,
        now: datetime | None = None,
        deployment_id: uuid.UUID | None = None,
        max_runs: int | None = None,
    ) -> TickReport:
        """One pass: plan, run everything due (or ``max_runs``), escalate, retry deliveries."""
        now = now or utcnow()
        report = TickReport(planned=self.plan(now, deployment_id))
        tried: set[uuid.UUID] = set()
        while max_runs is None or len(report.runs) < max_runs:
            job = self.claim(now, deployment_id, frozenset(tried))
            if job is None:
                break
            tried.add(job.run_id)
            report.runs.append(self.execute(job, now))
        context = self._context()
        escalated = escalate_due(self.sessions, context, now)
        report.escalations = len(escalated)
        sent = deliver_all(self.sessions, context, escalated, self.transports)
        sent |= deliver_pending(self.sessions, context, self.transports)
        report.notifications = sum(1 for status in sent.values() if status is not None)
        return report

    def run_forever(self, stop: threading.Event, interval: float) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set; errors are logged, not fatal."""
        while not stop.is_set():
            try:
                report = self.tick()
                if report.runs or report.escalations:
                    log.info(
                        "scheduler: %d run(s), %d escalation(s)",
                        len(report.runs),
                        report.escalations,
                    )
            except Exception:  # the database may be briefly unavailable; try again next tick
                log.exception("scheduler tick failed")
            stop.wait(interval)


def start_in_thread(
    scheduler: Scheduler, interval: float
) -> tuple[threading.Thread, threading.Event]:
    """Run ``scheduler`` in a daemon thread (the embedded mode of ``steward serve``)."""
    stop = threading.Event()
    thread = threading.Thread(
        target=scheduler.run_forever, args=(stop, interval), name="steward-scheduler", daemon=True
    )
    thread.start()
    return thread, stop
