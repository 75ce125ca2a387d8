"""The in-memory score cube: margins of binned sufficient statistics that add when merged.

Layout of every margin's ``stats`` array: ``(level, bin, label, stat)`` in float64, where the
label axis is ``NEGATIVE, POSITIVE, UNLABELLED`` and the stat axis follows ``STATS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

#: Per-cell sufficient statistics, in stat-axis order (z = logit p; docs/methods.md section 1).
STATS: tuple[str, ...] = (
    "n",
    "sum_p",
    "sum_p2",
    "sum_logp",
    "sum_log1mp",
    "sum_z",
    "sum_z2",
    "sum_pz",
)
NEGATIVE, POSITIVE, UNLABELLED = 0, 1, 2
LABEL_AXIS: tuple[str, ...] = ("negative", "positive", "unlabelled")

Level = tuple[str | None, ...]
_Derived = TypeVar("_Derived")
FloatArray = NDArray[np.float64]


def stat_index(name: str) -> int:
    """Position of a named statistic on the stat axis."""
    return STATS.index(name)


@dataclass(frozen=True)
class LevelCounts:
    """Binned statistics of one group of rows (one margin level): ``stats[..., bin, label, stat]``.

    Leading axes are batch axes (bootstrap replicates): every metric computed from a
    ``LevelCounts`` returns one value per batch element, so resampling is vectorised.
    """

    edges: FloatArray
    stats: FloatArray

    @property
    def n_bins(self) -> int:
        return int(self.edges.size - 1)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.stats.shape[:-3])

    def stat(self, name: str, label: int) -> FloatArray:
        """Per-bin values of statistic ``name`` for rows with ``label``: shape ``(..., bin)``."""
        return self.stats[..., label, stat_index(name)]

    @property
    def n_neg(self) -> FloatArray:
        """Rows with label 0, per bin."""
        return self.stats[..., NEGATIVE, 0]

    @property
    def n_pos(self) -> FloatArray:
        """Rows with label 1, per bin."""
        return self.stats[..., POSITIVE, 0]

    @property
    def n_unlabelled(self) -> FloatArray:
        """Rows whose label is not known (yet), per bin."""
        return self.stats[..., UNLABELLED, 0]

    def derived(self, key: str, compute: Callable[[], _Derived]) -> _Derived:
        """``compute()``, remembered under ``key`` for these counts.

        Several metrics of one group of rows (or of one batch of bootstrap replicates) check and
        reshape the same counts; counts are never modified in place, so the result is kept.
        """
        memo: dict[str, Any] = self.__dict__.setdefault("_derived", {})
        if key not in memo:
            memo[key] = compute()
        value: _Derived = memo[key]
        return value

    def labelled(self) -> LevelCounts:
        """The same counts with unlabelled rows zeroed (metrics that need outcomes use this)."""
        stats = self.stats.copy()
        stats[..., UNLABELLED, :] = 0.0
        return LevelCounts(self.edges, stats)

    def coarsen(self, edges: FloatArray) -> LevelCounts:
        """Sum adjacent bins into ``edges``, which must be a subset of these edges."""
        return LevelCounts(edges, coarsen_stats(self.stats, self.edges, edges, axis=-3))


@dataclass(frozen=True)
class Margin:
    """One grouping set of the cube: statistics per level of ``dims`` (``()`` is overall)."""

    dims: tuple[str, ...]
    levels: tuple[Level, ...]
    edges: FloatArray
    stats: FloatArray

    def __post_init__(self) -> None:
        expected = (len(self.levels), self.edges.size - 1, len(LABEL_AXIS), len(STATS))
        if self.stats.shape != expected:
            raise ValueError(f"stats has shape {self.stats.shape}, expected {expected}")
        if any(len(level) != len(self.dims) for level in self.levels):
            raise ValueError("every level must name one value per dimension")

    def level(self, key: Level) -> LevelCounts:
        """Counts of one level, e.g. ``margin.level(("F",))``; the overall margin has key ``()``."""
        return LevelCounts(self.edges, self.stats[self.levels.index(key)])

    def total(self) -> LevelCounts:
        """Counts summed over all levels."""
        return LevelCounts(self.edges, self.stats.sum(axis=0))

    def merge(self, other: Margin) -> Margin:
        """Cell-wise sum of two margins with the same dims and edges (levels are unioned)."""
        if self.dims != other.dims or not np.array_equal(self.edges, other.edges):
            raise ValueError("only margins with the same dimensions and bin edges can merge")
        levels = tuple(sorted(set(self.levels) | set(other.levels), key=level_sort_key))
        stats = np.zeros((len(levels), *self.stats.shape[1:]), dtype=np.float64)
        position = {level: i for i, level in enumerate(levels)}
        for source in (self, other):
            rows = [position[level] for level in source.levels]
            np.add.at(stats, rows, source.stats)
        return Margin(self.dims, levels, self.edges, stats)

    def coarsen(self, edges: FloatArray) -> Margin:
        """Sum adjacent bins into ``edges``, which must be a subset of this margin's edges."""
        return Margin(
            self.dims, self.levels, edges, coarsen_stats(self.stats, self.edges, edges, axis=1)
        )


@dataclass(frozen=True)
class PairedMargin:
    """2-D cube of the score and a comparator on rows where both are present.

    ``counts[bin_score, bin_comparator, label]`` holds row counts; ``score`` and ``comparator`` are
    overall margins of each score on the same paired rows (sums for calibration and O/E).
    """

    column: str
    score_edges: FloatArray
    comparator_edges: FloatArray
    counts: FloatArray
    score: Margin
    comparator: Margin

    def merge(self, other: PairedMargin) -> PairedMargin:
        if self.column != other.column:
            raise ValueError("paired cubes of different comparators cannot merge")
        if not (
            np.array_equal(self.score_edges, other.score_edges)
            and np.array_equal(self.comparator_edges, other.comparator_edges)
        ):
            raise ValueError("paired cubes with different bin edges cannot merge")
        return PairedMargin(
            self.column,
            self.score_edges,
            self.comparator_edges,
            self.counts + other.counts,
            self.score.merge(other.score),
            self.comparator.merge(other.comparator),
        )


@dataclass(frozen=True)
class ReplicateMargin:
    """Patient-clustered bootstrap replicates of the overall margin.

    ``stats[r, bin, label, stat]`` weights every row of a patient by the same Poisson(1) draw,
    that of the patient's bucket (``hash(patient_id)``, see :mod:`steward.cube.replicates` and
    docs/methods.md), so replicates of two sites merge by addition.
    """

    edges: FloatArray
    stats: FloatArray

    @property
    def n_replicates(self) -> int:
        return int(self.stats.shape[0])

    def replicate(self, r: int) -> LevelCounts:
        return LevelCounts(self.edges, self.stats[r])

    def merge(self, other: ReplicateMargin) -> ReplicateMargin:
        if self.stats.shape != other.stats.shape or not np.array_equal(self.edges, other.edges):
            raise ValueError("replicate cubes must have the same replicates and edges to merge")
        return ReplicateMargin(self.edges, self.stats + other.stats)


def _empty_mapping() -> Mapping[str, int]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Cube:
    """Everything one aggregation pass produces.

    ``margins[()]`` is the overall margin at fine resolution; other keys are subgroup or
    time-window margins at coarse resolution. ``excluded`` counts rows dropped, by reason.
    """

    margins: Mapping[tuple[str, ...], Margin]
    paired: PairedMargin | None = None
    replicates: ReplicateMargin | None = None
    excluded: Mapping[str, int] = field(default_factory=_empty_mapping)

    @property
    def overall(self) -> Margin:
        return self.margins[()]

    def merge(self, other: Cube) -> Cube:
        """Cube of the union of both cubes' rows: every cell, replicate and exclusion adds."""
        if set(self.margins) != set(other.margins):
            raise ValueError("cubes with different margins cannot merge")
        margins = {key: self.margins[key].merge(other.margins[key]) for key in self.margins}
        excluded = {
            reason: self.excluded.get(reason, 0) + other.excluded.get(reason, 0)
            for reason in set(self.excluded) | set(other.excluded)
        }
        return Cube(
            margins=margins,
            paired=_merge_optional(self.paired, other.paired),
            replicates=_merge_optional(self.replicates, other.replicates),
            excluded=excluded,
        )


_Part = TypeVar("_Part", PairedMargin, ReplicateMargin)


def _merge_optional(a: _Part | None, b: _Part | None) -> _Part | None:
    if a is None and b is None:
        return None
    if a is None or b is None:
        raise ValueError("only one of the cubes has this part; they were built differently")
    return a.merge(b)


def coarsen_stats(
    stats: FloatArray, edges: FloatArray, coarse: FloatArray, axis: int
) -> FloatArray:
    """Sum the bins of ``stats`` along ``axis`` into the coarser ``coarse`` edges."""
    starts = np.searchsorted(edges, coarse[:-1])
    if not np.array_equal(edges[starts], coarse[:-1]) or coarse[-1] != edges[-1]:
        raise ValueError("coarse edges must be a subset of the cube's edges")
    return np.add.reduceat(stats, starts, axis=axis)


def level_sort_key(level: Level) -> tuple[tuple[bool, str], ...]:
    """Order of levels in every margin: by value, with missing (None) last."""
    return tuple((value is None, value or "") for value in level)
