"""Run every configured monitor over a deployment's window cubes: findings in, nothing written.

The caller (the scheduler) passes the windows of each grain in time order and the reference
period; charts are recomputed from the first window (cheap: cubes, not rows), and only the
findings of windows starting on or after ``since`` are returned. CUSUM control limits are the
expensive part; pass the ones computed before (``cusum_limits``) to skip the simulation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from steward.surveillance.monitors import arl, cusum
from steward.surveillance.monitors.cbpe import estimated_performance
from steward.surveillance.monitors.config import MonitorConfig
from steward.surveillance.monitors.ewma import ewma_chart
from steward.surveillance.monitors.findings import Finding
from steward.surveillance.monitors.inputs import (
    OVERALL,
    WINDOWS_PER_YEAR,
    FloatArray,
    Grain,
    Reference,
    Subject,
    Window,
    WindowData,
    counts_for,
    subjects,
)
from steward.surveillance.monitors.limits import widened_sigma
from steward.surveillance.monitors.pchart import override_chart
from steward.surveillance.monitors.psi import input_drift, score_drift
from steward.surveillance.monitors.realised import realised_performance

History = Mapping[Grain, Sequence[WindowData]]
ChartKey = tuple[Subject, cusum.Side]
SIDES: tuple[cusum.Side, ...] = ("upper", "lower")
#: Every monitor, by the name its findings carry.
MONITORS = (
    "drift",
    "estimated_performance",
    "realised_performance",
    "calibration_cusum",
    "ewma",
    "override_rate",
)
_MEAN_DAYS: Mapping[Grain, float] = {"day": 1.0, "week": 7.0, "month": 365.25 / 12.0}


def monitored_subjects(reference: Reference, config: MonitorConfig) -> list[Subject]:
    """Overall, then the subgroup levels the configuration asks for (all margins by default)."""
    if not config.subgroups.enabled:
        return [OVERALL]
    wanted = config.subgroups.attributes
    return [
        s
        for s in subjects(reference.cube)
        if s.is_overall or wanted is None or set(s.dims) <= set(wanted)
    ]


@dataclass(frozen=True)
class ChartLimit:
    """The control limit of one CUSUM chart and the run length it was simulated to give."""

    subject: Subject
    side: cusum.Side
    h: float
    arl_windows: float
    target_windows: float
    charts_in_family: int


def cusum_limits(
    reference: Reference, config: MonitorConfig, chart_subjects: Sequence[Subject] | None = None
) -> dict[ChartKey, ChartLimit]:
    """Control limit h of each calibration CUSUM, by simulation (``monitors.arl``).

    The family is both charts of every monitored subject (K = 2 x subjects); each chart's
    in-control run length is K x ``family_arl_years`` in windows of the chart's grain.
    """
    settings = config.cusum
    chart_subjects = list(chart_subjects or monitored_subjects(reference, config))
    charts = 2 * len(chart_subjects)
    target = charts * settings.family_arl_years * WINDOWS_PER_YEAR[settings.grain]
    limits: dict[ChartKey, ChartLimit] = {}
    for i, subject in enumerate(chart_subjects):
        counts = counts_for(reference.cube, subject)
        if counts is None:
            continue
        rows = float(counts.stats[..., 0].sum())
        volume = rows / reference.days * _MEAN_DAYS[settings.grain]
        if not volume > 0:
            continue
        mix = arl.case_mix(counts, volume)
        for j, side in enumerate(SIDES):
            ratio = cusum.odds_ratio_for(side, settings.odds_ratio)
            found = arl.control_limit(
                mix, ratio, target, settings.simulations, seed=settings.seed + 1000 * i + j
            )
            limits[(subject, side)] = ChartLimit(subject, side, found.h, found.arl, target, charts)
    return limits


def calibration_cusum(
    windows: Sequence[WindowData],
    limits: Mapping[ChartKey, ChartLimit],
    odds_ratio: float,
    since: dt.date | None = None,
) -> list[Finding]:
    """Both CUSUM charts of every subject with a limit, over ``windows`` in time order.

    Charts always run from the first window; findings are made for windows from ``since`` on.
    """
    findings = []
    by_subject: dict[Subject, list[ChartLimit]] = {}
    for (subject, _), limit in limits.items():
        by_subject.setdefault(subject, []).append(limit)
    for subject, subject_limits in by_subject.items():
        chosen: list[Window] = []
        stacked: list[FloatArray] = []
        edges: FloatArray | None = None
        for data in windows:
            counts = counts_for(data.cube, subject)
            if counts is not None:
                chosen.append(data.window)
                # Only n, sum p and sum p^2 of labelled rows enter the chart.
                stacked.append(counts.stats[:, :2, :3])
                edges = np.asarray(counts.edges, dtype=np.float64)
        if edges is None:
            continue
        stats = np.stack(stacked)
        for limit in subject_limits:
            ratio = cusum.odds_ratio_for(limit.side, odds_ratio)
            incs = cusum.increments(stats, edges, ratio)
            for point in cusum.run_chart(chosen, incs, limit.h):
                if since is None or point.window.start >= since:
                    findings.append(cusum.finding(point, limit.side, subject, limit.h, ratio))
    return findings


def scheduled_monitors(config: MonitorConfig) -> dict[str, Grain]:
    """The enabled monitors (names as in ``Finding.monitor``) and the grain each runs on."""
    sections: dict[str, tuple[bool, Grain]] = {
        "drift": (config.drift.enabled, config.drift.grain),
        "estimated_performance": (
            config.estimated_performance.enabled and config.threshold is not None,
            config.estimated_performance.grain,
        ),
        "realised_performance": (config.realised.enabled, config.realised.grain),
        "calibration_cusum": (config.cusum.enabled, config.cusum.grain),
        "ewma": (config.ewma.enabled, config.ewma.grain),
        "override_rate": (config.override.enabled, config.override.grain),
    }
    return {name: grain for name, (enabled, grain) in sections.items() if enabled}


def run_monitors(
    history: History,
    reference: Reference,
    config: MonitorConfig,
    *,
    since: dt.date | None = None,
    only: Collection[str] | None = None,
    cusum_limits_: Mapping[ChartKey, ChartLimit] | None = None,
) -> list[Finding]:
    """Every enabled monitor (or those named in ``only``) over ``history`` (windows per grain,
    time order); findings of windows from ``since`` on, sorted by window, monitor, metric."""
    scheduled = scheduled_monitors(config)
    unknown = set(only or ()) - set(MONITORS)
    if unknown:
        raise ValueError(f"unknown monitor(s): {', '.join(sorted(unknown))}")

    def want(name: str) -> bool:
        return name in scheduled and (only is None or name in only)

    chosen = monitored_subjects(reference, config)
    k = len(chosen)
    findings: list[Finding] = []

    def windows(grain: Grain) -> Sequence[WindowData]:
        return history.get(grain, ())

    def due(grain: Grain) -> Sequence[WindowData]:
        """Windows judged by the periodic (non-chart) monitors in this run."""
        return [d for d in windows(grain) if since is None or d.window.start >= since]

    if want("drift"):
        for data in due(config.drift.grain):
            for subject in chosen:
                found = score_drift(data, reference, config.drift, subject)
                if found is not None:
                    findings.append(found)
            findings.extend(input_drift(data, reference, config.drift))
    threshold = config.threshold
    if want("estimated_performance") and threshold is not None:
        settings = config.estimated_performance.model_copy(
            update={"sigma": widened_sigma(config.estimated_performance.sigma, k)}
        )
        for data in due(settings.grain):
            for subject in chosen:
                findings.extend(
                    estimated_performance(data, reference, settings, threshold, subject)
                )
    if want("realised_performance"):
        for data in due(config.realised.grain):
            findings.extend(realised_performance(data, reference, config.realised, chosen))
    if want("calibration_cusum"):
        limits = (
            cusum_limits_ if cusum_limits_ is not None else cusum_limits(reference, config, chosen)
        )
        findings.extend(
            calibration_cusum(windows(config.cusum.grain), limits, config.cusum.odds_ratio, since)
        )
    if want("ewma"):
        width = widened_sigma(config.ewma.width, k)
        for metric in config.ewma.metrics:
            for subject in chosen:
                findings.extend(
                    ewma_chart(
                        windows(config.ewma.grain),
                        reference,
                        config.ewma,
                        metric,
                        subject,
                        threshold,
                        width,
                    )
                )
    if want("override_rate"):
        with_feedback = [
            s for s in chosen if any(s in d.feedback for d in windows(config.override.grain))
        ]
        sigma = widened_sigma(config.override.sigma, max(len(with_feedback), 1))
        for subject in with_feedback:
            findings.extend(
                override_chart(
                    windows(config.override.grain), reference, config.override, subject, sigma
                )
            )
    if since is not None:
        findings = [f for f in findings if f.window.start >= since]
    return sorted(findings, key=lambda f: (f.window.start, f.monitor, f.metric, f.subject))
