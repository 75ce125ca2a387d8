"""The report's charts: ROC, calibration, decision curve, forest plots and time series.

Each chart comes with a sentence that describes it to screen-reader users.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullLocator

from steward.evaluation.report.svg import Margins, figure, inline, to_svg

#: Longest curve drawn; longer curves are thinned to this many points.
MAX_POINTS = 400

# Okabe & Ito colour-blind-safe palette; every series is also told apart by line style.
MODEL = "#0072B2"
COMPARATOR = "#D55E00"
REFERENCE = "#555555"
GROUPS = "#1a1a1a"
GRID = "#d9d9d9"

# Ratio axes (O/E) are logarithmic; these ticks read naturally, the fine ones only on short axes.
_RATIO_TICKS = (0.25, 0.33, 0.5, 0.67, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 4.0)
_FINE_RATIO_TICKS = (0.33, 0.67, 0.9, 1.1)


@dataclass(frozen=True)
class Chart:
    """An inline SVG chart and the sentence that describes it to screen-reader users."""

    svg: Markup
    label: str


@dataclass(frozen=True)
class Series:
    """A named line to draw: ``x`` and ``y`` of equal length (``nan`` leaves a gap)."""

    name: str
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Band:
    """A smoothed curve with its pointwise confidence band."""

    x: np.ndarray
    y: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class Point:
    """An estimate with its interval, placed on a forest or time chart."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    hollow: bool = False
    note: str = ""


@dataclass(frozen=True)
class Panel:
    """One column of a forest chart (or one row of a time chart): a metric and its reference."""

    title: str
    points: Sequence[Point]
    reference: float | None = None
    reference_label: str = ""
    log_scale: bool = False


def thin(*arrays: np.ndarray, limit: int = MAX_POINTS) -> tuple[np.ndarray, ...]:
    """Keep at most ``limit`` evenly spaced points (always the first and the last)."""
    size = len(arrays[0])
    if size <= limit:
        return arrays
    keep = np.unique(np.linspace(0, size - 1, limit).round().astype(np.int64))
    return tuple(a[keep] for a in arrays)


def chart_label(text: str, limit: int = 32) -> str:
    """A user string made safe for a chart: control characters dropped, ``$`` kept literal."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned.replace("$", r"\$")


def roc_chart(chart_id: str, fpr: np.ndarray, tpr: np.ndarray, summary: str) -> Chart:
    """ROC curve with the diagonal of no discrimination."""
    fpr, tpr = thin(fpr, tpr)
    with figure(3.6, 3.5, Margins(left=0.6, bottom=0.5)) as fig:
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], color=REFERENCE, linestyle=":", linewidth=1.0, label="No skill")
        ax.plot(fpr, tpr, color=MODEL, label="Model", drawstyle="default")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.grid(True, color=GRID, linewidth=0.5)
        ax.set_xlabel("1 − specificity (false-positive rate)")
        ax.set_ylabel("Sensitivity (true-positive rate)")
        ax.legend(loc="lower right")
        svg = to_svg(fig)
    label = f"ROC curve. {summary}"
    return Chart(inline(svg, chart_id, label), label)


def calibration_chart(
    chart_id: str,
    smooth: Band | None,
    groups: Band | None,
    distribution: Series | None,
    summary: str,
) -> Chart:
    """Smoothed calibration curve with its band, grouped observed risks and the diagonal.

    ``distribution`` (predicted risk against number of patients) is drawn as a histogram strip
    under the plot, so a reader sees where most patients' risks lie; it has no count axis.
    """
    strip = distribution is not None
    height = 4.15 if strip else 3.5
    margins = Margins(left=0.6, bottom=0.5, hspace=0.06)
    with figure(3.6, height, margins) as fig:
        if strip:
            ax, below = fig.subplots(2, 1, sharex=True, height_ratios=[4.3, 1.0])
        else:
            ax, below = fig.add_subplot(), None
        top = _calibration_limit(smooth, groups)
        ax.plot(
            [0, top],
            [0, top],
            color=REFERENCE,
            linestyle=":",
            linewidth=1.0,
            label="Perfect calibration",
        )
        if smooth is not None:
            x, y, low, high = thin(smooth.x, smooth.y, smooth.low, smooth.high)
            if np.isfinite(low).any() and np.isfinite(high).any():
                ax.fill_between(x, low, high, color=MODEL, alpha=0.18, linewidth=0, label="95% CI")
            ax.plot(x, y, color=MODEL, label="Smoothed")
        if groups is not None:
            err = _error_bars(groups.y, groups.low, groups.high)
            ax.errorbar(
                groups.x,
                groups.y,
                yerr=err,
                fmt="o",
                color=GROUPS,
                markersize=3.5,
                elinewidth=0.9,
                capsize=2,
                label="Grouped",
            )
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.grid(True, color=GRID, linewidth=0.5)
        ax.set_ylabel("Observed risk")
        ax.legend(loc="upper left")
        if below is not None and distribution is not None:
            _risk_strip(below, distribution, top)
            below.set_xlabel("Predicted risk")
        else:
            ax.set_xlabel("Predicted risk")
        svg = to_svg(fig)
    label = f"Calibration plot. {summary}"
    return Chart(inline(svg, chart_id, label), label)


def _risk_strip(ax: Axes, distribution: Series, top: float) -> None:
    """Histogram of predicted risk, in relative terms only (no counts are readable)."""
    weights, edges = np.histogram(
        distribution.x, bins=40, range=(0.0, top), weights=np.nan_to_num(distribution.y)
    )
    if weights.max() > 0:
        weights = weights / weights.max()
    ax.bar(edges[:-1], weights, width=np.diff(edges), align="edge", color="#9aa7b5", linewidth=0)
    ax.set_ylim(0, 1.05)
    ax.set_yticks([])
    ax.set_ylabel("Patients", rotation=0, ha="right", va="center", fontsize=8)
    ax.spines["left"].set_visible(False)


def decision_chart(
    chart_id: str,
    model: Series,
    treat_all: Series,
    comparator: Series | None,
    marked_thresholds: Sequence[float],
    summary: str,
) -> Chart:
    """Decision curve: net benefit of the model against treat-all, treat-none and a comparator."""
    with figure(7.2, 3.4, Margins(left=0.7, bottom=0.5)) as fig:
        ax = fig.add_subplot()
        x_all = model.x
        ax.axhline(0.0, color="#000000", linewidth=1.0, linestyle="-", label="Treat none")
        ax.plot(
            *thin(treat_all.x, treat_all.y),
            color=REFERENCE,
            linestyle="--",
            linewidth=1.3,
            label="Treat all",
        )
        if comparator is not None:
            ax.plot(
                *thin(comparator.x, comparator.y),
                color=COMPARATOR,
                linestyle="-.",
                label=chart_label(comparator.name),
            )
        ax.plot(*thin(model.x, model.y), color=MODEL, label="Model")
        for t in marked_thresholds:
            ax.axvline(t, color="#8c8c8c", linewidth=0.9, linestyle=(0, (4, 3)), zorder=0)
            ax.annotate(
                f"{t:g}",
                (t, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, -2),
                textcoords="offset points",
                ha="left",
                va="top",
                fontsize=7.5,
                color=REFERENCE,
            )
        curves = [model.y] + ([comparator.y] if comparator is not None else [])
        high = max([_finite_max(c) for c in [*curves, treat_all.y]] + [0.01])
        ax.set_ylim(-0.15 * high, 1.12 * high)
        lo, hi = _finite_min(x_all), _finite_max(x_all)
        if lo < hi:
            ax.set_xlim(lo, hi)
        ax.set_xlabel("Threshold probability")
        ax.set_ylabel("Net benefit")
        ax.grid(True, color=GRID, linewidth=0.5)
        ax.legend(loc="upper right")
        svg = to_svg(fig)
    label = f"Decision curve. {summary}"
    return Chart(inline(svg, chart_id, label), label)


def forest_chart(
    chart_id: str, levels: Sequence[str], panels: Sequence[Panel], summary: str
) -> Chart:
    """One row per level, one panel per metric, each estimate with its interval."""
    labels = [chart_label(level, 24) for level in levels]
    # Tick labels take about 0.07 in per character.
    left = 0.3 + 0.07 * max(len(label) for label in labels)
    panel_width, gap = 1.9, 0.25
    width = left + len(panels) * panel_width + (len(panels) - 1) * gap + 0.2
    height = 0.75 + 0.3 * len(levels)
    margins = Margins(left=left, right=0.2, bottom=0.45, top=0.3, wspace=gap / panel_width)
    with figure(width, height, margins) as fig:
        axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
        positions = np.arange(len(levels))[::-1]
        for ax, panel in zip(axes, panels, strict=True):
            _forest_panel(ax, panel, positions)
        axes[0].set_yticks(positions, labels)
        axes[0].set_ylim(-0.7, len(levels) - 0.3)
        svg = to_svg(fig)
    label = f"Forest plot. {summary}"
    return Chart(inline(svg, chart_id, label), label)


def time_chart(
    chart_id: str, windows: Sequence[str], panels: Sequence[Panel], summary: str
) -> Chart:
    """One panel per metric, one point per time window, each with its interval."""
    rotate = len(windows) > 6
    bottom = 0.85 if rotate else 0.4
    margins = Margins(left=0.75, bottom=bottom, top=0.1, hspace=0.12)
    with figure(6.0, 0.5 + bottom + 1.5 * len(panels), margins) as fig:
        axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        positions = np.arange(len(windows), dtype=np.float64)
        for ax, panel in zip(axes, panels, strict=True):
            values = np.array([_nan(p.value) for p in panel.points])
            low = np.array([_nan(p.low) for p in panel.points])
            high = np.array([_nan(p.high) for p in panel.points])
            if panel.reference is not None:
                ax.axhline(panel.reference, color=REFERENCE, linestyle=":", linewidth=1.0)
            ax.errorbar(
                positions,
                values,
                yerr=_error_bars(values, low, high),
                fmt="o-",
                color=MODEL,
                markersize=4,
                elinewidth=0.9,
                capsize=2,
            )
            ax.set_ylabel(panel.title)
            ax.grid(True, axis="y", color=GRID, linewidth=0.5)
        step = max(1, math.ceil(len(windows) / 12))
        axes[-1].set_xticks(
            positions[::step],
            [chart_label(w, 12) for w in windows][::step],
            rotation=45 if rotate else 0,
            ha="right" if rotate else "center",
        )
        axes[-1].set_xlim(-0.5, len(windows) - 0.5)
        svg = to_svg(fig)
    label = f"Performance over time. {summary}"
    return Chart(inline(svg, chart_id, label), label)


def _forest_panel(ax: Axes, panel: Panel, positions: np.ndarray) -> None:
    if panel.reference is not None:
        ax.axvline(panel.reference, color=REFERENCE, linestyle=":", linewidth=1.0)
    estimated = [
        (y, p) for y, p in zip(positions, panel.points, strict=True) if p.value is not None
    ]
    for y, point in zip(positions, panel.points, strict=True):
        if point.value is None:
            ax.text(
                0.5,
                y,
                point.note or "not estimable",
                transform=ax.get_yaxis_transform(),
                ha="center",
                va="center",
                fontsize=8,
                color=REFERENCE,
                fontstyle="italic",
            )
    ys = np.array([y for y, _ in estimated], dtype=np.float64)
    values = np.array([_nan(p.value) for _, p in estimated])
    lows = np.array([_nan(p.low if p.low is not None else p.value) for _, p in estimated])
    highs = np.array([_nan(p.high if p.high is not None else p.value) for _, p in estimated])
    hollow = np.array([p.hollow for _, p in estimated], dtype=bool)
    if len(estimated):
        ax.hlines(ys, lows, highs, color=MODEL, linewidth=1.4)
        for mask, face, marker in ((~hollow, MODEL, "D"), (hollow, "white", "o")):
            if mask.any():
                ax.plot(
                    values[mask],
                    ys[mask],
                    marker=marker,
                    markersize=5,
                    color=MODEL,
                    markerfacecolor=face,
                    markeredgewidth=1.3,
                    linestyle="none",
                )
    candidates = np.concatenate([lows, highs, values]) if len(estimated) else np.array([])
    if panel.log_scale:
        candidates = candidates[candidates > 0]
    drawn = [float(v) for v in candidates if np.isfinite(v)]
    if panel.reference is not None:
        drawn.append(panel.reference)
    if drawn:
        lo, hi = min(drawn), max(drawn)
        if panel.log_scale:
            lo, hi = lo / 1.15, hi * 1.15
            ax.set_xscale("log")
            ticks = [t for t in _RATIO_TICKS if lo <= t <= hi]
            if len(ticks) > 6:
                ticks = [t for t in ticks if t not in _FINE_RATIO_TICKS]
            ax.xaxis.set_major_locator(FixedLocator(ticks or [1.0]))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        else:
            pad = max((hi - lo) * 0.08, 0.01)
            lo, hi = lo - pad, hi + pad
        ax.set_xlim(lo, hi)
    ax.set_title(panel.title, loc="left")
    ax.grid(True, axis="x", color=GRID, linewidth=0.5)
    ax.tick_params(axis="y", length=0)


def _calibration_limit(smooth: Band | None, groups: Band | None) -> float:
    """Axis upper limit: just above the largest predicted or observed risk, at most 1."""
    values = [0.05]
    for band in (smooth, groups):
        if band is not None:
            values += [_finite_max(band.x), _finite_max(band.y)]
    top = min(1.0, max(values) * 1.1)
    return float(math.ceil(top * 20) / 20)  # round up to a multiple of 0.05


def _error_bars(y: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    below = np.where(np.isfinite(low), y - low, 0.0)
    above = np.where(np.isfinite(high), high - y, 0.0)
    bars: np.ndarray = np.clip(np.nan_to_num(np.vstack([below, above])), 0.0, None)
    return bars


def _finite_max(a: np.ndarray) -> float:
    finite = a[np.isfinite(a)]
    return float(finite.max()) if finite.size else 0.0


def _finite_min(a: np.ndarray) -> float:
    finite = a[np.isfinite(a)]
    return float(finite.min()) if finite.size else 0.0


def _nan(x: float | None) -> float:
    return math.nan if x is None else x
