"""Two-sided risk-adjusted Bernoulli CUSUM of calibration (Steiner et al. 2000), from window cubes.

Per prediction, W = y ln R - ln(1 - p + R p): the log-likelihood ratio of "the odds of an event
are R times what the score says" against "the score is right". The chart adds the windows'
sums, S_w = max(0, S_{w-1} + X_w) with X_w = sum over the window's labelled rows of W, and
alarms when S_w > h; it then restarts at 0. The upper chart (R = 1.5) detects under-prediction,
the lower chart (R = 1/1.5) over-prediction.

From the cube, sum y ln R = n_events ln R exactly; sum ln(1 + (R - 1) p) is expanded to second
order around each bin's mean score, using the bin's spread from ``sum p`` and ``sum p^2``::

    sum_i f(p_i) = m f(pbar) + f''(pbar) V / 2 + r,   V = sum p^2 - m pbar^2,
    |r| <= max_bin |f'''| / 6 * width * V,            f''' = 2 (R - 1)^3 / (1 + (R - 1) p)^3

(the cube's bins are at most 0.001 wide, so r is below 1e-9 per row). Updating once per
window, the chart is a CUSUM of window sums: at a window's end it never exceeds the
per-prediction chart (which may restart inside a window), and its control limit is chosen by
simulating this same windowed chart (``monitors.arl``), so the false-alarm target holds for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from steward.cube.model import NEGATIVE, POSITIVE, LevelCounts, stat_index
from steward.surveillance.monitors.findings import Finding, fmt
from steward.surveillance.monitors.inputs import FloatArray, Subject, Window

MONITOR = "calibration_cusum"
Side = Literal["upper", "lower"]


class Increment(NamedTuple):
    """One window's contribution to a CUSUM, with the bound on its approximation error."""

    value: float
    events: float
    expected: float
    n: float
    error_bound: float


def odds_ratio_for(side: Side, odds_ratio: float) -> float:
    """R_A of the chart: ``odds_ratio`` for the upper chart, its reciprocal for the lower one."""
    return odds_ratio if side == "upper" else 1.0 / odds_ratio


def increment(counts: LevelCounts, odds_ratio: float) -> Increment:
    """Sum of W = y ln R - ln(1 - p + R p) over the labelled rows of ``counts``.

    Unlabelled rows are left out: they enter the chart in the window they belong to once their
    outcomes are known (the caller recomputes from that window on).
    """
    stats = np.asarray(counts.stats, dtype=np.float64)
    if stats.ndim != 3:
        raise ValueError("increment takes one group of rows (no batch axes)")
    return increments(stats[None], np.asarray(counts.edges, dtype=np.float64), odds_ratio)[0]


def increments(stats: FloatArray, edges: FloatArray, odds_ratio: float) -> list[Increment]:
    """:func:`increment` of a stack of windows, ``stats[window, bin, label, stat]``, at once.

    Only the negative and positive labels and the stats ``n``, ``sum_p``, ``sum_p2`` are read,
    so a slice ``stats[..., :2, :3]`` of the cubes suffices.
    """
    labelled = stats[:, :, NEGATIVE, :] + stats[:, :, POSITIVE, :]
    m = labelled[..., stat_index("n")]
    s1 = labelled[..., stat_index("sum_p")]
    s2 = labelled[..., stat_index("sum_p2")]
    events = stats[:, :, POSITIVE, stat_index("n")].sum(axis=1)
    low, high = edges[:-1], edges[1:]
    a = odds_ratio - 1.0
    pbar = s1 / np.where(m > 0, m, 1.0)
    spread = np.maximum(s2 - m * pbar * pbar, 0.0)
    denominator = 1.0 + a * pbar
    log_term = m * np.log1p(a * pbar) - 0.5 * a * a * spread / (denominator * denominator)
    # |f'''| is largest where 1 + a p is smallest: the bin's lower edge when a > 0.
    worst = 1.0 + a * (np.clip(low, 0.0, 1.0) if a > 0 else np.clip(high, 0.0, 1.0))
    bound = (2.0 * abs(a) ** 3 / worst**3 / 6.0 * (high - low) * spread).sum(axis=1)
    value = events * math.log(odds_ratio) - log_term.sum(axis=1)
    return [
        Increment(float(v), float(e), float(x), float(n), float(b))
        for v, e, x, n, b in zip(value, events, s1.sum(axis=1), m.sum(axis=1), bound, strict=True)
    ]


@dataclass(frozen=True)
class ChartPoint:
    """The chart after one window: statistic, whether it alarmed (then it restarts at 0)."""

    window: Window
    statistic: float
    alarm: bool
    increment: Increment


def run_chart(
    windows: Sequence[Window],
    increments: Sequence[Increment],
    h: float,
    start: float = 0.0,
) -> list[ChartPoint]:
    """The CUSUM over windows in time order, from ``start`` (the statistic after the last run).

    After an alarm the reported statistic is the one that crossed ``h``; the next window
    starts from 0 (Steiner et al. 2000 restart the chart once a signal is investigated).
    """
    if not h > 0:
        raise ValueError("the control limit h must be positive")
    points = []
    state = max(start, 0.0)
    for window, inc in zip(windows, increments, strict=True):
        statistic = max(0.0, state + inc.value)
        alarm = statistic > h
        points.append(ChartPoint(window, statistic, alarm, inc))
        state = 0.0 if alarm else statistic
    return points


def restart_state(last: ChartPoint | None) -> float:
    """The statistic the next window starts from, given the last computed point."""
    if last is None or last.alarm:
        return 0.0
    return last.statistic


def finding(
    point: ChartPoint, side: Side, subject: Subject, h: float, odds_ratio: float
) -> Finding:
    """A chart point as a :class:`Finding` (``value`` is S_w, ``upper`` is h)."""
    inc = point.increment
    direction = "under-predicts" if side == "upper" else "over-predicts"
    oe = inc.events / inc.expected if inc.expected > 0 else math.nan
    if point.alarm:
        message = (
            f"calibration CUSUM ({side}) {fmt(point.statistic)} crossed h = {fmt(h)}: the score "
            f"{direction} risk (odds ratio {fmt(odds_ratio)} more likely than none)"
        )
    else:
        message = f"calibration CUSUM ({side}) {fmt(point.statistic)} below h = {fmt(h)}"
    return Finding(
        monitor=MONITOR,
        metric=side,
        subject=subject,
        window=point.window,
        value=point.statistic,
        status="alarm" if point.alarm else "ok",
        message=message,
        upper=h,
        n=inc.n,
        details={
            "increment": inc.value,
            "events": inc.events,
            "expected_events": inc.expected,
            "window_oe": oe,
            "odds_ratio": odds_ratio,
            "approximation_bound": inc.error_bound,
        },
    )
