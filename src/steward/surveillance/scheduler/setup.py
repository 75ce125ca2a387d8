"""Building a scheduler from the settings, shared by ``serve``, ``worker`` and ``monitor run``."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from steward.config import Settings
from steward.db.session import session_factory
from steward.surveillance.notify.channels import transports_from_settings
from steward.surveillance.scheduler.suite import MonitorSuite
from steward.surveillance.scheduler.worker import Scheduler


def scheduler_from_settings(
    settings: Settings,
    engine: Engine,
    suite: MonitorSuite | None = None,
    worker: str | None = None,
) -> Scheduler:
    """A scheduler on ``engine`` with the configured channels, lease and monitor suite."""
    if suite is None:
        from steward.surveillance.scheduler.stored import StoredMonitorsSuite

        suite = StoredMonitorsSuite(settings.monitor_reference_days)
    return Scheduler(
        session_factory(engine),
        suite,
        transports_from_settings(settings),
        worker=worker,
        lease=timedelta(seconds=settings.scheduler_lease_seconds),
    )
