"""An independent numpy reference cube (np.add.at over assign_bins) and cube comparison."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from steward.cube import (
    STATS,
    Cube,
    Margin,
    PairedMargin,
    ReplicateMargin,
    assign_bins,
    edges_with_thresholds,
    logit_edges,
)
from steward.cube.build import CubeRequest, replicate_weights

CLIP = 1e-12


@dataclass
class Rows:
    """Prediction rows as Python columns (None = missing)."""

    score: list[float | None]
    label: list[int | None]
    groups: dict[str, list[str | None]] = field(default_factory=dict)
    comparator: list[float | None] | None = None
    patient: list[str] | None = None
    time: list[dt.datetime | None] | None = None

    def table(self) -> pa.Table:
        columns: dict[str, Any] = {
            "score": pa.array(self.score, pa.float64()),
            "label": pa.array(self.label, pa.int64()),
        }
        for name, values in self.groups.items():
            columns[name] = pa.array(values, pa.string())
        if self.comparator is not None:
            columns["comparator"] = pa.array(self.comparator, pa.float64())
        if self.patient is not None:
            columns["patient"] = pa.array(self.patient, pa.string())
        if self.time is not None:
            columns["time"] = pa.array(self.time, pa.timestamp("us"))
        return pa.table(columns)

    def take(self, index: Sequence[int]) -> Rows:
        def pick(values: list[Any] | None) -> list[Any] | None:
            return None if values is None else [values[i] for i in index]

        return Rows(
            [self.score[i] for i in index],
            [self.label[i] for i in index],
            {k: [v[i] for i in index] for k, v in self.groups.items()},
            pick(self.comparator),
            pick(self.patient),
            pick(self.time),
        )


def row_stats(p: np.ndarray) -> np.ndarray:
    """Per-row statistics in STATS order, with p clipped for the logarithms."""
    pc = np.clip(p, CLIP, 1 - CLIP)
    lp, l1p = np.log(pc), np.log(1 - pc)
    z = lp - l1p
    return np.column_stack([np.ones_like(p), p, p * p, lp, l1p, z, z * z, p * z])


def _level_key(level: tuple[str | None, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((v is None, v or "") for v in level)


def _margin(
    dims: tuple[str, ...],
    levels: list[tuple[str | None, ...]],
    p: np.ndarray,
    labels: np.ndarray,
    edges: np.ndarray,
) -> Margin:
    order = sorted(set(levels), key=_level_key)
    index = np.array([order.index(level) for level in levels], dtype=np.intp)
    stats = np.zeros((len(order), edges.size - 1, 3, len(STATS)))
    np.add.at(stats, (index, assign_bins(p, edges), labels), row_stats(p))
    return Margin(dims, tuple(order), edges, stats)


def window_start(t: dt.datetime, window: str) -> str:
    day = t.date()
    if window == "month":
        day = day.replace(day=1)
    elif window == "week":
        day = day - dt.timedelta(days=day.weekday())
    return day.isoformat()


def reference_cube(rows: Rows, request: CubeRequest) -> Cube:
    """The cube by brute force: assign_bins and np.add.at over kept rows."""
    scale = request.score_scale

    def to_p(values: Sequence[float | None]) -> np.ndarray:
        x = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        if scale == "percent":
            return x / 100.0
        if scale == "logit":
            with np.errstate(over="ignore"):
                return 1.0 / (1.0 + np.exp(-x))
        return x

    p_all = to_p(rows.score)
    keep = ~np.isnan(p_all)
    p = p_all[keep]
    labels = np.array([2 if y is None else int(y) for y in rows.label])[keep]
    fine = edges_with_thresholds(request.fine_bins, request.thresholds)
    coarse = edges_with_thresholds(request.coarse_bins, request.thresholds)
    kept = np.flatnonzero(keep)
    margins = {(): _margin((), [()] * p.size, p, labels, fine)}
    for name in request.columns.groups:
        levels = [(rows.groups[name][i],) for i in kept]
        margins[(name,)] = _margin((name,), levels, p, labels, coarse)
    for dims in request.intersections:
        levels = [tuple(rows.groups[d][i] for d in dims) for i in kept]
        margins[dims] = _margin(dims, levels, p, labels, coarse)
    if rows.time is not None and request.columns.time is not None:
        times = [rows.time[i] for i in kept]
        levels = [(None if t is None else window_start(t, request.time_window),) for t in times]
        margins[(request.columns.time,)] = _margin(
            (request.columns.time,), levels, p, labels, coarse
        )
    paired = None
    if rows.comparator is not None and request.columns.comparator is not None:
        c = to_p(rows.comparator)[keep]
        both = ~np.isnan(c)
        edges = logit_edges(request.pair_bins, request.thresholds)
        counts = np.zeros((edges.size - 1, edges.size - 1, 3))
        np.add.at(
            counts,
            (assign_bins(p[both], edges), assign_bins(c[both], edges), labels[both]),
            1.0,
        )
        paired = PairedMargin(
            "comparator",
            edges,
            edges,
            counts,
            _margin((), [()] * int(both.sum()), p[both], labels[both], fine),
            _margin((), [()] * int(both.sum()), c[both], labels[both], fine),
        )
    replicates = None
    if request.replicates:
        assert rows.patient is not None
        patients = [rows.patient[i] for i in kept]
        unique = sorted(set(patients))
        weights = replicate_weights(unique, request.replicates, request.patient_buckets)
        row_weight = weights[[unique.index(x) for x in patients]]  # (row, r)
        stats = np.zeros((request.replicates, coarse.size - 1, 3, len(STATS)))
        per_row = row_stats(p)
        bins = assign_bins(p, coarse)
        for r in range(request.replicates):
            np.add.at(stats[r], (bins, labels), per_row * row_weight[:, r : r + 1])
        replicates = ReplicateMargin(coarse, stats)
    return Cube(margins, paired, replicates, {"missing_score": int((~keep).sum())})


def assert_margins_equal(a: Margin, b: Margin, rtol: float = 1e-9) -> None:
    assert a.dims == b.dims
    assert a.levels == b.levels
    np.testing.assert_array_equal(a.edges, b.edges)
    assert a.stats.shape == b.stats.shape
    np.testing.assert_array_equal(a.stats[..., 0], b.stats[..., 0])
    np.testing.assert_allclose(a.stats, b.stats, rtol=rtol, atol=1e-9)


def assert_cubes_equal(a: Cube, b: Cube, rtol: float = 1e-9) -> None:
    """Counts equal exactly; sums equal to rounding (summation order differs)."""
    assert set(a.margins) == set(b.margins)
    for key in a.margins:
        assert_margins_equal(a.margins[key], b.margins[key], rtol)
    assert dict(a.excluded) == dict(b.excluded)
    assert (a.paired is None) == (b.paired is None)
    if a.paired is not None and b.paired is not None:
        assert a.paired.column == b.paired.column
        np.testing.assert_array_equal(a.paired.score_edges, b.paired.score_edges)
        np.testing.assert_array_equal(a.paired.comparator_edges, b.paired.comparator_edges)
        np.testing.assert_array_equal(a.paired.counts, b.paired.counts)
        assert_margins_equal(a.paired.score, b.paired.score, rtol)
        assert_margins_equal(a.paired.comparator, b.paired.comparator, rtol)
    assert (a.replicates is None) == (b.replicates is None)
    if a.replicates is not None and b.replicates is not None:
        np.testing.assert_array_equal(a.replicates.edges, b.replicates.edges)
        np.testing.assert_allclose(a.replicates.stats, b.replicates.stats, rtol=rtol, atol=1e-9)
