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
from steward.surveillance.cells import GRAINS, MISSING, OVERALL, as_date, score_edges
from steward.surveillance.models import FeatureCell, FeedbackCell, MonitoringConfig
from steward.surveillance.store import read_score_cells


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
    deployment, all at the deployment's edges (window bins plus thresholds); rows without a
    value for an attribute are its ``None`` level. Labels: negative, positive, unlabelled (window
    still open). The metrics of ``steward.metrics`` read these cubes as they read evaluation
    cubes.
    """
    _check_grain(grain)
    config = _config(session, deployment_id)
    edges = score_edges(config.thresholds)
    cells = _score_cells(session, deployment_id, grain, (start, end), edges.size - 1)
    if cells is None:
        return {}
    cubes: dict[date, Cube] = {}
    for w, window in enumerate(cells.windows):
        margins: dict[tuple[str, ...], Margin] = {}
        for dim in (OVERALL, *config.subgroups):
            dims: tuple[str, ...] = () if dim == OVERALL else (dim,)
            levels, stats = cells.margin(w, dim)
            if dim == OVERALL and not levels:
                levels, stats = [()], np.zeros((1, *cells.stats.shape[1:]))
            margins[dims] = Margin(dims, tuple(levels), edges, stats)
        cubes[window] = Cube(margins)
    return cubes


@dataclass(frozen=True)
class _ScoreCells:
    """The score cells of a range of windows as arrays: ``stats[g]`` is the (bin, label, STATS)
    block of group ``g``, the cells of one window, subgroup dimension and level."""

    windows: list[date]
    stats: FloatArray
    #: ``(window index, dimension) -> [(group, level), ...]``
    members: dict[tuple[int, str], list[tuple[int, str]]]

    def margin(self, window: int, dim: str) -> tuple[list[Level], FloatArray]:
        """The levels (in margin order) and their stats of one window's margin of ``dim``."""
        keyed = [
            (() if dim == OVERALL else (_level(level),), g)
            for g, level in self.members.get((window, dim), [])
        ]
        keyed.sort(key=lambda item: level_sort_key(item[0]))
        return [k for k, _ in keyed], self.stats[[g for _, g in keyed]]


def _score_cells(
    session: Session,
    deployment_id: uuid.UUID,
    grain: str,
    between: tuple[date, date],
    n_bins: int,
) -> _ScoreCells | None:
    """Place the cells of the windows in ``between`` with numpy: a monitor run reads every
    daily window of the history, often hundreds of thousands of cells."""
    cells = read_score_cells(session, deployment_id, grain, *between)
    if not cells.days.size:
        return None
    windows, window_codes = np.unique(cells.days, return_inverse=True)
    packed = window_codes.reshape(-1) * len(cells.groups) + cells.group
    keys, group = np.unique(packed, return_inverse=True)
    stats = np.zeros((keys.size, n_bins, len(LABEL_AXIS), len(STATS)))
    stats[group.reshape(-1), cells.bins, cells.labels] = cells.stats
    members: dict[tuple[int, str], list[tuple[int, str]]] = defaultdict(list)
    span = len(cells.groups)
    for g, key in enumerate(keys.tolist()):
        dim, level = cells.groups[key % span]
        members[(key // span, dim)].append((g, level))
    return _ScoreCells(
        windows=[as_date(int(day)) for day in windows], stats=stats, members=dict(members)
    )


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
