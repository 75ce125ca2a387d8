"""The monitor suite on the window store: each deployment's stored cubes, histograms and
feedback counts (``steward.surveillance.windows``), its monitoring thresholds, and its first
live months as the reference period."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from steward.surveillance import windows as store
from steward.surveillance.deployments import monitoring_config
from steward.surveillance.ingest import close_windows
from steward.surveillance.models import ScoreCell
from steward.surveillance.monitors import (
    Grain,
    MonitorConfig,
    Reference,
    Window,
    WindowData,
    monitor_config,
)
from steward.surveillance.monitors.inputs import reference_from_windows, window_data
from steward.surveillance.scheduler.monitor_suite import MonitorsSuite

EARLIEST = dt.date(1970, 1, 1)
REFERENCE_DAYS = 28
"""Length of the reference period (``STEWARD_MONITOR_REFERENCE_DAYS``): the deployment's first
days with data, once that many have been stored."""


class StoredWindows:
    """A ``WindowSource`` reading the window store."""

    def __init__(self, reference_days: int = REFERENCE_DAYS) -> None:
        self.reference_days = reference_days

    def history(
        self, session: Session, deployment_id: uuid.UUID, grain: Grain, until: dt.date
    ) -> Sequence[WindowData]:
        cubes = store.window_cubes(session, deployment_id, grain, EARLIEST, until)
        histograms = store.feature_histograms(session, deployment_id, grain, EARLIEST, until)
        feedback = store.feedback_counts(session, deployment_id, grain, EARLIEST, until)
        return [
            window_data(Window(grain, start), cube, histograms.get(start), feedback.get(start))
            for start, cube in sorted(cubes.items())
        ]

    def reference(self, session: Session, deployment_id: uuid.UUID) -> Reference | None:
        first, last = session.execute(
            select(func.min(ScoreCell.window_start), func.max(ScoreCell.window_start)).where(
                ScoreCell.deployment_id == deployment_id, ScoreCell.grain == "day"
            )
        ).one()
        if first is None or (last - first).days + 1 < self.reference_days:
            return None
        end = first + dt.timedelta(days=self.reference_days)
        return reference_from_windows(self.history(session, deployment_id, "day", end))


def stored_config(session: Session, deployment_id: uuid.UUID) -> MonitorConfig | None:
    """The monitors' defaults with the deployment's stored overrides, judged by default at its
    first threshold; None for a deployment without a monitoring configuration."""
    config = monitoring_config(session, deployment_id)
    if config is None:
        return None
    thresholds = list(config.thresholds)
    overrides = {"threshold": thresholds[0]} if thresholds else {}
    overrides |= config.monitor_overrides
    return monitor_config(overrides, origin=f"monitors of deployment {deployment_id}")


class StoredMonitorsSuite(MonitorsSuite):
    """The monitors over the window store; labels overdue outcomes negative before each pass."""

    def __init__(self, reference_days: int = REFERENCE_DAYS) -> None:
        super().__init__(StoredWindows(reference_days), stored_config)

    def earliest_data(self, session: Session, deployment_id: uuid.UUID) -> dt.datetime | None:
        first = session.scalar(
            select(func.min(ScoreCell.window_start)).where(
                ScoreCell.deployment_id == deployment_id, ScoreCell.grain == "day"
            )
        )
        return None if first is None else dt.datetime.combine(first, dt.time(), dt.UTC)

    def prepare(self, session: Session, deployment_id: uuid.UUID, now: dt.datetime) -> None:
        if monitoring_config(session, deployment_id) is not None:
            close_windows(session, deployment_id, now)
