"""Clinician override rate: a p-chart per window, overall and per subgroup.

Limits pbar +/- k sqrt(pbar (1 - pbar) / n_t) (docs/methods.md section 3), with pbar the
reference period's override rate, or when there is none the pooled rate of the windows before
(never including the window judged). k = ``sigma`` for one chart, widened for K charts
(``limits.widened_sigma``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from steward.surveillance.monitors.config import OverrideConfig
from steward.surveillance.monitors.findings import Finding, Status, fmt
from steward.surveillance.monitors.inputs import FeedbackCounts, Reference, Subject, WindowData

MONITOR = "override_rate"


def p_chart_limits(pbar: float, n: float, k: float = 3.0) -> tuple[float, float]:
    """``pbar -/+ k sqrt(pbar (1 - pbar) / n)``, clipped to [0, 1].

    Examples
    --------
    >>> [round(x, 4) for x in p_chart_limits(0.2, 100)]
    [0.08, 0.32]
    """
    half = k * math.sqrt(pbar * (1.0 - pbar) / n)
    return max(0.0, pbar - half), min(1.0, pbar + half)


def override_chart(
    history: Sequence[WindowData],
    reference: Reference,
    config: OverrideConfig,
    subject: Subject,
    k: float,
) -> list[Finding]:
    """One finding per window of ``history`` (time order) in which ``subject`` had feedback."""
    baseline = reference.feedback.get(subject)
    pooled = FeedbackCounts(0.0, 0.0)
    findings = []
    for data in history:
        counts = data.feedback.get(subject)
        if counts is None:
            continue
        centre = baseline if baseline is not None and baseline.n > 0 else pooled
        findings.append(_point(data, subject, counts, centre, config, k))
        pooled = pooled + counts
    return findings


def _point(
    data: WindowData,
    subject: Subject,
    counts: FeedbackCounts,
    centre: FeedbackCounts,
    config: OverrideConfig,
    k: float,
) -> Finding:
    rate = counts.overridden / counts.n if counts.n > 0 else math.nan
    pbar = centre.overridden / centre.n if centre.n > 0 else math.nan
    status: Status
    lower = upper = None
    if counts.n < config.min_n or not math.isfinite(pbar) or not 0 < pbar < 1:
        status = "insufficient"
        message = (
            f"override rate {fmt(rate)} on {counts.n:.0f} answered cards; "
            "too few cards or no baseline rate yet; not judged"
        )
    else:
        lower, upper = p_chart_limits(pbar, counts.n, k)
        status = "ok" if lower <= rate <= upper else "alarm"
        side = "" if status == "ok" else (" (above the limit)" if rate > upper else " (below)")
        message = (
            f"override rate {fmt(rate)} of {counts.n:.0f} cards{side}; centre {fmt(pbar)}, "
            f"limits {fmt(lower)} to {fmt(upper)}"
        )
    return Finding(
        monitor=MONITOR,
        metric="override_rate",
        subject=subject,
        window=data.window,
        value=rate,
        status=status,
        message=message,
        lower=lower,
        upper=upper,
        n=counts.n,
        details={"centre": pbar, "sigma": k, "overridden": counts.overridden},
    )
