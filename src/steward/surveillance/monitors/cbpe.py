"""Label-free estimated performance (CBPE) at the deployed threshold while outcomes mature.

For the unlabelled rows of a window, a calibrated score p is the probability of an event, so
E[TP(t)] = sum_{p >= t} p and E[FP(t)] = sum_{p >= t} (1 - p) (docs/methods.md section 3);
both are exact from the cube's per-bin ``n`` and ``sum p``. The estimates assume calibration
and cannot see concept drift: every finding is marked ``estimated`` and is replaced by the
realised metrics once outcomes mature.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from steward.cube.model import UNLABELLED, LevelCounts, stat_index
from steward.metrics._counts import edge_position
from steward.metrics.thresholds import confusion_counts
from steward.surveillance.monitors.config import EstimatedPerformanceConfig
from steward.surveillance.monitors.findings import Finding, Status, fmt
from steward.surveillance.monitors.inputs import OVERALL, Reference, Subject, WindowData, counts_for

MONITOR = "estimated_performance"


class ExpectedConfusion(NamedTuple):
    """Expected confusion counts of unlabelled rows at one threshold, and their variance."""

    tp: float
    fp: float
    fn: float
    tn: float
    var_tp: float
    """Variance of the realised TP given the scores: sum_{p >= t} p (1 - p)."""

    @property
    def n(self) -> float:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def sensitivity(self) -> float:
        return _div(self.tp, self.tp + self.fn)

    @property
    def specificity(self) -> float:
        return _div(self.tn, self.tn + self.fp)

    @property
    def ppv(self) -> float:
        return _div(self.tp, self.tp + self.fp)

    @property
    def alert_rate(self) -> float:
        return _div(self.tp + self.fp, self.n)


def _div(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def expected_confusion(counts: LevelCounts, threshold: float) -> ExpectedConfusion:
    """CBPE expected confusion counts of the unlabelled rows at ``threshold`` (a bin edge)."""
    edges = np.asarray(counts.edges, dtype=np.float64)
    first_flagged = edges.size - 1 - edge_position(edges, threshold)
    cells = counts.stats[..., UNLABELLED, :]
    n = cells[:, stat_index("n")]
    sum_p = cells[:, stat_index("sum_p")]
    sum_p2 = cells[:, stat_index("sum_p2")]
    above = slice(first_flagged, None)
    below = slice(None, first_flagged)
    tp = float(sum_p[above].sum())
    fn = float(sum_p[below].sum())
    fp = float(n[above].sum()) - tp
    tn = float(n[below].sum()) - fn
    var_tp = float((sum_p[above] - sum_p2[above]).sum())
    return ExpectedConfusion(tp, max(fp, 0.0), fn, max(tn, 0.0), max(var_tp, 0.0))


class _Expected(NamedTuple):
    sensitivity: float
    ppv: float
    alert_rate: float


def _reference_values(counts: LevelCounts, threshold: float) -> _Expected:
    c = confusion_counts(counts, threshold)
    tp, fp, fn, tn = (float(x) for x in (c.tp, c.fp, c.fn, c.tn))
    return _Expected(_div(tp, tp + fn), _div(tp, tp + fp), _div(tp + fp, tp + fp + fn + tn))


def estimated_performance(
    data: WindowData,
    reference: Reference,
    config: EstimatedPerformanceConfig,
    threshold: float,
    subject: Subject = OVERALL,
) -> list[Finding]:
    """Estimated sensitivity and PPV and the observed alert rate of ``subject``'s unlabelled rows.

    Each is judged against its realised reference value +/- ``sigma`` sampling SEs of a window
    of this size (binomial: sensitivity over the expected events, PPV over the alerts, alert
    rate over the rows); outside is ``review``, never ``alarm``: an estimate is a lead.
    """
    current = counts_for(data.cube, subject)
    ref_counts = counts_for(reference.cube, subject)
    if current is None or ref_counts is None:
        return []
    expected = expected_confusion(current, threshold)
    ref = _reference_values(ref_counts.labelled(), threshold)
    rows = {
        "sensitivity": (expected.sensitivity, ref.sensitivity, expected.tp + expected.fn),
        "ppv": (expected.ppv, ref.ppv, expected.tp + expected.fp),
        "alert_rate": (expected.alert_rate, ref.alert_rate, expected.n),
    }
    findings = []
    for metric, (value, ref_value, trials) in rows.items():
        se = math.sqrt(ref_value * (1 - ref_value) / trials) if trials > 0 else math.nan
        lower, upper = ref_value - config.sigma * se, ref_value + config.sigma * se
        status: Status
        if expected.n < config.min_n or not math.isfinite(value) or not math.isfinite(se):
            status = "insufficient"
        elif lower <= value <= upper:
            status = "ok"
        else:
            status = "review"
        label = "observed" if metric == "alert_rate" else "estimated"
        message = (
            f"{label} {metric.replace('_', ' ')} {fmt(value)} at threshold {threshold:g} on "
            f"{expected.n:.0f} rows awaiting outcomes (reference {fmt(ref_value)}, "
            f"limits {fmt(lower)} to {fmt(upper)})"
        )
        if status == "insufficient":
            message = (
                f"{label} {metric.replace('_', ' ')}: {expected.n:.0f} rows awaiting outcomes, "
                f"fewer than {config.min_n}; not judged"
            )
        findings.append(
            Finding(
                monitor=MONITOR,
                metric=metric,
                subject=subject,
                window=data.window,
                value=value,
                status=status,
                message=message,
                lower=lower,
                upper=upper,
                n=expected.n,
                estimated=metric != "alert_rate",
                details={
                    "reference": ref_value,
                    "expected_tp": expected.tp,
                    "expected_fp": expected.fp,
                    "expected_fn": expected.fn,
                    "expected_tn": expected.tn,
                    "threshold": threshold,
                },
            )
        )
    return findings
