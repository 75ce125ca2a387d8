"""Realised performance per window once outcomes are known: AUROC, O:E and calibration slope.

Each is computed from the window cube's labelled rows with the evaluation engine's own
estimators (DeLong AUROC, exact Poisson O:E, Wald slope; docs/methods.md section 2) and judged
against a limit: AUROC against the subject's reference AUROC minus ``auroc_margin``, O:E and
slope against their bands. A point estimate past its limit is ``review``; ``alarm`` needs the
one-sided test "past the limit" to reject at ``alpha`` after Holm's correction across the
subjects (overall and subgroups) judged in the same window.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.special import ndtr, ndtri

from steward.cube.model import LevelCounts
from steward.metrics._counts import UndefinedMetricWarning
from steward.metrics.calibration import calibration_intercept_slope, oe_ratio
from steward.metrics.discrimination import auroc
from steward.metrics.subgroups import holm
from steward.metrics.types import Estimate
from steward.surveillance.monitors.config import RealisedConfig
from steward.surveillance.monitors.findings import Finding, Status, fmt
from steward.surveillance.monitors.inputs import OVERALL, Reference, Subject, WindowData, counts_for

MONITOR = "realised_performance"
METRICS = ("auroc", "oe", "slope")


@dataclass(frozen=True)
class _Judged:
    subject: Subject
    estimate: Estimate
    lower: float | None
    upper: float | None
    p_value: float
    n: float
    events: float


def _logit(x: float) -> float:
    return math.log(x / (1.0 - x))


def _z(alpha: float) -> float:
    return float(-ndtri(alpha / 2.0))


def _p_outside(value: float, se: float, lower: float | None, upper: float | None) -> float:
    """One-sided p-value that ``value`` lies below ``lower`` or above ``upper`` (same scale)."""
    if not (math.isfinite(value) and math.isfinite(se)) or se <= 0:
        return math.nan
    p = 1.0
    if lower is not None:
        p = min(p, float(ndtr((value - lower) / se)))
    if upper is not None:
        p = min(p, float(ndtr((upper - value) / se)))
    return p


def _auroc(counts: LevelCounts, limit: float, z: float) -> tuple[Estimate, float]:
    est = auroc(counts)
    lo, hi = est.ci_low, est.ci_high
    if lo is None or hi is None or not (0 < lo < hi < 1) or not 0 < limit < 1:
        return est, math.nan
    se = (_logit(hi) - _logit(lo)) / (2 * z)
    return est, _p_outside(_logit(est.value), se, _logit(limit), None)


def _oe(counts: LevelCounts, band: tuple[float, float], z: float) -> tuple[Estimate, float]:
    est = oe_ratio(counts)
    lo, hi = est.ci_low, est.ci_high
    if lo is None or hi is None or not (0 < lo < hi) or not est.value > 0:
        return est, math.nan
    se = (math.log(hi) - math.log(lo)) / (2 * z)
    return est, _p_outside(math.log(est.value), se, math.log(band[0]), math.log(band[1]))


def _slope(counts: LevelCounts, band: tuple[float, float], z: float) -> tuple[Estimate, float]:
    _, est = calibration_intercept_slope(counts)
    lo, hi = est.ci_low, est.ci_high
    if lo is None or hi is None or not lo < hi:
        return est, math.nan
    return est, _p_outside(est.value, (hi - lo) / (2 * z), band[0], band[1])


def reference_auroc(reference: Reference, subject: Subject) -> float:
    """AUROC of ``subject`` in the reference period (overall when the subject has none)."""
    for candidate in (subject, OVERALL):
        counts = counts_for(reference.cube, candidate)
        if counts is None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            value = auroc(counts.labelled()).value
        if math.isfinite(value):
            return value
    return math.nan


def realised_performance(
    data: WindowData,
    reference: Reference,
    config: RealisedConfig,
    subjects: Sequence[Subject] = (OVERALL,),
) -> list[Finding]:
    """AUROC, O:E and slope of each subject with enough outcomes in the window; Holm per metric."""
    z = _z(0.05)
    judged: dict[str, list[_Judged]] = {m: [] for m in METRICS}
    findings: list[Finding] = []
    for subject in subjects:
        counts = counts_for(data.cube, subject)
        if counts is None:
            continue
        labelled = counts.labelled()
        events = float(labelled.n_pos.sum())
        nonevents = float(labelled.n_neg.sum())
        n = events + nonevents
        if events < config.min_events or nonevents < config.min_nonevents:
            for metric in METRICS:
                findings.append(_insufficient(data, subject, metric, n, events, config))
            continue
        limit = reference_auroc(reference, subject) - config.auroc_margin
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            rows = {
                "auroc": (*_auroc(labelled, limit, z), limit, None),
                "oe": (*_oe(labelled, config.oe_band, z), *config.oe_band),
                "slope": (*_slope(labelled, config.slope_band, z), *config.slope_band),
            }
        for metric, (est, p, lower, upper) in rows.items():
            judged[metric].append(_Judged(subject, est, lower, upper, p, n, events))
    for metric, items in judged.items():
        adjusted = holm([j.p_value for j in items]).tolist() if items else []
        for j, p_adj in zip(items, adjusted, strict=True):
            findings.append(_finding(data, metric, j, float(p_adj), config.alpha))
    return findings


_NAMES = {"auroc": "AUROC", "oe": "O:E", "slope": "calibration slope"}


def _finding(data: WindowData, metric: str, j: _Judged, p_adj: float, alpha: float) -> Finding:
    value = j.estimate.value
    outside = (j.lower is not None and value < j.lower) or (j.upper is not None and value > j.upper)
    status: Status
    if not math.isfinite(value):
        status = "insufficient"
    elif math.isfinite(p_adj) and p_adj < alpha:
        status = "alarm"
    else:
        status = "review" if outside else "ok"
    limits = (
        f"limit {fmt(j.lower)}" if j.upper is None else f"band {fmt(j.lower)} to {fmt(j.upper)}"
    )
    message = (
        f"{_NAMES[metric]} {fmt(value)} (95% CI {fmt(j.estimate.ci_low)} to "
        f"{fmt(j.estimate.ci_high)}; {limits}; Holm-adjusted p {fmt(p_adj, 2)})"
    )
    return Finding(
        monitor=MONITOR,
        metric=metric,
        subject=j.subject,
        window=data.window,
        value=value,
        status=status,
        message=message,
        lower=j.lower,
        upper=j.upper,
        ci_low=j.estimate.ci_low,
        ci_high=j.estimate.ci_high,
        n=j.n,
        details={"events": j.events, "p_value": j.p_value, "p_holm": p_adj},
    )


def _insufficient(
    data: WindowData, subject: Subject, metric: str, n: float, events: float, config: RealisedConfig
) -> Finding:
    return Finding(
        monitor=MONITOR,
        metric=metric,
        subject=subject,
        window=data.window,
        value=None,
        status="insufficient",
        message=(
            f"{_NAMES[metric]}: {events:.0f} events and {n - events:.0f} non-events with "
            f"outcomes, fewer than {config.min_events} and {config.min_nonevents} needed; "
            "not judged"
        ),
        n=n,
        details={"events": events},
    )
