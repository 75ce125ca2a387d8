"""Read API of the window cells for monitors: score cubes, feature histograms and feedback
counts per window, straight from the stored cells (no prediction is read again).

Windows are named by their first day (UTC; weeks start on Monday). A range ``[start, end)``
selects the windows whose first day lies in it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from steward.cube.model import LABEL_AXIS, STATS, Cube, FloatArray, Level, Margin, level_sort_key
from steward.registry.errors import NotFoundError
from steward.surveillance.cells import GRAINS, MISSING, OVERALL, score_edges
from steward.surveillance.models import FeatureCell, FeedbackCell, MonitoringConfig, ScoreCell


def _config(session: Session, deployment_id: uuid.UUID) -> MonitoringConfig:
    config = session.get(MonitoringConfig, deployment_id)
    if config is None:
        raise NotFoundError(f"no monitored deployment with id {deployment_id}")
    return config


def _check_grain(grain: str) -> None:
    if grain not in GRAINS:
        raise ValueError(f"unknown grain {grain!r}: use day, week or month")


def _level(value: str) -> str | None:
    return None if value == MISSING else value


def _margin(dims: tuple[str, ...], edges: FloatArray, cells: dict[Level, FloatArray]) -> Margin:
    levels = tuple(sorted(cells, key=level_sort_key))
    stats = np.zeros((len(levels), edges.size - 1, len(LABEL_AXIS), len(STATS)))
    for i, level in enumerate(levels):
        stats[i] = cells[level]
    return Margin(dims, levels, edges, stats)


def window_cubes(
    session: Session, deployment_id: uuid.UUID, grain: str, start: date, end: date
) -> dict[date, Cube]:
    """One cube per window with data in ``[start, end)``, keyed by the window's first day.

    Each cube has the overall margin ``()`` and one margin per subgroup attribute of the
    deployment, all at the deployment's edges (coarse bins plus thresholds); rows without a
    value for an attribute are its ``None`` level. Labels: negative, positive, unlabelled (window
    still open). The metrics of ``steward.metrics`` read these cubes as they read evaluation
    cubes.
    """
    _check_grain(grain)
    config = _config(session, deployment_id)
    edges = score_edges(config.thresholds)
    shape = (edges.size - 1, len(LABEL_AXIS), len(STATS))
    cells: dict[date, dict[str, dict[Level, FloatArray]]] = defaultdict(lambda: defaultdict(dict))
    table = ScoreCell.__table__
    columns = [table.c[name] for name in STATS]
    rows = session.execute(
        select(
            table.c.window_start, table.c.dim, table.c.level, table.c.bin, table.c.label, *columns
        ).where(
            table.c.deployment_id == deployment_id,
            table.c.grain == grain,
            table.c.window_start >= start,
            table.c.window_start < end,
        )
    )
    for window, dim, level, bin_, label, *stats in rows:
        key: Level = () if dim == OVERALL else (_level(level),)
        by_level = cells[window][dim]
        if key not in by_level:
            by_level[key] = np.zeros(shape)
        by_level[key][bin_, label] = stats
    cubes: dict[date, Cube] = {}
    for window in sorted(cells):
        overall: dict[Level, FloatArray] = cells[window].get(OVERALL) or {(): np.zeros(shape)}
        margins: dict[tuple[str, ...], Margin] = {(): _margin((), edges, overall)}
        for dim in config.subgroups:
            margins[(dim,)] = _margin((dim,), edges, cells[window].get(dim, {}))
        cubes[window] = Cube(margins)
    return cubes


def empty_cube(session: Session, deployment_id: uuid.UUID) -> Cube:
    """A cube of the deployment's shape with no rows."""
    config = _config(session, deployment_id)
    edges = score_edges(config.thresholds)
    zero: dict[Level, FloatArray] = {(): np.zeros((edges.size - 1, len(LABEL_AXIS), len(STATS)))}
    margins: dict[tuple[str, ...], Margin] = {(): _margin((), edges, zero)}
    for dim in config.subgroups:
        margins[(dim,)] = _margin((dim,), edges, {})
    return Cube(margins)


def window_cube(
    session: Session, deployment_id: uuid.UUID, grain: str, start: date, end: date
) -> Cube:
    """The windows of ``[start, end)`` merged into one cube (empty when none has data)."""
    cube = empty_cube(session, deployment_id)
    for window in window_cubes(session, deployment_id, grain, start, end).values():
        cube = cube.merge(window)
    return cube


@dataclass(frozen=True)
class FeatureHistogram:
    """Counts of one feature in one window: ``counts[b]`` values in bin ``b`` of ``cuts``.

    Bin 0 holds values below ``cuts[0]``, bin ``b`` values in ``[cuts[b-1], cuts[b])``, the last
    bin values from ``cuts[-1]`` up; ``len(counts) == len(cuts) + 1``.
    """

    cuts: tuple[float, ...]
    counts: FloatArray


def feature_histograms(
    session: Session, deployment_id: uuid.UUID, grain: str, start: date, end: date
) -> dict[date, dict[str, FeatureHistogram]]:
    """Per window, each input feature's histogram on its frozen reference bins (for PSI)."""
    _check_grain(grain)
    config = _config(session, deployment_id)
    cuts = {name: tuple(float(c) for c in values) for name, values in config.feature_cuts.items()}
    table = FeatureCell.__table__
    rows = session.execute(
        select(table.c.window_start, table.c.feature, table.c.bin, table.c.n).where(
            table.c.deployment_id == deployment_id,
            table.c.grain == grain,
            table.c.window_start >= start,
            table.c.window_start < end,
        )
    )
    result: dict[date, dict[str, FeatureHistogram]] = defaultdict(dict)
    for window, feature, bin_, n in rows:
        if feature not in cuts:
            continue
        histograms = result[window]
        if feature not in histograms:
            histograms[feature] = FeatureHistogram(cuts[feature], np.zeros(len(cuts[feature]) + 1))
        histograms[feature].counts[bin_] += n
    return {window: result[window] for window in sorted(result)}


@dataclass(frozen=True)
class FeedbackCount:
    """Feedback received in a window and how much of it overrode the prediction."""

    n: int
    overridden: int


def feedback_counts(
    session: Session, deployment_id: uuid.UUID, grain: str, start: date, end: date
) -> dict[date, dict[tuple[str, ...], dict[Level, FeedbackCount]]]:
    """Per window: ``{(): {(): overall}, ("sex",): {("F",): ..., (None,): ...}, ...}``."""
    _check_grain(grain)
    _config(session, deployment_id)
    table = FeedbackCell.__table__
    rows = session.execute(
        select(
            table.c.window_start, table.c.dim, table.c.level, table.c.n, table.c.overridden
        ).where(
            table.c.deployment_id == deployment_id,
            table.c.grain == grain,
            table.c.window_start >= start,
            table.c.window_start < end,
        )
    )
    result: dict[date, dict[tuple[str, ...], dict[Level, FeedbackCount]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for window, dim, level, n, overridden in rows:
        dims: tuple[str, ...] = () if dim == OVERALL else (dim,)
        key: Level = () if dim == OVERALL else (_level(level),)
        result[window][dims][key] = FeedbackCount(round(n), round(overridden))
    return {window: dict(result[window]) for window in sorted(result)}
