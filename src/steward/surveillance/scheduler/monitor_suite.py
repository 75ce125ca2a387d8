"""The monitors of ``steward.surveillance.monitors`` as the scheduler's suite.

One scheduled run is one monitor on one closed window. The run reads the deployment's window
cubes up to that window from a :class:`WindowSource` (the stored incremental cubes), runs only
that monitor (charts are recomputed from the first window: cubes, not rows), and turns the
findings of that window into alert signals: ``alarm`` is critical, ``review`` a warning.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from sqlalchemy.orm import Session

from steward.surveillance.alerts.models import Severity
from steward.surveillance.alerts.service import AlertSignal
from steward.surveillance.monitors import (
    ChartLimit,
    Finding,
    Grain,
    MonitorConfig,
    Reference,
    WindowData,
    cusum_limits,
    default_config,
    run_monitors,
)
from steward.surveillance.scheduler.suite import RunJob, RunResult

SECTIONS: Mapping[str, str] = {
    "drift": "drift",
    "estimated_performance": "estimated_performance",
    "realised_performance": "realised",
    "calibration_cusum": "cusum",
    "ewma": "ewma",
    "override_rate": "override",
}
"""Each monitor's name (as its findings carry it) and its section of the configuration."""

SEVERITY: Mapping[str, Severity] = {"alarm": Severity.CRITICAL, "review": Severity.WARNING}


class WindowSource(Protocol):
    """Where a deployment's window cubes and reference period come from."""

    def reference(self, session: Session, deployment_id: uuid.UUID) -> Reference | None:
        """The period the monitors compare against; None while there is none yet."""
        ...

    def history(
        self, session: Session, deployment_id: uuid.UUID, grain: Grain, until: dt.date
    ) -> Sequence[WindowData]:
        """Every window of ``grain`` that ends by ``until``, in time order."""
        ...


ConfigFor = Callable[[Session, uuid.UUID], MonitorConfig | None]
"""A deployment's monitor configuration; None when the deployment is not monitored."""


def _defaults(_session: Session, _deployment_id: uuid.UUID) -> MonitorConfig | None:
    return default_config()


def only(config: MonitorConfig, section: str) -> MonitorConfig:
    """``config`` with every monitor but the one in ``section`` switched off."""
    update: dict[str, Any] = {
        name: getattr(config, name).model_copy(update={"enabled": name == section})
        for name in SECTIONS.values()
    }
    return config.model_copy(update=update)


class MonitorsSuite:
    """Schedules every enabled monitor of a deployment's configuration and runs one at a time.

    CUSUM control limits (a simulation) are computed once per reference period and CUSUM
    settings and kept for the life of the process.
    """

    def __init__(self, source: WindowSource, config_for: ConfigFor = _defaults) -> None:
        self.source = source
        self.config_for = config_for

    def prepare(self, session: Session, deployment_id: uuid.UUID, now: dt.datetime) -> None:
        """Nothing to bring up to date before the runs (see the stored suite)."""

    def earliest_data(self, session: Session, deployment_id: uuid.UUID) -> dt.datetime | None:
        """Not known here (see the stored suite)."""
        return None

    def schedule(self, session: Session, deployment_id: uuid.UUID) -> Sequence[tuple[str, str]]:
        config = self.config_for(session, deployment_id)
        if config is None:
            return ()
        return [
            (monitor, getattr(config, section).grain)
            for monitor, section in SECTIONS.items()
            if getattr(config, section).enabled
        ]

    def run(self, session: Session, job: RunJob) -> RunResult:
        section = SECTIONS.get(job.monitor)
        if section is None:
            raise ValueError(f"unknown monitor {job.monitor!r}")
        reference = self.source.reference(session, job.deployment_id)
        if reference is None:
            return RunResult(findings=0, notes=["no reference period yet: nothing to compare"])
        configured = self.config_for(session, job.deployment_id)
        if configured is None:
            return RunResult(findings=0, notes=["the deployment has no monitoring configuration"])
        config = only(configured, section)
        grain: Grain = getattr(config, section).grain
        history = self.source.history(session, job.deployment_id, grain, job.window_end.date())
        limits = (
            self._cusum_limits(job.deployment_id, reference, config) if section == "cusum" else None
        )
        since = job.window_start.date()
        findings = [
            f
            for f in run_monitors(
                {grain: history}, reference, config, since=since, cusum_limits_=limits
            )
            if f.monitor == job.monitor and f.window.start == since
        ]
        raised = [f for f in findings if f.status in SEVERITY]
        return RunResult(
            findings=len(findings),
            signals=[signal(job, f) for f in raised],
            notes=[f"{f.subject.label} {f.metric}: {f.message}" for f in raised],
        )

    def _cusum_limits(
        self, deployment_id: uuid.UUID, reference: Reference, config: MonitorConfig
    ) -> Mapping[Any, ChartLimit]:
        return limits_for(reference, config)


_LIMITS: dict[str, Mapping[Any, ChartLimit]] = {}
_LIMITS_LOCK = threading.Lock()
_WARMING: set[str] = set()


def _limits_key(reference: Reference, config: MonitorConfig) -> str:
    digest = hashlib.sha256(config.model_dump_json().encode())
    digest.update(str(reference.days).encode())
    for dims, margin in sorted(reference.cube.margins.items()):
        digest.update(repr((dims, margin.levels)).encode())
        digest.update(np.ascontiguousarray(margin.stats).tobytes())
        digest.update(np.ascontiguousarray(margin.edges).tobytes())
    return digest.hexdigest()


def limits_for(reference: Reference, config: MonitorConfig) -> Mapping[Any, ChartLimit]:
    """The CUSUM limits of ``reference`` under ``config``, simulated once per process."""
    key = _limits_key(reference, config)
    with _LIMITS_LOCK:
        if key not in _LIMITS:
            _LIMITS[key] = cusum_limits(reference, config)
        return _LIMITS[key]


def limits_if_ready(reference: Reference, config: MonitorConfig) -> Mapping[Any, ChartLimit] | None:
    """The limits if already simulated; otherwise start simulating them in the background (a
    page must not wait the tens of seconds a simulation takes) and return None."""
    key = _limits_key(reference, config)
    with _LIMITS_LOCK:
        if key in _LIMITS:
            return _LIMITS[key]
        if key in _WARMING:
            return None
        _WARMING.add(key)

    def warm() -> None:
        try:
            limits_for(reference, config)
        finally:
            with _LIMITS_LOCK:
                _WARMING.discard(key)

    threading.Thread(target=warm, name="cusum-limits", daemon=True).start()
    return None


def signal(job: RunJob, finding: Finding) -> AlertSignal:
    """The alert signal of a finding that is past its limit."""
    return AlertSignal(
        deployment_id=job.deployment_id,
        monitor=finding.monitor,
        metric=finding.metric,
        subject=finding.subject.label,
        grain=job.grain,
        window_start=job.window_start,
        window_end=job.window_end,
        severity=SEVERITY[finding.status],
        summary=finding.message,
        details=finding.as_dict(),
    )
