"""What a deployment's monitoring dashboard shows: every monitor's series over time with its
limits, per subject (overall and each subgroup), recomputed from the window store (cubes, not
rows) exactly as the scheduled monitors compute it, and the alerts raised."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from steward.surveillance.alerts.models import Alert
from steward.surveillance.alerts.service import list_alerts
from steward.surveillance.cells import OVERALL as OVERALL_DIM
from steward.surveillance.deployments import monitoring_config
from steward.surveillance.models import ScoreCell
from steward.surveillance.monitors import (
    Finding,
    MonitorConfig,
    Subject,
    default_config,
    run_monitors,
)
from steward.surveillance.monitors.inputs import Grain
from steward.surveillance.scheduler.monitor_suite import SECTIONS, limits_if_ready
from steward.surveillance.scheduler.stored import StoredWindows, stored_config

#: Monitors in the order the dashboard shows them, with a heading people read.
TITLES: dict[str, str] = {
    "calibration_cusum": "Calibration drift (risk-adjusted CUSUM)",
    "realised_performance": "Realised performance",
    "estimated_performance": "Estimated performance while outcomes mature (CBPE)",
    "ewma": "Discrimination trend (EWMA of AUROC)",
    "drift": "Score and input drift (PSI)",
    "override_rate": "Clinician override rate (p-chart)",
}


@dataclass(frozen=True)
class Point:
    """One window of one series."""

    start: dt.date
    value: float | None
    lower: float | None
    upper: float | None
    status: str
    estimated: bool


@dataclass(frozen=True)
class SeriesView:
    """One monitor's series (``metric``) for one subject, in time order."""

    monitor: str
    metric: str
    subject: Subject
    grain: Grain
    points: tuple[Point, ...]

    @property
    def alarms(self) -> int:
        return sum(p.status == "alarm" for p in self.points)


@dataclass(frozen=True)
class MonitorView:
    """A monitor's series: the overall one first, then the subgroups (small multiples)."""

    monitor: str
    title: str
    metric: str
    overall: SeriesView | None
    subgroups: tuple[SeriesView, ...]


@dataclass(frozen=True)
class Dashboard:
    """Everything the monitoring page shows for one deployment."""

    deployment_id: uuid.UUID
    has_reference: bool
    reference_days: int
    days_with_data: int
    predictions: int
    monitors: tuple[MonitorView, ...]
    alerts: tuple[Alert, ...]
    alert_total: int
    limits_pending: bool = False
    settings_version: str = ""
    overrides: tuple[tuple[str, str], ...] = ()


def flatten_overrides(overrides: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """``{"drift": {"alarm": 0.2}}`` as ``[("drift.alarm", "0.2")]``, for people to read."""
    flat: list[tuple[str, str]] = []
    for key, value in overrides.items():
        if isinstance(value, Mapping):
            flat += flatten_overrides(value, f"{prefix}{key}.")
        else:
            flat.append((f"{prefix}{key}", json.dumps(value)))
    return flat


def dashboard(
    session: Session, deployment_id: uuid.UUID, today: dt.date, reference_days: int
) -> Dashboard:
    """The dashboard of ``deployment_id`` from its stored windows up to ``today``, judged against
    its first ``reference_days`` days (``STEWARD_MONITOR_REFERENCE_DAYS``, as the scheduler)."""
    source = StoredWindows(reference_days)
    config = stored_config(session, deployment_id) or default_config()
    stored = monitoring_config(session, deployment_id)
    overrides = tuple(sorted(flatten_overrides(stored.monitor_overrides if stored else {})))
    days, predictions = _volume(session, deployment_id)
    total, alerts = list_alerts(session, deployment_id, limit=20)
    reference = source.reference(session, deployment_id)
    if reference is None:
        empty: tuple[MonitorView, ...] = ()
        return Dashboard(
            deployment_id,
            False,
            reference_days,
            days,
            predictions,
            empty,
            tuple(alerts),
            total,
            settings_version=config.version,
            overrides=overrides,
        )
    history = {
        grain: source.history(session, deployment_id, grain, today) for grain in _grains(config)
    }
    limits = limits_if_ready(reference, config)
    if limits is None and config.cusum.enabled:
        config = config.model_copy(
            update={"cusum": config.cusum.model_copy(update={"enabled": False})}
        )
    findings = run_monitors(history, reference, config, cusum_limits_=limits)
    views = _views(findings)
    pending = limits is None
    return Dashboard(
        deployment_id,
        True,
        reference_days,
        days,
        predictions,
        views,
        tuple(alerts),
        total,
        pending,
        settings_version=config.version,
        overrides=overrides,
    )


def _grains(config: MonitorConfig) -> set[Grain]:
    return {getattr(config, s).grain for s in SECTIONS.values() if getattr(config, s).enabled}


def _volume(session: Session, deployment_id: uuid.UUID) -> tuple[int, int]:
    """Days with predictions and predictions counted in the daily cells (overall margin)."""
    days, n = session.execute(
        select(
            func.count(func.distinct(ScoreCell.window_start)),
            func.coalesce(func.sum(ScoreCell.n), 0),
        ).where(
            ScoreCell.deployment_id == deployment_id,
            ScoreCell.grain == "day",
            ScoreCell.dim == OVERALL_DIM,
        )
    ).one()
    return int(days), int(n)


def _views(findings: list[Finding]) -> tuple[MonitorView, ...]:
    series: dict[tuple[str, str, Subject], list[Finding]] = defaultdict(list)
    for finding in findings:
        series[(finding.monitor, finding.metric, finding.subject)].append(finding)
    views: list[MonitorView] = []
    for monitor, title in TITLES.items():
        metrics = sorted({m for (mon, m, _s) in series if mon == monitor})
        for metric in metrics:
            found = {
                s: _series(f) for (mon, m, s), f in series.items() if (mon, m) == (monitor, metric)
            }
            overall = next((v for s, v in found.items() if s.is_overall), None)
            groups = tuple(
                v for s, v in sorted(found.items(), key=lambda i: i[0].label) if not s.is_overall
            )
            views.append(MonitorView(monitor, title, metric, overall, groups))
    return tuple(views)


def _series(findings: list[Finding]) -> SeriesView:
    ordered = sorted(findings, key=lambda f: f.window.start)
    first = ordered[0]
    points = tuple(
        Point(
            f.window.start,
            _number(f.value),
            _number(f.lower),
            _number(f.upper),
            f.status,
            f.estimated,
        )
        for f in ordered
    )
    return SeriesView(first.monitor, first.metric, first.subject, first.window.grain, points)


def _number(value: float | None) -> float | None:
    """None for a missing or undefined value: NaN is never equal to itself, so series holding
    one would never compare equal (and the page's charts would be drawn again on every visit)."""
    return None if value is None or math.isnan(value) else float(value)
