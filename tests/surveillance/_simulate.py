"""Simulated deployments for the monitor tests: prediction rows and their window cubes.

Window cubes are built here with numpy (``np.bincount`` over window x level x bin x label),
independently of the DuckDB cube builder, so tests and the benchmark can make hundreds of
windows quickly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from steward.cube import (
    NEGATIVE,
    POSITIVE,
    STATS,
    UNLABELLED,
    Cube,
    LevelCounts,
    Margin,
    assign_bins,
)
from steward.surveillance.monitors import Grain, Reference, Window, WindowData

FloatArray = NDArray[np.float64]
LOG_CLIP = 1e-15
ETHNICITIES = ("White", "Asian", "Black", "Mixed", "Other")
ETHNICITY_SHARES = (0.68, 0.12, 0.10, 0.05, 0.05)
SEXES = ("female", "male")


@dataclass(frozen=True)
class Rows:
    """Prediction rows: score, outcome (nan: unknown), day since start, subgroup attributes."""

    p: FloatArray
    y: FloatArray
    day: NDArray[np.int64]
    attributes: Mapping[str, tuple[tuple[str, ...], NDArray[np.int64]]]
    start: dt.date

    def select(self, mask: NDArray[np.bool_]) -> Rows:
        return Rows(
            self.p[mask],
            self.y[mask],
            self.day[mask],
            {k: (names, codes[mask]) for k, (names, codes) in self.attributes.items()},
            self.start,
        )


def simulate(
    days: int,
    *,
    seed: int,
    volume: float = 500.0,
    start: dt.date = dt.date(2024, 1, 1),
    drift_day: int | None = None,
    drift_odds_ratio: float = 1.5,
    drift_group: tuple[str, str] = ("ethnicity", "Black"),
) -> Rows:
    """``days`` of predictions of a calibrated score (prevalence about 8%), optionally with the
    odds of an event multiplied by ``drift_odds_ratio`` in ``drift_group`` from ``drift_day``."""
    rng = np.random.default_rng(seed)
    per_day = rng.poisson(volume, days)
    day = np.repeat(np.arange(days, dtype=np.int64), per_day)
    n = day.size
    z = rng.normal(-2.8, 1.0, n)
    p = 1.0 / (1.0 + np.exp(-z))
    ethnicity = rng.choice(len(ETHNICITIES), n, p=ETHNICITY_SHARES).astype(np.int64)
    sex = rng.integers(0, 2, n).astype(np.int64)
    attributes = {"ethnicity": (ETHNICITIES, ethnicity), "sex": (SEXES, sex)}
    if drift_day is not None:
        names, codes = attributes[drift_group[0]]
        shifted = (codes == names.index(drift_group[1])) & (day >= drift_day)
        z = z + np.where(shifted, np.log(drift_odds_ratio), 0.0)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(np.float64)
    return Rows(p, y, day, attributes, start)


def label_codes(labels: FloatArray) -> NDArray[np.int64]:
    """Label-axis index of each row: negative, positive, or unlabelled (``nan``)."""
    codes = np.full(labels.shape, UNLABELLED, dtype=np.int64)
    codes[labels == 0.0] = NEGATIVE
    codes[labels == 1.0] = POSITIVE
    return codes


def row_stats(p: FloatArray) -> FloatArray:
    """Per-row statistics in ``STATS`` order (scores clipped before logs, as the cube does)."""
    q = np.clip(p, LOG_CLIP, 1.0 - LOG_CLIP)
    z = np.log(q) - np.log1p(-q)
    columns = {
        "n": np.ones_like(p),
        "sum_p": p,
        "sum_p2": p * p,
        "sum_logp": np.log(q),
        "sum_log1mp": np.log1p(-q),
        "sum_z": z,
        "sum_z2": z * z,
        "sum_pz": p * z,
    }
    return np.stack([columns[name] for name in STATS], axis=-1)


def level_counts(p: FloatArray, y: FloatArray, edges: FloatArray) -> LevelCounts:
    """The ``LevelCounts`` of prediction rows (``y`` nan: unlabelled)."""
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    cell = assign_bins(p, edges) * 3 + label_codes(y)
    n_cells = (edges.size - 1) * 3
    stats = _margin_stats(cell.astype(np.int64), row_stats(p), n_cells)
    return LevelCounts(edges, stats.reshape(edges.size - 1, 3, len(STATS)))


def _window_index(rows: Rows, grain: Grain) -> tuple[list[Window], NDArray[np.int64]]:
    first = Window.containing(grain, rows.start)
    last_day = rows.start + dt.timedelta(days=int(rows.day.max()) if rows.day.size else 0)
    windows = [first]
    while windows[-1].end <= last_day:
        windows.append(windows[-1].next())
    starts = np.array([(w.start - rows.start).days for w in windows])
    return windows, np.searchsorted(starts, rows.day, side="right") - 1


def _margin_stats(cell: NDArray[np.int64], per_row: FloatArray, n_cells: int) -> FloatArray:
    out = np.empty((n_cells, len(STATS)))
    for s in range(len(STATS)):
        out[:, s] = np.bincount(cell, weights=per_row[:, s], minlength=n_cells)
    return out


def window_cubes(rows: Rows, edges: FloatArray, grain: Grain) -> list[WindowData]:
    """One ``WindowData`` per window of ``grain`` covering the rows (empty windows included)."""
    windows, w = _window_index(rows, grain)
    n_w, n_b = len(windows), edges.size - 1
    bins = assign_bins(rows.p, edges)
    labels = label_codes(rows.y)
    per_row = row_stats(rows.p)
    margins: dict[tuple[str, ...], tuple[tuple[tuple[str | None, ...], ...], FloatArray]] = {}
    base = (bins * 3 + labels).astype(np.int64)
    overall = _margin_stats(w * n_b * 3 + base, per_row, n_w * n_b * 3)
    margins[()] = ((),), overall.reshape(n_w, 1, n_b, 3, len(STATS))
    for name, (levels, codes) in rows.attributes.items():
        k = len(levels)
        cell = (w * k + codes) * n_b * 3 + base
        stats = _margin_stats(cell, per_row, n_w * k * n_b * 3)
        margins[(name,)] = (tuple((v,) for v in levels), stats.reshape(n_w, k, n_b, 3, len(STATS)))
    result = []
    for i, window in enumerate(windows):
        cube = Cube(
            margins={
                dims: Margin(dims, levels, edges, stats[i])
                for dims, (levels, stats) in margins.items()
            }
        )
        result.append(WindowData(window, cube))
    return result


def reference_from(rows: Rows, edges: FloatArray) -> Reference:
    """The whole of ``rows`` as one reference period."""
    days = float(rows.day.max() + 1)
    merged = window_cubes(rows, edges, "month")
    cube = merged[0].cube
    for data in merged[1:]:
        cube = cube.merge(data.cube)
    return Reference(cube=cube, days=days)
