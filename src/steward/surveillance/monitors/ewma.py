"""EWMA charts of monthly AUROC, alert rate and PPV at the deployed threshold.

z_t = lambda x_t + (1 - lambda) z_{t-1}, z_0 = the reference value mu_0, and
Var(z_t) = lambda^2 s_t^2 + (1 - lambda)^2 Var(z_{t-1}) with s_t^2 the in-control sampling
variance of window t (DeLong for AUROC; mu_0 (1 - mu_0) / n_t for the rates), the exact
variance for windows of unequal size. Limits mu_0 +/- L sqrt(Var(z_t)), L = ``width`` (widened
for K subgroup charts). Windows with too few rows leave the chart unchanged.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

from steward.cube.model import LevelCounts
from steward.metrics._counts import UndefinedMetricWarning
from steward.metrics.discrimination import auroc_values, delong_variance_values
from steward.metrics.thresholds import confusion_counts
from steward.surveillance.monitors.config import EwmaConfig, EwmaMetric
from steward.surveillance.monitors.findings import Finding, Status, fmt
from steward.surveillance.monitors.inputs import Reference, Subject, WindowData, counts_for

MONITOR = "ewma"


def _observation(
    counts: LevelCounts, metric: EwmaMetric, threshold: float | None, mu0: float
) -> tuple[float, float, float]:
    """Value, in-control sampling variance and rows of one window (nan when undefined)."""
    labelled = counts.labelled()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        if metric == "auroc":
            n = float(labelled.n_pos.sum() + labelled.n_neg.sum())
            value = float(auroc_values(labelled))
            return value, float(delong_variance_values(labelled)), n
    assert threshold is not None
    if metric == "alert_rate":
        # Every row counts: the alert rate needs no outcome.
        c = confusion_counts(_all_rows(counts), threshold)
        n = float(c.tp + c.fp + c.tn + c.fn)
        alerts = float(c.tp + c.fp)
    else:
        c = confusion_counts(labelled, threshold)
        n = float(c.tp + c.fp)
        alerts = float(c.tp)
    if n <= 0:
        return math.nan, math.nan, 0.0
    return alerts / n, mu0 * (1.0 - mu0) / n, n


def _all_rows(counts: LevelCounts) -> LevelCounts:
    stats = counts.stats.copy()
    stats[..., 0, :] += stats[..., 2, :]  # unlabelled rows counted as "negative": n only
    stats[..., 2, :] = 0.0
    return LevelCounts(counts.edges, stats)


def reference_value(
    reference: Reference, subject: Subject, metric: EwmaMetric, threshold: float | None
) -> float:
    counts = counts_for(reference.cube, subject)
    if counts is None:
        return math.nan
    value, _, _ = _observation(counts, metric, threshold, 0.5)
    return value


def ewma_chart(
    history: Sequence[WindowData],
    reference: Reference,
    config: EwmaConfig,
    metric: EwmaMetric,
    subject: Subject,
    threshold: float | None,
    width: float,
) -> list[Finding]:
    """One finding per window of ``history`` (time order) for one metric and subject."""
    if metric != "auroc" and threshold is None:
        return []
    mu0 = reference_value(reference, subject, metric, threshold)
    z, var = mu0, 0.0
    lam = config.lam
    findings = []
    for data in history:
        counts = counts_for(data.cube, subject)
        if counts is None:
            continue
        value, s2, n = _observation(counts, metric, threshold, mu0)
        status: Status
        lower = upper = None
        if (
            n < config.min_n
            or not (math.isfinite(value) and math.isfinite(s2))
            or not (math.isfinite(mu0))
        ):
            status = "insufficient"
            message = f"EWMA {metric}: {n:.0f} rows in the window; chart unchanged"
        else:
            z = lam * value + (1.0 - lam) * z
            var = lam * lam * s2 + (1.0 - lam) ** 2 * var
            half = width * math.sqrt(var)
            lower, upper = mu0 - half, mu0 + half
            status = "ok" if lower <= z <= upper else "alarm"
            message = (
                f"EWMA of {metric.replace('_', ' ')} {fmt(z)} (this window {fmt(value)}); "
                f"reference {fmt(mu0)}, limits {fmt(lower)} to {fmt(upper)}"
            )
        findings.append(
            Finding(
                monitor=MONITOR,
                metric=metric,
                subject=subject,
                window=data.window,
                value=z if status != "insufficient" else None,
                status=status,
                message=message,
                lower=lower,
                upper=upper,
                n=n,
                details={"window_value": value, "reference": mu0, "variance": var, "lambda": lam},
            )
        )
    return findings
