"""Charts of the monitoring dashboard, drawn on the server as inline SVG: a series over time with
its control limits and alarm marks, and small multiples of the same series per subgroup.

Drawing a deployment's charts with matplotlib takes seconds, and a chart depends only on its
series (frozen, hashable values), so the most recent charts are kept: a dashboard whose windows
have not changed since it was last shown is not drawn again."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from markupsafe import Markup
from matplotlib.axes import Axes

from steward.evaluation.report.charts import GRID, MODEL, REFERENCE
from steward.evaluation.report.svg import Margins, figure, inline, to_svg
from steward.surveillance.dashboard import SeriesView

ALARM = "#B00020"
REVIEW = "#B35900"


def _values(series: SeriesView, field: str) -> np.ndarray:
    return np.array(
        [np.nan if getattr(p, field) is None else float(getattr(p, field)) for p in series.points]
    )


def _draw(ax: Axes, series: SeriesView, labels: bool) -> None:
    x = np.arange(len(series.points), dtype=np.float64)
    y = _values(series, "value")
    for field in ("lower", "upper"):
        limit = _values(series, field)
        if np.isfinite(limit).any():
            ax.step(x, limit, where="mid", color=REFERENCE, linestyle="--", linewidth=1.0)
    style = ":" if any(p.estimated for p in series.points) else "-"
    ax.plot(x, y, style, color=MODEL, marker="o", markersize=3)
    for status, colour, marker in (("review", REVIEW, "s"), ("alarm", ALARM, "^")):
        hit = np.array([p.status == status for p in series.points])
        if hit.any():
            ax.plot(x[hit], y[hit], linestyle="none", marker=marker, markersize=7, color=colour)
    ax.grid(True, axis="y", color=GRID, linewidth=0.5)
    step = max(1, math.ceil(len(x) / (8 if labels else 4)))
    ticks = [p.start.strftime("%d %b %y") for p in series.points]
    ax.set_xticks(x[::step], ticks[::step], rotation=30, ha="right", fontsize=7)
    if len(x):
        ax.set_xlim(-0.5, len(x) - 0.5)


def _describe(series: SeriesView) -> str:
    last = series.points[-1] if series.points else None
    now = "no value yet" if last is None or last.value is None else f"latest {last.value:.3g}"
    return (
        f"{series.metric} for {series.subject.label} over {len(series.points)} "
        f"{series.grain}s: {now}; {series.alarms} window(s) past the control limit."
    )


#: Charts kept; each is tens to hundreds of kilobytes of SVG.
CACHED_CHARTS = 128


@lru_cache(maxsize=CACHED_CHARTS)
def series_chart(chart_id: str, series: SeriesView) -> tuple[Markup, str]:
    """One series with its limits: dashed lines are limits, triangles alarms, squares reviews."""
    with figure(7.0, 2.4, Margins(left=0.7, bottom=0.75, top=0.15)) as fig:
        ax = fig.add_subplot(1, 1, 1)
        _draw(ax, series, labels=True)
        ax.set_ylabel(series.metric, fontsize=8)
        svg = to_svg(fig)
    label = _describe(series)
    return inline(svg, chart_id, label), label


@lru_cache(maxsize=CACHED_CHARTS)
def small_multiples(
    chart_id: str, panels: tuple[SeriesView, ...], columns: int = 3
) -> tuple[Markup, str]:
    """The same series for each subgroup, one small panel each, on a shared time axis."""
    rows = math.ceil(len(panels) / columns)
    margins = Margins(left=0.5, bottom=0.6, top=0.3, hspace=0.9, wspace=0.35)
    with figure(7.5, 0.4 + 1.75 * rows, margins) as fig:
        axes = fig.subplots(rows, columns, squeeze=False).ravel()
        for ax, series in zip(axes, panels, strict=False):
            _draw(ax, series, labels=False)
            ax.set_title(series.subject.label[:40], fontsize=8)
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        svg = to_svg(fig)
    alarmed = [s.subject.label for s in panels if s.alarms]
    label = f"{panels[0].metric if panels else ''} for {len(panels)} subgroups; " + (
        f"alarms in: {', '.join(alarmed)}." if alarmed else "no subgroup past its limit."
    )
    return inline(svg, chart_id, label), label
